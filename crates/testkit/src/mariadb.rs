//! A throwaway MariaDB server: `mariadb-install-db` into a temp dir, then `mariadbd`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::process::{
    self, args, find_binary, lookup_user, restart_and_wait, running_as_root, wait_ready, Proc, Run,
    Spec, TempDir, User,
};
use crate::ThrowawayServer;

const READY_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_GRACE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
struct Bins {
    server: PathBuf,
    install_db: PathBuf,
    admin: PathBuf,
    client: PathBuf,
}

fn bins() -> Result<Bins> {
    Ok(Bins {
        server: find_binary("mariadbd", "mariadb-server")?,
        install_db: find_binary("mariadb-install-db", "mariadb-server")?,
        admin: find_binary("mariadb-admin", "mariadb-client")?,
        client: find_binary("mariadb", "mariadb-client")?,
    })
}

/// Checks that the programs (and, as root, the `mysql` account) are there.
pub(crate) fn check() -> Result<()> {
    bins()?;
    run_as().map(drop)
}

/// As root, mariadbd switches itself to the `mysql` account (`--user=mysql`).
fn run_as() -> Result<Option<User>> {
    if running_as_root() {
        lookup_user("mysql", "mariadb-server").map(Some)
    } else {
        Ok(None)
    }
}

fn admin_ping(bins: &Bins, port: u16) -> std::result::Result<(), String> {
    let out = Command::new(&bins.admin)
        .args([
            "--no-defaults",
            "--protocol=TCP",
            "--host=127.0.0.1",
            "--user=root",
            "--connect-timeout=2",
        ])
        .arg(format!("--port={port}"))
        .arg("ping")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run mariadb-admin: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "mariadb-admin ping: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Options given to both `mariadb-install-db` and `mariadbd`: small, fast, loopback only.
const TUNING: &[&str] = &[
    "--innodb-buffer-pool-size=64M",
    "--innodb-log-file-size=16M",
    "--innodb-flush-log-at-trx-commit=2",
    "--skip-log-bin",
];

/// A throwaway MariaDB server on `127.0.0.1`: user `root` with an empty password, database
/// `test`; data dir, socket and pid file in its own temp dir (owned by `mysql` when we are root).
///
/// ```
/// # fn main() -> Result<(), sessionkit_testkit::Error> {
/// use sessionkit_testkit::{MariadbServer, ThrowawayServer};
/// let mut db = match MariadbServer::start() {
///     Err(e) if e.is_missing_binary() => return Ok(()), // not installed here
///     other => other?,
/// };
/// assert!(db.url().ends_with("/test"));
/// db.query("create table t (v int); insert into t values (7)")?;
/// db.kill()?;
/// db.restart()?; // same port, same data dir
/// assert_eq!(db.query("select v from t")?.trim(), "7");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MariadbServer {
    port: u16,
    bins: Bins,
    proc: Proc,
    dir: TempDir,
}

impl MariadbServer {
    /// Runs `mariadb-install-db`, starts `mariadbd` on a free port, waits for
    /// `mariadb-admin ping`, and creates the `test` database.
    pub fn start() -> Result<Self> {
        let bins = bins()?;
        let run_as = run_as()?;
        let dir = TempDir::new("mariadb")?;
        if let Some(user) = run_as {
            dir.give_to(user)?;
        }
        let data = dir.path().join("data");
        let user_arg = run_as.map(|_| "--user=mysql".to_owned());
        let mut install = args([
            "--no-defaults".to_owned(),
            format!("--datadir={}", data.display()),
            "--auth-root-authentication-method=normal".to_owned(),
            // Its own temp dir: bootstraps running at once in the shared /tmp collide on
            // temporary table names and one of them fails ("Installation of system tables
            // failed"; reproduced with three concurrent runs).
            format!("--tmpdir={}", dir.path().display()),
        ]);
        install.extend(args(user_arg.clone()));
        install.extend(args(TUNING.iter().copied()));
        Run {
            program: &bins.install_db,
            args: install,
            run_as: None,
            env: Vec::new(),
            cwd: dir.path(),
            log: dir.path().join("install-db.log"),
            timeout: Duration::from_secs(180),
        }
        .run()?;
        let (port, proc) = process::with_port_retries(false, |port| {
            let mut server_args = args([
                "--no-defaults".to_owned(),
                format!("--datadir={}", data.display()),
                format!("--port={port}"),
                "--bind-address=127.0.0.1".to_owned(),
                format!("--socket={}", dir.path().join("mysqld.sock").display()),
                format!("--pid-file={}", dir.path().join("mysqld.pid").display()),
                format!("--tmpdir={}", dir.path().display()),
                "--skip-name-resolve".to_owned(),
                "--max-connections=300".to_owned(),
            ]);
            server_args.extend(args(user_arg.clone()));
            server_args.extend(args(TUNING.iter().copied()));
            let mut proc = Proc::spawn(Spec {
                server: "mariadb",
                program: bins.server.clone(),
                args: server_args,
                run_as: None,
                log: dir.path().join("mariadbd.log"),
                cwd: dir.path().to_owned(),
                stop_signal: "TERM",
            })?;
            wait_ready(&mut proc, READY_TIMEOUT, || admin_ping(&bins, port))?;
            Ok((port, proc))
        })?;
        let server = MariadbServer {
            port,
            bins,
            proc,
            dir,
        };
        server.query_in(None, "CREATE DATABASE IF NOT EXISTS test")?;
        Ok(server)
    }

    /// `mysql://root@127.0.0.1:PORT/test`
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/test", self.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs SQL in the `test` database through the `mariadb` client (tab-separated, no column
    /// names) and returns what it printed.
    pub fn query(&self, sql: &str) -> Result<String> {
        self.query_in(Some("test"), sql)
    }

    fn query_in(&self, database: Option<&str>, sql: &str) -> Result<String> {
        let log = process::command_log(self.dir.path(), "mariadb");
        let mut argv = args([
            "--no-defaults".to_owned(),
            "--protocol=TCP".to_owned(),
            "--host=127.0.0.1".to_owned(),
            format!("--port={}", self.port),
            "--user=root".to_owned(),
            "--connect-timeout=5".to_owned(),
            "--batch".to_owned(),
            "--skip-column-names".to_owned(),
            "--execute".to_owned(),
            sql.to_owned(),
        ]);
        argv.extend(args(database));
        let result = Run {
            program: &self.bins.client,
            args: argv,
            run_as: None,
            env: Vec::new(),
            cwd: self.dir.path(),
            log: log.clone(),
            timeout: Duration::from_secs(60),
        }
        .run();
        let _ = std::fs::remove_file(log);
        result
    }
}

impl ThrowawayServer for MariadbServer {
    fn kind(&self) -> &'static str {
        "mariadb"
    }

    fn urls(&self) -> Vec<String> {
        vec![self.url()]
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn ping(&self) -> Result<()> {
        admin_ping(&self.bins, self.port).map_err(|detail| Error::Unreachable {
            server: "mariadb",
            address: self.url(),
            detail,
        })
    }

    fn kill(&mut self) -> Result<()> {
        self.proc.kill();
        Ok(())
    }

    fn restart(&mut self) -> Result<()> {
        let (bins, port) = (&self.bins, self.port);
        restart_and_wait(&mut self.proc, READY_TIMEOUT, || admin_ping(bins, port))
    }

    fn pause(&mut self) -> Result<()> {
        self.proc.signal_tree("STOP")
    }

    fn resume(&mut self) -> Result<()> {
        self.proc.signal_tree("CONT")
    }
}

impl Drop for MariadbServer {
    fn drop(&mut self) {
        self.proc.stop(STOP_GRACE);
    }
}
