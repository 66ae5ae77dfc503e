//! Shared pieces of the database benches (`benches/db.rs` and the separate
//! `benches/sqlx-peer` workspace): the databases ([`Target`]) and raw diesel doing the
//! statements of sessionkit-db on an equivalent r2d2 pool ([`RawDiesel`]).
//!
//! Raw diesel is the baseline a database store is measured against: the same SQL as
//! sessionkit-db (`crates/db/src/sql.rs`), the same pool settings (size, no test-on-checkout,
//! the per-connection settings), every statement in `spawn_blocking` with its own checkout,
//! and the same bytes ([`Payload::record_bytes`]); only the session layer and the store's own
//! code are missing.

use std::collections::VecDeque;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use diesel::backend::Backend;
use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::pg::PgConnection;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Binary, Text};
use diesel::sqlite::SqliteConnection;
use diesel::{OptionalExtension, QueryResult, RunQueryDsl};
use sessionkit_core::{SessionKey, UnixTime};
use sessionkit_testkit::{Provided, Service};

use crate::{Op, Payload, Workload, SESSIONS_PER_TASK};

/// Connections in every pool of the database benches (sessionkit-db's, raw diesel's, sqlx's)
/// unless `SESSIONKIT_BENCH_POOL` says otherwise: sessionkit-db's default.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// Connections in every pool of this run: `SESSIONKIT_BENCH_POOL`, else [`DEFAULT_POOL_SIZE`].
pub fn pool_size() -> u32 {
    crate::env_usize("SESSIONKIT_BENCH_POOL")
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(DEFAULT_POOL_SIZE)
}

/// The lifetime of every row written, in seconds: an hour (the value does not change the cost).
pub const TTL: i64 = 3_600;

/// The statement and connect timeout of every pool: generous, so a benchmark on a busy machine
/// slows down rather than stops (the value does not change the cost).
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A name unique to this run, for tables: `skb_{tag}_{pid}_{millis mod 10^8}`.
pub fn unique_table(tag: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("skb_{tag}_{}_{}", std::process::id(), millis % 100_000_000)
}

fn expires_at() -> i64 {
    UnixTime::now().add_secs(TTL).as_secs()
}

/// The three databases, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// PostgreSQL: `SESSIONKIT_POSTGRES_URL` or a throwaway server.
    Postgres,
    /// MariaDB or MySQL: `SESSIONKIT_MYSQL_URL` or a throwaway MariaDB.
    Mysql,
    /// SQLite: a file in a fresh temporary directory.
    Sqlite,
}

impl Db {
    /// Every database, in report order.
    pub const ALL: [Db; 3] = [Db::Postgres, Db::Mysql, Db::Sqlite];

    /// `postgres`, `mysql` or `sqlite`: the prefix of benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Db::Postgres => "postgres",
            Db::Mysql => "mysql",
            Db::Sqlite => "sqlite",
        }
    }
}

/// The databases to measure: `SESSIONKIT_BENCH_DBS` (comma-separated names: `postgres`,
/// `mysql`, `sqlite`), else all three.
pub fn selected_dbs() -> Vec<Db> {
    match std::env::var("SESSIONKIT_BENCH_DBS") {
        Ok(list) if !list.trim().is_empty() => Db::ALL
            .into_iter()
            .filter(|db| list.split(',').any(|n| n.trim() == db.name()))
            .collect(),
        _ => Db::ALL.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// Raw diesel: the statements, as query fragments diesel prepares once per connection.
// ---------------------------------------------------------------------------------------------

/// `SELECT session_data FROM t WHERE session_key = ? AND expire_date > ?`.
///
/// A query type of our own rather than `sql_query`: diesel never caches `sql_query` (nor a DSL
/// `UPDATE`) as a prepared statement, while a fragment that does not call
/// `unsafe_to_cache_prepared` is cached by its SQL text. The table name is the run's own, so
/// there is no static query id.
struct SelectLive<'a> {
    table: &'a str,
    key: &'a str,
    now: i64,
}

/// `UPDATE t SET session_data = ?, expire_date = ? WHERE session_key = ? AND expire_date > ?`.
struct UpdateLive<'a> {
    table: &'a str,
    key: &'a str,
    data: &'a [u8],
    expires: i64,
    now: i64,
}

/// `INSERT INTO t (session_key, session_data, expire_date) VALUES (?, ?, ?)`.
struct Insert<'a> {
    table: &'a str,
    key: &'a str,
    data: &'a [u8],
    expires: i64,
}

/// `DELETE FROM t WHERE session_key = ?`.
struct Delete<'a> {
    table: &'a str,
    key: &'a str,
}

macro_rules! cached_by_sql {
    ($($t:ident),*) => {$(
        impl QueryId for $t<'_> {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }
        impl<C> RunQueryDsl<C> for $t<'_> {}
    )*};
}
cached_by_sql!(SelectLive, UpdateLive, Insert, Delete);

impl Query for SelectLive<'_> {
    type SqlType = Binary;
}

impl<DB> QueryFragment<DB> for SelectLive<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("SELECT session_data FROM ");
        out.push_identifier(self.table)?;
        out.push_sql(" WHERE session_key = ");
        out.push_bind_param::<Text, _>(self.key)?;
        out.push_sql(" AND expire_date > ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        Ok(())
    }
}

impl<DB> QueryFragment<DB> for UpdateLive<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    [u8]: ToSql<Binary, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        out.push_identifier(self.table)?;
        out.push_sql(" SET session_data = ");
        out.push_bind_param::<Binary, _>(self.data)?;
        out.push_sql(", expire_date = ");
        out.push_bind_param::<BigInt, _>(&self.expires)?;
        out.push_sql(" WHERE session_key = ");
        out.push_bind_param::<Text, _>(self.key)?;
        out.push_sql(" AND expire_date > ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        Ok(())
    }
}

impl<DB> QueryFragment<DB> for Insert<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    [u8]: ToSql<Binary, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("INSERT INTO ");
        out.push_identifier(self.table)?;
        out.push_sql(" (session_key, session_data, expire_date) VALUES (");
        out.push_bind_param::<Text, _>(self.key)?;
        out.push_sql(", ");
        out.push_bind_param::<Binary, _>(self.data)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.expires)?;
        out.push_sql(")");
        Ok(())
    }
}

impl<DB> QueryFragment<DB> for Delete<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("DELETE FROM ");
        out.push_identifier(self.table)?;
        out.push_sql(" WHERE session_key = ");
        out.push_bind_param::<Text, _>(self.key)?;
        Ok(())
    }
}

/// The per-connection settings sessionkit-db applies (`crates/db/src/pool.rs`: statement and lock
/// timeouts; SQLite: busy timeout, WAL, `synchronous = NORMAL`), so the raw pool's connections
/// behave like the store's. MariaDB's `max_statement_time` (MySQL proper would need
/// `max_execution_time`; the benches run MariaDB).
#[derive(Debug, Clone, Copy)]
pub struct Settings(pub Db);

impl<C: SimpleConnection> CustomizeConnection<C, diesel::r2d2::Error> for Settings {
    fn on_acquire(&self, conn: &mut C) -> Result<(), diesel::r2d2::Error> {
        let ms = TIMEOUT.as_millis();
        let sql = match self.0 {
            Db::Postgres => format!("SET statement_timeout = {ms}"),
            Db::Mysql => format!(
                "SET SESSION max_statement_time = {:.3}; SET SESSION innodb_lock_wait_timeout = {}",
                TIMEOUT.as_secs_f64(),
                TIMEOUT.as_secs().max(1)
            ),
            Db::Sqlite => format!(
                "PRAGMA busy_timeout = {ms}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL"
            ),
        };
        conn.batch_execute(&sql)
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// An r2d2 pool of one of the three connection types.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // r2d2's Pool is Debug, diesel's ConnectionManager not
pub enum RawPool {
    /// PostgreSQL.
    Pg(Pool<ConnectionManager<PgConnection>>),
    /// MySQL / MariaDB.
    My(Pool<ConnectionManager<MysqlConnection>>),
    /// SQLite.
    Lite(Pool<ConnectionManager<SqliteConnection>>),
}

/// Runs `$body` with `$conn` bound to a connection checked out of `$pool`, whichever kind it is.
macro_rules! with_conn {
    ($pool:expr, |$conn:ident| $body:expr) => {
        match $pool {
            RawPool::Pg(p) => {
                let $conn = &mut *p.get().expect("pool checkout");
                $body
            }
            RawPool::My(p) => {
                let $conn = &mut *p.get().expect("pool checkout");
                $body
            }
            RawPool::Lite(p) => {
                let $conn = &mut *p.get().expect("pool checkout");
                $body
            }
        }
    };
}

impl RawPool {
    /// A pool built like sessionkit-db's when `tuned` (no test-on-checkout), else with r2d2's
    /// defaults (test-on-checkout), both with [`pool_size`] connections and the store's
    /// per-connection settings.
    pub fn new(db: Db, url: &str, tuned: bool) -> Self {
        fn build<C>(db: Db, url: &str, tuned: bool) -> Pool<ConnectionManager<C>>
        where
            C: diesel::r2d2::R2D2Connection + SimpleConnection + Send + 'static,
        {
            Pool::builder()
                .max_size(pool_size())
                .connection_timeout(TIMEOUT)
                .test_on_check_out(!tuned)
                .connection_customizer(Box::new(Settings(db)))
                .build(ConnectionManager::new(url))
                .expect("build the raw diesel pool")
        }
        match db {
            Db::Postgres => RawPool::Pg(build(db, url, tuned)),
            Db::Mysql => RawPool::My(build(db, url, tuned)),
            Db::Sqlite => RawPool::Lite(build(db, url, tuned)),
        }
    }

    /// Creates `table` with sessionkit-db's schema (its migration, `crates/db/src/migrate.rs`),
    /// for runs without sessionkit-db (the sqlx peer); `benches/db.rs` lets the store's own
    /// `migrate()` create the raw table instead.
    pub fn create_table(&self, table: &str) {
        let index = format!("{table}_expire_date");
        let sql = match self {
            RawPool::Pg(_) | RawPool::Lite(_) => {
                let data = if matches!(self, RawPool::Pg(_)) {
                    "BYTEA"
                } else {
                    "BLOB"
                };
                format!(
                    "CREATE TABLE {table} (session_key VARCHAR(40) NOT NULL PRIMARY KEY, \
                     session_data {data} NOT NULL, expire_date BIGINT NOT NULL); \
                     CREATE INDEX {index} ON {table} (expire_date)"
                )
            }
            RawPool::My(_) => format!(
                "CREATE TABLE {table} (session_key VARCHAR(40) CHARACTER SET ascii COLLATE \
                 ascii_bin NOT NULL PRIMARY KEY, session_data LONGBLOB NOT NULL, \
                 expire_date BIGINT NOT NULL, INDEX {index} (expire_date)) ENGINE=InnoDB"
            ),
        };
        with_conn!(self, |c| c.batch_execute(&sql)).expect("create the raw table");
    }

    /// Drops `table` and forgets it in sessionkit-db's migration record (best effort: the run
    /// is over, and a failure only leaves a table behind).
    pub fn drop_table(&self, table: &str) {
        // Our own generated names only (`unique_table`), so they can be written into the SQL.
        let sql = format!(
            "DROP TABLE IF EXISTS {table}; \
             DELETE FROM sessionkit_migrations WHERE table_name = '{table}'"
        );
        let drop_only = format!("DROP TABLE IF EXISTS {table}");
        let result: QueryResult<()> = with_conn!(self, |c| c
            .batch_execute(&sql)
            .or_else(|_| c.batch_execute(&drop_only)));
        if let Err(e) = result {
            eprintln!("could not drop table {table}: {e}");
        }
    }

    /// Runs `sql` (one or more statements, no results), panicking with the database's message.
    pub fn execute(&self, sql: &str) {
        with_conn!(self, |c| c.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{e}\n  while running: {sql}"));
    }

    /// The single `BIGINT` column `n` of the single row `sql` returns.
    pub fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        with_conn!(self, |c| diesel::sql_query(sql).get_result::<Count>(c))
            .unwrap_or_else(|e| panic!("{e}\n  while running: {sql}"))
            .n
    }

    /// Every row `sql` returns, each row's text columns joined by spaces: for `EXPLAIN`, whose
    /// columns differ by database (PostgreSQL one, `QUERY PLAN`; MariaDB's `FORMAT=JSON` one,
    /// `EXPLAIN`; SQLite's `QUERY PLAN` four, of which `detail` is the text).
    pub fn texts(&self, sql: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct PgPlan {
            #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
            line: String,
        }
        #[derive(diesel::QueryableByName)]
        struct MyPlan {
            #[diesel(sql_type = Text, column_name = "EXPLAIN")]
            line: String,
        }
        #[derive(diesel::QueryableByName)]
        struct LitePlan {
            #[diesel(sql_type = Text)]
            detail: String,
        }
        let rows: QueryResult<Vec<String>> = match self {
            RawPool::Pg(p) => diesel::sql_query(sql)
                .load::<PgPlan>(&mut *p.get().expect("pool checkout"))
                .map(|r| r.into_iter().map(|r| r.line).collect()),
            RawPool::My(p) => diesel::sql_query(sql)
                .load::<MyPlan>(&mut *p.get().expect("pool checkout"))
                .map(|r| {
                    r.into_iter()
                        .flat_map(|r| r.line.lines().map(str::to_owned).collect::<Vec<_>>())
                        .collect()
                }),
            RawPool::Lite(p) => diesel::sql_query(sql)
                .load::<LitePlan>(&mut *p.get().expect("pool checkout"))
                .map(|r| r.into_iter().map(|r| r.detail).collect()),
        };
        rows.unwrap_or_else(|e| panic!("{e}\n  while running: {sql}"))
    }
}

/// How raw diesel runs the statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Cached prepared statements (the query types above).
    Prepared,
    /// `diesel::sql_query`, parsed and planned on every call.
    SqlQuery,
}

/// Raw diesel: one operation's statements, each in `spawn_blocking` with its own checkout.
///
/// load = `SELECT session_data .. WHERE session_key = ? AND expire_date > ?`; save = `UPDATE ..
/// SET session_data = ?, expire_date = ? WHERE session_key = ? AND expire_date > ?` (one row,
/// or the bench stops); create = `INSERT` (plus the `DELETE` that keeps the table's size);
/// request cycle = load, change the last byte, update.
#[allow(missing_debug_implementations)]
pub struct RawDiesel {
    pool: RawPool,
    table: Arc<str>,
    op: Op,
    style: Style,
    bytes: Arc<[u8]>,
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

/// A task's state in a [`RawDiesel`] workload.
#[derive(Debug)]
pub struct RawTask {
    keys: Vec<Arc<str>>,
    created: VecDeque<Arc<str>>,
    next: usize,
    serial: u64,
}

/// The placeholder of bind parameter `n` (1-based) in `sql_query` text.
fn placeholder(pool: &RawPool, n: usize) -> String {
    match pool {
        RawPool::Pg(_) => format!("${n}"),
        RawPool::My(_) | RawPool::Lite(_) => "?".to_owned(),
    }
}

#[derive(diesel::QueryableByName)]
struct DataRow {
    #[diesel(sql_type = Binary)]
    session_data: Vec<u8>,
}

impl RawDiesel {
    /// `op` in `style` on `table` (created with [`RawPool::create_table`]) through `pool`.
    pub fn new(pool: RawPool, table: &str, op: Op, style: Style, payload: &Payload) -> Self {
        Self {
            pool,
            table: table.into(),
            op,
            style,
            bytes: payload.record_bytes().into(),
            gate: None,
        }
    }

    /// Lets at most [`pool_size`] statements into `spawn_blocking` at once (an async
    /// semaphore, taken before the blocking call): tasks beyond the pool then wait as futures
    /// rather than as blocking threads parked in r2d2's checkout, which saves thread wake-ups.
    pub fn gated(mut self) -> Self {
        self.gate = Some(Arc::new(tokio::sync::Semaphore::new(pool_size() as usize)));
        self
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&RawPool, &str, Style) -> T + Send + 'static,
    ) -> T {
        let pool = self.pool.clone();
        let table = Arc::clone(&self.table);
        let style = self.style;
        let _permit = match &self.gate {
            Some(gate) => Some(gate.acquire().await.expect("the gate is never closed")),
            None => None,
        };
        tokio::task::spawn_blocking(move || f(&pool, &table, style))
            .await
            .expect("a blocking diesel call panicked")
    }

    async fn select(&self, key: Arc<str>) -> Option<Vec<u8>> {
        self.blocking(move |pool, table, style| {
            let now = UnixTime::now().as_secs();
            let got = match style {
                Style::Prepared => with_conn!(pool, |c| SelectLive {
                    table,
                    key: &key,
                    now
                }
                .get_result::<Vec<u8>>(c)
                .optional()),
                Style::SqlQuery => {
                    let sql = format!(
                        "SELECT session_data FROM {table} WHERE session_key = {} AND expire_date > {}",
                        placeholder(pool, 1),
                        placeholder(pool, 2)
                    );
                    with_conn!(pool, |c| diesel::sql_query(&sql)
                        .bind::<Text, _>(&*key)
                        .bind::<BigInt, _>(now)
                        .get_result::<DataRow>(c)
                        .optional())
                    .map(|row| row.map(|r| r.session_data))
                }
            };
            got.expect("select")
        })
        .await
    }

    async fn update(&self, key: Arc<str>, data: Arc<[u8]>) {
        let rows = self
            .blocking(move |pool, table, style| {
                let now = UnixTime::now().as_secs();
                let expires = expires_at();
                match style {
                    Style::Prepared => with_conn!(pool, |c| UpdateLive {
                        table,
                        key: &key,
                        data: &data,
                        expires,
                        now
                    }
                    .execute(c)),
                    Style::SqlQuery => {
                        let sql = format!(
                            "UPDATE {table} SET session_data = {}, expire_date = {} \
                             WHERE session_key = {} AND expire_date > {}",
                            placeholder(pool, 1),
                            placeholder(pool, 2),
                            placeholder(pool, 3),
                            placeholder(pool, 4)
                        );
                        with_conn!(pool, |c| diesel::sql_query(&sql)
                            .bind::<Binary, _>(&*data)
                            .bind::<BigInt, _>(expires)
                            .bind::<Text, _>(&*key)
                            .bind::<BigInt, _>(now)
                            .execute(c))
                    }
                }
                .expect("update")
            })
            .await;
        assert_eq!(rows, 1, "the row is still live");
    }

    async fn insert(&self, key: Arc<str>) {
        let data = Arc::clone(&self.bytes);
        let rows = self
            .blocking(move |pool, table, _| {
                let expires = expires_at();
                with_conn!(pool, |c| Insert {
                    table,
                    key: &key,
                    data: &data,
                    expires
                }
                .execute(c))
                .expect("insert")
            })
            .await;
        assert_eq!(rows, 1);
    }

    async fn delete(&self, key: Arc<str>) {
        self.blocking(move |pool, table, _| {
            with_conn!(pool, |c| Delete { table, key: &key }.execute(c)).expect("delete")
        })
        .await;
    }

    fn fresh_key() -> Arc<str> {
        SessionKey::generate().as_str().into()
    }
}

impl Workload for RawDiesel {
    type Task = RawTask;

    async fn setup(&self, _index: usize) -> RawTask {
        let mut keys = Vec::with_capacity(SESSIONS_PER_TASK);
        for _ in 0..SESSIONS_PER_TASK {
            let key = Self::fresh_key();
            self.insert(Arc::clone(&key)).await;
            keys.push(key);
        }
        RawTask {
            keys,
            created: VecDeque::with_capacity(SESSIONS_PER_TASK + 1),
            next: 0,
            serial: 0,
        }
    }

    async fn run(&self, t: &mut RawTask) {
        let i = t.next;
        t.next = (t.next + 1) % SESSIONS_PER_TASK;
        t.serial += 1;
        let key = Arc::clone(&t.keys[i]);
        match self.op {
            Op::Load => {
                let got = self.select(key).await;
                black_box(got.expect("the row is still live"));
            }
            Op::Save => self.update(key, Arc::clone(&self.bytes)).await,
            Op::Create => {
                let key = Self::fresh_key();
                self.insert(Arc::clone(&key)).await;
                t.created.push_back(key);
                if t.created.len() > SESSIONS_PER_TASK {
                    if let Some(old) = t.created.pop_front() {
                        self.delete(old).await;
                    }
                }
            }
            Op::RequestCycle => {
                let mut bytes = self
                    .select(Arc::clone(&key))
                    .await
                    .expect("the row is still live");
                if let Some(last) = bytes.last_mut() {
                    *last = t.serial as u8;
                }
                self.update(key, bytes.into()).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The databases.
// ---------------------------------------------------------------------------------------------

/// One database for the run: its URL and whatever keeps it alive (a throwaway server, the
/// SQLite file's directory, removed on drop).
#[derive(Debug)]
pub struct Target {
    /// Which database.
    pub db: Db,
    /// Its URL (for SQLite: a file path).
    pub url: String,
    _server: Option<Provided>,
    sqlite_dir: Option<PathBuf>,
}

impl Target {
    /// The server from the environment or a throwaway one; for SQLite, a fresh file.
    pub fn new(db: Db) -> Self {
        match db {
            Db::Postgres => Self::server(
                db,
                Service::Postgres
                    .from_env_or_start()
                    .expect("PostgreSQL: set SESSIONKIT_POSTGRES_URL or install postgresql"),
            ),
            Db::Mysql => Self::server(
                db,
                Service::Mysql
                    .from_env_or_start()
                    .expect("MariaDB: set SESSIONKIT_MYSQL_URL or install mariadb-server"),
            ),
            Db::Sqlite => {
                let dir = std::env::temp_dir().join(unique_table("sqlite"));
                std::fs::create_dir_all(&dir).expect("create the SQLite directory");
                Self {
                    db,
                    url: dir.join("sessions.db").display().to_string(),
                    _server: None,
                    sqlite_dir: Some(dir),
                }
            }
        }
    }

    fn server(db: Db, server: Provided) -> Self {
        Self {
            db,
            url: server.url().to_owned(),
            _server: Some(server),
            sqlite_dir: None,
        }
    }

    /// The database name of a server URL (`.../test` → `test`), for sqlx's MySQL store, whose
    /// "schema" is a MySQL database.
    pub fn database_name(&self) -> String {
        let path = self.url.rsplit('/').next().unwrap_or("test");
        path.split('?').next().unwrap_or(path).to_owned()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
