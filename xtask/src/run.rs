//! Running the matrix: build every selected cell, then run each with its services.

use std::ffi::OsString;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use sessionkit_testkit::{Provided, WATCHDOG_ARG0};

use crate::matrix::Cell;

/// How one cell ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Built and ran; every test passed.
    Pass(Duration),
    /// Did not build, or ran and failed.
    Fail(String),
    /// Could not run: a service was missing or would not start.
    Skip(String),
}

/// The `cargo` that invoked us (`$CARGO`), else `cargo` from `PATH`.
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// A `cargo` command run from the workspace root, without the variables `cargo run` set for
/// the xtask itself (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...): build scripts that watch them
/// (ring watches `CARGO_MANIFEST_DIR`) would otherwise rebuild every time the xtask runs.
fn cargo_command(root: &Path, args: &[String]) -> Command {
    let mut command = Command::new(cargo());
    command.args(args).current_dir(root).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let set_by_cargo_run = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix))
            || key == "CARGO_PRIMARY_PACKAGE";
        if set_by_cargo_run {
            command.env_remove(key);
        }
    }
    command
}

/// The workspace root: the parent of this crate's directory.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.join("Cargo.toml").is_file() && dir.ends_with("xtask"))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_owned)
        .unwrap_or(manifest_dir)
}

fn status_text(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}

fn flush() {
    let _ = std::io::stdout().flush();
}

struct Shown<'a>(&'a [String]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cargo")?;
        for arg in self.0 {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

/// The first line of an error message (the rest, e.g. a log tail, is printed when it happens).
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// Builds every cell; returns, per cell, `None` when it built or `Some(outcome)` when not.
pub(crate) fn build_all(root: &Path, cells: &[&Cell]) -> Vec<Option<Outcome>> {
    cells
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let args = cell.build_args();
            println!(
                "==> build [{}/{}] {}: {}",
                i + 1,
                cells.len(),
                cell.name,
                Shown(&args)
            );
            flush();
            let start = Instant::now();
            let status = cargo_command(root, &args).status();
            match status {
                Ok(status) if status.success() => {
                    println!(
                        "    built {} in {:.1}s",
                        cell.name,
                        start.elapsed().as_secs_f64()
                    );
                    None
                }
                Ok(status) => Some(Outcome::Fail(format!(
                    "build failed, {}",
                    status_text(status)
                ))),
                Err(e) => Some(Outcome::Skip(format!("could not start cargo: {e}"))),
            }
        })
        .collect()
}

/// Obtains the cell's services; `Err(why)` when one is missing or would not start.
fn provide(cell: &Cell) -> Result<Vec<Provided>, String> {
    for service in cell.own_servers {
        service.check_installed().map_err(|e| e.to_string())?;
    }
    let mut provided = Vec::new();
    for service in cell.services {
        let started = Instant::now();
        let p = service.from_env_or_start().map_err(|e| {
            println!("    {service}: {e}");
            e.to_string()
        })?;
        let origin = if p.is_throwaway() {
            format!("throwaway, up in {:.1}s", started.elapsed().as_secs_f64())
        } else {
            format!("from {}", service.env_var())
        };
        let (var, value) = p.env();
        println!("    {service}: {var}={value} ({origin})");
        provided.push(p);
    }
    Ok(provided)
}

/// Runs one built cell with its services.
/// `cargo publish --dry-run` verifies each crate against the others' packages, unpacked from a
/// registry in target/package into `$CARGO_HOME/registry/src/-HASH/NAME-VERSION`; cargo reuses
/// an unpacked crate of the same version from an earlier run, so a changed crate would be
/// verified against its old self. Removes both (our own crates only; crates.io's stay).
fn forget_packaged_crates(root: &Path) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let _ = std::fs::remove_dir_all(target.join("package"));
    // Their builds too: cargo takes a registry crate of a known version as unchanged, so a
    // stale build of it would be linked. Each is found by its dep-info naming a local registry.
    let profile = target.join("debug");
    if let Ok(deps) = std::fs::read_dir(profile.join("deps")) {
        for entry in deps.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".d") else {
                continue;
            };
            if !stem.starts_with("sessionkit") {
                continue;
            }
            let from_local_registry = std::fs::read_to_string(entry.path())
                .is_ok_and(|text| text.contains("registry/src/-"));
            if from_local_registry {
                let fingerprint = profile.join(".fingerprint").join(stem.replace('_', "-"));
                let _ = std::fs::remove_dir_all(fingerprint);
            }
        }
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")));
    let Some(sources) = cargo_home.map(|h| h.join("registry").join("src")) else {
        return;
    };
    let Ok(registries) = std::fs::read_dir(sources) else {
        return;
    };
    for registry in registries.flatten() {
        // Local registries are named "-HASH"; crates.io's "index.crates.io-HASH".
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(crates) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for krate in crates.flatten() {
            if krate
                .file_name()
                .to_string_lossy()
                .starts_with("sessionkit")
            {
                let _ = std::fs::remove_dir_all(krate.path());
            }
        }
    }
}

pub(crate) fn run_cell(root: &Path, cell: &Cell, index: usize, total: usize) -> Outcome {
    let args = cell.run_args();
    println!("==> run [{index}/{total}] {}: {}", cell.name, Shown(&args));
    flush();
    if cell.run == crate::matrix::Run::Publish {
        forget_packaged_crates(root);
    }
    let services = match provide(cell) {
        Ok(services) => services,
        Err(why) => return Outcome::Skip(first_line(&why).to_owned()),
    };
    // cargo's stderr (`Running tests/x.rs`) and the tests' stdout through one pipe, in order,
    // so a failed test can be named with its test binary.
    let (reader, writer) = match std::io::pipe() {
        Ok(pipe) => pipe,
        Err(e) => return Outcome::Skip(format!("could not create a pipe: {e}")),
    };
    let writer_too = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return Outcome::Skip(format!("could not duplicate a pipe: {e}")),
    };
    let mut command = cargo_command(root, &args);
    command.stdout(writer).stderr(writer_too);
    for (key, value) in cell.env {
        command.env(key, value);
    }
    for p in &services {
        let (key, value) = p.env();
        command.env(key, value);
    }
    let start = Instant::now();
    let limit = Duration::from_secs(cell.timeout_secs);
    let spawned = command.spawn();
    drop(command); // our copies of the pipe's write end: the read below ends when cargo's do
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return Outcome::Skip(format!("could not start cargo: {e}")),
    };
    // Past the limit, kill cargo and everything under it (the test binaries, the servers
    // they started); the read below then ends.
    let (done, finished) = mpsc::channel::<()>();
    let pid = child.id();
    let timer = thread::spawn(move || match finished.recv_timeout(limit) {
        Err(RecvTimeoutError::Timeout) => {
            kill_tree(pid);
            true
        }
        _ => false,
    });
    // Echo the output as it comes, and note which tests failed or hang.
    let mut failed = Vec::new();
    let mut slow = Vec::new();
    let mut target = String::new();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        println!("{text}");
        if let Some(name) = test_target(text) {
            target = name;
        } else if let Some(name) = failed_test(text) {
            failed.push(format!("{target}{name}"));
        } else if let Some(name) = slow_test(text) {
            slow.push(format!("{target}{name}"));
        }
        line.clear();
    }
    let status = child.wait();
    let elapsed = start.elapsed();
    let _ = done.send(());
    let timed_out = timer.join().unwrap_or(false);
    drop(services); // stop the throwaway servers
    if timed_out {
        let mut why = format!("timed out after {}s, killed", limit.as_secs());
        if !slow.is_empty() {
            why.push_str("; running too long: ");
            why.push_str(&summarize(&slow));
        }
        if !failed.is_empty() {
            why.push_str("; failed: ");
            why.push_str(&summarize(&failed));
        }
        return Outcome::Fail(why);
    }
    match status {
        Ok(status) if status.success() => Outcome::Pass(elapsed),
        Ok(status) => {
            let mut why = status_text(status);
            if !failed.is_empty() {
                why.push_str("; failed: ");
                why.push_str(&summarize(&failed));
            }
            Outcome::Fail(why)
        }
        Err(e) => Outcome::Fail(format!("could not wait for cargo: {e}")),
    }
}

/// Which test binary cargo starts next, as a prefix for failed test names:
/// `Running tests/faults.rs (...)` -> `faults: `, `Running unittests src/lib.rs (...)` ->
/// `lib: `, `Doc-tests sessionkit_core` -> `doc: `.
pub(crate) fn test_target(line: &str) -> Option<String> {
    let line = line.trim_start();
    if line.starts_with("Doc-tests ") {
        return Some("doc: ".to_owned());
    }
    let path = line.strip_prefix("Running ")?;
    let path = path.split(" (").next().unwrap_or(path);
    let path = path.strip_prefix("unittests ").unwrap_or(path);
    let file = Path::new(path);
    let stem = file.file_stem()?.to_str()?;
    let name = match stem {
        // tests/name/main.rs, src/bin/name/main.rs
        "main" | "mod" if file.parent().is_some_and(|p| p.ends_with("src")) => "bin",
        "main" | "mod" => file.parent()?.file_name()?.to_str()?,
        other => other,
    };
    Some(format!("{name}: "))
}

/// `test some::name has been running for over 60 seconds` -> `some::name`.
pub(crate) fn slow_test(line: &str) -> Option<&str> {
    line.strip_prefix("test ")?
        .strip_suffix(" has been running for over 60 seconds")
        .map(str::trim)
}

/// The pids of `root` and all its descendants, from `/proc/*/stat`.
fn process_tree(root: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may contain spaces and parentheses.
        let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        if let Some(ppid) = after_comm
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
        {
            parent_of.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parent_of
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    tree
}

/// True for a testkit watchdog, which must outlive the test process to clean up after it.
fn is_watchdog(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| cmdline.split(|b| *b == 0).next() == Some(WATCHDOG_ARG0.as_bytes()))
        .unwrap_or(false)
}

/// SIGKILLs `root` and every descendant (collected first, so none escapes by reparenting),
/// sparing the testkit watchdogs: they kill what is left and remove the temp dirs once the
/// test processes are gone.
fn kill_tree(root: u32) {
    let pids: Vec<String> = process_tree(root)
        .into_iter()
        .filter(|pid| !is_watchdog(*pid))
        .map(|pid| pid.to_string())
        .collect();
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--"])
        .args(&pids)
        .stdin(Stdio::null())
        .status();
}

/// `test some::name ... FAILED` -> `some::name`.
pub(crate) fn failed_test(line: &str) -> Option<&str> {
    line.strip_prefix("test ")?
        .strip_suffix(" ... FAILED")
        .map(str::trim)
}

fn summarize(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut text = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

impl Outcome {
    /// The summary line for `cell`: `PASS name (secs)`, `FAIL name (why)` or
    /// `SKIP name: could not run: why`.
    pub(crate) fn line(&self, cell: &str) -> String {
        match self {
            Outcome::Pass(time) => format!("PASS {cell} ({:.1}s)", time.as_secs_f64()),
            Outcome::Fail(why) => format!("FAIL {cell} ({why})"),
            Outcome::Skip(why) => format!("SKIP {cell}: could not run: {why}"),
        }
    }

    fn passed(&self) -> bool {
        matches!(self, Outcome::Pass(_))
    }
}

/// One line per cell, then `N passed, M failed` (could-not-run counts as failed); and M.
pub(crate) fn summary_lines(results: &[(&str, Outcome)]) -> (Vec<String>, usize) {
    let mut lines: Vec<String> = results
        .iter()
        .map(|(cell, outcome)| outcome.line(cell))
        .collect();
    let passed = results.iter().filter(|(_, o)| o.passed()).count();
    let failed = results.len() - passed;
    lines.push(format!("{passed} passed, {failed} failed"));
    (lines, failed)
}

/// Prints the summary; returns how many cells failed or could not run.
pub(crate) fn summary(results: &[(&str, Outcome)]) -> usize {
    let (lines, failed) = summary_lines(results);
    println!();
    println!("==> summary");
    for line in lines {
        println!("{line}");
    }
    failed
}

/// What `--list` prints.
pub(crate) fn list(cells: &[&Cell]) {
    let width = |f: fn(&Cell) -> String| cells.iter().map(|c| f(c).len()).max().unwrap_or(0);
    let name_w = width(|c| c.name.to_owned()).max(4);
    let package_w = width(|c| c.package.to_owned()).max(7);
    let features_w = width(features_text).max(8);
    let run_w = width(Cell::run_text).max(4);
    println!(
        "{:name_w$}  {:package_w$}  {:features_w$}  {:run_w$}  services",
        "cell", "package", "features", "runs"
    );
    for cell in cells {
        println!(
            "{:name_w$}  {:package_w$}  {:features_w$}  {:run_w$}  {}",
            cell.name,
            cell.package,
            features_text(cell),
            cell.run_text(),
            cell.services_text()
        );
    }
}

fn features_text(cell: &Cell) -> String {
    if cell.features.is_empty() {
        "-".to_owned()
    } else {
        cell.features.join(",")
    }
}
