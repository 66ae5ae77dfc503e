//! Issue 3: `sessionkit_redis::RedisStore` next to redis-rs doing the same round trips on the
//! same bytes over one multiplexed connection:
//!
//! - `sessionkit-redis`: through `Sessions`/`Session`, as applications use it (so it includes
//!   the record's encode/decode, which the raw client does not do);
//! - `redis-store-bytes`: the store's own `SessionStore` methods on the encoded bytes, the same
//!   work as the raw client: this isolates what the store adds to redis-rs;
//! - `raw-redis-rs`: `redis::aio::MultiplexedConnection` (default config), `GET`, `SET .. EX`,
//!   `SET .. NX EX`, `EXPIRE`, `DEL`;
//! - `tower-sessions-redis`: the peer, tower-sessions' redis store
//!   (`tower-sessions-redis-store` 0.16, on a fred `Pool` of 6 connections) used through its
//!   store trait: `load`, `save`, `create` (+ `delete`), and the request cycle as load, insert
//!   one value into `record.data`, save. It has no touch, so it is absent from `touch/*`.
//!   Its latest release is built on tower-sessions-core 0.14, not the 0.15 the locmem bench
//!   uses; the store's work (msgpack of a `Record`, `GET` / `SET .. EXAT [NX|XX]`) is the same.
//!
//! Operations: load, create (plus the delete that keeps the store's size constant), request
//! cycle (load, change one value, save), save, and touch (`EXPIRE`), with the 1.5 KB dashboard
//! payload at 1 and 32 tasks. The server is `SESSIONKIT_REDIS_URL` or a throwaway one.
//!
//! ```text
//! cargo bench -p sessionkit-benches --bench redis
//! cargo bench -p sessionkit-benches --bench redis -- request_cycle
//! ```

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sessionkit_benches::{
    Op, Payload, Sessions, SessionsTouch, SessionsWorkload, Suite, TowerStoreWorkload, Workload,
    SESSIONS_PER_TASK, TASK_COUNTS,
};
use sessionkit_core::{SessionConfig, SessionKey, SessionStore, UnixTime};
use sessionkit_redis::redis::{self, aio::MultiplexedConnection, AsyncCommands};
use sessionkit_redis::{RedisConfig, RedisStore};
use sessionkit_testkit::{Provided, Service};
use tower_sessions::cookie::time::{Duration as TsDuration, OffsetDateTime};
use tower_sessions_core_014::session::{Id, Record};
use tower_sessions_redis_store::fred::prelude::{ClientLike as _, Config as FredConfig, Pool};
use tower_sessions_redis_store::RedisStore as TowerRedisStore;

/// The TTL of every write, raw or not: an hour, so a run against a shared server
/// (`SESSIONKIT_REDIS_URL`) leaves nothing behind for long. The value does not change the cost.
const TTL: u64 = 3_600;

fn unique_prefix(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("skbench:{tag}:{nanos}:")
}

/// The raw baselines' operations: [`Op`]s plus touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawOp {
    Op(Op),
    Touch,
}

#[derive(Debug)]
struct RawTask {
    keys: Vec<String>,
    created: VecDeque<String>,
    next: usize,
    serial: u64,
}

impl RawTask {
    fn new(keys: Vec<String>) -> Self {
        Self {
            keys,
            created: VecDeque::with_capacity(SESSIONS_PER_TASK + 1),
            next: 0,
            serial: 0,
        }
    }

    fn next_key(&mut self) -> usize {
        let i = self.next;
        self.next = (self.next + 1) % SESSIONS_PER_TASK;
        self.serial += 1;
        i
    }
}

/// redis-rs on one multiplexed connection, with the bytes sessionkit stores.
struct RawRedis {
    conn: MultiplexedConnection,
    prefix: String,
    op: RawOp,
    bytes: Vec<u8>,
}

impl RawRedis {
    async fn new(url: &str, op: RawOp, payload: &Payload) -> Self {
        let conn = redis::Client::open(url)
            .expect("redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("connect the raw client");
        Self {
            conn,
            prefix: unique_prefix("raw"),
            op,
            bytes: payload.record_bytes(),
        }
    }

    fn fresh_key(&self) -> String {
        format!("{}{}", self.prefix, SessionKey::generate().as_str())
    }
}

impl Workload for RawRedis {
    type Task = RawTask;

    async fn setup(&self, _index: usize) -> RawTask {
        let mut conn = self.conn.clone();
        let mut keys = Vec::with_capacity(SESSIONS_PER_TASK);
        for _ in 0..SESSIONS_PER_TASK {
            let key = self.fresh_key();
            let () = conn.set_ex(&key, &self.bytes, TTL).await.expect("set");
            keys.push(key);
        }
        RawTask::new(keys)
    }

    async fn run(&self, t: &mut RawTask) {
        let i = t.next_key();
        let mut conn = self.conn.clone();
        match self.op {
            RawOp::Op(Op::Load) => {
                let got: Option<Vec<u8>> = conn.get(&t.keys[i]).await.expect("get");
                black_box(got.expect("the key is still stored"));
            }
            RawOp::Op(Op::Save) => {
                let () = conn
                    .set_ex(&t.keys[i], &self.bytes, TTL)
                    .await
                    .expect("set");
            }
            RawOp::Op(Op::Create) => {
                let key = self.fresh_key();
                let set: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg(&self.bytes)
                    .arg("NX")
                    .arg("EX")
                    .arg(TTL)
                    .query_async(&mut conn)
                    .await
                    .expect("set nx");
                assert!(set.is_some(), "a fresh key was free");
                t.created.push_back(key);
                if t.created.len() > SESSIONS_PER_TASK {
                    if let Some(old) = t.created.pop_front() {
                        let _: u64 = conn.del(&old).await.expect("del");
                    }
                }
            }
            RawOp::Op(Op::RequestCycle) => {
                let got: Option<Vec<u8>> = conn.get(&t.keys[i]).await.expect("get");
                let mut bytes = got.expect("the key is still stored");
                if let Some(last) = bytes.last_mut() {
                    *last = t.serial as u8;
                }
                let () = conn.set_ex(&t.keys[i], &bytes, TTL).await.expect("set");
            }
            RawOp::Touch => {
                let live: bool = conn.expire(&t.keys[i], TTL as i64).await.expect("expire");
                assert!(live);
            }
        }
    }
}

/// The store's own methods on the encoded bytes: the same round trips as [`RawRedis`].
struct StoreBytes {
    store: RedisStore,
    op: RawOp,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct StoreTask {
    keys: Vec<SessionKey>,
    created: VecDeque<SessionKey>,
    next: usize,
    serial: u64,
}

impl Workload for StoreBytes {
    type Task = StoreTask;

    async fn setup(&self, _index: usize) -> StoreTask {
        let mut keys = Vec::with_capacity(SESSIONS_PER_TASK);
        let exp = UnixTime::now().add_secs(TTL as i64);
        for _ in 0..SESSIONS_PER_TASK {
            let key = SessionKey::generate();
            self.store
                .create(&key, &self.bytes, exp)
                .await
                .expect("create");
            keys.push(key);
        }
        StoreTask {
            keys,
            created: VecDeque::with_capacity(SESSIONS_PER_TASK + 1),
            next: 0,
            serial: 0,
        }
    }

    async fn run(&self, t: &mut StoreTask) {
        let i = t.next;
        t.next = (t.next + 1) % SESSIONS_PER_TASK;
        t.serial += 1;
        let exp = UnixTime::now().add_secs(TTL as i64);
        match self.op {
            RawOp::Op(Op::Load) => {
                let got = self
                    .store
                    .load(&t.keys[i])
                    .await
                    .expect("load")
                    .map(|l| l.record);
                black_box(got.expect("the record is still stored"));
            }
            RawOp::Op(Op::Save) => {
                self.store
                    .update(&t.keys[i], &self.bytes, exp, sessionkit_core::Expected::Any)
                    .await
                    .expect("update");
            }
            RawOp::Op(Op::Create) => {
                let key = SessionKey::generate();
                self.store
                    .create(&key, &self.bytes, exp)
                    .await
                    .expect("create");
                t.created.push_back(key);
                if t.created.len() > SESSIONS_PER_TASK {
                    if let Some(old) = t.created.pop_front() {
                        self.store.delete(&old).await.expect("delete");
                    }
                }
            }
            RawOp::Op(Op::RequestCycle) => {
                let got = self
                    .store
                    .load(&t.keys[i])
                    .await
                    .expect("load")
                    .map(|l| l.record);
                let mut bytes = got.expect("the record is still stored");
                if let Some(last) = bytes.last_mut() {
                    *last = t.serial as u8;
                }
                self.store
                    .update(&t.keys[i], &bytes, exp, sessionkit_core::Expected::Any)
                    .await
                    .expect("update");
            }
            RawOp::Touch => {
                self.store.touch(&t.keys[i], exp).await.expect("touch");
            }
        }
    }
}

/// Connections in the tower-sessions store's fred pool (as the issue measured it).
const TOWER_POOL_SIZE: usize = 6;

/// Connects a fred pool of [`TOWER_POOL_SIZE`] to `url` and wraps it in tower-sessions' redis
/// store. Call on the benchmark runtime: fred's connection tasks run there.
async fn tower_redis_store(url: &str) -> TowerRedisStore<Pool> {
    let config = FredConfig::from_url(url).expect("redis URL for fred");
    let pool = Pool::new(config, None, None, None, TOWER_POOL_SIZE).expect("build the fred pool");
    // The connection task ends with the pool; its handle is not needed.
    let _connection = pool.init().await.expect("connect the fred pool");
    TowerRedisStore::new(pool)
}

fn redis_benches(c: &mut Criterion) {
    let suite = Suite::new("redis");
    let server: Provided = Service::Redis
        .from_env_or_start()
        .expect("a redis server: set SESSIONKIT_REDIS_URL or install redis-server");
    let url = server.url().to_owned();
    let payload = Payload::dashboard();
    println!(
        "redis at {url}; payload {}: {} bytes encoded",
        payload.label(),
        payload.encoded_len()
    );
    let store = suite.runtime().block_on(async {
        RedisConfig::new(&url)
            .with_key_prefix(unique_prefix("store"))
            .connect()
            .await
            .expect("connect the store")
    });
    let tower = suite.runtime().block_on(tower_redis_store(&url));
    let config = SessionConfig::new().with_cookie_age(Duration::from_secs(TTL));
    let sessions = || Sessions::with_config(store.clone(), config.clone());
    let bytes = payload.record_bytes();

    for op in [Op::Load, Op::Create, Op::RequestCycle, Op::Save] {
        for tasks in TASK_COUNTS {
            let mut group = suite.group(c, op, &payload, tasks);
            group.bench(
                "sessionkit-redis",
                SessionsWorkload::new(sessions(), op, &payload),
            );
            group.bench(
                "redis-store-bytes",
                StoreBytes {
                    store: store.clone(),
                    op: RawOp::Op(op),
                    bytes: bytes.clone(),
                },
            );
            let raw = suite
                .runtime()
                .block_on(RawRedis::new(&url, RawOp::Op(op), &payload));
            group.bench("raw-redis-rs", raw);
            // The peer, used through its store trait: the same steps as tower-sessions'
            // `MemoryStore` workload in the locmem bench.
            let template = Record {
                id: Id::default(),
                data: payload.to_map(),
                expiry_date: OffsetDateTime::now_utc() + TsDuration::weeks(2),
            };
            group.bench(
                "tower-sessions-redis",
                TowerStoreWorkload::new(tower.clone(), op, template),
            );
            group.finish();
        }
    }

    for tasks in TASK_COUNTS {
        let mut group = suite.named_group(c, "touch", &payload, tasks);
        let touch = SessionsTouch {
            sessions: sessions(),
            payload: payload.clone(),
        };
        group.bench("sessionkit-redis", touch);
        let direct = StoreBytes {
            store: store.clone(),
            op: RawOp::Touch,
            bytes: bytes.clone(),
        };
        group.bench("redis-store-bytes", direct);
        let raw = suite
            .runtime()
            .block_on(RawRedis::new(&url, RawOp::Touch, &payload));
        group.bench("raw-redis-rs", raw);
        // tower-sessions' store has no touch: expiry changes only by saving the record.
        group.finish();
    }
    drop(server);
}

criterion_group! {
    name = benches;
    config = sessionkit_benches::criterion_config();
    targets = redis_benches
}
criterion_main!(benches);
