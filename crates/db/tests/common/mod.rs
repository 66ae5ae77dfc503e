//! Helpers shared by this crate's integration tests: where the databases are, a unique table
//! (or SQLite file) per store so tests never see each other's sessions, and raw SQL for
//! setting up what the store itself never writes.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sessionkit_conformance::Guarded;
use sessionkit_db::{Backend, DbConfig, DbStore};
use sessionkit_testkit::{Provided, Service, SqliteFile};

/// A table name no other store of this run (or of another run against the same server) uses.
pub fn unique_table(tag: &str) -> String {
    sessionkit_testkit::unique_name(tag)
}

/// The server for `service`: the environment's (`SESSIONKIT_POSTGRES_URL`,
/// `SESSIONKIT_MYSQL_URL`), else a throwaway server shared by the tests of this binary that run
/// at the same time (it stops when the last of them drops its handle).
pub async fn server(service: Service) -> Arc<Mutex<Provided>> {
    tokio::task::spawn_blocking(move || service.shared_for_test())
        .await
        .expect("server start task")
}

/// The first URL of a provided service.
pub fn url_of(provided: &Mutex<Provided>) -> String {
    provided
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .url()
        .to_owned()
}

/// What a test store keeps alive and cleans up: its SQLite file, or its table (dropped when
/// the test ends) and its server.
#[derive(Debug)]
pub enum Place {
    File(SqliteFile),
    Table {
        url: String,
        table: String,
        server: Arc<Mutex<Provided>>,
    },
}

impl Place {
    pub fn url(&self) -> String {
        match self {
            Place::File(f) => f.url(),
            Place::Table { url, .. } => url.clone(),
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Place::Table { url, table, .. } = self {
            // Best effort: a run against the machine's server should not leave tables behind.
            let _ = raw_sql(
                url,
                &format!("DROP TABLE IF EXISTS {}", quote(backend_of(url), table)),
            );
            let _ = raw_sql(
                url,
                &format!("DELETE FROM sessionkit_migrations WHERE table_name = '{table}'"),
            );
        }
    }
}

/// The store under test, unchanged, kept together with what it lives in (for the conformance
/// suite).
pub type TestStore = Guarded<DbStore, Place>;

/// A store and where it lives, for tests that also reach the database directly. Dereferences
/// to the store.
#[derive(Debug)]
pub struct TestDb {
    // Dropped first: the pool closes before the table is dropped.
    pub store: DbStore,
    pub place: Place,
}

impl TestDb {
    pub fn url(&self) -> String {
        self.place.url()
    }

    pub fn guarded(self) -> TestStore {
        Guarded::new(self.store, self.place)
    }
}

impl std::ops::Deref for TestDb {
    type Target = DbStore;
    fn deref(&self) -> &DbStore {
        &self.store
    }
}

pub fn backend_of(url: &str) -> Backend {
    if url.starts_with("postgres") {
        Backend::Postgres
    } else if url.starts_with("mysql") {
        Backend::Mysql
    } else {
        Backend::Sqlite
    }
}

pub fn quote(backend: Backend, name: &str) -> String {
    match backend {
        Backend::Mysql => format!("`{name}`"),
        _ => format!("\"{name}\""),
    }
}

/// A place for a fresh store of `backend`: a new SQLite file, or a new table name on the
/// shared server.
pub async fn place(backend: Backend, tag: &str) -> (Place, String) {
    let table = unique_table(tag);
    let place = match backend {
        Backend::Sqlite => Place::File(SqliteFile::new(tag).expect("a temporary folder")),
        Backend::Postgres | Backend::Mysql => {
            let service = if backend == Backend::Postgres {
                Service::Postgres
            } else {
                Service::Mysql
            };
            let server = server(service).await;
            Place::Table {
                url: url_of(&server),
                table: table.clone(),
                server,
            }
        }
    };
    (place, table)
}

/// A migrated store with its own table (or file), configured by `tweak`.
pub async fn store_with(
    backend: Backend,
    tag: &str,
    tweak: impl FnOnce(DbConfig) -> DbConfig,
) -> TestDb {
    let (place, table) = place(backend, tag).await;
    let store = tweak(DbConfig::new(place.url()).with_table(&table))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {backend}: {e} ({e:?})"));
    store.migrate().await.expect("migrate");
    TestDb { store, place }
}

pub async fn sqlite_store() -> TestStore {
    store_with(Backend::Sqlite, "lite", |c| c).await.guarded()
}

pub async fn postgres_store() -> TestStore {
    store_with(Backend::Postgres, "pg", |c| c).await.guarded()
}

pub async fn mysql_store() -> TestStore {
    store_with(Backend::Mysql, "my", |c| c).await.guarded()
}

/// Runs `sql` (one or more statements) on a connection of its own. Blocking; for setting up
/// and inspecting what the store never writes itself.
pub fn raw_sql(url: &str, sql: &str) -> Result<(), String> {
    use sessionkit_db::diesel::connection::SimpleConnection;
    use sessionkit_db::diesel::Connection;
    match backend_of(url) {
        #[cfg(feature = "postgres")]
        Backend::Postgres => sessionkit_db::diesel::PgConnection::establish(url)
            .map_err(|e| e.to_string())?
            .batch_execute(sql)
            .map_err(|e| e.to_string()),
        #[cfg(feature = "mysql")]
        Backend::Mysql => sessionkit_db::diesel::MysqlConnection::establish(url)
            .map_err(|e| e.to_string())?
            .batch_execute(sql)
            .map_err(|e| e.to_string()),
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let mut conn = sessionkit_db::diesel::SqliteConnection::establish(path)
                .map_err(|e| e.to_string())?;
            conn.batch_execute("PRAGMA busy_timeout = 5000")
                .map_err(|e| e.to_string())?;
            conn.batch_execute(sql).map_err(|e| e.to_string())
        }
        #[allow(unreachable_patterns)]
        other => Err(format!("{other} support is not compiled in")),
    }
}

/// Like [`raw_sql`], from async code.
pub async fn raw(url: &str, sql: &str) {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    tokio::task::spawn_blocking(move || raw_sql(&url, &sql))
        .await
        .expect("raw sql task")
        .unwrap_or_else(|e| panic!("raw SQL failed: {e}"));
}

pub const SOAK_TASKS: usize = 32;

pub fn soak_duration() -> Duration {
    sessionkit_conformance::soak::duration()
}
