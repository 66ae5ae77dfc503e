//! The test matrix: one static table, one entry per cell.

use sessionkit_testkit::Service;

/// What a cell runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run {
    /// `cargo test -p PACKAGE [--features ...] --no-fail-fast ARGS`
    Tests,
    /// `cargo run -p PACKAGE --example NAME [--features ...] ARGS`
    Example(&'static str),
    /// `cargo run --example NAME`, exactly as the README prints it: no `-p`, so an example
    /// name that more than one package has fails here as it would for a new user.
    RootExample(&'static str),
    /// `cargo publish --dry-run --workspace --allow-dirty`: every publishable crate packaged
    /// and built from its package, in the order of the dependency graph, against the others'
    /// packages (the build step packages them with `--no-verify`, which checks the metadata).
    Publish,
}

/// A C library a cell's build links, so it must be installed before cargo runs (a missing one
/// would otherwise surface as a `-sys` crate's build error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lib {
    /// libpq (pq-sys).
    Postgres,
    /// libmysqlclient or libmariadb (mysqlclient-sys).
    Mysql,
}

/// One cell of the matrix: a package, built with some features, run against some services.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cell {
    /// Unique; `--only PREFIX` selects by it.
    pub(crate) name: &'static str,
    /// The cargo package (`-p`).
    pub(crate) package: &'static str,
    /// Cargo features to turn on (`--features a,b`).
    pub(crate) features: &'static [&'static str],
    /// Servers whose address the tests read from `SESSIONKIT_*` variables: taken from the
    /// environment when set there, else started as throwaway servers for the cell.
    pub(crate) services: &'static [Service],
    /// Servers the tests start themselves (fault tests): only checked to be installed.
    pub(crate) own_servers: &'static [Service],
    /// C libraries the build links.
    pub(crate) links: &'static [Lib],
    /// Other programs the tests run (each must be known to `setup::needed`).
    pub(crate) programs: &'static [&'static str],
    /// Extra environment for the cargo command.
    pub(crate) env: &'static [(&'static str, &'static str)],
    /// Extra cargo arguments (`--no-default-features`, `--test NAME`, `--`, harness flags).
    pub(crate) args: &'static [&'static str],
    /// Tests or an example.
    pub(crate) run: Run,
    /// How long the run may take before the cell is killed and counted as failed (a hung test
    /// must not hang CI).
    pub(crate) timeout_secs: u64,
}

/// The defaults every entry starts from (`..CELL`).
const CELL: Cell = Cell {
    name: "",
    package: "",
    features: &[],
    services: &[],
    own_servers: &[],
    links: &[],
    programs: &[],
    env: &[],
    args: &[],
    run: Run::Tests,
    timeout_secs: 600,
};

/// Every server kind the testkit can start.
const ALL_SERVERS: &[Service] = &[
    Service::Redis,
    Service::RedisCluster,
    Service::Memcached { nodes: 1 },
    Service::Postgres,
    Service::Mysql,
];

/// One server of each kind a client back end talks to (no cluster): what the cells that open
/// every back end need.
const CLIENT_SERVERS: &[Service] = &[
    Service::Redis,
    Service::Memcached { nodes: 1 },
    Service::Postgres,
    Service::Mysql,
];

/// The features every `db-*` cell builds sessionkit-db with, so that the cells share one build.
const DB_FEATURES: &[&str] = &["postgres", "mysql", "sqlite"];

/// What a build with both client databases links.
const DB_LIBS: &[Lib] = &[Lib::Postgres, Lib::Mysql];

/// The matrix. Adding a cell is adding an entry.
pub(crate) const CELLS: &[Cell] = &[
    Cell {
        name: "core",
        package: "sessionkit-core",
        ..CELL
    },
    Cell {
        name: "conformance",
        package: "sessionkit-conformance",
        ..CELL
    },
    Cell {
        name: "locmem",
        package: "sessionkit-locmem",
        ..CELL
    },
    Cell {
        name: "facade",
        package: "sessionkit",
        ..CELL
    },
    Cell {
        // `connect(url)` for every back end compiled in, against real servers.
        name: "facade-full",
        package: "sessionkit",
        features: &["full"],
        links: DB_LIBS,
        services: CLIENT_SERVERS,
        ..CELL
    },
    Cell {
        // The `sessionkit` operator command, run as a binary against real servers.
        name: "cli",
        package: "sessionkit-cli",
        links: DB_LIBS,
        services: CLIENT_SERVERS,
        ..CELL
    },
    Cell {
        // The framework-neutral SessionMiddleware (in-process and cookie stores only).
        name: "http",
        package: "sessionkit-http",
        ..CELL
    },
    Cell {
        // The tower layer and axum extractor over a real socket; this one also runs the
        // crate's unit and doc tests.
        name: "http-locmem",
        package: "sessionkit-tower",
        features: &["axum", "tower-sessions"],
        links: DB_LIBS,
        services: &[],
        env: &[("SESSIONKIT_HTTP_BACKEND", "locmem")],
        args: &[],
        ..CELL
    },
    Cell {
        name: "http-redis",
        package: "sessionkit-tower",
        features: &["axum", "tower-sessions"],
        links: DB_LIBS,
        services: &[Service::Redis],
        env: &[("SESSIONKIT_HTTP_BACKEND", "redis")],
        args: &["--test", "http", "--test", "tower_sessions_compat"],
        ..CELL
    },
    Cell {
        name: "http-memcached",
        package: "sessionkit-tower",
        features: &["axum", "tower-sessions"],
        links: DB_LIBS,
        services: &[Service::Memcached { nodes: 1 }],
        env: &[("SESSIONKIT_HTTP_BACKEND", "memcached")],
        args: &["--test", "http", "--test", "tower_sessions_compat"],
        ..CELL
    },
    Cell {
        name: "http-postgres",
        package: "sessionkit-tower",
        features: &["axum", "tower-sessions"],
        links: DB_LIBS,
        services: &[Service::Postgres],
        env: &[("SESSIONKIT_HTTP_BACKEND", "postgres")],
        args: &["--test", "http", "--test", "tower_sessions_compat"],
        ..CELL
    },
    Cell {
        name: "http-mysql",
        package: "sessionkit-tower",
        features: &["axum", "tower-sessions"],
        links: DB_LIBS,
        services: &[Service::Mysql],
        env: &[("SESSIONKIT_HTTP_BACKEND", "mysql")],
        args: &["--test", "http", "--test", "tower_sessions_compat"],
        ..CELL
    },
    Cell {
        name: "http-sqlite",
        package: "sessionkit-tower",
        features: &["axum", "tower-sessions"],
        links: DB_LIBS,
        services: &[],
        env: &[("SESSIONKIT_HTTP_BACKEND", "sqlite")],
        args: &["--test", "http", "--test", "tower_sessions_compat"],
        ..CELL
    },
    Cell {
        name: "http-cached-db",
        package: "sessionkit-tower",
        features: &["axum", "tower-sessions"],
        links: DB_LIBS,
        services: &[Service::Redis],
        env: &[("SESSIONKIT_HTTP_BACKEND", "cached-db")],
        args: &["--test", "http", "--test", "tower_sessions_compat"],
        ..CELL
    },
    Cell {
        name: "http-cookie-signed",
        package: "sessionkit-tower",
        features: &["axum", "tower-sessions"],
        links: DB_LIBS,
        services: &[],
        env: &[("SESSIONKIT_HTTP_BACKEND", "cookie-signed")],
        args: &["--test", "http", "--test", "tower_sessions_compat"],
        ..CELL
    },
    Cell {
        name: "http-cookie-encrypted",
        package: "sessionkit-tower",
        features: &["axum", "tower-sessions"],
        links: DB_LIBS,
        services: &[],
        env: &[("SESSIONKIT_HTTP_BACKEND", "cookie-encrypted")],
        args: &["--test", "http", "--test", "tower_sessions_compat"],
        ..CELL
    },
    Cell {
        // The actix-web middleware through a real actix-web server: the same HTTP suite.
        name: "http-actix",
        package: "sessionkit-actix",
        links: DB_LIBS,
        ..CELL
    },
    Cell {
        // The axum_login example in headless Chromium through chromedriver, sessions in redis.
        name: "browser",
        package: "sessionkit-examples",
        services: &[Service::Redis],
        programs: &["chromium", "chromedriver"],
        ..CELL
    },
    Cell {
        name: "facade-quickstart",
        package: "sessionkit",
        run: Run::RootExample("quickstart"),
        ..CELL
    },
    Cell {
        // Everything but the cluster tests (they need the `cluster` feature).
        name: "redis-single",
        package: "sessionkit-redis",
        services: &[Service::Redis],
        own_servers: &[Service::Redis],
        args: &["--no-default-features"],
        ..CELL
    },
    Cell {
        name: "redis-cluster",
        package: "sessionkit-redis",
        features: &["cluster"],
        services: &[Service::RedisCluster],
        own_servers: &[Service::RedisCluster],
        args: &[
            "--no-default-features",
            "--test",
            "cluster_conformance",
            "--test",
            "cluster_faults",
        ],
        ..CELL
    },
    Cell {
        // rediss:// against a TLS-only redis-server the test starts with its own private CA.
        name: "redis-tls",
        package: "sessionkit-redis",
        features: &["tls-rustls"],
        own_servers: &[Service::Redis],
        programs: &["openssl"],
        args: &["--no-default-features", "--test", "tls"],
        ..CELL
    },
    Cell {
        // The single-server suite, given exactly one server.
        name: "memcached-single",
        package: "sessionkit-memcached",
        services: &[Service::Memcached { nodes: 1 }],
        args: &["--test", "conformance"],
        ..CELL
    },
    Cell {
        // Every test; single-server tests use the first of the three.
        name: "memcached-three",
        package: "sessionkit-memcached",
        services: &[Service::Memcached { nodes: 3 }],
        own_servers: &[Service::Memcached { nodes: 3 }],
        ..CELL
    },
    Cell {
        name: "cookie",
        package: "sessionkit-cookie",
        ..CELL
    },
    // Django's wire formats: Django 5.2's own test vectors, and a real Django (from PyPI, in
    // a virtualenv the testkit makes) reading and writing with sessionkit.
    Cell {
        name: "django",
        package: "sessionkit-django",
        links: DB_LIBS,
        programs: &["python3-venv"],
        // The engine tests run in the cells below, one per engine.
        args: &[
            "--",
            "--skip",
            "cache_redis::",
            "--skip",
            "cache_memcached::",
            "--skip",
            "signed_cookies::",
            "--skip",
            "db_postgres::",
            "--skip",
            "db_mysql::",
            "--skip",
            "db_sqlite::",
            "--skip",
            "cached_db::",
        ],
        ..CELL
    },
    // A sessionkit store configured Django-compatible and a real Django running the same
    // engine, on the cell's servers (crates/django/tests/engines.rs, one module per engine).
    Cell {
        name: "django-cache-redis",
        package: "sessionkit-django",
        services: &[Service::Redis],
        links: DB_LIBS,
        programs: &["python3-venv"],
        args: &["--test", "engines", "--", "cache_redis::"],
        ..CELL
    },
    Cell {
        name: "django-cache-memcached",
        package: "sessionkit-django",
        services: &[Service::Memcached { nodes: 1 }],
        links: DB_LIBS,
        programs: &["python3-venv"],
        args: &["--test", "engines", "--", "cache_memcached::"],
        ..CELL
    },
    Cell {
        name: "django-signed-cookies",
        package: "sessionkit-django",
        links: DB_LIBS,
        programs: &["python3-venv"],
        args: &["--test", "engines", "--", "signed_cookies::"],
        ..CELL
    },
    Cell {
        name: "django-db-postgres",
        package: "sessionkit-django",
        services: &[Service::Postgres],
        links: DB_LIBS,
        programs: &["python3-venv"],
        args: &["--test", "engines", "--", "db_postgres::"],
        ..CELL
    },
    Cell {
        name: "django-db-mysql",
        package: "sessionkit-django",
        services: &[Service::Mysql],
        links: DB_LIBS,
        programs: &["python3-venv"],
        args: &["--test", "engines", "--", "db_mysql::"],
        ..CELL
    },
    Cell {
        name: "django-db-sqlite",
        package: "sessionkit-django",
        links: DB_LIBS,
        programs: &["python3-venv"],
        args: &["--test", "engines", "--", "db_sqlite::"],
        ..CELL
    },
    Cell {
        // The end-to-end demo: Django logs in, a Rust service reads the login from the cookie.
        name: "django-demo",
        package: "sessionkit-examples",
        programs: &["python3-venv"],
        run: Run::Example("django_bridge"),
        ..CELL
    },
    Cell {
        name: "django-cached-db",
        package: "sessionkit-django",
        services: &[Service::Redis],
        links: DB_LIBS,
        programs: &["python3-venv"],
        args: &["--test", "engines", "--", "cached_db::"],
        ..CELL
    },
    // The database back end: every cell builds sessionkit-db with all three databases (one
    // build, shared by the cells) and runs some of its test files.
    Cell {
        name: "db-sqlite",
        package: "sessionkit-db",
        features: DB_FEATURES,
        links: DB_LIBS,
        args: &["--lib", "--test", "conformance_sqlite"],
        ..CELL
    },
    Cell {
        name: "db-postgres",
        package: "sessionkit-db",
        features: DB_FEATURES,
        links: DB_LIBS,
        services: &[Service::Postgres],
        args: &["--test", "conformance_postgres", "--test", "soak"],
        ..CELL
    },
    Cell {
        name: "db-mysql",
        package: "sessionkit-db",
        features: DB_FEATURES,
        links: DB_LIBS,
        services: &[Service::Mysql],
        args: &["--test", "conformance_mysql"],
        ..CELL
    },
    Cell {
        // Migrations, batched clearing, timeouts, hostile configuration: on all three databases.
        name: "db-store",
        package: "sessionkit-db",
        features: DB_FEATURES,
        links: DB_LIBS,
        services: &[Service::Postgres, Service::Mysql],
        args: &["--test", "store"],
        ..CELL
    },
    Cell {
        // PostgreSQL and MariaDB killed and restarted under load: their own throwaway servers.
        name: "db-faults",
        package: "sessionkit-db",
        features: DB_FEATURES,
        links: DB_LIBS,
        own_servers: &[Service::Postgres, Service::Mysql],
        args: &["--test", "faults"],
        ..CELL
    },
    Cell {
        name: "db-quickstart",
        package: "sessionkit-db",
        features: DB_FEATURES,
        links: DB_LIBS,
        run: Run::Example("db_quickstart"),
        ..CELL
    },
    // The cached database back end: each cache in front of each database, the conformance suite
    // unchanged; the cache-failure, coherence and soak tests run with redis in front of postgres.
    Cell {
        name: "cached-db-locmem-sqlite",
        package: "sessionkit-cached-db",
        links: &[Lib::Postgres],
        args: &["--lib", "--test", "conformance_locmem_sqlite"],
        ..CELL
    },
    Cell {
        name: "cached-db-locmem-postgres",
        package: "sessionkit-cached-db",
        links: &[Lib::Postgres],
        services: &[Service::Postgres],
        args: &["--test", "conformance_locmem_postgres"],
        ..CELL
    },
    Cell {
        name: "cached-db-redis-sqlite",
        package: "sessionkit-cached-db",
        links: &[Lib::Postgres],
        services: &[Service::Redis],
        args: &["--test", "conformance_redis_sqlite"],
        ..CELL
    },
    Cell {
        name: "cached-db-redis-postgres",
        package: "sessionkit-cached-db",
        links: &[Lib::Postgres],
        services: &[Service::Redis, Service::Postgres],
        own_servers: &[Service::Redis, Service::Memcached { nodes: 1 }],
        args: &[
            "--test",
            "conformance_redis_postgres",
            "--test",
            "cache_faults",
            "--test",
            "coherence",
            "--test",
            "soak",
        ],
        ..CELL
    },
    Cell {
        name: "cached-db-memcached-sqlite",
        package: "sessionkit-cached-db",
        links: &[Lib::Postgres],
        services: &[Service::Memcached { nodes: 1 }],
        args: &["--test", "conformance_memcached_sqlite"],
        ..CELL
    },
    Cell {
        name: "cached-db-memcached-postgres",
        package: "sessionkit-cached-db",
        links: &[Lib::Postgres],
        services: &[Service::Memcached { nodes: 1 }, Service::Postgres],
        args: &["--test", "conformance_memcached_postgres"],
        ..CELL
    },
    Cell {
        name: "testkit",
        package: "sessionkit-testkit",
        own_servers: ALL_SERVERS,
        env: &[("SESSIONKIT_TESTKIT_REQUIRE_SERVERS", "1")],
        ..CELL
    },
    Cell {
        name: "xtask",
        package: "xtask",
        ..CELL
    },
    Cell {
        // What `cargo publish` would do for every publishable crate, without uploading.
        name: "publish",
        package: "sessionkit",
        links: DB_LIBS,
        run: Run::Publish,
        ..CELL
    },
];

impl Cell {
    /// `--features a,b`, or nothing.
    pub(crate) fn feature_args(&self) -> Vec<String> {
        if self.features.is_empty() {
            Vec::new()
        } else {
            vec!["--features".to_owned(), self.features.join(",")]
        }
    }

    /// `-p PACKAGE`, or nothing for a [`Run::RootExample`].
    fn package_args(&self) -> Vec<String> {
        match self.run {
            Run::RootExample(_) => Vec::new(),
            Run::Publish => vec!["--workspace".to_owned(), "--allow-dirty".to_owned()],
            Run::Tests | Run::Example(_) => vec!["-p".to_owned(), self.package.to_owned()],
        }
    }

    /// The cargo arguments that build what the cell runs, without running it.
    pub(crate) fn build_args(&self) -> Vec<String> {
        let mut args = match self.run {
            Run::Tests => vec!["test".to_owned(), "--no-run".to_owned()],
            Run::Example(name) | Run::RootExample(name) => {
                vec!["build".to_owned(), "--example".to_owned(), name.to_owned()]
            }
            Run::Publish => ["publish", "--dry-run", "--no-verify"]
                .map(String::from)
                .to_vec(),
        };
        args.extend(self.package_args());
        args.extend(self.feature_args());
        // Everything before `--` is for cargo; after it, for the test harness or the example.
        args.extend(
            self.args
                .iter()
                .take_while(|a| **a != "--")
                .map(|a| (*a).to_owned()),
        );
        args
    }

    /// The cargo arguments that run the cell.
    pub(crate) fn run_args(&self) -> Vec<String> {
        let mut args = match self.run {
            Run::Tests => vec!["test".to_owned()],
            Run::Example(name) | Run::RootExample(name) => {
                vec!["run".to_owned(), "--example".to_owned(), name.to_owned()]
            }
            Run::Publish => vec!["publish".to_owned(), "--dry-run".to_owned()],
        };
        args.extend(self.package_args());
        args.extend(self.feature_args());
        if self.run == Run::Tests {
            args.push("--no-fail-fast".to_owned());
        }
        args.extend(self.args.iter().map(|a| (*a).to_owned()));
        args
    }

    /// What `--list` prints about the cell's services.
    pub(crate) fn services_text(&self) -> String {
        let mut parts: Vec<String> = self.services.iter().map(ToString::to_string).collect();
        parts.extend(self.own_servers.iter().map(|s| format!("own {s}")));
        if parts.is_empty() {
            "-".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// What `--list` prints about what the cell runs.
    pub(crate) fn run_text(&self) -> String {
        let mut text = match self.run {
            Run::Tests => "tests".to_owned(),
            Run::Example(name) => format!("example {name}"),
            Run::RootExample(name) => format!("example {name} (no -p)"),
            Run::Publish => "cargo publish --dry-run --workspace".to_owned(),
        };
        for arg in self.args {
            text.push(' ');
            text.push_str(arg);
        }
        text
    }
}

/// The cells whose name starts with `prefix` (all cells for `None`).
pub(crate) fn select(prefix: Option<&str>) -> Vec<&'static Cell> {
    CELLS
        .iter()
        .filter(|cell| prefix.is_none_or(|p| cell.name.starts_with(p)))
        .collect()
}
