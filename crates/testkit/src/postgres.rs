//! A throwaway PostgreSQL cluster: `initdb` into a temp dir, then `postgres` on a free port.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::process::{
    self, args, find_binary, find_binary_near, lookup_user, restart_and_wait, running_as_root,
    wait_ready, Proc, Run, Spec, TempDir, User,
};
use crate::ThrowawayServer;

const READY_TIMEOUT: Duration = Duration::from_secs(90);
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The programs, all from one PostgreSQL version.
#[derive(Debug, Clone)]
struct Bins {
    initdb: PathBuf,
    postgres: PathBuf,
    pg_isready: PathBuf,
    psql: PathBuf,
}

fn bins() -> Result<Bins> {
    let initdb = find_binary("initdb", "postgresql")?;
    // /usr/local/bin/initdb may be a link into /usr/lib/postgresql/N/bin: take the rest from there.
    let real = std::fs::canonicalize(&initdb).unwrap_or_else(|_| initdb.clone());
    let dir = real.parent().unwrap_or(Path::new("/")).to_owned();
    Ok(Bins {
        postgres: find_binary_near(&dir, "postgres", "postgresql")?,
        pg_isready: find_binary_near(&dir, "pg_isready", "postgresql-client")?,
        psql: find_binary_near(&dir, "psql", "postgresql-client")?,
        initdb: real,
    })
}

/// Checks that the programs (and, as root, the `postgres` account) are there.
pub(crate) fn check() -> Result<()> {
    bins()?;
    run_as().map(drop)
}

/// initdb and postgres refuse to run as root: then they run as the `postgres` account.
fn run_as() -> Result<Option<User>> {
    if running_as_root() {
        lookup_user("postgres", "postgresql").map(Some)
    } else {
        Ok(None)
    }
}

fn pg_isready(bins: &Bins, port: u16) -> std::result::Result<(), String> {
    let out = Command::new(&bins.pg_isready)
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-t",
            "2",
        ])
        .arg("-p")
        .arg(port.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run pg_isready: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "pg_isready: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

/// A throwaway PostgreSQL server on `127.0.0.1`: trust authentication, superuser `postgres`,
/// `fsync=off`; data and unix socket in its own temp dir (owned by `postgres` when we are root).
///
/// ```
/// # fn main() -> Result<(), sessionkit_testkit::Error> {
/// use sessionkit_testkit::{PostgresServer, ThrowawayServer};
/// let mut pg = match PostgresServer::start() {
///     Err(e) if e.is_missing_binary() => return Ok(()), // not installed here
///     other => other?,
/// };
/// pg.query("create table t (v int); insert into t values (7)")?;
/// pg.kill()?;
/// pg.restart()?; // same port, same data dir
/// assert_eq!(pg.query("select v from t")?.trim(), "7");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    bins: Bins,
    proc: Proc,
    dir: TempDir,
}

impl PostgresServer {
    /// Runs `initdb`, starts `postgres` on a free port, waits for `pg_isready` and `select 1`.
    pub fn start() -> Result<Self> {
        let bins = bins()?;
        let run_as = run_as()?;
        let dir = TempDir::new("pg")?;
        if let Some(user) = run_as {
            dir.give_to(user)?;
        }
        let data = dir.path().join("data");
        Run {
            program: &bins.initdb,
            args: args([
                "-D".into(),
                data.clone().into_os_string(),
                "-U".into(),
                "postgres".into(),
                "--auth=trust".into(),
                "--no-sync".into(),
                "-E".into(),
                "UTF8".into(),
                "--locale=C".into(),
            ]),
            run_as,
            env: Vec::new(),
            cwd: dir.path(),
            log: dir.path().join("initdb.log"),
            timeout: Duration::from_secs(120),
        }
        .run()?;
        let (port, proc) = process::with_port_retries(false, |port| {
            let mut proc = Proc::spawn(Spec {
                server: "postgres",
                program: bins.postgres.clone(),
                args: args([
                    "-D".into(),
                    data.clone().into_os_string(),
                    "-p".into(),
                    port.to_string().into(),
                    "-k".into(),
                    dir.path().as_os_str().to_owned(),
                    "-c".into(),
                    "listen_addresses=127.0.0.1".into(),
                    // fsync=off only risks data on an OS crash; a killed server still finds
                    // every committed transaction in the WAL (synchronous_commit stays on).
                    "-c".into(),
                    "fsync=off".into(),
                    "-c".into(),
                    "full_page_writes=off".into(),
                    "-c".into(),
                    "max_connections=200".into(),
                    "-c".into(),
                    "logging_collector=off".into(),
                ]),
                run_as,
                log: dir.path().join("postgres.log"),
                cwd: dir.path().to_owned(),
                // SIGINT is postgres' "fast shutdown": disconnect clients, stop.
                stop_signal: "INT",
            })?;
            wait_ready(&mut proc, READY_TIMEOUT, || pg_isready(&bins, port))?;
            Ok((port, proc))
        })?;
        let server = PostgresServer {
            port,
            bins,
            proc,
            dir,
        };
        server.query("select 1")?;
        Ok(server)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs SQL through `psql` (unaligned, tuples only) and returns what it printed.
    pub fn query(&self, sql: &str) -> Result<String> {
        let log = process::command_log(self.dir.path(), "psql");
        let result = Run {
            program: &self.bins.psql,
            args: args([
                "-X".to_owned(),
                "-q".to_owned(),
                "-A".to_owned(),
                "-t".to_owned(),
                "-v".to_owned(),
                "ON_ERROR_STOP=1".to_owned(),
                "-h".to_owned(),
                "127.0.0.1".to_owned(),
                "-p".to_owned(),
                self.port.to_string(),
                "-U".to_owned(),
                "postgres".to_owned(),
                "-d".to_owned(),
                "postgres".to_owned(),
                "-c".to_owned(),
                sql.to_owned(),
            ]),
            run_as: None,
            env: vec![("PGCONNECT_TIMEOUT", "5".to_owned())],
            cwd: self.dir.path(),
            log: log.clone(),
            timeout: Duration::from_secs(60),
        }
        .run();
        let _ = std::fs::remove_file(log);
        result
    }
}

impl ThrowawayServer for PostgresServer {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn urls(&self) -> Vec<String> {
        vec![self.url()]
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn ping(&self) -> Result<()> {
        pg_isready(&self.bins, self.port).map_err(|detail| Error::Unreachable {
            server: "postgres",
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
        restart_and_wait(&mut self.proc, READY_TIMEOUT, || pg_isready(bins, port))
    }

    fn pause(&mut self) -> Result<()> {
        self.proc.signal_tree("STOP")
    }

    fn resume(&mut self) -> Result<()> {
        self.proc.signal_tree("CONT")
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.proc.stop(STOP_GRACE);
    }
}
