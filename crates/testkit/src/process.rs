//! Plumbing shared by every server kind: finding programs, temp dirs, ports, child processes.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::watchdog;

/// How often readiness probes are retried.
const POLL: Duration = Duration::from_millis(100);

/// Directories searched after `PATH`: servers live in sbin, which a non-root `PATH` may lack.
const EXTRA_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/sbin",
    "/sbin",
    "/usr/local/bin",
    "/usr/bin",
];

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `/usr/lib/postgresql/<version>/bin`, newest version first.
fn postgres_bin_dirs() -> Vec<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// Where the testkit finds `program`: on `PATH`, in the sbin directories, then in
/// `/usr/lib/postgresql/*/bin` (newest first); `None` when it is in none of them.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .chain(postgres_bin_dirs())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// [`find_program`], or an error naming the package that provides `binary`.
pub(crate) fn find_binary(binary: &'static str, package: &'static str) -> Result<PathBuf> {
    find_program(binary).ok_or(Error::MissingBinary { binary, package })
}

/// Finds `binary` in `dir` first (so companion programs match the version found there), then
/// everywhere [`find_binary`] looks.
pub(crate) fn find_binary_near(
    dir: &Path,
    binary: &'static str,
    package: &'static str,
) -> Result<PathBuf> {
    let candidate = dir.join(binary);
    if is_executable(&candidate) {
        return Ok(candidate);
    }
    find_binary(binary, package)
}

/// An account to run a server as (servers that refuse to run as root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct User {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// True when this process runs with effective uid 0.
pub(crate) fn running_as_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        if let Ok(meta) = fs::metadata("/proc/self") {
            return meta.uid() == 0;
        }
        Command::new("id")
            .arg("-u")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
            .unwrap_or(false)
    })
}

/// Looks `name` up in `/etc/passwd`.
pub(crate) fn lookup_user(name: &'static str, package: &'static str) -> Result<User> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(|e| Error::io("read /etc/passwd", e))?;
    passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let user = fields.next()?;
            let _password = fields.next()?;
            let uid = fields.next()?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            (user == name).then_some(User { uid, gid })
        })
        .next()
        .ok_or(Error::MissingUser {
            user: name,
            package,
        })
}

/// A directory under the system temp dir, removed with everything in it on drop (and by the
/// watchdog if the process dies first). Tests use it for SQLite files.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMPDIR/sessionkit-<kind>-<pid>-<n>`; short, so unix socket paths fit.
    pub fn new(kind: &str) -> Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("sessionkit-{kind}-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => {
                    watchdog::watch_dir(&path);
                    return Ok(TempDir { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::io(format!("create {}", path.display()), e));
                }
            }
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands the directory to `user` (servers that drop root privileges write into it).
    pub(crate) fn give_to(&self, user: User) -> Result<()> {
        std::os::unix::fs::chown(&self.path, Some(user.uid), Some(user.gid))
            .map_err(|e| Error::io(format!("chown {}", self.path.display()), e))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Ports handed out by this process, never handed out twice.
fn taken_ports() -> &'static Mutex<HashSet<u16>> {
    static TAKEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    TAKEN.get_or_init(|| Mutex::new(HashSet::new()))
}

fn bindable(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// The lowest port of the kernel's ephemeral range (outgoing connections take their local
/// ports from there).
fn ephemeral_low() -> u16 {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// Where servers' ports are drawn from: below the ephemeral range, so that no outgoing
/// connection can take a server's port while the server is down for a restart. `None` when the
/// ephemeral range leaves too little room below it.
fn port_window(with_bus: bool) -> Option<(u16, u16)> {
    const BOTTOM: u16 = 10_000;
    let mut top = ephemeral_low().checked_sub(1)?;
    if with_bus {
        top = top.checked_sub(10_000)?;
    }
    (top >= BOTTOM + 1_000).then_some((BOTTOM, top))
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one((COUNTER.fetch_add(1, Ordering::Relaxed), std::process::id()))
}

/// A port on 127.0.0.1 that is free now and was not handed out before by this process; when
/// `with_bus` is set, `port + 10000` (the redis cluster bus port) is free too.
pub(crate) fn free_port(with_bus: bool) -> Result<u16> {
    for _ in 0..500 {
        let port = match port_window(with_bus) {
            Some((bottom, top)) => {
                let span = u64::from(top - bottom) + 1;
                let offset = u16::try_from(random_u64() % span).unwrap_or(0);
                let port = bottom + offset;
                if !bindable(port) {
                    continue;
                }
                port
            }
            None => {
                let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                    .map_err(|e| Error::io("bind 127.0.0.1:0 to find a free port", e))?;
                listener
                    .local_addr()
                    .map_err(|e| Error::io("read the address of a bound socket", e))?
                    .port()
            }
        };
        if with_bus && (port > u16::MAX - 10_000 || !bindable(port + 10_000)) {
            continue;
        }
        let mut taken = taken_ports().lock().unwrap_or_else(|e| e.into_inner());
        if taken.insert(port) {
            return Ok(port);
        }
    }
    Err(Error::io(
        "find a free port on 127.0.0.1",
        std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no free port after 500 tries",
        ),
    ))
}

/// The last `lines` lines of a file (for error messages), or a note saying why there are none.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return format!("(no log at {}: {e})", path.display()),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut buf = Vec::new();
    let _ = file.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let out = all[start..].join("\n");
    if out.trim().is_empty() {
        format!("(log {} is empty)", path.display())
    } else {
        out
    }
}

fn open_log(path: &Path) -> Result<(File, File)> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    let clone = file
        .try_clone()
        .map_err(|e| Error::io(format!("duplicate {}", path.display()), e))?;
    Ok((file, clone))
}

fn describe(program: &Path, args: &[OsString]) -> String {
    let mut line = program.display().to_string();
    for arg in args {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// How to (re)start one server process: program, arguments, account, log file.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) server: &'static str,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) run_as: Option<User>,
    pub(crate) log: PathBuf,
    pub(crate) cwd: PathBuf,
    /// The signal (as `kill -s` names it) that asks the server to shut down cleanly.
    pub(crate) stop_signal: &'static str,
}

/// One running (or killed) server process.
#[derive(Debug)]
pub(crate) struct Proc {
    spec: Spec,
    child: Option<Child>,
}

impl Proc {
    pub(crate) fn spawn(spec: Spec) -> Result<Self> {
        let mut proc = Proc { spec, child: None };
        proc.respawn()?;
        Ok(proc)
    }

    pub(crate) fn spec(&self) -> &Spec {
        &self.spec
    }

    /// Starts the process again (after [`Proc::kill`]), same program and arguments.
    pub(crate) fn respawn(&mut self) -> Result<()> {
        self.kill();
        let (out, err) = open_log(&self.spec.log)?;
        let mut command = Command::new(&self.spec.program);
        command
            .args(&self.spec.args)
            .current_dir(&self.spec.cwd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(user) = self.spec.run_as {
            // std drops supplementary groups too when it switches away from root.
            command.uid(user.uid).gid(user.gid);
        }
        let child = command.spawn().map_err(|e| {
            Error::io(
                format!("start `{}`", describe(&self.spec.program, &self.spec.args)),
                e,
            )
        })?;
        watchdog::watch_pid(child.id());
        self.child = Some(child);
        Ok(())
    }

    /// `Err(Exited)` when the process has exited on its own.
    pub(crate) fn check_running(&mut self) -> Result<()> {
        let status = match self.child.as_mut() {
            None => Some("killed".to_owned()),
            Some(child) => match child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Ok(None) => None,
                Err(e) => Some(format!("could not be waited for: {e}")),
            },
        };
        match status {
            None => Ok(()),
            Some(status) => Err(Error::Exited {
                server: self.spec.server,
                status,
                log_tail: tail(&self.spec.log, 30),
            }),
        }
    }

    /// Sends `signal` (as `kill -s` names it) to the process and to every process it started
    /// (PostgreSQL's backends), so that `STOP` freezes the whole server and `CONT` thaws it.
    /// Does nothing when not running.
    pub(crate) fn signal_tree(&self, signal: &str) -> Result<()> {
        let Some(child) = self.child.as_ref() else {
            return Ok(());
        };
        let parents = parent_pids();
        let mut tree = vec![child.id()];
        let mut i = 0;
        while i < tree.len() {
            let parent = tree[i];
            tree.extend(
                parents
                    .iter()
                    .filter(|(_, ppid)| *ppid == parent)
                    .map(|(pid, _)| *pid),
            );
            i += 1;
        }
        let send = |pids: &[u32]| {
            Command::new("kill")
                .args(["-s", signal])
                .args(pids.iter().map(u32::to_string))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        };
        // Children may exit between the scan and the signal (a backend whose client left):
        // only the server process itself must receive it.
        let _ = send(&tree[1..]);
        let status = send(&tree[..1]).map_err(|e| Error::io(format!("kill -s {signal}"), e))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::io(
                format!("kill -s {signal} {}", tree[0]),
                std::io::Error::other(status.to_string()),
            ))
        }
    }

    /// SIGKILL, then reap. Does nothing when not running.
    pub(crate) fn kill(&mut self) {
        // A paused server's children would stay frozen forever after their parent dies.
        let _ = self.signal_tree("CONT");
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            watchdog::unwatch_pid(child.id());
        }
    }

    /// Asks the server to stop cleanly, waits up to `grace`, then SIGKILLs it.
    pub(crate) fn stop(&mut self, grace: Duration) {
        // A paused server would not act on the stop signal.
        let _ = self.signal_tree("CONT");
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            let asked = Command::new("kill")
                .args(["-s", self.spec.stop_signal, &child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if asked {
                let deadline = Instant::now() + grace;
                while Instant::now() < deadline {
                    if !matches!(child.try_wait(), Ok(None)) {
                        break;
                    }
                    thread::sleep(Duration::from_millis(20));
                }
            }
        }
        self.kill();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

/// Polls `probe` until it succeeds, the process exits, or `timeout` passes.
pub(crate) fn wait_ready(
    proc: &mut Proc,
    timeout: Duration,
    mut probe: impl FnMut() -> std::result::Result<(), String>,
) -> Result<()> {
    let start = Instant::now();
    loop {
        proc.check_running()?;
        let last_error = match probe() {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if start.elapsed() >= timeout {
            return Err(Error::NotReady {
                server: proc.spec.server,
                waited: start.elapsed(),
                last_error,
                log_tail: tail(&proc.spec.log, 30),
            });
        }
        thread::sleep(POLL);
    }
}

/// A helper command to run to completion with a time limit.
#[derive(Debug)]
pub(crate) struct Run<'a> {
    pub(crate) program: &'a Path,
    pub(crate) args: Vec<OsString>,
    pub(crate) run_as: Option<User>,
    pub(crate) env: Vec<(&'static str, String)>,
    /// Its working directory (a dir the account it runs as can enter).
    pub(crate) cwd: &'a Path,
    /// Where its combined output goes (kept for the error message).
    pub(crate) log: PathBuf,
    pub(crate) timeout: Duration,
}

impl Run<'_> {
    /// Runs it; `Ok(output)` on exit status 0, else `Err(CommandFailed)`.
    pub(crate) fn run(self) -> Result<String> {
        let (out, err) = open_log(&self.log)?;
        let start_len = out.metadata().map(|m| m.len()).unwrap_or(0);
        let mut command = Command::new(self.program);
        command
            .args(&self.args)
            .current_dir(self.cwd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        if let Some(user) = self.run_as {
            command.uid(user.uid).gid(user.gid);
        }
        let line = describe(self.program, &self.args);
        let mut child = command
            .spawn()
            .map_err(|e| Error::io(format!("run `{line}`"), e))?;
        let deadline = Instant::now() + self.timeout;
        let status: std::result::Result<ExitStatus, String> = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!("timed out after {}s", self.timeout.as_secs()));
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(e) => break Err(format!("could not be waited for: {e}")),
            }
        };
        let output = read_from(&self.log, start_len);
        match status {
            Ok(status) if status.success() => Ok(output),
            Ok(status) => Err(Error::CommandFailed {
                command: line,
                status: status.to_string(),
                output: last_lines(&output, 30),
            }),
            Err(status) => Err(Error::CommandFailed {
                command: line,
                status,
                output: last_lines(&output, 30),
            }),
        }
    }
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut buf = Vec::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.seek(SeekFrom::Start(offset));
        let _ = file.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A fresh log path in `dir` for one helper command (`<prefix>-<n>.log`), so concurrent
/// commands never share a file.
pub(crate) fn command_log(dir: &Path, prefix: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    dir.join(format!(
        "{prefix}-{}.log",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Turns `&str`s into the argument vector [`Spec`] and [`Run`] take.
pub(crate) fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    items.into_iter().map(Into::into).collect()
}

/// Starts a server, retrying on a fresh port when the process exits during startup (the port
/// may have been taken between choosing it and the server binding it).
pub(crate) fn with_port_retries<T>(
    with_bus: bool,
    mut start: impl FnMut(u16) -> Result<T>,
) -> Result<T> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port(with_bus)?;
        match start(port) {
            Err(Error::Exited { .. }) if attempt < 3 => continue,
            other => return other,
        }
    }
}

/// Respawns a killed server and waits for it; retries while it exits during startup (a server
/// SIGKILLed a moment ago may still hold resources: postgres' shared memory, for one).
pub(crate) fn restart_and_wait(
    proc: &mut Proc,
    timeout: Duration,
    mut probe: impl FnMut() -> std::result::Result<(), String>,
) -> Result<()> {
    let start = Instant::now();
    loop {
        proc.respawn()?;
        match wait_ready(proc, timeout, &mut probe) {
            Err(Error::Exited { .. }) if start.elapsed() < timeout => {
                thread::sleep(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

/// `(pid, parent pid)` of every process, from `/proc/*/stat`.
fn parent_pids() -> Vec<(u32, u32)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let after = &stat[stat.rfind(')')? + 1..];
            let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_names_its_debian_package() {
        let err = find_binary("sessionkit-no-such-program", "sessionkit-no-such-package")
            .expect_err("not installed anywhere");
        assert!(err.is_missing_binary());
        assert_eq!(
            err.to_string(),
            "sessionkit-no-such-program not found: apt-get install sessionkit-no-such-package"
        );
    }

    #[test]
    fn finds_programs_on_path() {
        // `sh` is on every system this runs on.
        let sh = find_binary("sh", "dash").expect("sh is installed");
        assert!(sh.ends_with("sh") && is_executable(&sh));
    }

    #[test]
    fn ports_are_never_handed_out_twice() {
        let ports: Vec<u16> = (0..50)
            .map(|_| free_port(false).expect("a free port"))
            .collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        let bus = free_port(true).expect("a port with a free bus port");
        assert!(bus <= u16::MAX - 10_000);
        assert!(bindable(bus) && bindable(bus + 10_000));
        if let Some((bottom, top)) = port_window(false) {
            assert!(
                ports.iter().all(|p| (bottom..=top).contains(p)),
                "{ports:?}"
            );
            assert!(top < ephemeral_low());
        }
    }

    #[test]
    fn temp_dirs_are_distinct_and_removed() {
        let a = TempDir::new("t").expect("temp dir");
        let b = TempDir::new("t").expect("temp dir");
        assert_ne!(a.path(), b.path());
        fs::write(a.path().join("f"), "x").expect("write into it");
        let path = a.path().to_owned();
        drop(a);
        assert!(!path.exists());
    }

    #[test]
    fn a_failing_command_reports_its_output() {
        let dir = TempDir::new("t").expect("temp dir");
        let sh = find_binary("sh", "dash").expect("sh is installed");
        let err = Run {
            program: &sh,
            args: args(["-c", "echo about to fail; exit 3"]),
            run_as: None,
            env: Vec::new(),
            cwd: dir.path(),
            log: dir.path().join("cmd.log"),
            timeout: Duration::from_secs(30),
        }
        .run()
        .expect_err("exit 3 is a failure");
        let text = err.to_string();
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.contains("about to fail"), "{text}");
    }
}
