//! The connection pool: opening connections with their session settings, and throwing broken
//! ones away.
//!
//! r2d2's own test query on every checkout is turned off (a round trip per request). Instead:
//!
//! - a connection whose statement failed in a way that is not the server's considered answer
//!   (see [`error::discards_connection`]) is marked broken and dropped when it returns to the
//!   pool. diesel's own `is_broken` only looks at its transaction state: libpq reports a dead
//!   PostgreSQL socket there, but a MySQL connection that lost its server looks healthy to it,
//!   and without this the pool would keep handing it out forever;
//! - a connection-level failure ([`ErrorKind::Unavailable`]) also starts a new *generation*:
//!   every connection opened before it is dropped at its next checkout or return, so after a
//!   database restart the pool does not hand out its other dead connections one request at a
//!   time.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, HandleError, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::result::{ConnectionError, ConnectionResult, QueryResult};
use sessionkit_core::{Error, ErrorKind};

use crate::error;
use crate::sql::{Bind, Template};
use crate::Backend;

/// The settings every connection of a pool is opened with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) statement_timeout: Duration,
}

/// What a store knows about the health of its connections, shared with its pool's manager.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// The kind of the last failure to open a connection (`0`: the last attempt succeeded).
    last_connect: AtomicU8,
    /// Connections opened before this generation are presumed dead.
    generation: AtomicU64,
}

const CONNECT_OK: u8 = 0;
const CONNECT_UNAVAILABLE: u8 = 1;
const CONNECT_CONFIG: u8 = 2;
const CONNECT_TIMEOUT: u8 = 3;

impl Health {
    fn record_connect(&self, result: Result<(), ErrorKind>) {
        let code = match result {
            Ok(()) => CONNECT_OK,
            Err(ErrorKind::Config) => CONNECT_CONFIG,
            Err(ErrorKind::Timeout) => CONNECT_TIMEOUT,
            Err(_) => CONNECT_UNAVAILABLE,
        };
        self.last_connect.store(code, Ordering::Relaxed);
    }

    /// The kind of the last failure to open a connection, if the last attempt failed.
    fn last_connect_failure(&self) -> Option<ErrorKind> {
        match self.last_connect.load(Ordering::Relaxed) {
            CONNECT_OK => None,
            CONNECT_CONFIG => Some(ErrorKind::Config),
            CONNECT_TIMEOUT => Some(ErrorKind::Timeout),
            _ => Some(ErrorKind::Unavailable),
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// A connection of generation `born` lost its server: presume every connection as old as
    /// it dead too.
    fn connection_lost(&self, born: u64) {
        self.generation.fetch_max(born + 1, Ordering::Relaxed);
    }
}

/// A pooled connection and what the store learned about it.
pub(crate) struct Conn<C> {
    pub(crate) conn: C,
    broken: bool,
    generation: u64,
}

impl<C> fmt::Debug for Conn<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("broken", &self.broken)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// A diesel connection type this crate can pool: how to open one for a session store, and the
/// handful of statement shapes the store runs.
pub(crate) trait DbConn: R2D2Connection + SimpleConnection + Send + Sized + 'static {
    /// The database this connection talks to.
    const BACKEND: Backend;

    /// Opens a connection to `url` and applies `settings` (timeouts, journal mode).
    fn open(url: &str, settings: &Settings) -> ConnectionResult<Self>;

    /// Executes `t` and returns the number of rows it affected (matched, for MySQL updates).
    fn exec(&mut self, t: &Template, binds: &[Bind<'_>]) -> QueryResult<usize>;

    /// The first row's two columns: a nullable binary value and an integer (a record and its
    /// version).
    fn select_versioned(
        &mut self,
        t: &Template,
        binds: &[Bind<'_>],
    ) -> QueryResult<Option<SessionRow>>;

    /// The first row's only column, an integer.
    fn select_int(&mut self, t: &Template, binds: &[Bind<'_>]) -> QueryResult<Option<i64>>;

    /// Every row's only column, an integer.
    fn select_ints(&mut self, t: &Template, binds: &[Bind<'_>]) -> QueryResult<Vec<i64>>;

    /// Every row's only column, a text.
    fn select_texts(&mut self, t: &Template, binds: &[Bind<'_>]) -> QueryResult<Vec<String>>;

    /// Runs `f` with the planner kept to index scans, whatever its statistics say. MySQL and
    /// SQLite name the index in the statement itself (`FORCE INDEX`, `INDEXED BY`);
    /// PostgreSQL has no hints, so it runs `f` in a transaction with sequential and bitmap
    /// scans turned off.
    fn index_scans_only<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> QueryResult<T>,
    ) -> QueryResult<T> {
        f(self)
    }

    /// Runs `f` while holding this database's migration lock (see `migrate.rs`).
    fn with_migration_lock<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> QueryResult<T>,
    ) -> QueryResult<T>;
}

/// A session row as `load` reads it: `session_data` (NULL only in a row altered by hand),
/// `session_version`, `expire_date`.
pub(crate) type SessionRow = (Option<Vec<u8>>, i64, i64);

/// Implements the statement shapes of [`DbConn`] for a concrete connection type.
macro_rules! statement_shapes {
    () => {
        fn exec(&mut self, t: &Template, binds: &[Bind<'_>]) -> QueryResult<usize> {
            use diesel::RunQueryDsl;
            t.exec(binds).execute(self)
        }

        fn select_versioned(
            &mut self,
            t: &Template,
            binds: &[Bind<'_>],
        ) -> QueryResult<Option<SessionRow>> {
            use diesel::sql_types::{BigInt, Binary, Nullable};
            use diesel::{OptionalExtension, RunQueryDsl};
            t.select::<(Nullable<Binary>, BigInt, BigInt)>(binds)
                .get_result::<SessionRow>(self)
                .optional()
        }

        fn select_int(&mut self, t: &Template, binds: &[Bind<'_>]) -> QueryResult<Option<i64>> {
            use diesel::{OptionalExtension, RunQueryDsl};
            t.select::<diesel::sql_types::BigInt>(binds)
                .get_result::<i64>(self)
                .optional()
        }

        fn select_ints(&mut self, t: &Template, binds: &[Bind<'_>]) -> QueryResult<Vec<i64>> {
            use diesel::RunQueryDsl;
            t.select::<diesel::sql_types::BigInt>(binds)
                .load::<i64>(self)
        }

        fn select_texts(&mut self, t: &Template, binds: &[Bind<'_>]) -> QueryResult<Vec<String>> {
            use diesel::RunQueryDsl;
            t.select::<diesel::sql_types::Text>(binds)
                .load::<String>(self)
        }
    };
}

/// Milliseconds of `d`, at least 1 (0 disables the timeouts below).
fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

#[cfg(feature = "postgres")]
impl DbConn for diesel::PgConnection {
    const BACKEND: Backend = Backend::Postgres;

    fn open(url: &str, settings: &Settings) -> ConnectionResult<Self> {
        use diesel::Connection;
        let mut conn = Self::establish(url)?;
        // Every statement (and its lock waits) is bounded on the server.
        conn.batch_execute(&format!(
            "SET statement_timeout = {}",
            millis(settings.statement_timeout)
        ))
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
        Ok(conn)
    }

    statement_shapes!();

    fn index_scans_only<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> QueryResult<T>,
    ) -> QueryResult<T> {
        use diesel::Connection;
        self.transaction(|conn| {
            conn.batch_execute(
                "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off",
            )?;
            f(conn)
        })
    }

    fn with_migration_lock<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> QueryResult<T>,
    ) -> QueryResult<T> {
        use diesel::Connection;
        // DDL is transactional in PostgreSQL: take a transaction-scoped advisory lock (released
        // at commit or rollback, or when the connection dies), then migrate inside it.
        self.transaction(|conn| {
            conn.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({})",
                crate::dialect::LOCK_ID
            ))?;
            f(conn)
        })
    }
}

#[cfg(feature = "mysql")]
impl DbConn for diesel::MysqlConnection {
    const BACKEND: Backend = Backend::Mysql;

    fn open(url: &str, settings: &Settings) -> ConnectionResult<Self> {
        use diesel::Connection;
        // diesel opens MySQL connections with CLIENT_FOUND_ROWS, so an UPDATE reports the rows
        // it matched, not only those it changed: an update that writes identical data still
        // counts 1 and is never mistaken for a vanished session.
        let mut conn = Self::establish(url)?;
        let version = Template::new("SELECT VERSION()");
        let version: String = {
            use diesel::RunQueryDsl;
            version
                .select::<diesel::sql_types::Text>(&[])
                .get_result(&mut conn)
                .map_err(ConnectionError::CouldntSetupConfiguration)?
        };
        let timeout = settings.statement_timeout;
        let lock_wait = timeout.as_secs().max(1) + u64::from(timeout.subsec_nanos() > 0);
        let limit = if version.to_ascii_lowercase().contains("mariadb") {
            // MariaDB bounds every statement (seconds, fractions allowed).
            format!(
                "SET SESSION max_statement_time = {:.3}",
                timeout.as_secs_f64().max(0.001)
            )
        } else {
            // MySQL bounds SELECTs only; writes are bounded by the lock wait below.
            format!("SET SESSION max_execution_time = {}", millis(timeout))
        };
        // Servers that speak the protocol but lack one of these variables (older MySQL,
        // look-alikes) still work, bounded by the whole-operation limit only: say so, go on.
        // READ COMMITTED, as Django's MySQL backend uses by default: single-row statements then
        // take no gap locks on the expire_date index. (Deadlocks still happen right after a
        // restart, while InnoDB rolls back what the crash left: `Inner::run` retries them.)
        for setting in [
            limit,
            format!("SET SESSION innodb_lock_wait_timeout = {lock_wait}"),
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED".to_owned(),
        ] {
            if let Err(e) = conn.batch_execute(&setting) {
                if error::query(Backend::Mysql, "", clone_query_error(&e)).kind()
                    == ErrorKind::Unavailable
                {
                    return Err(ConnectionError::CouldntSetupConfiguration(e));
                }
                tracing::warn!(
                    %setting,
                    error = %e,
                    "sessionkit-db: the server refused a timeout setting; statements are bounded \
                     by the connect + statement timeout of each operation only"
                );
            }
        }
        Ok(conn)
    }

    statement_shapes!();

    fn with_migration_lock<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> QueryResult<T>,
    ) -> QueryResult<T> {
        // MySQL commits DDL implicitly, so a transaction cannot hold the migration together: a
        // named lock does (held by this connection until released, or until it closes).
        let lock = Template::new("SELECT GET_LOCK(?, ?)");
        let got = self.select_int(
            &lock,
            &[
                Bind::Text(crate::dialect::LOCK_NAME),
                Bind::Int(crate::dialect::LOCK_WAIT_SECS),
            ],
        )?;
        if got != Some(1) {
            return Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::Unknown,
                Box::new(format!(
                    "lock wait timeout exceeded: another process held the migration lock {} \
                     for {} s",
                    crate::dialect::LOCK_NAME,
                    crate::dialect::LOCK_WAIT_SECS
                )),
            ));
        }
        let result = f(self);
        let release = Template::new("SELECT RELEASE_LOCK(?)");
        let released = self.select_int(&release, &[Bind::Text(crate::dialect::LOCK_NAME)]);
        let value = result?;
        released?;
        Ok(value)
    }
}

#[cfg(feature = "sqlite")]
impl DbConn for diesel::SqliteConnection {
    const BACKEND: Backend = Backend::Sqlite;

    fn open(url: &str, settings: &Settings) -> ConnectionResult<Self> {
        use diesel::Connection;
        let mut conn = Self::establish(url)?;
        // busy_timeout first: switching to WAL needs a lock another process may hold. WAL lets
        // readers run beside the writer; synchronous = NORMAL is WAL's usual pairing (durable
        // across a process crash; a power loss may forget the last commits, not corrupt).
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL",
            millis(settings.statement_timeout).min(i32::MAX as u128)
        ))
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
        Ok(conn)
    }

    statement_shapes!();

    fn with_migration_lock<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> QueryResult<T>,
    ) -> QueryResult<T> {
        // BEGIN IMMEDIATE takes the database's write lock up front (waiting up to the busy
        // timeout), so two migrations never interleave; DDL is transactional in SQLite.
        self.immediate_transaction(f)
    }
}

/// Opens connections of type `C` for a pool, and tells it which ones to drop.
pub(crate) struct Manager<C> {
    url: String,
    settings: Settings,
    health: Arc<Health>,
    _conn: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for Manager<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL: it may hold a password.
        f.debug_struct("Manager")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<C: DbConn> Manager<C> {
    pub(crate) fn new(url: String, settings: Settings, health: Arc<Health>) -> Self {
        Self {
            url,
            settings,
            health,
            _conn: PhantomData,
        }
    }

    /// Opens one connection outside the pool (connect-time checks, migrations) with
    /// `settings`, mapping the failure.
    pub(crate) fn open_with(&self, settings: Settings) -> Result<C, Error> {
        match C::open(&self.url, &settings) {
            Ok(conn) => {
                self.health.record_connect(Ok(()));
                Ok(conn)
            }
            Err(e) => {
                let e = error::connect(C::BACKEND, e);
                self.health.record_connect(Err(e.kind()));
                Err(e)
            }
        }
    }
}

impl<C: DbConn> ManageConnection for Manager<C> {
    type Connection = Conn<C>;
    type Error = ConnectionError;

    fn connect(&self) -> Result<Conn<C>, ConnectionError> {
        match C::open(&self.url, &self.settings) {
            Ok(conn) => {
                self.health.record_connect(Ok(()));
                Ok(Conn {
                    conn,
                    broken: false,
                    generation: self.health.generation(),
                })
            }
            Err(e) => {
                let kind = error::connect(C::BACKEND, clone_connection_error(&e)).kind();
                self.health.record_connect(Err(kind));
                Err(e)
            }
        }
    }

    fn is_valid(&self, conn: &mut Conn<C>) -> Result<(), ConnectionError> {
        // Only used if test_on_check_out were on; it is not.
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut Conn<C>) -> bool {
        conn.broken
            || conn.generation < self.health.generation()
            || std::thread::panicking()
            || conn.conn.is_broken()
    }
}

/// `ConnectionError` is not `Clone`; classification only needs its variant and message.
fn clone_connection_error(e: &ConnectionError) -> ConnectionError {
    match e {
        ConnectionError::InvalidConnectionUrl(m) => {
            ConnectionError::InvalidConnectionUrl(m.clone())
        }
        ConnectionError::BadConnection(m) => ConnectionError::BadConnection(m.clone()),
        other => ConnectionError::BadConnection(other.to_string()),
    }
}

/// A `diesel::result::Error` is not `Clone`; classification only needs its kind and message.
#[cfg(feature = "mysql")]
fn clone_query_error(e: &diesel::result::Error) -> diesel::result::Error {
    match e {
        diesel::result::Error::DatabaseError(kind, info) => {
            diesel::result::Error::DatabaseError(*kind, Box::new(info.message().to_owned()))
        }
        other => diesel::result::Error::QueryBuilderError(other.to_string().into()),
    }
}

/// Logs the pool's failures to open connections through `tracing`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogErrors(pub(crate) Backend);

impl HandleError<ConnectionError> for LogErrors {
    fn handle_error(&self, e: ConnectionError) {
        tracing::warn!(
            database = %self.0,
            error = %e,
            "sessionkit-db: could not open a database connection (retrying)"
        );
    }
}

/// Checks a connection out of `pool`, dropping those of a dead generation on the way.
pub(crate) fn checkout<C: DbConn>(
    pool: &Pool<Manager<C>>,
    health: &Health,
    connect_timeout: Duration,
) -> Result<PooledConnection<Manager<C>>, Error> {
    let name = error::name(C::BACKEND);
    // Bounded: each pass drops one stale connection, and a pool holds `max_size` at most.
    for _ in 0..=pool.max_size() {
        let mut conn = pool
            .get()
            .map_err(|e| pool_error(C::BACKEND, health, connect_timeout, pool, e))?;
        if conn.generation < health.generation() {
            conn.broken = true;
            continue;
        }
        return Ok(conn);
    }
    Err(Error::unavailable(
        name,
        std::io::Error::other("every pooled connection was presumed dead"),
    ))
}

/// Why `pool.get()` gave up after the connect timeout.
fn pool_error<C: DbConn>(
    backend: Backend,
    health: &Health,
    connect_timeout: Duration,
    pool: &Pool<Manager<C>>,
    e: r2d2::PoolError,
) -> Error {
    let name = error::name(backend);
    match health.last_connect_failure() {
        Some(ErrorKind::Config) => Error::new(ErrorKind::Config, name)
            .with_source(e)
            .with_detail("the database refuses new connections with this URL: fix it"),
        Some(ErrorKind::Timeout) => Error::timeout(name).with_source(e).with_detail(format!(
            "opening a connection took longer than the connect timeout ({connect_timeout:?})"
        )),
        Some(_) => Error::unavailable(name, e).with_detail(format!(
            "no connection could be opened within the connect timeout ({connect_timeout:?}); \
             check that the database is running"
        )),
        None => Error::timeout(name).with_source(e).with_detail(format!(
            "all {} pooled connections stayed busy for the connect timeout ({connect_timeout:?}); \
             raise pool_size or connect_timeout, or check for slow statements",
            pool.max_size()
        )),
    }
}

/// What a store does with a connection after a statement failed with `kind`.
pub(crate) fn after_error<C>(conn: &mut Conn<C>, health: &Health, kind: ErrorKind) {
    if error::discards_connection(kind) {
        conn.broken = true;
    }
    if kind == ErrorKind::Unavailable {
        health.connection_lost(conn.generation);
    }
}
