//! Throwaway `memcached` processes: N independent servers (memcached has no clustering; clients
//! spread keys over the servers themselves).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::process::{
    self, args, find_binary, restart_and_wait, running_as_root, wait_ready, Proc, Spec, TempDir,
};
use crate::wire::{memcached_command, memcached_ping};
use crate::ThrowawayServer;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(5);

fn memcached() -> Result<PathBuf> {
    find_binary("memcached", "memcached")
}

/// Checks that `memcached` is installed.
pub(crate) fn check() -> Result<()> {
    memcached().map(drop)
}

fn url(port: u16) -> String {
    format!("memcached://127.0.0.1:{port}")
}

fn spec(program: &Path, dir: &Path, port: u16) -> Spec {
    let mut argv = args([
        "-l".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        port.to_string(),
        "-U".to_owned(),
        "0".to_owned(),
        "-m".to_owned(),
        "64".to_owned(),
        "-t".to_owned(),
        "2".to_owned(),
    ]);
    if running_as_root() {
        // memcached refuses to run as root unless told which user to become.
        argv.extend(args(["-u", "nobody"]));
    }
    Spec {
        server: "memcached",
        program: program.to_owned(),
        args: argv,
        run_as: None,
        log: dir.join(format!("memcached-{port}.log")),
        cwd: dir.to_owned(),
        stop_signal: "TERM",
    }
}

#[derive(Debug)]
struct Node {
    port: u16,
    proc: Proc,
}

/// N throwaway `memcached` processes on `127.0.0.1` (TCP only, 64 MB each).
///
/// ```
/// # fn main() -> Result<(), sessionkit_testkit::Error> {
/// use sessionkit_testkit::{MemcachedServers, ThrowawayServer};
/// let mut servers = match MemcachedServers::start(3) {
///     Err(e) if e.is_missing_binary() => return Ok(()), // not installed here
///     other => other?,
/// };
/// assert_eq!(servers.urls().len(), 3);
/// servers.kill_node(1)?;
/// assert!(servers.ping().is_err());
/// servers.restart_node(1)?;
/// servers.ping()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MemcachedServers {
    nodes: Vec<Node>,
    dir: TempDir,
}

impl MemcachedServers {
    /// Starts `count` servers (at least one) and waits until each answers `version`.
    pub fn start(count: usize) -> Result<Self> {
        let program = memcached()?;
        let dir = TempDir::new("memcached")?;
        let mut nodes = Vec::with_capacity(count.max(1));
        for _ in 0..count.max(1) {
            nodes.push(process::with_port_retries(false, |port| {
                let mut proc = Proc::spawn(spec(&program, dir.path(), port))?;
                wait_ready(&mut proc, READY_TIMEOUT, || memcached_ping(port))?;
                Ok(Node { port, proc })
            })?);
        }
        Ok(MemcachedServers { nodes, dir })
    }

    /// Every server's URL, `memcached://127.0.0.1:PORT`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| url(n.port)).collect()
    }

    /// Every server's port.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// Sends one text-protocol request to server `index` and returns its reply lines.
    pub fn command(&self, index: usize, request: &str) -> Result<Vec<String>> {
        let node = self.nodes.get(index).ok_or(Error::NoSuchNode {
            index,
            nodes: self.nodes.len(),
        })?;
        memcached_command(node.port, request, Duration::from_secs(5)).map_err(|detail| {
            Error::Unreachable {
                server: "memcached",
                address: url(node.port),
                detail,
            }
        })
    }

    fn node_mut(&mut self, index: usize) -> Result<&mut Node> {
        let nodes = self.nodes.len();
        self.nodes
            .get_mut(index)
            .ok_or(Error::NoSuchNode { index, nodes })
    }

    /// SIGKILLs server `index`.
    pub fn kill_node(&mut self, index: usize) -> Result<()> {
        self.node_mut(index)?.proc.kill();
        Ok(())
    }

    /// Restarts server `index` on its port (empty, as memcached keeps nothing) and waits for it.
    pub fn restart_node(&mut self, index: usize) -> Result<()> {
        let node = self.node_mut(index)?;
        let port = node.port;
        restart_and_wait(&mut node.proc, READY_TIMEOUT, || memcached_ping(port))
    }
}

impl ThrowawayServer for MemcachedServers {
    fn kind(&self) -> &'static str {
        "memcached"
    }

    fn urls(&self) -> Vec<String> {
        MemcachedServers::urls(self)
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn ping(&self) -> Result<()> {
        self.nodes.iter().try_for_each(|n| {
            memcached_ping(n.port).map_err(|detail| Error::Unreachable {
                server: "memcached",
                address: url(n.port),
                detail,
            })
        })
    }

    fn kill(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            node.proc.kill();
        }
        Ok(())
    }

    fn restart(&mut self) -> Result<()> {
        (0..self.nodes.len()).try_for_each(|i| self.restart_node(i))
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

impl Drop for MemcachedServers {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.proc.stop(STOP_GRACE);
        }
    }
}
