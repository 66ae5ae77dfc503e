//! Issue 2: `sessionkit_locmem::LocMemStore` through `Sessions`/`Session` (`locmem`), next to
//! the same store fed already encoded bytes (`locmem-bytes`: the store without the session
//! layer), a raw `Mutex<HashMap<String, Vec<u8>>>` of bytes (`raw-map`: the floor) and
//! tower-sessions' `MemoryStore` (`tower-sessions-memory`: the peer), for every [`Op`], payload
//! and concurrency level. The `codec/*` groups time the default codec alone.
//!
//! ```text
//! cargo bench -p sessionkit-benches --bench locmem
//! cargo bench -p sessionkit-benches --bench locmem -- request_cycle/1.5KB
//! ```

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;
use sessionkit_benches::{
    Op, Payload, SessionStore, Sessions, SessionsWorkload, StoreBytesWorkload, Suite, Workload,
    CHANGED_KEY, SESSIONS_PER_TASK, TASK_COUNTS,
};
use sessionkit_core::{Codecs, SessionConfig, SessionKey};
use sessionkit_locmem::{LocMemConfig, LocMemStore};
use tower_sessions::cookie::time::{Duration as TsDuration, OffsetDateTime};
use tower_sessions::session::{Id, Record};
use tower_sessions::{MemoryStore, SessionStore as _};

/// The baseline: what any in-process store must at least do — a lock, a hash lookup, and a
/// copy of the stored bytes in or out. No encoding, no expiry, no bounds.
#[derive(Debug)]
struct RawMap {
    map: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    op: Op,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct RawTask {
    keys: Vec<String>,
    created: VecDeque<String>,
    index: usize,
    next: usize,
    serial: u64,
}

impl RawMap {
    fn new(op: Op, payload: &Payload) -> Self {
        Self {
            map: Arc::default(),
            op,
            bytes: payload.record_bytes(),
        }
    }

    fn load(&self, key: &str) -> Vec<u8> {
        let map = self.map.lock().expect("raw map lock");
        map.get(key).cloned().expect("the entry is still stored")
    }

    fn store(&self, key: String, bytes: Vec<u8>) {
        self.map.lock().expect("raw map lock").insert(key, bytes);
    }
}

impl Workload for RawMap {
    type Task = RawTask;

    async fn setup(&self, index: usize) -> RawTask {
        let keys: Vec<String> = (0..SESSIONS_PER_TASK)
            .map(|_| SessionKey::generate().as_str().to_owned())
            .collect();
        for k in &keys {
            self.store(k.clone(), self.bytes.clone());
        }
        RawTask {
            keys,
            created: VecDeque::with_capacity(SESSIONS_PER_TASK + 1),
            index,
            next: 0,
            serial: 0,
        }
    }

    async fn run(&self, t: &mut RawTask) {
        let i = t.next;
        t.next = (t.next + 1) % SESSIONS_PER_TASK;
        t.serial += 1;
        match self.op {
            Op::Load => {
                black_box(self.load(&t.keys[i]));
            }
            Op::Save => {
                self.store(t.keys[i].clone(), self.bytes.clone());
            }
            Op::Create => {
                // A unique 32-character key without a random draw: the floor.
                let key = format!("{:02}-{:029}", t.index, t.serial);
                self.store(key.clone(), self.bytes.clone());
                t.created.push_back(key);
                if t.created.len() > SESSIONS_PER_TASK {
                    if let Some(old) = t.created.pop_front() {
                        self.map.lock().expect("raw map lock").remove(&old);
                    }
                }
            }
            Op::RequestCycle => {
                let mut bytes = self.load(&t.keys[i]);
                if let Some(last) = bytes.last_mut() {
                    *last = t.serial as u8;
                }
                self.store(t.keys[i].clone(), bytes);
            }
        }
    }
}

/// The peer: tower-sessions' `MemoryStore` used through its store trait — load a `Record`,
/// insert one value into `record.data`, `save` it.
#[derive(Debug)]
struct TowerMemory {
    store: MemoryStore,
    op: Op,
    data: HashMap<String, serde_json::Value>,
}

#[derive(Debug)]
struct TowerTask {
    ids: Vec<Id>,
    records: Vec<Record>,
    created: VecDeque<Id>,
    next: usize,
    counter: u64,
}

impl TowerMemory {
    fn new(op: Op, payload: &Payload) -> Self {
        Self {
            store: MemoryStore::default(),
            op,
            data: payload.to_map(),
        }
    }

    fn record(&self) -> Record {
        Record {
            id: Id::default(),
            data: self.data.clone(),
            expiry_date: OffsetDateTime::now_utc() + TsDuration::weeks(2),
        }
    }

    async fn load(&self, id: &Id) -> Record {
        self.store
            .load(id)
            .await
            .expect("load")
            .expect("the record is still stored")
    }
}

impl Workload for TowerMemory {
    type Task = TowerTask;

    async fn setup(&self, _index: usize) -> TowerTask {
        let mut ids = Vec::with_capacity(SESSIONS_PER_TASK);
        let mut records = Vec::new();
        for _ in 0..SESSIONS_PER_TASK {
            let mut record = self.record();
            self.store.create(&mut record).await.expect("create");
            ids.push(record.id);
            if self.op == Op::Save {
                records.push(record);
            }
        }
        TowerTask {
            ids,
            records,
            created: VecDeque::with_capacity(SESSIONS_PER_TASK + 1),
            next: 0,
            counter: 0,
        }
    }

    async fn run(&self, t: &mut TowerTask) {
        let i = t.next;
        t.next = (t.next + 1) % SESSIONS_PER_TASK;
        t.counter += 1;
        match self.op {
            Op::Load => {
                black_box(self.load(&t.ids[i]).await);
            }
            Op::Save => {
                self.store.save(&t.records[i]).await.expect("save");
            }
            Op::Create => {
                let mut record = self.record();
                self.store.create(&mut record).await.expect("create");
                t.created.push_back(record.id);
                if t.created.len() > SESSIONS_PER_TASK {
                    if let Some(old) = t.created.pop_front() {
                        self.store.delete(&old).await.expect("delete");
                    }
                }
            }
            Op::RequestCycle => {
                let mut record = self.load(&t.ids[i]).await;
                record.data.insert(CHANGED_KEY.to_owned(), json!(t.counter));
                self.store.save(&record).await.expect("save");
            }
        }
    }
}

fn locmem_store() -> Arc<dyn SessionStore> {
    Arc::new(LocMemStore::new(LocMemConfig::default()))
}

fn locmem_sessions() -> Sessions {
    Sessions::from_arc(locmem_store(), SessionConfig::default())
}

/// The session layer's share: the default codec alone, on one thread — decoding
/// (`Codecs::decode`, then also reading every value) and encoding (a record as loaded, and
/// one built in memory) each payload.
fn codec(c: &mut Criterion) {
    let codecs = Codecs::default();
    for payload in Payload::all() {
        let bytes = payload.record_bytes();
        let record = codecs.decode(&bytes).expect("decode");
        let built = sessionkit_core::Record {
            expires_at: record.expires_at,
            expiry: record.expiry,
            data: payload.to_map(),
        };
        let mut group = c.benchmark_group(format!("codec/{}", payload.label()));
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("decode", "bincode"), |b| {
            b.iter(|| codecs.decode(black_box(&bytes)).expect("decode"));
        });
        // The same, then reading every value: the whole cost for a request that reads
        // everything, whether the codec decodes values up front or on first read.
        group.bench_function(BenchmarkId::new("decode-read-all", "bincode"), |b| {
            b.iter(|| {
                let record = codecs.decode(black_box(&bytes)).expect("decode");
                for entry in record.data.iter() {
                    black_box(entry);
                }
                record
            });
        });
        // Encoding the record as loaded (what `save` does after changing nothing or one value)
        // and the same values built in memory (what `save` does for a new session).
        group.bench_function(BenchmarkId::new("encode-loaded", "bincode"), |b| {
            b.iter(|| codecs.encode(black_box(&record).as_ref()).expect("encode"));
        });
        group.bench_function(BenchmarkId::new("encode-built", "bincode"), |b| {
            b.iter(|| codecs.encode(black_box(&built).as_ref()).expect("encode"));
        });
        group.finish();
    }
}

fn locmem(c: &mut Criterion) {
    codec(c);
    let suite = Suite::new("locmem");
    for payload in Payload::all() {
        println!(
            "payload {}: {} bytes encoded",
            payload.label(),
            payload.encoded_len()
        );
    }
    for op in Op::ALL {
        for payload in Payload::all() {
            for tasks in TASK_COUNTS {
                let mut group = suite.group(c, op, &payload, tasks);
                group.bench(
                    "locmem",
                    SessionsWorkload::new(locmem_sessions(), op, &payload),
                );
                group.bench(
                    "locmem-bytes",
                    StoreBytesWorkload::new(locmem_store(), op, &payload),
                );
                group.bench("raw-map", RawMap::new(op, &payload));
                group.bench("tower-sessions-memory", TowerMemory::new(op, &payload));
                group.finish();
            }
        }
    }
}

criterion_group! {
    name = benches;
    // Half a second of warm-up is plenty for in-memory operations and keeps the whole file
    // under six minutes on 2 cores.
    config = sessionkit_benches::criterion_config().warm_up_time(Duration::from_millis(500));
    targets = locmem
}
criterion_main!(benches);
