//! A real Django for the interop tests: Django [`DJANGO_VERSION`] installed from PyPI into a
//! virtualenv of the machine's Python 3, made once and reused.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::process::{args, command_log, find_binary, Run};
use crate::{Error, Result};

/// The longest each install step (the virtualenv, pip from PyPI) may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);

/// The Django the interop tests run against (pinned).
pub const DJANGO_VERSION: &str = "5.2.20";

/// What the virtualenv holds besides Django (pinned): the clients Django's engines need to
/// reach the matrix's servers — redis-py for `RedisCache`, pymemcache for `PyMemcacheCache`,
/// psycopg for PostgreSQL, PyMySQL for MySQL/MariaDB (pure Python: no C build).
pub const DJANGO_CLIENTS: &[&str] = &[
    "redis==5.2.1",
    "pymemcache==4.0.0",
    "psycopg[binary]==3.3.9",
    "PyMySQL==1.1.1",
];

/// Where a Python with Django already installed can be named instead of the virtualenv this
/// module makes.
pub const DJANGO_PYTHON_ENV: &str = "SESSIONKIT_DJANGO_PYTHON";

/// The Python interpreter of a virtualenv that has Django [`DJANGO_VERSION`] and
/// [`DJANGO_CLIENTS`]: the one
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

/// Whether `python` imports Django [`DJANGO_VERSION`] and the clients of [`DJANGO_CLIENTS`].
fn has_django(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import django, redis, pymemcache, psycopg, pymysql; print(django.get_version())",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| {
            out.status.success() && out.stdout.trim_ascii() == DJANGO_VERSION.as_bytes()
        })
}

/// Makes the virtualenv in a folder of its own, then moves it into place (so a run that is
/// killed half-way leaves nothing that looks made).
fn install(dir: &Path) -> Result<()> {
    let python3 = find_binary("python3", "python3-venv")?;
    let building = PathBuf::from(format!("{}.building-{}", dir.display(), std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let base = std::env::temp_dir();
    let venv_python = building.join("bin").join("python");
    let pin = format!("Django=={DJANGO_VERSION}");
    let mut pip = vec![
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &pin,
    ];
    pip.extend_from_slice(DJANGO_CLIENTS);
    for (program, arguments) in [
        (
            &python3,
            args([OsString::from("-m"), "venv".into(), building.clone().into()]),
        ),
        (&venv_python, args(pip)),
    ] {
        Run {
            program,
            args: arguments,
            run_as: None,
            env: Vec::new(),
            cwd: &base,
            log: command_log(&base, "sessionkit-django-install"),
            timeout: INSTALL_TIMEOUT,
        }
        .run()?;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&building, dir)
        .map_err(|e| Error::io(format!("move {} into place", building.display()), e))
}
