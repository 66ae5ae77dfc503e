//! Throwaway `redis-server`s: a single server and a three-master cluster.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::process::{
    self, args, find_binary, restart_and_wait, wait_ready, Proc, Run, Spec, TempDir,
};
use crate::wire::{redis_command, redis_ping, RedisReply};
use crate::ThrowawayServer;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(5);

fn redis_server() -> Result<PathBuf> {
    find_binary("redis-server", "redis-server")
}

fn redis_cli() -> Result<PathBuf> {
    find_binary("redis-cli", "redis-tools")
}

/// Checks that the programs a single redis server needs are installed.
pub(crate) fn check_single() -> Result<()> {
    redis_server().map(drop)
}

/// Checks that the programs a redis cluster needs are installed.
pub(crate) fn check_cluster() -> Result<()> {
    redis_server()?;
    redis_cli().map(drop)
}

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

/// Arguments shared by single and cluster nodes: loopback only, nothing kept on disk.
fn node_spec(program: &Path, dir: &Path, port: u16, cluster: bool) -> Spec {
    let mut argv = args([
        "--port".to_owned(),
        port.to_string(),
        "--bind".to_owned(),
        "127.0.0.1".to_owned(),
        "--save".to_owned(),
        String::new(),
        "--appendonly".to_owned(),
        "no".to_owned(),
        "--daemonize".to_owned(),
        "no".to_owned(),
        "--logfile".to_owned(),
        String::new(),
        "--dir".to_owned(),
        dir.display().to_string(),
    ]);
    if cluster {
        argv.extend(args([
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        ]));
    }
    Spec {
        server: if cluster {
            "redis cluster node"
        } else {
            "redis"
        },
        program: program.to_owned(),
        args: argv,
        run_as: None,
        log: dir.join("redis.log"),
        cwd: dir.to_owned(),
        stop_signal: "TERM",
    }
}

/// A throwaway `redis-server` on `127.0.0.1`, in its own temp dir, keeping nothing on disk.
///
/// ```
/// # fn main() -> Result<(), sessionkit_testkit::Error> {
/// use sessionkit_testkit::{RedisServer, ThrowawayServer};
/// let mut redis = match RedisServer::start() {
///     Err(e) if e.is_missing_binary() => return Ok(()), // not installed here
///     other => other?,
/// };
/// assert!(redis.url().starts_with("redis://127.0.0.1:"));
/// redis.kill()?;
/// assert!(redis.ping().is_err());
/// redis.restart()?; // same port
/// redis.ping()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    proc: Proc,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    pub fn start() -> Result<Self> {
        let program = redis_server()?;
        let dir = TempDir::new("redis")?;
        process::with_port_retries(false, |port| {
            let mut proc = Proc::spawn(node_spec(&program, dir.path(), port, false))?;
            wait_ready(&mut proc, READY_TIMEOUT, || redis_ping(port))?;
            Ok((port, proc))
        })
        .map(|(port, proc)| RedisServer { port, proc, dir })
    }

    /// `redis://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        url(self.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends one command and returns the reply (e.g. `["SET", "k", "v"]`).
    pub fn command(&self, args: &[&str]) -> Result<RedisReply> {
        redis_command(self.port, args, Duration::from_secs(5)).map_err(|detail| {
            Error::Unreachable {
                server: "redis",
                address: self.url(),
                detail,
            }
        })
    }
}

impl ThrowawayServer for RedisServer {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn urls(&self) -> Vec<String> {
        vec![self.url()]
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn ping(&self) -> Result<()> {
        redis_ping(self.port).map_err(|detail| Error::Unreachable {
            server: "redis",
            address: self.url(),
            detail,
        })
    }

    fn kill(&mut self) -> Result<()> {
        self.proc.kill();
        Ok(())
    }

    fn restart(&mut self) -> Result<()> {
        let port = self.port;
        restart_and_wait(&mut self.proc, READY_TIMEOUT, || redis_ping(port))
    }

    fn pause(&mut self) -> Result<()> {
        self.proc.signal_tree("STOP")
    }

    fn resume(&mut self) -> Result<()> {
        self.proc.signal_tree("CONT")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.proc.stop(STOP_GRACE);
    }
}

#[derive(Debug)]
struct Node {
    port: u16,
    proc: Proc,
}

/// A throwaway redis cluster of three masters (no replicas) on `127.0.0.1`, each node in its own
/// directory under one temp dir; the cluster bus uses `port + 10000`.
///
/// The cluster layout is kept in each node's `nodes.conf`, so a killed node restarts as the same
/// node with the same slots (its keys are gone: nothing else is kept on disk).
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: TempDir,
}

/// How many masters [`RedisCluster`] starts.
pub const CLUSTER_MASTERS: usize = 3;

fn cluster_state_ok(port: u16) -> std::result::Result<(), String> {
    let reply = redis_command(port, &["CLUSTER", "INFO"], Duration::from_secs(2))?;
    match reply.as_text() {
        Some(info) if info.lines().any(|l| l.trim() == "cluster_state:ok") => Ok(()),
        Some(info) => Err(format!(
            "node {port}: {}",
            info.lines()
                .find(|l| l.starts_with("cluster_state"))
                .unwrap_or("no cluster_state line")
        )),
        None => Err(format!("node {port}: CLUSTER INFO answered {reply:?}")),
    }
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them with `redis-cli --cluster create`, and
    /// waits until every node reports `cluster_state:ok`.
    pub fn start() -> Result<Self> {
        let program = redis_server()?;
        let cli = redis_cli()?;
        let dir = TempDir::new("rcluster")?;
        let mut nodes = Vec::with_capacity(CLUSTER_MASTERS);
        for _ in 0..CLUSTER_MASTERS {
            let node = process::with_port_retries(true, |port| {
                let node_dir = dir.path().join(format!("node-{port}"));
                std::fs::create_dir_all(&node_dir)
                    .map_err(|e| Error::io(format!("create {}", node_dir.display()), e))?;
                let mut proc = Proc::spawn(node_spec(&program, &node_dir, port, true))?;
                wait_ready(&mut proc, READY_TIMEOUT, || redis_ping(port))?;
                Ok(Node { port, proc })
            })?;
            nodes.push(node);
        }
        let mut create = args(["--cluster", "create"]);
        create.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port).into()));
        create.extend(args(["--cluster-replicas", "0", "--cluster-yes"]));
        Run {
            program: &cli,
            args: create,
            run_as: None,
            env: Vec::new(),
            cwd: dir.path(),
            log: dir.path().join("cluster-create.log"),
            timeout: Duration::from_secs(60),
        }
        .run()?;
        let mut cluster = RedisCluster { nodes, dir };
        cluster.wait_cluster_ok()?;
        Ok(cluster)
    }

    /// Every node's URL (`redis://127.0.0.1:PORT/`).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| url(n.port)).collect()
    }

    /// Every node's port.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    fn node_mut(&mut self, index: usize) -> Result<&mut Node> {
        let nodes = self.nodes.len();
        self.nodes
            .get_mut(index)
            .ok_or(Error::NoSuchNode { index, nodes })
    }

    /// SIGKILLs one node (index `0..3`); the cluster goes to `cluster_state:fail` once the other
    /// nodes notice (after the 2 s node timeout), because its slots have no replica.
    pub fn kill_node(&mut self, index: usize) -> Result<()> {
        self.node_mut(index)?.proc.kill();
        Ok(())
    }

    /// Restarts one node on its port and directory, then waits for `cluster_state:ok` on all.
    pub fn restart_node(&mut self, index: usize) -> Result<()> {
        let node = self.node_mut(index)?;
        let port = node.port;
        restart_and_wait(&mut node.proc, READY_TIMEOUT, || redis_ping(port))?;
        self.wait_cluster_ok()
    }

    fn wait_cluster_ok(&mut self) -> Result<()> {
        let start = Instant::now();
        loop {
            let mut last_error = None;
            for node in &mut self.nodes {
                node.proc.check_running()?;
                if let Err(e) = cluster_state_ok(node.port) {
                    last_error = Some(e);
                    break;
                }
            }
            let Some(last_error) = last_error else {
                return Ok(());
            };
            if start.elapsed() > READY_TIMEOUT {
                return Err(Error::NotReady {
                    server: "redis cluster",
                    waited: start.elapsed(),
                    last_error,
                    log_tail: process::tail(&self.nodes[0].proc.spec().log, 20),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl ThrowawayServer for RedisCluster {
    fn kind(&self) -> &'static str {
        "redis-cluster"
    }

    fn urls(&self) -> Vec<String> {
        RedisCluster::urls(self)
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn ping(&self) -> Result<()> {
        self.nodes
            .iter()
            .try_for_each(|n| cluster_state_ok(n.port))
            .map_err(|detail| Error::Unreachable {
                server: "redis cluster",
                address: self.urls().join(","),
                detail,
            })
    }

    fn kill(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            node.proc.kill();
        }
        Ok(())
    }

    fn restart(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            let port = node.port;
            restart_and_wait(&mut node.proc, READY_TIMEOUT, || redis_ping(port))?;
        }
        self.wait_cluster_ok()
    }

    fn pause(&mut self) -> Result<()> {
        self.nodes
            .iter()
            .try_for_each(|node| node.proc.signal_tree("STOP"))
    }

    fn resume(&mut self) -> Result<()> {
        self.nodes
            .iter()
            .try_for_each(|node| node.proc.signal_tree("CONT"))
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.proc.stop(STOP_GRACE);
        }
    }
}
