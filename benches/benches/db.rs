//! Issue 4: `sessionkit_db::DbStore` on PostgreSQL, MariaDB (MySQL) and SQLite, each next to
//! raw diesel doing the same statements on an equivalent pool, in one run; then cached-db.
//!
//! - `{db}/sessionkit-db`: through `Sessions`/`Session`, as applications use it (so it includes
//!   the record's encode/decode, which raw diesel does not do);
//! - `{db}/db-store-bytes`: the store's own `SessionStore` methods on the encoded bytes
//!   (`StoreBytesWorkload`), the same work as raw diesel: what the store adds to diesel;
//! - `{db}/raw-diesel`: diesel 2.3 doing sessionkit-db's statements on an r2d2 pool built like
//!   the store's (same size, no test-on-checkout, the same per-connection settings), each
//!   statement in `spawn_blocking` with its own checkout, prepared once per connection
//!   ([`sessionkit_benches::db::RawDiesel`]);
//! - `{db}/raw-diesel-naive` (request cycle only): the loop the issue measured at ~5.1k
//!   cycles/s — `diesel::sql_query` (never a cached statement) on an r2d2 pool with its
//!   defaults (test-on-checkout: a `SELECT 1` round trip per checkout);
//! - `{db}/raw-diesel-gated` (request cycle only): `raw-diesel` behind an async semaphore of
//!   pool-size permits, so surplus tasks wait as futures rather than as blocking threads in
//!   r2d2's checkout (an experiment: see docs/benchmarks.md).
//!
//! tower-sessions' sqlx stores cannot be built in this workspace (sqlx 0.8 links
//! libsqlite3-sys 0.30, diesel 0.38; cargo allows one `links = "sqlite3"` in a dependency graph,
//! optional dependencies included), so `benches/sqlx-peer`, a workspace of its own, measures
//! them next to the same raw diesel workload, the anchor between the two runs.
//!
//! Operations: load, save (update), create, request cycle, with the 1.5 KB dashboard payload
//! at 1 and 32 tasks, groups `{op}/1.5KB/{tasks}tasks`. Then `cached-db-load/1.5KB/{tasks}tasks`:
//! a warm-cache load through `CachedDbStore` (locmem, redis and memcached in front of
//! PostgreSQL) next to the same cache store alone.
//!
//! Servers: `SESSIONKIT_POSTGRES_URL`, `SESSIONKIT_MYSQL_URL`, `SESSIONKIT_REDIS_URL`,
//! `SESSIONKIT_MEMCACHED_URLS`, or throwaway servers from the binaries on `PATH`; SQLite in a
//! temporary file. Every implementation gets its own table (dropped at the end); rows expire in
//! an hour. `SESSIONKIT_BENCH_DBS=postgres,sqlite` limits the databases.
//!
//! ```text
//! cargo bench -p sessionkit-benches --bench db
//! cargo bench -p sessionkit-benches --bench db -- 'request_cycle/1.5KB/32tasks/postgres'
//! ```

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sessionkit_benches::db::{
    pool_size, unique_table, Db, RawDiesel, RawPool, Style, Target, TIMEOUT, TTL,
};
use sessionkit_benches::{
    Group, Op, Payload, Sessions, SessionsWorkload, StoreBytesWorkload, Suite, TASK_COUNTS,
};
use sessionkit_cached_db::CachedDbStore;
use sessionkit_core::{SessionConfig, SessionStore};
use sessionkit_db::{DbConfig, DbStore};
use sessionkit_locmem::{LocMemConfig, LocMemStore};
use sessionkit_memcached::{MemcachedConfig, MemcachedStore};
use sessionkit_redis::{RedisConfig, RedisStore};
use sessionkit_testkit::{Provided, Service};

/// The session configuration of every `Sessions`: rows live [`TTL`] seconds.
fn session_config() -> SessionConfig {
    SessionConfig::new().with_cookie_age(Duration::from_secs(TTL as u64))
}

/// A sessionkit-db store on `url` with its own migrated table, a pool of [`pool_size`] and the
/// raw pools' timeouts.
async fn db_store(url: &str, table: &str) -> DbStore {
    let store = DbConfig::new(url)
        .with_table(table)
        .with_pool_size(pool_size())
        .with_connect_timeout(TIMEOUT)
        .with_statement_timeout(TIMEOUT)
        .connect()
        .await
        .expect("connect sessionkit-db");
    store
        .migrate()
        .await
        .expect("migrate sessionkit-db's table");
    store
}

/// One database's implementations, set up for the whole run.
struct DbSetup {
    target: Target,
    store: DbStore,
    store_table: String,
    raw: RawPool,
    raw_table: String,
    naive: RawPool,
}

impl DbSetup {
    fn new(suite: &Suite, db: Db) -> Self {
        let target = Target::new(db);
        println!("{}: {}", db.name(), target.url);
        let store_table = unique_table("store");
        let store = suite
            .runtime()
            .block_on(db_store(&target.url, &store_table));
        // Raw diesel's table comes from the store's own migration, so both use the same schema
        // (column types, index, MySQL engine and charset).
        let raw_table = unique_table("raw");
        suite.runtime().block_on(db_store(&target.url, &raw_table));
        let raw = RawPool::new(db, &target.url, true);
        let naive = RawPool::new(db, &target.url, false);
        Self {
            target,
            store,
            store_table,
            raw,
            raw_table,
            naive,
        }
    }

    fn bench(&self, group: &mut Group<'_>, op: Op, payload: &Payload) {
        let db = self.target.db.name();
        let sessions = Sessions::with_config(self.store.clone(), session_config());
        group.bench(
            &format!("{db}/sessionkit-db"),
            SessionsWorkload::new(sessions, op, payload),
        );
        let store: Arc<dyn SessionStore> = Arc::new(self.store.clone());
        group.bench(
            &format!("{db}/db-store-bytes"),
            StoreBytesWorkload::new(store, op, payload),
        );
        group.bench(
            &format!("{db}/raw-diesel"),
            RawDiesel::new(
                self.raw.clone(),
                &self.raw_table,
                op,
                Style::Prepared,
                payload,
            ),
        );
        if op == Op::RequestCycle {
            group.bench(
                &format!("{db}/raw-diesel-gated"),
                RawDiesel::new(
                    self.raw.clone(),
                    &self.raw_table,
                    op,
                    Style::Prepared,
                    payload,
                )
                .gated(),
            );
            group.bench(
                &format!("{db}/raw-diesel-naive"),
                RawDiesel::new(
                    self.naive.clone(),
                    &self.raw_table,
                    op,
                    Style::SqlQuery,
                    payload,
                ),
            );
        }
    }
}

impl Drop for DbSetup {
    fn drop(&mut self) {
        self.raw.drop_table(&self.raw_table);
        self.raw.drop_table(&self.store_table);
    }
}

/// A cache store for cached-db, and whatever keeps its server alive.
struct Cache {
    name: &'static str,
    store: Arc<dyn SessionStore>,
    _server: Option<Provided>,
}

fn unique_prefix(tag: &str) -> String {
    format!("{}:", unique_table(tag))
}

/// The three caches of cached-db: locmem, redis and memcached.
fn caches(suite: &Suite) -> Vec<Cache> {
    let locmem = Cache {
        name: "locmem",
        store: Arc::new(LocMemStore::new(LocMemConfig::default())),
        _server: None,
    };
    let redis_server = Service::Redis
        .from_env_or_start()
        .expect("redis: set SESSIONKIT_REDIS_URL or install redis-server");
    let redis: RedisStore = suite.runtime().block_on(async {
        RedisConfig::new(redis_server.url())
            .with_key_prefix(unique_prefix("cdb"))
            .connect()
            .await
            .expect("connect redis")
    });
    let memcached_server = Service::Memcached { nodes: 1 }
        .from_env_or_start()
        .expect("memcached: set SESSIONKIT_MEMCACHED_URLS or install memcached");
    let memcached: MemcachedStore = suite.runtime().block_on(async {
        MemcachedStore::connect(
            MemcachedConfig::new([memcached_server.url()]).with_prefix(unique_prefix("cdb")),
        )
        .await
        .expect("connect memcached")
    });
    vec![
        locmem,
        Cache {
            name: "redis",
            store: Arc::new(redis),
            _server: Some(redis_server),
        },
        Cache {
            name: "memcached",
            store: Arc::new(memcached),
            _server: Some(memcached_server),
        },
    ]
}

/// cached-db: warm-cache loads (every session was written through the cache when created) next
/// to the cache store alone, with PostgreSQL behind.
fn cached_db_benches(c: &mut Criterion, suite: &Suite, payload: &Payload) {
    let target = Target::new(Db::Postgres);
    let table = unique_table("cdb");
    let db = suite.runtime().block_on(db_store(&target.url, &table));
    let caches = caches(suite);
    for tasks in TASK_COUNTS {
        let mut group = suite.group_with_prefix(c, "cached-db-", Op::Load, payload, tasks);
        for cache in &caches {
            let alone = Sessions::from_arc(Arc::clone(&cache.store), session_config());
            group.bench(
                &format!("{}/cache-alone", cache.name),
                SessionsWorkload::new(alone, Op::Load, payload),
            );
            let cached = CachedDbStore::new(Arc::clone(&cache.store), db.clone());
            group.bench(
                &format!("{}/cached-db-postgres", cache.name),
                SessionsWorkload::new(
                    Sessions::with_config(cached, session_config()),
                    Op::Load,
                    payload,
                ),
            );
        }
        group.finish();
    }
    RawPool::new(Db::Postgres, &target.url, true).drop_table(&table);
}

fn db_benches(c: &mut Criterion) {
    let suite = Suite::new("db");
    let payload = Payload::dashboard();
    println!(
        "payload {}: {} bytes encoded; pools of {}",
        payload.label(),
        payload.encoded_len(),
        pool_size()
    );
    let dbs: Vec<DbSetup> = sessionkit_benches::db::selected_dbs()
        .into_iter()
        .map(|db| DbSetup::new(&suite, db))
        .collect();
    for op in Op::ALL {
        for tasks in TASK_COUNTS {
            let mut group = suite.group(c, op, &payload, tasks);
            for db in &dbs {
                db.bench(&mut group, op, &payload);
            }
            group.finish();
        }
    }
    drop(dbs);
    cached_db_benches(c, &suite, &payload);
}

criterion_group! {
    name = benches;
    config = sessionkit_benches::criterion_config();
    targets = db_benches
}
criterion_main!(benches);
