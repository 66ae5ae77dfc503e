//! [`DbConfig`]: which database, which table, how many connections, how long to wait.

use std::fmt;
use std::time::Duration;

use sessionkit_core::{percent_encode, quote_short, ConfigUrl, Error, Result};

use crate::error::{self, CONFIG};
use crate::{
    Backend, Schema, DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_STATEMENT_TIMEOUT,
    DEFAULT_TABLE, DJANGO_TABLE, MIGRATIONS_TABLE,
};

/// Where the database is and how to use it: the URL, the session table, the pool size and the
/// timeouts that keep a dead or hung database from hanging a request.
///
/// ```no_run
/// # async fn demo() -> sessionkit_core::Result<()> {
/// use std::time::Duration;
/// use sessionkit_db::DbConfig;
///
/// // Every setting in the URL...
/// let store = DbConfig::from_url("postgres://app:secret@db.internal:5432/app?table=myapp_session&pool_size=32&statement_timeout=1s")?
///     .connect()
///     .await?;
/// // ...or set in code (a setter wins over the URL).
/// let store = DbConfig::new("postgres://app:secret@db.internal:5432/app")
///     .with_table("myapp_session")
///     .with_pool_size(32)
///     .with_connect_timeout(Duration::from_secs(2))
///     .with_statement_timeout(Duration::from_secs(1))
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
    schema: Schema,
    table: Option<String>,
    pool_size: Option<u32>,
    connect_timeout: Option<Duration>,
    statement_timeout: Option<Duration>,
}

impl DbConfig {
    /// The database at `url` (see [`from_url`](Self::from_url) for the forms and parameters),
    /// checked only by [`connect`](Self::connect).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: Schema::Sessionkit,
            table: None,
            pool_size: None,
            connect_timeout: None,
            statement_timeout: None,
        }
    }

    /// The database at `url`, checked now by the shared rules of
    /// [`ConfigUrl`](sessionkit_core::ConfigUrl) and the driver's own:
    ///
    /// - `postgres://[user[:password]@]host[:port][,host[:port]...]/database` or
    ///   `postgresql://...` (feature `postgres`), with libpq's parameters (`sslmode`,
    ///   `sslrootcert`, `application_name`, `target_session_attrs`, ...; a choice such as
    ///   `sslmode` is checked against the values libpq accepts);
    /// - `mysql://[user[:password]@]host[:port]/database` (`mariadb://` too) for MySQL and
    ///   MariaDB (feature `mysql`), with `ssl_mode`, `ssl_ca`, `ssl_cert`, `ssl_key`,
    ///   `unix_socket`;
    /// - `sqlite://PATH` (feature `sqlite`, on by default): `sqlite:///var/lib/app/s.sqlite3` is
    ///   an absolute path, `sqlite://s.sqlite3` a relative one, `%XX` escapes decoded; with
    ///   SQLite's `mode` (`ro`, `rw`, `rwc`) and `cache` (`shared`, `private`). The file is
    ///   created if missing (its directory must exist). `:memory:` is refused: every pooled
    ///   connection would get its own empty database. `sqlite:PATH` or a plain path (no
    ///   parameters) work too.
    ///
    /// and for every database the sessionkit parameters [`URL_PARAMETERS`]: `table`,
    /// `pool_size`, `connect_timeout`, `statement_timeout` (durations: `500ms`, `5s`), as the
    /// setters below describe. Anything else is a [`Config`](sessionkit_core::ErrorKind::Config)
    /// error naming it.
    pub fn from_url(url: &str) -> Result<Self> {
        let (target, settings) = Target::parse_with_settings(url)?;
        if let Some(table) = &settings.table {
            validate_table(table, target.backend())?;
        }
        Ok(Self::new(url))
    }

    /// The table sessions are stored in (default `sessionkit_session`; URL: `table=`): 1 to 63
    /// ASCII letters, digits and underscores, not starting with a digit (checked by
    /// [`connect`](Self::connect)). It is always quoted in SQL, so in PostgreSQL it is
    /// case-sensitive. Give each application sharing a database its own, or share one to share
    /// sessions.
    #[must_use]
    pub fn with_table(mut self, name: impl Into<String>) -> Self {
        self.table = Some(name.into());
        self
    }

    /// The table layout (default [`Schema::Sessionkit`]). [`Schema::Django`] reads and writes
    /// the `django_session` table Django's `manage.py migrate` made (the default table then),
    /// to share sessions with a running Django: pair it with `sessionkit-django`'s
    /// `DjangoCodec::signed` (see `docs/django.md`).
    #[must_use]
    pub fn with_schema(mut self, schema: Schema) -> Self {
        self.schema = schema;
        self
    }

    /// The most connections the pool opens (default 16; URL: `pool_size=`). Connections are
    /// opened when needed and closed after 10 minutes unused. Each request holds one only for
    /// the duration of its one statement, so a pool much smaller than the number of concurrent
    /// requests is fine; with SQLite, writes take turns whatever the size.
    #[must_use]
    pub fn with_pool_size(mut self, n: u32) -> Self {
        self.pool_size = Some(n);
        self
    }

    /// How long a request waits for a connection — a free one from the pool, or a new one
    /// being opened — before failing (default 5 s; URL: `connect_timeout=`). A database that is
    /// down fails requests with
    /// [`Error::is_unavailable`](sessionkit_core::Error::is_unavailable) after this long; a
    /// pool whose connections all stay busy this long fails them with
    /// [`Error::is_timeout`](sessionkit_core::Error::is_timeout).
    ///
    /// PostgreSQL also gets it as libpq's `connect_timeout` (whole seconds, at least 2).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How long one statement may run on the server (default 5 s; URL:
    /// `statement_timeout=`): PostgreSQL's `statement_timeout`; MariaDB's `max_statement_time`
    /// (MySQL: `max_execution_time`, which bounds reads only); `innodb_lock_wait_timeout`
    /// (rounded up to whole seconds) on both; SQLite's `busy_timeout` (how long to wait for
    /// another connection's write lock). A statement that runs out of time fails with
    /// [`Error::is_timeout`](sessionkit_core::Error::is_timeout).
    ///
    /// Each operation as a whole is also bounded, on the async side, by the connect timeout
    /// plus the statement timeout plus one second: even a database that stops answering without
    /// closing its connections cannot hang a request longer than that.
    #[must_use]
    pub fn with_statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = Some(timeout);
        self
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The checked settings a store is built from (see `DbConfig::connect`, in `store.rs`).
    pub(crate) fn into_options(self) -> Result<Options> {
        let (target, from_url) = Target::parse_with_settings(&self.url)?;
        let backend = target.backend();
        let name = error::name(backend);
        let table = self.table.or(from_url.table);
        let default_table = match self.schema {
            Schema::Sessionkit => DEFAULT_TABLE,
            Schema::Django => DJANGO_TABLE,
        };
        let table = validate_table(table.as_deref().unwrap_or(default_table), backend)?;
        let pool_size = self
            .pool_size
            .or(from_url.pool_size)
            .unwrap_or(DEFAULT_POOL_SIZE);
        let connect_timeout = self
            .connect_timeout
            .or(from_url.connect_timeout)
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let statement_timeout = self
            .statement_timeout
            .or(from_url.statement_timeout)
            .unwrap_or(DEFAULT_STATEMENT_TIMEOUT);
        if pool_size == 0 {
            return Err(Error::config(name, "pool_size must be at least 1"));
        }
        if connect_timeout.is_zero() || statement_timeout.is_zero() {
            return Err(Error::config(
                name,
                "connect_timeout and statement_timeout must be greater than zero",
            ));
        }
        target.check_file()?;
        let opts = Options {
            url: target.connection_string(connect_timeout),
            backend,
            schema: self.schema,
            table,
            pool_size,
            connect_timeout,
            statement_timeout,
        };
        Ok(opts)
    }
}

/// Everything a store is built from, checked.
pub(crate) struct Options {
    /// What diesel opens: the URL (PostgreSQL: with `connect_timeout`) or the SQLite path.
    pub(crate) url: String,
    pub(crate) backend: Backend,
    pub(crate) schema: Schema,
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

/// A database URL, sorted by scheme and checked: what diesel opens.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The URL rebuilt from its checked parts (our parameters removed).
    Postgres(String),
    /// The URL rebuilt from its checked parts (our parameters removed).
    Mysql(String),
    /// The file path (or `file:` URI) handed to SQLite.
    Sqlite(String),
}

/// The sessionkit settings a database URL may carry (the query parameters of
/// [`URL_PARAMETERS`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct UrlSettings {
    pub(crate) table: Option<String>,
    pub(crate) pool_size: Option<u32>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) statement_timeout: Option<Duration>,
}

/// The sessionkit parameters of a database URL; the drivers' own are listed in the docs of
/// [`DbConfig::from_url`].
pub const URL_PARAMETERS: [&str; 4] =
    ["table", "pool_size", "connect_timeout", "statement_timeout"];

/// libpq's connection parameters that may appear in a `postgres://` query (`connect_timeout`
/// is ours: it is given to libpq in whole seconds), with the values libpq accepts where it
/// takes a choice.
const POSTGRES_PARAMETERS: &[(&str, &[&str])] = &[
    (
        "sslmode",
        &[
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ],
    ),
    ("sslnegotiation", &["postgres", "direct"]),
    ("gssencmode", &["disable", "prefer", "require"]),
    ("channel_binding", &["disable", "prefer", "require"]),
    (
        "target_session_attrs",
        &[
            "any",
            "read-write",
            "read-only",
            "primary",
            "standby",
            "prefer-standby",
        ],
    ),
    ("load_balance_hosts", &["disable", "random"]),
    ("sslcompression", &["0", "1"]),
    ("sslsni", &["0", "1"]),
    ("keepalives", &["0", "1"]),
    ("host", &[]),
    ("hostaddr", &[]),
    ("port", &[]),
    ("dbname", &[]),
    ("user", &[]),
    ("password", &[]),
    ("passfile", &[]),
    ("options", &[]),
    ("application_name", &[]),
    ("fallback_application_name", &[]),
    ("keepalives_idle", &[]),
    ("keepalives_interval", &[]),
    ("keepalives_count", &[]),
    ("tcp_user_timeout", &[]),
    ("sslcert", &[]),
    ("sslkey", &[]),
    ("sslpassword", &[]),
    ("sslcertmode", &["disable", "allow", "require"]),
    ("sslrootcert", &[]),
    ("sslcrl", &[]),
    ("sslcrldir", &[]),
    ("ssl_min_protocol_version", &[]),
    ("ssl_max_protocol_version", &[]),
    ("requirepeer", &[]),
    ("krbsrvname", &[]),
    ("gsslib", &[]),
    ("gssdelegation", &["0", "1"]),
    ("service", &[]),
    ("client_encoding", &[]),
];

/// What diesel's MySQL driver reads from a `mysql://` query.
const MYSQL_PARAMETERS: &[(&str, &[&str])] = &[
    (
        "ssl_mode",
        &[
            "disabled",
            "preferred",
            "required",
            "verify_ca",
            "verify_identity",
        ],
    ),
    ("ssl_ca", &[]),
    ("ssl_cert", &[]),
    ("ssl_key", &[]),
    ("unix_socket", &[]),
];

/// What a `sqlite://` query may carry besides ours: SQLite's URI parameters.
const SQLITE_PARAMETERS: &[(&str, &[&str])] = &[
    ("mode", &["ro", "rw", "rwc"]),
    ("cache", &["shared", "private"]),
];

impl Target {
    /// The target alone (tests).
    #[cfg(test)]
    pub(crate) fn parse(url: &str) -> Result<Self> {
        Self::parse_with_settings(url).map(|(t, _)| t)
    }

    /// Checks `url` by the shared rules of [`ConfigUrl`] and the driver's own, and splits off
    /// the sessionkit settings.
    pub(crate) fn parse_with_settings(url: &str) -> Result<(Self, UrlSettings)> {
        if url.trim().is_empty() {
            return Err(Error::config(
                CONFIG,
                "empty database URL: give postgres://..., mysql://... or sqlite://PATH",
            ));
        }
        let Some((scheme, _)) = url.split_once("://") else {
            // `sqlite:PATH` or a plain file path: no parameters.
            let path = strip_prefix_ci(url, "sqlite:").unwrap_or(url);
            let target = Target::Sqlite(sqlite_path(path)?);
            target.check_enabled()?;
            return Ok((target, UrlSettings::default()));
        };
        let backend = match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Backend::Postgres,
            "mysql" | "mariadb" => Backend::Mysql,
            "sqlite" => Backend::Sqlite,
            _ => {
                return Err(Error::config(
                    CONFIG,
                    format!(
                    "unknown database URL scheme `{}`: use postgres://, mysql:// or sqlite://PATH",
                    scheme.chars().take(32).collect::<String>()
                ),
                ))
            }
        };
        let name = error::name(backend);
        let mut u = ConfigUrl::parse(name, url)?;
        let settings = UrlSettings {
            table: u.take("table"),
            pool_size: u.take_count("pool_size")?,
            connect_timeout: u.take_duration("connect_timeout")?,
            statement_timeout: u.take_duration("statement_timeout")?,
        };
        fn known(driver: &[(&'static str, &[&str])]) -> Vec<&'static str> {
            URL_PARAMETERS
                .iter()
                .copied()
                .chain(driver.iter().map(|(n, _)| *n))
                .collect()
        }
        let target = match backend {
            Backend::Postgres => {
                for host in u.hosts() {
                    check_host(name, host)?;
                }
                let query = driver_query(&mut u, POSTGRES_PARAMETERS, &known(POSTGRES_PARAMETERS))?;
                Target::Postgres(rebuild("postgres", &u, &query))
            }
            Backend::Mysql => {
                if u.host().contains(',') {
                    return Err(Error::config(name, "a mysql:// URL takes one host"));
                }
                if !u.host().is_empty() {
                    check_host(name, u.host())?;
                }
                let query = driver_query(&mut u, MYSQL_PARAMETERS, &known(MYSQL_PARAMETERS))?;
                Target::Mysql(rebuild("mysql", &u, &query))
            }
            Backend::Sqlite => {
                u.refuse_credentials()?;
                // `sqlite:///abs/path` (no host) or `sqlite://rel/path`.
                let path = match (u.host(), u.path()) {
                    ("", p) => format!("/{p}"),
                    (h, "") => h.to_owned(),
                    (h, p) => format!("{h}/{p}"),
                };
                let path = sqlite_path(if path == "/" { "" } else { &path })?;
                let query = driver_query(&mut u, SQLITE_PARAMETERS, &known(SQLITE_PARAMETERS))?;
                if query.is_empty() {
                    Target::Sqlite(path)
                } else {
                    let encoded: String = path
                        .split('/')
                        .map(percent_encode)
                        .collect::<Vec<_>>()
                        .join("/");
                    Target::Sqlite(format!("file:{encoded}?{query}"))
                }
            }
        };
        target.check_enabled()?;
        Ok((target, settings))
    }

    fn check_enabled(&self) -> Result<()> {
        let backend = self.backend();
        if backend.is_enabled() {
            return Ok(());
        }
        Err(Error::config(
            error::name(backend),
            format!(
                "this is a {backend} URL, but sessionkit-db was built without its `{}` \
                 feature: enable it (in the sessionkit facade: `db-{}`)",
                backend.feature(),
                backend.feature()
            ),
        ))
    }

    /// For SQLite: the file can be opened in the mode asked for (an existing regular file, or
    /// a new one in an existing directory), checked before SQLite is asked, so that a path
    /// that can never work is a configuration error rather than "unavailable, retry".
    pub(crate) fn check_file(&self) -> Result<()> {
        let Target::Sqlite(spec) = self else {
            return Ok(());
        };
        let name = error::name(Backend::Sqlite);
        let (path, read_only) = match spec.strip_prefix("file:") {
            Some(uri) => {
                let (p, q) = uri.split_once('?').unwrap_or((uri, ""));
                let path = sessionkit_core::percent_decode(p).unwrap_or_else(|| p.to_owned());
                (
                    path,
                    q.split('&').any(|kv| kv == "mode=ro" || kv == "mode=rw"),
                )
            }
            None => (spec.clone(), false),
        };
        let path = std::path::Path::new(&path);
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(Error::config(
                name,
                format!("{} is not a regular file: give the path of an SQLite database file", path.display()),
            )),
            Err(_) if read_only => Err(Error::config(
                name,
                format!("{} does not exist, and mode=ro/rw does not create it: create it (sessionkit migrate) or use mode=rwc", path.display()),
            )),
            Err(_) => {
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                match dir {
                    Some(d) if !d.is_dir() => Err(Error::config(
                        name,
                        format!("the directory {} of the SQLite file does not exist: create it", d.display()),
                    )),
                    _ => Ok(()),
                }
            }
        }
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
            Target::Postgres(url) => {
                // libpq: whole seconds, and values below 2 act as 2.
                let secs = (connect_timeout.as_secs()
                    + u64::from(connect_timeout.subsec_nanos() > 0))
                .max(2);
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}connect_timeout={secs}")
            }
            Target::Mysql(url) | Target::Sqlite(url) => url,
        }
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, with a port of 1 to 65535.
fn check_host(backend: &'static str, host: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::config(
            backend,
            format!("the host {} {why}", quote_short(host)),
        ))
    };
    let port = if let Some(v6) = host.strip_prefix('[') {
        let Some((_, after)) = v6.split_once(']') else {
            return bad("has an unclosed [");
        };
        match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return bad("has junk after ]"),
            },
        }
    } else {
        if host.contains(['[', ']', ' ', '"', '\'', '\\']) {
            return bad("is not a host name");
        }
        host.rsplit_once(':').map(|(_, p)| p)
    };
    match port {
        Some(p) if !matches!(p.parse::<u16>(), Ok(1..)) => bad("has a port that is not 1 to 65535"),
        _ => Ok(()),
    }
}

/// The driver parameters left in `u`, each checked against `allowed`, re-encoded as a query.
fn driver_query(u: &mut ConfigUrl, allowed: &[(&str, &[&str])], known: &[&str]) -> Result<String> {
    let mut query = Vec::new();
    for (name, value) in u.take_rest() {
        let Some((_, choices)) = allowed.iter().find(|(n, _)| *n == name) else {
            return Err(Error::config(
                u.backend(),
                format!(
                    "unknown parameter {} in a {}:// URL; known: {}",
                    quote_short(&name),
                    u.scheme(),
                    known.join(", ")
                ),
            ));
        };
        if !choices.is_empty() && !choices.contains(&value.as_str()) {
            return Err(Error::config(
                u.backend(),
                format!(
                    "{name}={} is not one of {}",
                    quote_short(&value),
                    choices.join(", ")
                ),
            ));
        }
        query.push(format!("{name}={}", percent_encode(&value)));
    }
    Ok(query.join("&"))
}

/// `scheme://[user[:password]@]host/path[?query]` from checked, decoded parts.
fn rebuild(scheme: &str, u: &ConfigUrl, query: &str) -> String {
    let mut out = format!("{scheme}://");
    if u.user().is_some() || u.password().is_some() {
        out.push_str(&percent_encode(u.user().unwrap_or("")));
        if let Some(p) = u.password() {
            out.push(':');
            out.push_str(&percent_encode(p));
        }
        out.push('@');
    }
    out.push_str(u.host());
    if !u.path().is_empty() {
        out.push('/');
        out.push_str(&percent_encode(u.path()));
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
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
            .field("schema", &self.schema)
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
    }
}
