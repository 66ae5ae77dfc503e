//! Issue 3: `sessionkit_memcached::MemcachedStore` through `Sessions`/`Session`, next to the
//! memcache crate's two clients doing the same round trips on the same bytes:
//!
//! - `raw-meta-async`: `memcache::exp::AsyncMetaClient` (the client the store is built on),
//!   with the same pool size as the store;
//! - `raw-classic-blocking`: the classic `memcache::Client` (binary protocol, r2d2 pool of 32)
//!   called through `tokio::task::spawn_blocking`, as async code must call it.
//!
//! Operations: load (get), create (add, plus the delete that keeps the store's size constant),
//! request cycle (get + set: load, change one value, save), save (set), and touch (a new
//! expiry, no rewrite), with the 1.5 KB dashboard payload at 1 and 32 tasks. The memcached
//! server is `SESSIONKIT_MEMCACHED_URLS` (first entry) or a throwaway one.
//!
//! ```text
//! cargo bench -p sessionkit-benches --bench memcached
//! cargo bench -p sessionkit-benches --bench memcached -- request_cycle
//! ```

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use memcache::exp::AsyncMetaClient;
use sessionkit_benches::{
    Op, Payload, Sessions, SessionsTouch, SessionsWorkload, Suite, Workload, SESSIONS_PER_TASK,
    TASK_COUNTS,
};
use sessionkit_core::{SessionConfig, SessionKey};
use sessionkit_memcached::{memcache, MemcachedConfig, MemcachedStore, StableRendezvous};
use sessionkit_testkit::{Provided, Service};

/// Two weeks, Django's default session age: the TTL every raw write sends.
const TTL: u32 = 1_209_600;
/// Connections per server for the store and both raw clients.
const POOL: usize = 64;

fn unique_prefix(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("skbench:{tag}:{nanos}:")
}

/// The operations of the raw baselines: [`Op`]s plus touch.
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
    fn next_key(&mut self) -> usize {
        let i = self.next;
        self.next = (self.next + 1) % SESSIONS_PER_TASK;
        self.serial += 1;
        i
    }
}

/// The meta-protocol client the store uses, called directly with the bytes sessionkit stores.
struct RawMeta {
    client: AsyncMetaClient,
    prefix: String,
    op: RawOp,
    bytes: Vec<u8>,
}

impl RawMeta {
    async fn new(url: &str, op: RawOp, payload: &Payload) -> Self {
        let addr = url.trim_start_matches("memcached://").to_owned();
        let client = AsyncMetaClient::builder()
            .max_idle(POOL)
            .max_connections(Some(POOL))
            .router(StableRendezvous)
            .connect_async(addr)
            .await
            .expect("connect the raw meta client");
        Self {
            client,
            prefix: unique_prefix("meta"),
            op,
            bytes: payload.record_bytes(),
        }
    }

    fn fresh_key(&self) -> String {
        format!("{}{}", self.prefix, SessionKey::generate().as_str())
    }

    async fn get(&self, key: &str) -> Vec<u8> {
        let reply = self.client.get(key).send().await.expect("get");
        reply.value.expect("the item is still stored")
    }

    async fn set(&self, key: &str, bytes: &[u8]) {
        let reply = self
            .client
            .set(key, bytes)
            .ttl_raw(TTL)
            .send()
            .await
            .expect("set");
        assert!(reply.applied());
    }
}

impl Workload for RawMeta {
    type Task = RawTask;

    async fn setup(&self, _index: usize) -> RawTask {
        let mut keys = Vec::with_capacity(SESSIONS_PER_TASK);
        for _ in 0..SESSIONS_PER_TASK {
            let key = self.fresh_key();
            self.set(&key, &self.bytes).await;
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
        let i = t.next_key();
        match self.op {
            RawOp::Op(Op::Load) => {
                black_box(self.get(&t.keys[i]).await);
            }
            RawOp::Op(Op::Save) => self.set(&t.keys[i], &self.bytes).await,
            RawOp::Op(Op::Create) => {
                let key = self.fresh_key();
                let reply = self
                    .client
                    .set(&key, &self.bytes)
                    .ttl_raw(TTL)
                    .add()
                    .send()
                    .await
                    .expect("add");
                assert!(reply.applied());
                t.created.push_back(key);
                if t.created.len() > SESSIONS_PER_TASK {
                    if let Some(old) = t.created.pop_front() {
                        self.client.delete(&old).send().await.expect("delete");
                    }
                }
            }
            RawOp::Op(Op::RequestCycle) => {
                let mut bytes = self.get(&t.keys[i]).await;
                if let Some(last) = bytes.last_mut() {
                    *last = t.serial as u8;
                }
                self.set(&t.keys[i], &bytes).await;
            }
            RawOp::Touch => {
                let reply = self
                    .client
                    .get(&t.keys[i])
                    .without_value()
                    .touch_raw(TTL)
                    .send()
                    .await
                    .expect("touch");
                assert!(reply.hit());
            }
        }
    }
}

/// The classic synchronous client (binary protocol), through `spawn_blocking`.
struct RawClassic {
    client: memcache::Client,
    prefix: String,
    op: RawOp,
    bytes: Arc<Vec<u8>>,
}

impl RawClassic {
    fn new(url: &str, op: RawOp, payload: &Payload) -> Self {
        let client = memcache::Client::builder()
            .add_server(url)
            .and_then(|b| b.with_max_pool_size(32).build())
            .expect("connect the classic client");
        Self {
            client,
            prefix: unique_prefix("classic"),
            op,
            bytes: Arc::new(payload.record_bytes()),
        }
    }

    fn fresh_key(&self) -> String {
        format!("{}{}", self.prefix, SessionKey::generate().as_str())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&memcache::Client) -> T + Send + 'static,
    ) -> T {
        let client = self.client.clone();
        tokio::task::spawn_blocking(move || f(&client))
            .await
            .expect("blocking task")
    }
}

impl Workload for RawClassic {
    type Task = RawTask;

    async fn setup(&self, _index: usize) -> RawTask {
        let keys: Vec<String> = (0..SESSIONS_PER_TASK).map(|_| self.fresh_key()).collect();
        let (all, bytes) = (keys.clone(), Arc::clone(&self.bytes));
        self.blocking(move |c| {
            for k in &all {
                c.set(k, &bytes[..], TTL).expect("set");
            }
        })
        .await;
        RawTask {
            keys,
            created: VecDeque::with_capacity(SESSIONS_PER_TASK + 1),
            next: 0,
            serial: 0,
        }
    }

    async fn run(&self, t: &mut RawTask) {
        let i = t.next_key();
        let key = t.keys[i].clone();
        let bytes = Arc::clone(&self.bytes);
        let serial = t.serial;
        match self.op {
            RawOp::Op(Op::Load) => {
                let got = self
                    .blocking(move |c| c.get::<Vec<u8>>(&key).expect("get"))
                    .await;
                black_box(got.expect("the item is still stored"));
            }
            RawOp::Op(Op::Save) => {
                self.blocking(move |c| c.set(&key, &bytes[..], TTL).expect("set"))
                    .await;
            }
            RawOp::Op(Op::Create) => {
                let key = self.fresh_key();
                let old = if t.created.len() >= SESSIONS_PER_TASK {
                    t.created.pop_front()
                } else {
                    None
                };
                t.created.push_back(key.clone());
                self.blocking(move |c| {
                    c.add(&key, &bytes[..], TTL).expect("add");
                    if let Some(old) = old {
                        c.delete(&old).expect("delete");
                    }
                })
                .await;
            }
            RawOp::Op(Op::RequestCycle) => {
                let mut got = self
                    .blocking({
                        let key = key.clone();
                        move |c| c.get::<Vec<u8>>(&key).expect("get")
                    })
                    .await
                    .expect("the item is still stored");
                if let Some(last) = got.last_mut() {
                    *last = serial as u8;
                }
                self.blocking(move |c| c.set(&key, &got[..], TTL).expect("set"))
                    .await;
            }
            RawOp::Touch => {
                let hit = self
                    .blocking(move |c| c.touch(&key, TTL).expect("touch"))
                    .await;
                assert!(hit);
            }
        }
    }
}

fn memcached_benches(c: &mut Criterion) {
    let suite = Suite::new("memcached");
    let server: Provided = Service::Memcached { nodes: 1 }
        .from_env_or_start()
        .expect("a memcached server: set SESSIONKIT_MEMCACHED_URLS or install memcached");
    let url = server.url().to_owned();
    let payload = Payload::dashboard();
    println!(
        "memcached at {url}; payload {}: {} bytes encoded",
        payload.label(),
        payload.encoded_len()
    );
    let store = suite.runtime().block_on(async {
        MemcachedStore::connect(
            MemcachedConfig::new([&url])
                .with_prefix(unique_prefix("store"))
                .with_max_connections(POOL),
        )
        .await
        .expect("connect the store")
    });
    let sessions = || Sessions::with_config(store.clone(), SessionConfig::default());

    for op in [Op::Load, Op::Create, Op::RequestCycle, Op::Save] {
        for tasks in TASK_COUNTS {
            let mut group = suite.group(c, op, &payload, tasks);
            group.bench(
                "sessionkit-memcached",
                SessionsWorkload::new(sessions(), op, &payload),
            );
            let raw = suite
                .runtime()
                .block_on(RawMeta::new(&url, RawOp::Op(op), &payload));
            group.bench("raw-meta-async", raw);
            group.bench(
                "raw-classic-blocking",
                RawClassic::new(&url, RawOp::Op(op), &payload),
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
        group.bench("sessionkit-memcached", touch);
        let raw = suite
            .runtime()
            .block_on(RawMeta::new(&url, RawOp::Touch, &payload));
        group.bench("raw-meta-async", raw);
        let classic = RawClassic::new(&url, RawOp::Touch, &payload);
        group.bench("raw-classic-blocking", classic);
        group.finish();
    }
    drop(server);
}

criterion_group! {
    name = benches;
    config = sessionkit_benches::criterion_config();
    targets = memcached_benches
}
criterion_main!(benches);
