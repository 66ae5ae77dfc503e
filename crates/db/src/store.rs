//! [`DbStore`]: the [`SessionStore`] over a pool of database connections.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2::Pool;
use sessionkit_core::{
    async_trait, Capabilities, Error, Expected, Housekeeping, KeyFormat, Loaded, Migration, Result,
    SessionKey, SessionStore, StoreStats, Stored, UnixTime, Version,
};

use crate::config::{DbConfig, Options};
use crate::error;
use crate::migrate;
use crate::pool::{after_error, checkout, DbConn, Health, LogErrors, Manager, Settings};
use crate::sql::{Bind, Statements};
use crate::{Backend, Schema, CLEAR_BATCH_SIZE};

impl DbConfig {
    /// Checks the settings, opens one connection to check the URL, the credentials and the
    /// database (then closes it), and returns the store with its pool. Runs on tokio's blocking
    /// threads; never blocks an async worker.
    ///
    /// The session table is not needed yet: create it with [`DbStore::migrate`].
    ///
    /// Errors:
    /// - an unknown URL scheme or parameter, a URL whose database feature is off, `:memory:`,
    ///   an SQLite path that is not a file that can be opened in the mode asked for, an
    ///   invalid table name, a pool size of 0, zero timeouts, rejected credentials or a
    ///   database that does not exist →
    ///   [`Error::is_config`](sessionkit_core::Error::is_config);
    /// - a database that cannot be reached (down, refusing connections) →
    ///   [`Error::is_unavailable`](sessionkit_core::Error::is_unavailable). The store is never
    ///   built half-working: retry `connect` (with a back-off) to start while the database is
    ///   still coming up. Once built, the store rides out restarts by itself.
    pub async fn connect(self) -> Result<DbStore> {
        let opts = self.into_options()?;
        let backend = opts.backend;
        let limit = opts.operation_limit();
        let building = tokio::task::spawn_blocking(move || DbStore::build(opts));
        match tokio::time::timeout(limit, building).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(error::join(backend, join)),
            Err(elapsed) => Err(error::deadline(backend, elapsed)),
        }
    }
}

/// A session store in a PostgreSQL, MySQL/MariaDB or SQLite table.
///
/// Each session is one row: `session_key` (the primary key), `session_data` (the encoded
/// record), `expire_date` (when it stops being served, in Unix seconds). "Now" is the
/// application's clock, bound as a parameter like every value, so the database's clock and
/// time zone never matter. Every operation is one statement and one round trip on a pooled
/// connection, run on tokio's blocking threads:
///
/// | operation | statement | result checked |
/// |---|---|---|
/// | `load` | `SELECT session_data ... WHERE session_key = ? AND expire_date > now` | no row = no session |
/// | `create` | `INSERT INTO ... VALUES (?, ?, ?)` | unique violation = [collision](sessionkit_core::Error::is_collision), never an overwrite (see below) |
/// | `update` | `UPDATE ... SET session_data = ?, expire_date = ? WHERE session_key = ? AND expire_date > now` | 0 rows = [vanished](sessionkit_core::Error::is_vanished), never a resurrection |
/// | `touch` | `UPDATE ... SET expire_date = ? WHERE session_key = ? AND expire_date > now` | 0 rows = vanished |
/// | `delete` | `DELETE ... WHERE session_key = ?` | — |
/// | `exists` | `SELECT COUNT(*) ... WHERE session_key = ? AND expire_date > now` | — |
/// | `clear_expired` | batches of `DELETE ... expire_date <= now` of at most [`CLEAR_BATCH_SIZE`] rows | the total removed |
///
/// A create that meets an *expired* row under its key (one `clear_expired` has not removed
/// yet) deletes that row only if it is still expired and inserts once more: a dead row never
/// blocks a key, and a live one is never overwritten. Statements are prepared once per
/// connection and cached.
///
/// Build one with [`DbConfig`](crate::DbConfig); create the table with [`migrate`](Self::migrate).
/// Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct DbStore {
    inner: Arc<Inner>,
}

/// One pool per database kind this build supports; a store has exactly one.
enum Pools {
    #[cfg(feature = "postgres")]
    Postgres(Db<diesel::PgConnection>),
    #[cfg(feature = "mysql")]
    Mysql(Db<diesel::MysqlConnection>),
    #[cfg(feature = "sqlite")]
    Sqlite(Db<diesel::SqliteConnection>),
}

/// A pool, and a manager of the same settings for connections outside it (migrations).
struct Db<C: DbConn> {
    pool: Pool<Manager<C>>,
    direct: Manager<C>,
}

/// How many times a statement rolled back as a deadlock victim is run again.
const DEADLOCK_RETRIES: u32 = 3;

pub(crate) struct Inner {
    pools: Pools,
    pub(crate) statements: Statements,
    pub(crate) backend: Backend,
    schema: Schema,
    /// As configured (unquoted).
    pub(crate) table: String,
    /// Quoted for SQL.
    pub(crate) quoted_table: String,
    health: Arc<Health>,
    pool_size: u32,
    connect_timeout: Duration,
    pub(crate) statement_timeout: Duration,
    operation_limit: Duration,
}

/// A record as the `session_data` column takes it.
enum ColumnData {
    /// sessionkit's binary column.
    Bytes(Vec<u8>),
    /// Django's text column (the signed `session_data` is ASCII).
    Text(String),
}

impl ColumnData {
    fn bind(&self) -> Bind<'_> {
        match self {
            ColumnData::Bytes(b) => Bind::Bytes(b),
            ColumnData::Text(t) => Bind::Text(t),
        }
    }
}

impl Inner {
    /// `record` as this store's `session_data` column takes it; a record that is not text
    /// cannot go into Django's column (an [`ErrorKind::Encode`](sessionkit_core::ErrorKind)
    /// error: the store is paired with a codec that does not write Django's format).
    fn column_data(&self, record: &[u8]) -> Result<ColumnData> {
        match self.schema {
            Schema::Sessionkit => Ok(ColumnData::Bytes(record.to_vec())),
            Schema::Django => String::from_utf8(record.to_vec())
                .map(ColumnData::Text)
                .map_err(|_| {
                    Error::new(
                        sessionkit_core::ErrorKind::Encode,
                        error::name(self.backend),
                    )
                    .with_detail(
                        "Django's session_data column holds text, and this record is not: \
                             pair Schema::Django with sessionkit-django's DjangoCodec::signed",
                    )
                }),
        }
    }

    /// What a write stored under `key`: `version`, or no version where the table keeps none.
    fn stored(&self, key: &SessionKey, version: Version) -> Stored {
        if self.statements.versioned {
            Stored::new(key.clone(), version)
        } else {
            Stored::untracked(key.clone())
        }
    }
}

/// Runs `$body` with `$conn` bound to a connection of the store's pool (of its concrete type)
/// and `$inner` to the store, mapping errors; expands once per enabled database.
macro_rules! with_conn {
    ($inner:expr, |$conn:ident| $body:expr) => {
        match &$inner.pools {
            #[cfg(feature = "postgres")]
            Pools::Postgres(db) => $inner.run(db, |$conn| $body),
            #[cfg(feature = "mysql")]
            Pools::Mysql(db) => $inner.run(db, |$conn| $body),
            #[cfg(feature = "sqlite")]
            Pools::Sqlite(db) => $inner.run(db, |$conn| $body),
        }
    };
}

/// Runs `$body` with `$conn` bound to a connection of its own (not the pool's), opened with
/// `$settings` and closed afterwards; expands once per enabled database.
macro_rules! with_direct_conn {
    ($inner:expr, $settings:expr, |$conn:ident| $body:expr) => {
        match &$inner.pools {
            #[cfg(feature = "postgres")]
            Pools::Postgres(db) => $inner.run_direct(&db.direct, $settings, |$conn| $body),
            #[cfg(feature = "mysql")]
            Pools::Mysql(db) => $inner.run_direct(&db.direct, $settings, |$conn| $body),
            #[cfg(feature = "sqlite")]
            Pools::Sqlite(db) => $inner.run_direct(&db.direct, $settings, |$conn| $body),
        }
    };
}

impl Inner {
    /// Checks a connection out (waiting up to the connect timeout), runs `f` on it, maps its
    /// error and discards the connection if the error says so. Blocking.
    ///
    /// A statement the server rolled back as a deadlock victim (MySQL/MariaDB: "Deadlock
    /// found … try restarting transaction"; PostgreSQL: a serialization failure) is run again,
    /// up to [`DEADLOCK_RETRIES`] times, as the servers' manuals say to: every statement of the
    /// store is autocommitted, so the victim changed nothing.
    fn run<C: DbConn, T>(
        &self,
        db: &Db<C>,
        f: impl Fn(&mut C) -> diesel::QueryResult<T>,
    ) -> Result<T> {
        let mut conn = checkout(&db.pool, &self.health, self.connect_timeout)?;
        let mut retries = 0;
        loop {
            match f(&mut conn.conn) {
                Ok(value) => return Ok(value),
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::SerializationFailure,
                    info,
                )) if retries < DEADLOCK_RETRIES => {
                    retries += 1;
                    tracing::debug!(
                        backend = ?self.backend,
                        retries,
                        message = info.message(),
                        "sessionkit-db: statement rolled back as a deadlock victim; running it again"
                    );
                }
                Err(e) => {
                    let err = error::query(self.backend, &self.quoted_table, e);
                    after_error(&mut conn, &self.health, err.kind());
                    return Err(err);
                }
            }
        }
    }

    /// Opens a connection outside the pool with `settings`, runs `f` on it and closes it.
    /// Blocking.
    pub(crate) fn run_direct<C: DbConn, T>(
        &self,
        manager: &Manager<C>,
        settings: Settings,
        f: impl FnOnce(&mut C) -> diesel::QueryResult<T>,
    ) -> Result<T> {
        let mut conn = manager.open_with(settings)?;
        f(&mut conn).map_err(|e| error::query(self.backend, &self.quoted_table, e))
    }
}

impl DbStore {
    /// Builds the store from checked options: opens one connection to check them, then the
    /// pool. Blocking.
    pub(crate) fn build(opts: Options) -> Result<Self> {
        let backend = opts.backend;
        let health = Arc::new(Health::default());
        let settings = Settings {
            statement_timeout: opts.statement_timeout,
        };
        fn make<C: DbConn>(
            opts: &Options,
            settings: Settings,
            health: &Arc<Health>,
        ) -> Result<Db<C>> {
            let direct = Manager::<C>::new(opts.url.clone(), settings, health.clone());
            // Fail now, with the database's own reason, on a wrong URL, password or database
            // name, or a database that is down.
            drop(direct.open_with(settings)?);
            let pool = Pool::builder()
                .max_size(opts.pool_size)
                .min_idle(Some(0))
                // No test query on every checkout: broken connections are found by their
                // errors instead (see pool.rs).
                .test_on_check_out(false)
                .connection_timeout(opts.connect_timeout)
                .error_handler(Box::new(LogErrors(C::BACKEND)))
                .build_unchecked(Manager::<C>::new(
                    opts.url.clone(),
                    settings,
                    health.clone(),
                ));
            Ok(Db { pool, direct })
        }
        let pools = match backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres => Pools::Postgres(make(&opts, settings, &health)?),
            #[cfg(feature = "mysql")]
            Backend::Mysql => Pools::Mysql(make(&opts, settings, &health)?),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => Pools::Sqlite(make(&opts, settings, &health)?),
            #[allow(unreachable_patterns)]
            other => {
                return Err(Error::config(
                    error::name(other),
                    format!("built without the `{}` feature", other.feature()),
                ))
            }
        };
        let dialect = backend.dialect();
        let quoted_table = dialect.quote(&opts.table);
        let operation_limit = opts.operation_limit();
        Ok(DbStore {
            inner: Arc::new(Inner {
                pools,
                statements: Statements::new(
                    backend,
                    opts.schema,
                    &quoted_table,
                    &dialect.quote(&dialect.expiry_index_name(&opts.table)),
                ),
                backend,
                schema: opts.schema,
                table: opts.table,
                quoted_table,
                health,
                pool_size: opts.pool_size,
                connect_timeout: opts.connect_timeout,
                statement_timeout: opts.statement_timeout,
                operation_limit,
            }),
        })
    }

    /// Creates or brings up to date the session table (and the `sessionkit_migrations` table
    /// that records what was applied): the equivalent of Django's `manage.py migrate` for
    /// sessions. The SQL is embedded in this crate, one set per database.
    ///
    /// Idempotent — a no-op once applied, so calling it at every start is fine — and safe to
    /// run from several processes at once: the run holds a database-wide migration lock. It
    /// runs on a connection of its own (closed afterwards) whose statement timeout is at least
    /// 60 s.
    ///
    /// With [`Schema::Django`] it creates and changes nothing: it checks that Django's own
    /// `migrate` made the table ([`Migration::Foreign`]), else a [`Error::is_config`] error
    /// saying to run it.
    ///
    /// Errors: the database user may not create tables → [`Error::is_config`]; the database is
    /// unreachable → [`Error::is_unavailable`]; another process held the migration lock for
    /// over 60 s → [`Error::is_timeout`].
    pub async fn migrate(&self) -> Result<Migration> {
        let settings = Settings {
            statement_timeout: self
                .inner
                .statement_timeout
                .max(migrate::MIGRATION_STATEMENT_TIMEOUT),
        };
        // Connect, wait for the lock, run the DDL.
        let limit = self
            .inner
            .connect_timeout
            .saturating_add(settings.statement_timeout.saturating_mul(2))
            .saturating_add(Duration::from_secs(1));
        if self.inner.schema == Schema::Django {
            return self.check_django_table(settings, limit).await;
        }
        self.blocking(Some(limit), move |inner| {
            let (backend, table, quoted) = (inner.backend, &inner.table, &inner.quoted_table);
            with_direct_conn!(inner, settings, |c| migrate::run(c, backend, table, quoted))
        })
        .await
    }

    /// [`migrate`](Self::migrate) for [`Schema::Django`]: sessionkit never creates or alters
    /// Django's table, so this only checks that Django's `migrate` made it.
    async fn check_django_table(&self, settings: Settings, limit: Duration) -> Result<Migration> {
        let exists = self
            .blocking(Some(limit), move |inner| {
                let (backend, table) = (inner.backend, &inner.table);
                with_direct_conn!(inner, settings, |c| migrate::table_exists(
                    c, backend, table
                ))
            })
            .await?;
        if exists {
            Ok(Migration::Foreign)
        } else {
            Err(Error::config(
                error::name(self.inner.backend),
                format!(
                    "Django's session table {:?} does not exist in this database: create it with \
                     Django's own `manage.py migrate` (with Schema::Django, sessionkit reads and \
                     writes Django's table but never creates or alters it)",
                    self.inner.table
                ),
            ))
        }
    }

    /// The database this store talks to.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The session table's name, as configured (unquoted).
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// Runs `f` on a blocking thread, bounded by the operation limit (connect + statement
    /// timeout + 1 s).
    pub(crate) async fn blocking<T, F>(&self, limit: Option<Duration>, f: F) -> Result<T>
    where
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        let backend = inner.backend;
        let task = tokio::task::spawn_blocking(move || f(&inner));
        match tokio::time::timeout(limit.unwrap_or(self.inner.operation_limit), task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(error::join(backend, join)),
            Err(elapsed) => Err(error::deadline(backend, elapsed)),
        }
    }

    /// Deletes expired rows in batches, each its own statement on a freshly checked-out
    /// connection (so requests get connections between batches), until a batch removes fewer
    /// than [`CLEAR_BATCH_SIZE`]. Rows that expire while it runs are left for the next run.
    ///
    /// Stops after about `max` rows. A failure part-way reports, in its detail, how many rows
    /// were removed before it.
    async fn clear_expired_batches(&self, max: u64) -> Result<u64> {
        let now = UnixTime::now().as_secs();
        let mut total = 0u64;
        loop {
            let batch = self
                .blocking(None, move |inner| {
                    let s = &inner.statements;
                    with_conn!(inner, |conn| {
                        let keys = conn.index_scans_only(|c| {
                            c.select_texts(&s.clear_select, &[Bind::Int(now)])
                        })?;
                        let Some(last) = keys.last() else {
                            return Ok((0, 0));
                        };
                        let mut binds: Vec<Bind<'_>> = keys.iter().map(|k| Bind::Text(k)).collect();
                        binds.resize(CLEAR_BATCH_SIZE as usize, Bind::Text(last));
                        binds.push(Bind::Int(now));
                        Ok((keys.len(), conn.exec(&s.clear_delete, &binds)?))
                    })
                })
                .await;
            let (selected, removed) = match batch {
                Ok(counts) => counts,
                Err(e) if total > 0 => {
                    return Err(e.with_detail(format!(
                        "{total} expired sessions were removed before this error; run it again \
                         to go on"
                    )))
                }
                Err(e) => return Err(e),
            };
            total += removed as u64;
            if selected < CLEAR_BATCH_SIZE as usize || total >= max {
                return Ok(total);
            }
        }
    }
}

impl fmt::Debug for DbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let (connections, idle) = match &i.pools {
            #[cfg(feature = "postgres")]
            Pools::Postgres(db) => state(&db.pool),
            #[cfg(feature = "mysql")]
            Pools::Mysql(db) => state(&db.pool),
            #[cfg(feature = "sqlite")]
            Pools::Sqlite(db) => state(&db.pool),
        };
        // Never the URL: it may hold a password.
        f.debug_struct("DbStore")
            .field("backend", &i.backend)
            .field("table", &i.table)
            .field("pool_size", &i.pool_size)
            .field("connections", &connections)
            .field("idle_connections", &idle)
            .field("connect_timeout", &i.connect_timeout)
            .field("statement_timeout", &i.statement_timeout)
            .finish()
    }
}

fn state<C: DbConn>(pool: &Pool<Manager<C>>) -> (u32, u32) {
    let s = pool.state();
    (s.connections, s.idle_connections)
}

/// What an update found.
enum Updated {
    Stored,
    Vanished,
    Conflict,
}

/// A version as the `BIGINT` column holds it (the same 64 bits).
fn to_column(version: Version) -> i64 {
    version.get() as i64
}

/// A version from the `BIGINT` column.
fn from_column(value: i64) -> Version {
    Version::new(value as u64)
}

/// Whether `rows` affected rows means the statement found its row.
fn found(rows: usize) -> bool {
    rows > 0
}

#[async_trait]
impl SessionStore for DbStore {
    fn key_format(&self) -> KeyFormat {
        KeyFormat::Random
    }

    /// Versions are the `session_version` column; a conditional update is one `UPDATE … AND
    /// session_version = ?`.
    fn capabilities(&self) -> Capabilities {
        Capabilities::new().with_compare_and_set(self.inner.statements.versioned)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
        let key = key.clone();
        let row = self
            .blocking(None, move |inner| {
                let now = UnixTime::now().as_secs();
                with_conn!(inner, |conn| conn.select_versioned(
                    &inner.statements.load,
                    &[Bind::Text(key.as_str()), Bind::Int(now)]
                ))
            })
            .await?;
        match row {
            None => Ok(None),
            Some((Some(data), version, expires_at)) => Ok(Some(Loaded::new(
                data,
                from_column(version),
                UnixTime::from_secs(expires_at),
            ))),
            Some((None, _, _)) => {
                // The schema says NOT NULL; a row altered by hand is no session.
                tracing::warn!(
                    table = %self.inner.table,
                    "sessionkit-db: a session row holds NULL data; treating it as no session"
                );
                Ok(None)
            }
        }
    }

    async fn create(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<Stored> {
        let owned = key.clone();
        let record = self.inner.column_data(record)?;
        let version = Version::fresh();
        let created = self
            .blocking(None, move |inner| {
                let s = &inner.statements;
                let insert = s.insert_binds(
                    owned.as_str(),
                    record.bind(),
                    expires_at.as_secs(),
                    to_column(version),
                );
                with_conn!(inner, |conn| {
                    match conn.exec(&s.insert, &insert) {
                        Ok(_) => Ok(true),
                        Err(e) if error::is_unique_violation(&e) => {
                            // Taken — by a live row (a collision) or by an expired one not yet
                            // cleared, which must not block the key: remove it only if it is
                            // still expired, and try once more.
                            let now = UnixTime::now().as_secs();
                            let removed = conn.exec(
                                &s.delete_expired_key,
                                &[Bind::Text(owned.as_str()), Bind::Int(now)],
                            )?;
                            if removed == 0 {
                                return Ok(false);
                            }
                            match conn.exec(&s.insert, &insert) {
                                Ok(_) => Ok(true),
                                Err(e) if error::is_unique_violation(&e) => Ok(false),
                                Err(e) => Err(e),
                            }
                        }
                        Err(e) => Err(e),
                    }
                })
            })
            .await?;
        if created {
            Ok(self.inner.stored(key, version))
        } else {
            Err(Error::collision(error::name(self.inner.backend)))
        }
    }

    async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        expected: Expected,
    ) -> Result<Stored> {
        let owned = key.clone();
        let record = self.inner.column_data(record)?;
        let version = Version::fresh();
        let outcome = self
            .blocking(None, move |inner| {
                let s = &inner.statements;
                let now = UnixTime::now().as_secs();
                let mut binds = s.update_binds(
                    record.bind(),
                    expires_at.as_secs(),
                    to_column(version),
                    owned.as_str(),
                    now,
                );
                let checked = match expected {
                    Expected::Version(old) if s.versioned => {
                        binds.push(Bind::Int(to_column(old)));
                        &s.update_checked
                    }
                    _ => &s.update,
                };
                let (key, now) = (Bind::Text(owned.as_str()), Bind::Int(now));
                with_conn!(inner, |conn| {
                    let rows = conn.exec(checked, &binds)?;
                    if found(rows) {
                        return Ok(Updated::Stored);
                    }
                    // Only when nothing was written: a live row means another version.
                    let live = conn.select_int(&s.exists, &[key, now])?.unwrap_or(0) > 0;
                    Ok(if live && expected != Expected::Any {
                        Updated::Conflict
                    } else {
                        Updated::Vanished
                    })
                })
            })
            .await?;
        let backend = error::name(self.inner.backend);
        match outcome {
            Updated::Stored => Ok(self.inner.stored(key, version)),
            Updated::Vanished => Err(Error::vanished(backend)),
            Updated::Conflict => Err(Error::conflict(backend)),
        }
    }

    async fn touch(&self, key: &SessionKey, expires_at: UnixTime) -> Result<()> {
        let owned = key.clone();
        let rows = self
            .blocking(None, move |inner| {
                let now = UnixTime::now().as_secs();
                with_conn!(inner, |conn| conn.exec(
                    &inner.statements.touch,
                    &[
                        Bind::Int(expires_at.as_secs()),
                        Bind::Text(owned.as_str()),
                        Bind::Int(now),
                    ]
                ))
            })
            .await?;
        if found(rows) {
            Ok(())
        } else {
            Err(Error::vanished(error::name(self.inner.backend)))
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        let owned = key.clone();
        self.blocking(None, move |inner| {
            with_conn!(inner, |conn| conn
                .exec(&inner.statements.delete, &[Bind::Text(owned.as_str())]))
        })
        .await
        .map(drop)
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool> {
        let owned = key.clone();
        let count = self
            .blocking(None, move |inner| {
                let now = UnixTime::now().as_secs();
                with_conn!(inner, |conn| conn.select_int(
                    &inner.statements.exists,
                    &[Bind::Text(owned.as_str()), Bind::Int(now)]
                ))
            })
            .await?;
        Ok(count.unwrap_or(0) > 0)
    }

    fn housekeeping(&self) -> Housekeeping {
        Housekeeping::ClearExpired
    }

    /// The server's version and the live and expired rows, counted through the
    /// `expire_date` index.
    async fn stats(&self) -> Result<StoreStats> {
        let now = UnixTime::now().as_secs();
        let (version, live, expired) = self
            .blocking(None, move |inner| {
                let s = &inner.statements;
                with_conn!(inner, |conn| {
                    let version = conn.select_texts(&s.version, &[])?.pop();
                    let live = conn.select_int(&s.count_live, &[Bind::Int(now)])?;
                    let expired = conn.select_int(&s.count_expired, &[Bind::Int(now)])?;
                    Ok((version, live, expired))
                })
            })
            .await?;
        let mut stats = StoreStats::new(error::name(self.backend()));
        stats.housekeeping = Some(Housekeeping::ClearExpired);
        stats.server_version = version.map(|v| match self.backend() {
            Backend::Sqlite => format!("SQLite {v}"),
            Backend::Mysql => format!("MySQL/MariaDB {v}"),
            Backend::Postgres => v.split(" on ").next().unwrap_or(&v).to_owned(),
        });
        stats.live_sessions = live.and_then(|n| u64::try_from(n).ok());
        stats.expired_sessions = expired.and_then(|n| u64::try_from(n).ok());
        Ok(stats)
    }

    async fn clear_expired_batch(&self, max: u64) -> Result<u64> {
        self.clear_expired_batches(max.max(1)).await
    }

    async fn clear_expired(&self) -> Result<u64> {
        self.clear_expired_batches(u64::MAX).await
    }
}
