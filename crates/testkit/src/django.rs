//! A real Django for the interop tests: Django [`DJANGO_VERSION`] installed from PyPI into a
//! virtualenv of the machine's Python 3, made once and reused.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::{Error, Result};

/// The Django the interop tests run against (pinned).
pub const DJANGO_VERSION: &str = "5.2.20";

/// Where a Python with Django already installed can be named instead of the virtualenv this
/// module makes.
pub const DJANGO_PYTHON_ENV: &str = "SESSIONKIT_DJANGO_PYTHON";

/// The Python interpreter of a virtualenv that has Django [`DJANGO_VERSION`]: the one
/// [`DJANGO_PYTHON_ENV`] names, else `$TMPDIR/sessionkit-django-<version>/bin/python`, made
/// on first use (`python3 -m venv`, then `pip install Django==<version>` from PyPI; about 20 s)
/// and reused by later runs. Blocks while it installs; concurrent callers in this process wait
/// for one install, and a half-made virtualenv from an interrupted run is made again.
pub fn django_python() -> Result<PathBuf> {
    static MADE: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();
    if let Some(python) = std::env::var_os(DJANGO_PYTHON_ENV) {
        return Ok(PathBuf::from(python));
    }
    let mut made = MADE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(python) = &*made {
        return Ok(python.clone());
    }
    let dir = std::env::temp_dir().join(format!("sessionkit-django-{DJANGO_VERSION}"));
    let python = dir.join("bin").join("python");
    if !has_django(&python) {
        install(&dir)?;
    }
    *made = Some(python.clone());
    Ok(python)
}

/// Whether `python` imports Django [`DJANGO_VERSION`].
fn has_django(python: &PathBuf) -> bool {
    Command::new(python)
        .args(["-c", "import django, sys; print(django.get_version())"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| {
            out.status.success() && out.stdout.trim_ascii() == DJANGO_VERSION.as_bytes()
        })
}

/// Makes the virtualenv in a folder of its own, then moves it into place (so a run that is
/// killed half-way leaves nothing that looks made).
fn install(dir: &PathBuf) -> Result<()> {
    let python3 = crate::find_program("python3").ok_or(Error::MissingBinary {
        binary: "python3",
        package: "python3 python3-venv",
    })?;
    let building = PathBuf::from(format!("{}.building-{}", dir.display(), std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    run(Command::new(&python3).arg("-m").arg("venv").arg(&building))?;
    run(Command::new(building.join("bin").join("python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(format!("Django=={DJANGO_VERSION}")))?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&building, dir)
        .map_err(|e| Error::io(format!("move {} into place", building.display()), e))
}

fn run(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io(format!("run {shown}"), e))?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stdout));
    Err(Error::CommandFailed {
        command: shown,
        status: out.status.to_string(),
        output: output.lines().rev().take(20).collect::<Vec<_>>().join("\n"),
    })
}
