//! Cleans up after a process that ends without dropping its servers.
//!
//! Handles stop their servers on drop, but a test binary can end without dropping them: a
//! server kept in a `static`, `std::process::exit`, an abort, a Ctrl-C. So the first server of a
//! process also starts one small `sh` watchdog whose stdin is a pipe from this process. Every
//! server pid and temp dir is announced to it (and every reaped pid withdrawn). When this
//! process ends, however it ends, the pipe closes; the watchdog then SIGKILLs the pids still
//! announced and removes the dirs. Best effort: without `sh`, there is no watchdog.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The watchdog's `argv[0]`, so that tools killing a process tree can spare it
/// (`cargo xtask test-matrix` does, when a cell times out).
pub const WATCHDOG_ARG0: &str = "sessionkit-testkit-watchdog";

/// Reads `p PID` (watch), `u PID` (unwatch) and `d DIR` (remove at the end) until EOF.
const SCRIPT: &str = r#"
trap '' INT TERM HUP
pids=''
dirs=''
while IFS= read -r line; do
    case "$line" in
        'p '*) pids="$pids ${line#p }" ;;
        'u '*)
            kept=''
            for pid in $pids; do
                [ "$pid" = "${line#u }" ] || kept="$kept $pid"
            done
            pids=$kept ;;
        'd '*) dirs="$dirs
${line#d }" ;;
    esac
done
if [ -n "$pids" ]; then
    for pid in $pids; do kill -9 "$pid" 2>/dev/null; done
    sleep 1
fi
printf '%s\n' "$dirs" | while IFS= read -r dir; do
    [ -n "$dir" ] && rm -rf -- "$dir"
done
"#;

fn pipe() -> Option<&'static Mutex<ChildStdin>> {
    static PIPE: OnceLock<Option<Mutex<ChildStdin>>> = OnceLock::new();
    PIPE.get_or_init(|| {
        let mut child = Command::new("sh")
            // Its own process group, so a signal to ours (Ctrl-C, `timeout`, a CI runner
            // killing the group) leaves it alive to clean up after the rest.
            .process_group(0)
            .arg0(WATCHDOG_ARG0)
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // Never waited for: it must outlive this process to do its work.
        child.stdin.take().map(Mutex::new)
    })
    .as_ref()
}

fn send(line: &str) {
    if let Some(pipe) = pipe() {
        let mut stdin = pipe.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(stdin, "{line}");
        let _ = stdin.flush();
    }
}

/// SIGKILL `pid` if this process ends while it is still watched.
pub(crate) fn watch_pid(pid: u32) {
    send(&format!("p {pid}"));
}

/// `pid` has been reaped: forget it (its number may be reused).
pub(crate) fn unwatch_pid(pid: u32) {
    send(&format!("u {pid}"));
}

/// Remove `dir` (if it still exists) when this process ends.
pub(crate) fn watch_dir(dir: &Path) {
    if let Some(dir) = dir.to_str().filter(|d| !d.contains('\n')) {
        send(&format!("d {dir}"));
    }
}
