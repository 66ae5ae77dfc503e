//! What the matrix needs from the system, checked before anything is built: the servers the
//! testkit starts, their clients, and the C libraries `-sys` crates link against.
//!
//! This is the one list of system packages. [`plan`] decides, from what is missing and what
//! the machine allows, whether to go on, install with `apt-get`, or stop with one message that
//! lists every missing package and the command that installs them.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use sessionkit_testkit::Service;

use crate::matrix::{Cell, Lib};

/// How to tell whether a package is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Every one of these programs is found (where the testkit looks for servers).
    Programs(&'static [&'static str]),
    /// `pkg-config --exists` succeeds for one of these library names.
    PkgConfig(&'static [&'static str]),
    /// This file exists.
    File(&'static str),
    /// This command runs and succeeds.
    Runs(&'static [&'static str]),
}

/// One system package: its names on each family of systems, why it is needed, how to probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Package {
    /// The Debian/Ubuntu package (what `apt-get install` is given).
    pub(crate) debian: &'static str,
    /// The Fedora/RHEL package, where there is one.
    pub(crate) fedora: Option<&'static str>,
    /// The Homebrew formula, where there is one.
    pub(crate) brew: Option<&'static str>,
    /// What it is for, as the message prints it.
    pub(crate) why: &'static str,
    /// How to tell it is installed.
    pub(crate) probe: Probe,
}

const fn package(
    debian: &'static str,
    fedora: Option<&'static str>,
    brew: Option<&'static str>,
    why: &'static str,
    probe: Probe,
) -> Package {
    Package {
        debian,
        fedora,
        brew,
        why,
        probe,
    }
}

/// A C compiler: ring and the bundled SQLite are compiled with it.
const GCC: Package = package(
    "gcc",
    Some("gcc"),
    None,
    "C compiler (ring, bundled SQLite)",
    Probe::Programs(&["cc"]),
);
/// The C library headers the compiler needs.
const LIBC_DEV: Package = package(
    "libc6-dev",
    Some("glibc-devel"),
    None,
    "C library headers",
    Probe::File("/usr/include/stdio.h"),
);
/// How the `-sys` crates find their libraries.
const PKG_CONFIG: Package = package(
    "pkg-config",
    Some("pkgconf-pkg-config"),
    Some("pkgconf"),
    "finds the C libraries below",
    Probe::Programs(&["pkg-config"]),
);
/// `kill(1)`: the testkit stops servers with a signal.
const PROCPS: Package = package(
    "procps",
    Some("procps-ng"),
    None,
    "kill(1), used to stop throwaway servers",
    Probe::Programs(&["kill"]),
);
const LIBPQ: Package = package(
    "libpq-dev",
    Some("libpq-devel"),
    Some("libpq"),
    "PostgreSQL client library (pq-sys, diesel postgres)",
    Probe::PkgConfig(&["libpq"]),
);
const LIBMYSQL: Package = package(
    "default-libmysqlclient-dev",
    Some("mariadb-connector-c-devel"),
    Some("mariadb-connector-c"),
    "MySQL/MariaDB client library (mysqlclient-sys, diesel mysql)",
    Probe::PkgConfig(&["mysqlclient", "libmariadb"]),
);
const REDIS_SERVER: Package = package(
    "redis-server",
    Some("redis"),
    Some("redis"),
    "redis-server (throwaway redis servers)",
    Probe::Programs(&["redis-server"]),
);
const REDIS_TOOLS: Package = package(
    "redis-tools",
    Some("redis"),
    Some("redis"),
    "redis-cli (creates the throwaway Redis Cluster)",
    Probe::Programs(&["redis-cli"]),
);
const MEMCACHED: Package = package(
    "memcached",
    Some("memcached"),
    Some("memcached"),
    "memcached (throwaway memcached servers)",
    Probe::Programs(&["memcached"]),
);
const POSTGRESQL: Package = package(
    "postgresql",
    Some("postgresql-server"),
    Some("postgresql@16"),
    "initdb, postgres, psql, pg_isready (throwaway PostgreSQL servers)",
    Probe::Programs(&["initdb", "postgres", "pg_isready", "psql"]),
);
const MARIADB_SERVER: Package = package(
    "mariadb-server",
    Some("mariadb-server"),
    Some("mariadb"),
    "mariadbd, mariadb-install-db (throwaway MariaDB servers)",
    Probe::Programs(&["mariadbd", "mariadb-install-db"]),
);
const MARIADB_CLIENT: Package = package(
    "mariadb-client",
    Some("mariadb"),
    Some("mariadb"),
    "mariadb, mariadb-admin (throwaway MariaDB servers)",
    Probe::Programs(&["mariadb", "mariadb-admin"]),
);
const OPENSSL: Package = package(
    "openssl",
    Some("openssl"),
    Some("openssl"),
    "openssl(1): makes the certificates of the redis TLS test",
    Probe::Programs(&["openssl"]),
);
const CHROMIUM: Package = package(
    "chromium",
    Some("chromium"),
    None,
    "chromium: the headless browser of the browser test",
    Probe::Programs(&["chromium"]),
);
const CHROMEDRIVER: Package = package(
    "chromium-driver",
    Some("chromedriver"),
    Some("chromedriver"),
    "chromedriver: WebDriver for that browser",
    Probe::Programs(&["chromedriver"]),
);

const PYTHON3_VENV: Package = package(
    "python3-venv",
    Some("python3"),
    Some("python@3"),
    "python3 with venv: runs the real Django of the django cell (Django itself comes from PyPI)",
    Probe::Runs(&["python3", "-m", "venv", "--help"]),
);

/// Every package the matrix may need, in the order messages list them.
pub(crate) const PACKAGES: &[Package] = &[
    GCC,
    LIBC_DEV,
    PKG_CONFIG,
    PROCPS,
    LIBPQ,
    LIBMYSQL,
    REDIS_SERVER,
    REDIS_TOOLS,
    MEMCACHED,
    POSTGRESQL,
    MARIADB_SERVER,
    MARIADB_CLIENT,
    OPENSSL,
    CHROMIUM,
    CHROMEDRIVER,
    PYTHON3_VENV,
];

/// The packages a throwaway server of `service` needs.
fn server_packages(service: Service) -> &'static [Package] {
    match service {
        Service::Redis => &[REDIS_SERVER],
        Service::RedisCluster => &[REDIS_SERVER, REDIS_TOOLS],
        Service::Memcached { .. } => &[MEMCACHED],
        Service::Postgres => &[POSTGRESQL],
        Service::Mysql => &[MARIADB_SERVER, MARIADB_CLIENT],
    }
}

/// The packages `cells` need. `from_env(service)` says whether the environment names a server
/// of that kind (then the cells' `services` of that kind need nothing installed; the servers
/// the tests start themselves, `own_servers`, always do).
pub(crate) fn needed(cells: &[&Cell], from_env: impl Fn(Service) -> bool) -> Vec<Package> {
    let mut needed = vec![GCC, LIBC_DEV, PKG_CONFIG, PROCPS];
    for cell in cells {
        for lib in cell.links {
            needed.push(match lib {
                Lib::Postgres => LIBPQ,
                Lib::Mysql => LIBMYSQL,
            });
        }
        for service in cell.services {
            if !from_env(*service) {
                needed.extend(server_packages(*service));
            }
        }
        for service in cell.own_servers {
            needed.extend(server_packages(*service));
        }
        needed.extend(cell.programs.iter().map(|p| match *p {
            "openssl" => OPENSSL,
            "chromium" => CHROMIUM,
            "chromedriver" => CHROMEDRIVER,
            "python3-venv" => PYTHON3_VENV,
            other => panic!("matrix: no package is known for the program `{other}`"),
        }));
    }
    // The order of PACKAGES, each once.
    PACKAGES
        .iter()
        .copied()
        .filter(|p| needed.contains(p))
        .collect()
}

/// Whether `probe` finds its package on this machine.
pub(crate) fn present(probe: Probe) -> bool {
    match probe {
        Probe::Programs(programs) => programs
            .iter()
            .all(|p| sessionkit_testkit::find_program(p).is_some()),
        Probe::PkgConfig(names) => names.iter().any(|name| {
            Command::new("pkg-config")
                .args(["--exists", name])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        }),
        Probe::File(path) => Path::new(path).exists(),
        Probe::Runs(command) => Command::new(command[0])
            .args(&command[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
    }
}

/// What the machine allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Machine {
    /// `--no-install` was not given.
    pub(crate) may_install: bool,
    /// `apt-get` is on `PATH`.
    pub(crate) has_apt: bool,
    /// We run as root.
    pub(crate) is_root: bool,
}

/// What to do about the missing packages.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing is missing.
    Ready,
    /// Install these (Debian names) with apt-get, then check again.
    Install(Vec<Package>),
    /// Stop before building, printing this.
    Stop(String),
}

/// Decides what to do about `missing`.
pub(crate) fn plan(missing: &[Package], machine: Machine) -> Plan {
    if missing.is_empty() {
        Plan::Ready
    } else if machine.may_install && machine.has_apt && machine.is_root {
        Plan::Install(missing.to_vec())
    } else {
        let why = if !machine.may_install {
            "--no-install was given"
        } else if !machine.has_apt {
            "this machine has no apt-get"
        } else {
            "installing needs root"
        };
        Plan::Stop(missing_message(missing, why))
    }
}

/// The one message that lists every missing package and the commands that install them.
pub(crate) fn missing_message(missing: &[Package], why_not_installed: &str) -> String {
    let mut text = String::from(
        "error: cargo xtask test-matrix needs system packages that are not installed \
         (nothing was built):\n",
    );
    let width = missing.iter().map(|p| p.debian.len()).max().unwrap_or(0);
    for p in missing {
        let _ = writeln!(text, "  {:width$}  {}", p.debian, p.why);
    }
    let names = |f: fn(&Package) -> Option<&'static str>| {
        let mut names: Vec<&str> = missing.iter().filter_map(f).collect();
        names.dedup();
        names.join(" ")
    };
    let _ = writeln!(
        text,
        "They were not installed automatically: {why_not_installed}. Install them, then run the \
         command again:"
    );
    let _ = writeln!(
        text,
        "  Debian/Ubuntu:     sudo apt-get install -y --no-install-recommends {}",
        names(|p| Some(p.debian))
    );
    let fedora = names(|p| p.fedora);
    if !fedora.is_empty() {
        let _ = writeln!(text, "  Fedora/RHEL:       sudo dnf install -y {fedora}");
    }
    let brew = names(|p| p.brew);
    if !brew.is_empty() {
        let _ = writeln!(text, "  macOS (Homebrew):  brew install {brew}");
    }
    text.push_str(
        "Servers can also come from the environment instead (SESSIONKIT_REDIS_URL, \
         SESSIONKIT_MEMCACHED_URLS, SESSIONKIT_POSTGRES_URL, SESSIONKIT_MYSQL_URL, ...; see \
         docs/testing.md); `--only PREFIX` runs fewer cells, which may need fewer packages.",
    );
    text
}

/// Checks what `cells` need; installs it when allowed, or returns the message to stop with.
pub(crate) fn ensure(cells: &[&Cell], may_install: bool) -> Result<(), String> {
    let from_env = |s: Service| std::env::var(s.env_var()).is_ok_and(|v| !v.trim().is_empty());
    let needed = needed(cells, from_env);
    let missing: Vec<Package> = needed.into_iter().filter(|p| !present(p.probe)).collect();
    let machine = Machine {
        may_install,
        has_apt: sessionkit_testkit::find_program("apt-get").is_some(),
        is_root: is_root(),
    };
    match plan(&missing, machine) {
        Plan::Ready => {
            println!("==> system packages: all present");
            Ok(())
        }
        Plan::Stop(message) => Err(message),
        Plan::Install(packages) => {
            println!("==> installing with apt-get (--no-install turns this off):");
            for p in &packages {
                println!("      {}: {}", p.debian, p.why);
            }
            apt_install(&packages)?;
            let still: Vec<Package> = packages.into_iter().filter(|p| !present(p.probe)).collect();
            if still.is_empty() {
                println!("==> system packages: installed");
                Ok(())
            } else {
                Err(missing_message(
                    &still,
                    "apt-get ran but they are still not found",
                ))
            }
        }
    }
}

fn apt_install(packages: &[Package]) -> Result<(), String> {
    let run = |args: &[&str]| -> Result<(), String> {
        // Quiet unless it fails: then its output is the explanation.
        let out = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("error: could not run apt-get: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "error: `apt-get {}` failed ({}):\n{}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    run(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(packages.iter().map(|p| p.debian));
    run(&args)
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{select, CELLS};

    const ROOT_WITH_APT: Machine = Machine {
        may_install: true,
        has_apt: true,
        is_root: true,
    };

    #[test]
    fn nothing_missing_is_ready() {
        assert_eq!(plan(&[], ROOT_WITH_APT), Plan::Ready);
    }

    #[test]
    fn root_with_apt_installs_what_is_missing() {
        assert_eq!(
            plan(&[MEMCACHED, LIBMYSQL], ROOT_WITH_APT),
            Plan::Install(vec![MEMCACHED, LIBMYSQL])
        );
    }

    #[test]
    fn otherwise_one_message_lists_every_package_and_the_commands() {
        for (machine, why) in [
            (
                Machine {
                    may_install: false,
                    ..ROOT_WITH_APT
                },
                "--no-install was given",
            ),
            (
                Machine {
                    has_apt: false,
                    ..ROOT_WITH_APT
                },
                "no apt-get",
            ),
            (
                Machine {
                    is_root: false,
                    ..ROOT_WITH_APT
                },
                "needs root",
            ),
        ] {
            let Plan::Stop(message) = plan(&[MEMCACHED, LIBMYSQL], machine) else {
                panic!("{machine:?} must stop");
            };
            assert!(message.contains(why), "{message}");
            assert!(
                message.contains(
                    "sudo apt-get install -y --no-install-recommends memcached \
                     default-libmysqlclient-dev"
                ),
                "{message}"
            );
            assert!(
                message.contains("sudo dnf install -y memcached mariadb-connector-c-devel"),
                "{message}"
            );
            assert!(
                message.contains("brew install memcached mariadb-connector-c"),
                "{message}"
            );
            assert!(message.contains("nothing was built"), "{message}");
        }
    }

    #[test]
    fn cells_need_their_servers_and_libraries() {
        let none_from_env = |_: Service| false;
        let debian = |cells: &[&Cell], env: &dyn Fn(Service) -> bool| -> Vec<&str> {
            needed(cells, env).iter().map(|p| p.debian).collect()
        };
        assert_eq!(
            debian(&select(Some("core")), &none_from_env),
            ["gcc", "libc6-dev", "pkg-config", "procps"]
        );
        let db = debian(&select(Some("db-mysql")), &none_from_env);
        assert!(db.contains(&"libpq-dev") && db.contains(&"default-libmysqlclient-dev"));
        assert!(db.contains(&"mariadb-server") && db.contains(&"mariadb-client"));
        assert!(!db.contains(&"memcached"));
        // A server from the environment needs nothing installed...
        let mysql_from_env = |s: Service| s == Service::Mysql;
        assert!(!debian(&select(Some("db-mysql")), &mysql_from_env).contains(&"mariadb-server"));
        // ... but the servers a fault test starts itself always do.
        assert!(debian(&select(Some("db-faults")), &mysql_from_env).contains(&"mariadb-server"));
        // The whole matrix needs every package of the list.
        let all: Vec<&Cell> = CELLS.iter().collect();
        assert_eq!(needed(&all, none_from_env), PACKAGES);
    }

    #[test]
    fn probes_see_this_machine() {
        assert!(present(Probe::Programs(&["sh"])));
        assert!(!present(Probe::Programs(&[
            "sh",
            "sessionkit-no-such-program"
        ])));
        assert!(!present(Probe::PkgConfig(&["sessionkit-no-such-library"])));
        assert!(present(Probe::File("/")));
    }
}
