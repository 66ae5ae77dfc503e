//! Shared by the integration tests: real servers (from the environment or thrown away), a
//! database table / sqlite file / key prefix of its own per store, and the stores themselves.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sessionkit_cached_db::{CachedDbOptions, CachedDbStore};
use sessionkit_conformance::Guarded;
use sessionkit_core::SessionStore;
use sessionkit_db::{DbConfig, DbStore};
use sessionkit_locmem::LocMemStore;
use sessionkit_memcached::{MemcachedConfig, MemcachedStore};
use sessionkit_redis::{RedisConfig, RedisStore};
use sessionkit_testkit::{Provided, Service, SqliteFile};

/// A name no other store of this run (or of an earlier run against the same servers) uses,
/// valid as a table name and as a key prefix.
pub fn unique(tag: &str) -> String {
    sessionkit_testkit::unique_name(tag)
}

/// The server(s) for `service`: the environment's, else a throwaway one shared by the tests of
/// this binary that run at the same time (it stops when the last of them drops its handle).
pub async fn server(service: Service) -> Arc<Mutex<Provided>> {
    tokio::task::spawn_blocking(move || service.shared_for_test())
        .await
        .expect("server start task")
}

/// The first URL of a provided service.
pub fn url(provided: &Mutex<Provided>) -> String {
    provided
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .url()
        .to_owned()
}

/// Which cache goes in front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    Locmem,
    Redis,
    Memcached,
}

/// Which database is behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Keeps what a store needs alive and cleans up after it: the servers, the sqlite file, the
/// postgres table.
#[derive(Debug, Default)]
pub struct Resources {
    /// Dropped first: the table goes while the server is still up.
    cleanup: Vec<Cleanup>,
    servers: Vec<Arc<Mutex<Provided>>>,
}

#[derive(Debug)]
enum Cleanup {
    PgTable { url: String, table: String },
    File(SqliteFile),
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::PgTable { url, table } => {
                // Best effort: a test database left with a table is no failure.
                let _ = pg_execute(url, &format!("DROP TABLE IF EXISTS \"{table}\""));
            }
            // Removed with its folder.
            Cleanup::File(_) => {}
        }
    }
}

impl Resources {
    pub fn keep(&mut self, server: Arc<Mutex<Provided>>) {
        self.servers.push(server);
    }
}

/// Runs one SQL statement on PostgreSQL over a connection of its own (for tests that break
/// the database behind the store's back, and for cleanup).
pub fn pg_execute(url: &str, sql: &str) -> Result<usize, String> {
    use sessionkit_db::diesel::{Connection, PgConnection, RunQueryDsl};
    let mut conn = PgConnection::establish(url).map_err(|e| e.to_string())?;
    sessionkit_db::diesel::sql_query(sql)
        .execute(&mut conn)
        .map_err(|e| e.to_string())
}

/// A migrated database store with a table (and, for sqlite, a file) of its own.
pub async fn db(kind: Db, tag: &str, pool_size: u32, res: &mut Resources) -> DbStore {
    db_named(kind, tag, pool_size, res).await.0
}

/// Like [`db`], also returning the URL and table, so a second store can share them.
pub async fn db_named(
    kind: Db,
    tag: &str,
    pool_size: u32,
    res: &mut Resources,
) -> (DbStore, String, String) {
    let table = unique(tag);
    let (url, cleanup) = match kind {
        Db::Sqlite => {
            let file = SqliteFile::new(&table).expect("a temporary folder");
            (file.url(), Cleanup::File(file))
        }
        Db::Postgres => {
            let server = server(Service::Postgres).await;
            let url = self::url(&server);
            res.keep(server);
            (
                url.clone(),
                Cleanup::PgTable {
                    url,
                    table: table.clone(),
                },
            )
        }
    };
    res.cleanup.push(cleanup);
    let store = db_at(&url, &table, pool_size).await;
    (store, url, table)
}

/// A migrated database store on `url`, table `table`.
pub async fn db_at(url: &str, table: &str, pool_size: u32) -> DbStore {
    let store = DbConfig::new(url)
        .with_table(table)
        .with_pool_size(pool_size)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to the database: {e} ({e:?})"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate: {e} ({e:?})"));
    store
}

/// A redis store with `prefix` on the shared (or environment's) server.
pub async fn redis_cache(prefix: &str, res: &mut Resources) -> RedisStore {
    let server = server(Service::Redis).await;
    let url = url(&server);
    res.keep(server);
    redis_at(&url, prefix).await
}

/// A redis store with `prefix` on `url`, with short timeouts (a cache must not hold requests up).
pub async fn redis_at(url: &str, prefix: &str) -> RedisStore {
    RedisConfig::new(url)
        .with_key_prefix(format!("{prefix}:"))
        .with_connect_timeout(Duration::from_millis(250))
        .with_response_timeout(Duration::from_millis(250))
        .connect()
        .await
        .expect("connect to redis")
}

/// A memcached store with `prefix` on the shared (or environment's) server.
pub async fn memcached_cache(prefix: &str, res: &mut Resources) -> MemcachedStore {
    let server = server(Service::Memcached { nodes: 1 }).await;
    let url = url(&server);
    res.keep(server);
    memcached_at(&[url], prefix).await
}

/// A memcached store with `prefix` on `urls`, with short timeouts.
pub async fn memcached_at(urls: &[String], prefix: &str) -> MemcachedStore {
    MemcachedStore::connect(
        MemcachedConfig::new(urls)
            .with_prefix(format!("{prefix}:"))
            .with_connect_timeout(Duration::from_millis(250))
            .with_response_timeout(Duration::from_millis(250)),
    )
    .await
    .expect("connect to memcached")
}

/// A cache of `kind` with a key space of its own.
pub async fn cache(kind: Cache, tag: &str, res: &mut Resources) -> Arc<dyn SessionStore> {
    let prefix = unique(tag);
    match kind {
        Cache::Locmem => Arc::new(LocMemStore::default()),
        Cache::Redis => Arc::new(redis_cache(&prefix, res).await),
        Cache::Memcached => Arc::new(memcached_cache(&prefix, res).await),
    }
}

/// The store under test, as the facade builds it (both sides `Arc<dyn SessionStore>`), kept
/// together with its servers, file and table.
pub type TestStore =
    Guarded<CachedDbStore<Arc<dyn SessionStore>, Arc<dyn SessionStore>>, Resources>;

/// A cached database store of `cache` in front of `db`, each with a key space / table of its own.
pub async fn store(cache_kind: Cache, db_kind: Db) -> TestStore {
    store_with(cache_kind, db_kind, 8, CachedDbOptions::default()).await
}

pub async fn store_with(
    cache_kind: Cache,
    db_kind: Db,
    pool_size: u32,
    options: CachedDbOptions,
) -> TestStore {
    let mut res = Resources::default();
    let cache = cache(cache_kind, "c", &mut res).await;
    let db: Arc<dyn SessionStore> = Arc::new(db(db_kind, "t", pool_size, &mut res).await);
    let store = CachedDbStore::with_options(cache, db, options).expect("a valid pairing");
    Guarded::new(store, res)
}

pub const SOAK_TASKS: usize = 32;
