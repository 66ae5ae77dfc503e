//! [`DbConfig`]: which database, which table, how many connections, how long to wait.

use std::fmt;
use std::time::Duration;

use sessionkit_core::{Error, Result};

use crate::error::{self, CONFIG};
use crate::store::DbStore;
use crate::{
    Backend, DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_STATEMENT_TIMEOUT, DEFAULT_TABLE,
    MIGRATIONS_TABLE,
};

/// Where the database is and how to use it: the URL, the session table, the pool size and the
/// timeouts that keep a dead or hung database from hanging a request.
///
/// ```no_run
/// # async fn demo() -> sessionkit_core::Result<()> {
/// use std::time::Duration;
/// use sessionkit_db::DbConfig;
///
/// let store = DbConfig::new("postgres://app:secret@db.internal:5432/app")
///     .table("myapp_session")
///     .pool_size(32)
///     .connect_timeout(Duration::from_secs(2))
///     .statement_timeout(Duration::from_secs(1))
///     .connect()
///     .await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
///
/// `Debug` hides the password in the URL.
#[derive(Clone)]
pub struct DbConfig {
    url: String,
    table: String,
    pool_size: u32,
    connect_timeout: Duration,
    statement_timeout: Duration,
}

impl DbConfig {
    /// The database at `url`:
    ///
    /// - `postgres://[user[:password]@]host[:port]/database[?param=value...]` or
    ///   `postgresql://...` (feature `postgres`; libpq parameters such as `sslmode` are passed
    ///   through);
    /// - `mysql://[user[:password]@]host[:port]/database` for MySQL and MariaDB (feature
    ///   `mysql`; `?unix_socket=`, `ssl_mode=`, `ssl_ca=` are understood);
    /// - `sqlite://PATH`, `sqlite:PATH` or a plain file path (feature `sqlite`, on by default):
    ///   `sqlite:///var/lib/app/sessions.sqlite3` is an absolute path, `sqlite://sessions.sqlite3`
    ///   a relative one. The file is created if missing (its directory must exist). `:memory:`
    ///   is refused: every pooled connection would get its own empty database.
    ///
    /// Nothing is checked until [`connect`](Self::connect).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            table: DEFAULT_TABLE.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
    }

    /// The table sessions are stored in (default `sessionkit_session`): 1 to 63 ASCII letters,
    /// digits and underscores, not starting with a digit (checked by [`connect`](Self::connect)).
    /// It is always quoted in SQL, so in PostgreSQL it is case-sensitive. Give each application
    /// sharing a database its own, or share one to share sessions.
    #[must_use]
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The most connections the pool opens (default 16). Connections are opened when needed
    /// and closed after 10 minutes unused. Each request holds one only for the duration of its
    /// one statement, so a pool much smaller than the number of concurrent requests is fine;
    /// with SQLite, writes take turns whatever the size.
    #[must_use]
    pub fn pool_size(mut self, n: u32) -> Self {
        self.pool_size = n;
        self
    }

    /// How long a request waits for a connection — a free one from the pool, or a new one
    /// being opened — before failing (default 5 s). A database that is down fails requests
    /// with [`Error::is_unavailable`](sessionkit_core::Error::is_unavailable) after this long;
    /// a pool whose connections all stay busy this long fails them with
    /// [`Error::is_timeout`](sessionkit_core::Error::is_timeout).
    ///
    /// PostgreSQL also gets it as libpq's `connect_timeout` (whole seconds, at least 2) unless
    /// the URL sets one.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one statement may run on the server (default 5 s): PostgreSQL's
    /// `statement_timeout`; MariaDB's `max_statement_time` (MySQL: `max_execution_time`, which
    /// bounds reads only); `innodb_lock_wait_timeout` (rounded up to whole seconds) on both;
    /// SQLite's `busy_timeout` (how long to wait for another connection's write lock). A
    /// statement that runs out of time fails with
    /// [`Error::is_timeout`](sessionkit_core::Error::is_timeout).
    ///
    /// Each operation as a whole is also bounded, on the async side, by the connect timeout
    /// plus the statement timeout plus one second: even a database that stops answering without
    /// closing its connections cannot hang a request longer than that.
    #[must_use]
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Checks the settings, opens one connection to check the URL, the credentials and the
    /// database (then closes it), and returns the store with its pool. Runs on tokio's blocking
    /// threads; never blocks an async worker.
    ///
    /// The session table is not needed yet: create it with [`DbStore::migrate`].
    ///
    /// Errors:
    /// - an unknown URL scheme, a URL whose database feature is off, `:memory:`, an invalid
    ///   table name, a pool size of 0, zero timeouts, rejected credentials or a database that
    ///   does not exist → [`Error::is_config`](sessionkit_core::Error::is_config);
    /// - a database that cannot be reached (down, refusing connections) →
    ///   [`Error::is_unavailable`](sessionkit_core::Error::is_unavailable). The store is never
    ///   built half-working: retry `connect` (with a back-off) to start while the database is
    ///   still coming up. Once built, the store rides out restarts by itself.
    pub async fn connect(self) -> Result<DbStore> {
        let target = Target::parse(&self.url)?;
        let backend = target.backend();
        let name = error::name(backend);
        let table = validate_table(&self.table, backend)?;
        if self.pool_size == 0 {
            return Err(Error::config(name, "pool_size must be at least 1"));
        }
        if self.connect_timeout.is_zero() || self.statement_timeout.is_zero() {
            return Err(Error::config(
                name,
                "connect_timeout and statement_timeout must be greater than zero",
            ));
        }
        let opts = Options {
            url: target.connection_string(self.connect_timeout),
            backend,
            table,
            pool_size: self.pool_size,
            connect_timeout: self.connect_timeout,
            statement_timeout: self.statement_timeout,
        };
        let limit = opts.operation_limit();
        let building = tokio::task::spawn_blocking(move || DbStore::build(opts));
        match tokio::time::timeout(limit, building).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(error::join(backend, join)),
            Err(elapsed) => Err(error::deadline(backend, elapsed)),
        }
    }
}

/// Everything a store is built from, checked.
pub(crate) struct Options {
    /// What diesel opens: the URL (PostgreSQL: with `connect_timeout`) or the SQLite path.
    pub(crate) url: String,
    pub(crate) backend: Backend,
    /// The table name as given (validated, unquoted).
    pub(crate) table: String,
    pub(crate) pool_size: u32,
    pub(crate) connect_timeout: Duration,
    pub(crate) statement_timeout: Duration,
}

impl Options {
    /// The longest one operation may take as seen from the async side.
    pub(crate) fn operation_limit(&self) -> Duration {
        self.connect_timeout
            .saturating_add(self.statement_timeout)
            .saturating_add(Duration::from_secs(1))
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("url", &redact(&self.url))
            .field("backend", &self.backend)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// A database URL, sorted by scheme.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Postgres(String),
    Mysql(String),
    /// The file path (or `file:` URI) handed to SQLite.
    Sqlite(String),
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Self> {
        if url.trim().is_empty() {
            return Err(Error::config(
                CONFIG,
                "empty database URL: give postgres://..., mysql://... or sqlite://PATH",
            ));
        }
        let lower = url.to_ascii_lowercase();
        let target = if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Target::Postgres(url.to_owned())
        } else if lower.starts_with("mysql://") {
            Target::Mysql(url.to_owned())
        } else if let Some(path) =
            strip_prefix_ci(url, "sqlite://").or_else(|| strip_prefix_ci(url, "sqlite:"))
        {
            Target::Sqlite(sqlite_path(path)?)
        } else if let Some(scheme) = url.split_once("://").map(|(s, _)| s) {
            return Err(Error::config(
                CONFIG,
                format!(
                    "unknown database URL scheme `{}`: use postgres://, mysql:// or sqlite://PATH",
                    scheme.chars().take(32).collect::<String>()
                ),
            ));
        } else {
            Target::Sqlite(sqlite_path(url)?)
        };
        let backend = target.backend();
        if !backend.is_enabled() {
            return Err(Error::config(
                error::name(backend),
                format!(
                    "this is a {backend} URL, but sessionkit-db was built without its `{}` \
                     feature: enable it (in the sessionkit facade: `db-{}`)",
                    backend.feature(),
                    backend.feature()
                ),
            ));
        }
        Ok(target)
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Target::Postgres(_) => Backend::Postgres,
            Target::Mysql(_) => Backend::Mysql,
            Target::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// What diesel opens.
    fn connection_string(self, connect_timeout: Duration) -> String {
        match self {
            Target::Postgres(url) if !url.contains("connect_timeout=") => {
                // libpq: whole seconds, and values below 2 act as 2.
                let secs = (connect_timeout.as_secs()
                    + u64::from(connect_timeout.subsec_nanos() > 0))
                .max(2);
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}connect_timeout={secs}")
            }
            Target::Postgres(url) | Target::Mysql(url) | Target::Sqlite(url) => url,
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Checks a SQLite path: not empty, not an in-memory database.
fn sqlite_path(path: &str) -> Result<String> {
    let name = error::name(Backend::Sqlite);
    if path.trim().is_empty() {
        return Err(Error::config(
            name,
            "empty SQLite path: give sqlite://PATH (the file is created if missing)",
        ));
    }
    let lower = path.to_ascii_lowercase();
    if lower == ":memory:" || lower.starts_with("file::memory:") || lower.contains("mode=memory") {
        return Err(Error::config(
            name,
            "an in-memory SQLite database (:memory:) cannot back a session store: each pooled \
             connection would get its own empty database; give a file path (a temporary file \
             for tests)",
        ));
    }
    Ok(path.to_owned())
}

/// Checks a table name and returns it. Names are quoted in SQL, but only these characters
/// ever reach it: ASCII letters, digits, `_`; 1–63 of them (PostgreSQL's limit; MySQL's is
/// 64); not starting with a digit.
pub(crate) fn validate_table(name: &str, backend: Backend) -> Result<String> {
    let err = |why: &str| {
        Err(Error::config(
            error::name(backend),
            format!(
                "invalid table name {:?}: {why}; use 1-63 ASCII letters, digits and \
                 underscores, not starting with a digit",
                name.chars().take(80).collect::<String>()
            ),
        ))
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return err("it is empty"),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return err("it does not start with a letter or underscore")
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return err("it holds characters other than letters, digits and underscores");
    }
    if name.len() > 63 {
        return err("it is longer than 63 characters");
    }
    if name.eq_ignore_ascii_case(MIGRATIONS_TABLE) {
        return err("it is the name of the migrations table");
    }
    if backend == Backend::Sqlite && name.to_ascii_lowercase().starts_with("sqlite_") {
        return err("names starting with sqlite_ are reserved by SQLite");
    }
    Ok(name.to_owned())
}

/// `name` quoted for `backend` (the name is validated: it holds no quote characters).
pub(crate) fn quote(name: &str, backend: Backend) -> String {
    match backend {
        Backend::Mysql => format!("`{name}`"),
        Backend::Postgres | Backend::Sqlite => format!("\"{name}\""),
    }
}

/// `scheme://user:password@host/...` with everything before the `@` hidden.
pub(crate) fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let mut shown = match url[start..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &url[start + at + 1..]),
        None => url.to_owned(),
    };
    // libpq also takes `password=` as a query parameter.
    if let Some(i) = shown.to_ascii_lowercase().find("password=") {
        let end = shown[i..].find('&').map_or(shown.len(), |j| i + j);
        shown.replace_range(i + "password=".len()..end, "***");
    }
    shown
}

impl fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbConfig")
            .field("url", &redact(&self.url))
            .field("table", &self.table)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_passwords() {
        let cfg = DbConfig::new("postgres://app:hunter2@db:5432/app?sslmode=require");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://***@db:5432/app"), "{shown}");
        let shown = format!(
            "{:?}",
            DbConfig::new("postgres://db/app?password=hunter2&x=1")
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("password=***&x=1"), "{shown}");
        assert_eq!(redact("sessions.sqlite3"), "sessions.sqlite3");
    }

    #[test]
    fn urls_are_sorted_by_scheme() {
        let sqlite = |u: &str| Target::parse(u).map(|t| t == Target::Sqlite(String::new()));
        if cfg!(feature = "sqlite") {
            assert_eq!(
                Target::parse("sqlite:///tmp/x.db").unwrap(),
                Target::Sqlite("/tmp/x.db".into())
            );
            assert_eq!(
                Target::parse("SQLITE:rel.db").unwrap(),
                Target::Sqlite("rel.db".into())
            );
            assert_eq!(
                Target::parse("/var/lib/x.sqlite3").unwrap(),
                Target::Sqlite("/var/lib/x.sqlite3".into())
            );
        }
        for bad in [
            "",
            "sqlite://",
            ":memory:",
            "sqlite::memory:",
            "sqlite://:memory:",
            "file::memory:?cache=shared",
            "sqlite://file:x?mode=memory",
            "redis://localhost",
            "http://example.com",
        ] {
            let err = sqlite(bad).expect_err(bad);
            assert!(err.is_config(), "{bad}: {err:?}");
        }
        let err = Target::parse("mongodb://x").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown database URL scheme `mongodb`"),
            "{err}"
        );
    }

    #[test]
    fn a_url_whose_feature_is_off_names_the_feature() {
        for (url, backend) in [
            ("postgres://localhost/x", Backend::Postgres),
            ("postgresql://localhost/x", Backend::Postgres),
            ("mysql://localhost/x", Backend::Mysql),
            ("sqlite://x.db", Backend::Sqlite),
        ] {
            match Target::parse(url) {
                Ok(t) => {
                    assert!(backend.is_enabled());
                    assert_eq!(t.backend(), backend);
                }
                Err(e) => {
                    assert!(!backend.is_enabled());
                    assert!(e.is_config());
                    assert!(e.to_string().contains(backend.feature()), "{e}");
                }
            }
        }
    }

    #[test]
    fn table_names() {
        for good in ["sessionkit_session", "_x", "A1", &"a".repeat(63)] {
            assert_eq!(validate_table(good, Backend::Postgres).unwrap(), good);
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "a b",
            "t\"; DROP TABLE x; --",
            "t`x",
            "ümlaut",
            &"a".repeat(64),
            "sessionkit_migrations",
            "SESSIONKIT_MIGRATIONS",
        ] {
            let err = validate_table(bad, Backend::Postgres).expect_err(bad);
            assert!(err.is_config(), "{bad}");
        }
        assert!(validate_table("sqlite_x", Backend::Sqlite).is_err());
        assert!(validate_table("sqlite_x", Backend::Postgres).is_ok());
        assert_eq!(quote("t", Backend::Mysql), "`t`");
        assert_eq!(quote("t", Backend::Postgres), "\"t\"");
    }

    #[test]
    fn postgres_gets_a_connect_timeout() {
        let t = Target::Postgres("postgres://h/db".into());
        assert_eq!(
            t.connection_string(Duration::from_secs(5)),
            "postgres://h/db?connect_timeout=5"
        );
        let t = Target::Postgres("postgres://h/db?sslmode=disable".into());
        assert_eq!(
            t.connection_string(Duration::from_millis(300)),
            "postgres://h/db?sslmode=disable&connect_timeout=2"
        );
        let t = Target::Postgres("postgres://h/db?connect_timeout=9".into());
        assert_eq!(
            t.connection_string(Duration::from_secs(1)),
            "postgres://h/db?connect_timeout=9"
        );
    }
}
