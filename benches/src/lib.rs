//! Shared helpers for sessionkit's criterion benches.
//!
//! Every bench file measures the same operations ([`Op`]) on the same payloads ([`Payload`]) at
//! the same concurrency levels ([`TASK_COUNTS`]), for a sessionkit back end used the way
//! applications use it ([`SessionsWorkload`], through [`Sessions`]/[`Session`]) next to the
//! same store without the session layer ([`StoreBytesWorkload`], pre-encoded bytes) and the raw
//! client or peer library doing the same work (a [`Workload`] the bench file writes). The
//! ratios between them are the figures that matter.
//!
//! A bench file looks like this:
//!
//! ```no_run
//! use criterion::{criterion_group, criterion_main, Criterion};
//! use sessionkit_benches::{
//!     Op, Payload, Sessions, SessionsWorkload, StoreBytesWorkload, Suite, TASK_COUNTS,
//! };
//!
//! fn benches(c: &mut Criterion) {
//!     let suite = Suite::new("example");
//!     for op in Op::ALL {
//!         for payload in Payload::all() {
//!             for tasks in TASK_COUNTS {
//!                 let mut group = suite.group(c, op, &payload, tasks);
//!                 # let store: std::sync::Arc<dyn sessionkit_core::SessionStore> = unimplemented!();
//!                 let sessions = Sessions::from_arc(store, Default::default());
//!                 group.bench("mystore", SessionsWorkload::new(sessions.clone(), op, &payload));
//!                 let store = sessions.store().clone();
//!                 group.bench("mystore-bytes", StoreBytesWorkload::new(store, op, &payload));
//!                 // group.bench("raw-client", MyRawWorkload::new(op, &payload));
//!                 group.finish();
//!             }
//!         }
//!     }
//! }
//!
//! criterion_group! { name = g; config = sessionkit_benches::criterion_config(); targets = benches }
//! criterion_main!(g);
//! ```
//!
//! # How a benchmark is measured
//!
//! - **Throughput**: criterion's `iter_custom`. Each sample's iterations are split evenly over
//!   `tasks` tokio tasks on a multi-thread runtime with [`worker_threads`] workers; the whole
//!   batch is timed (from spawning the first task to joining the last) and criterion divides by
//!   the iteration count. With `Throughput::Elements(1)` criterion prints operations per second
//!   of the whole batch, i.e. aggregate throughput across tasks.
//! - **Latency**: after criterion has measured a benchmark, a separate pass (not timed by
//!   criterion) runs [`latency_ops_per_task`] operations on each task (4,096 in all), timing
//!   every one. p50, p99 and the maximum are printed and appended to
//!   `target/sessionkit-latency.csv`. It runs only in benchmark mode (`cargo bench`), not under
//!   `cargo test --benches`, `--list` or `--profile-time`.
//!
//! Every task works on its own sessions ([`SESSIONS_PER_TASK`] of them, created before timing
//! starts), cycling through them, so tasks contend on the store, never on one record.

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::future::Future;
use std::hint::black_box;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tower_sessions_core_014::session::{Id as TowerId, Record as TowerRecord};
use tower_sessions_core_014::SessionStore as TowerSessionStore;

pub use sessionkit_core::{Session, SessionKey, SessionStore, Sessions};

use sessionkit_core::{Expected, KeyFormat, SessionConfig, UnixTime};

pub mod db;

/// The concurrency levels every operation is measured at: one task, and 32 tasks at once.
pub const TASK_COUNTS: [usize; 2] = [1, 32];

/// How many sessions each task creates before timing starts and then cycles through.
pub const SESSIONS_PER_TASK: usize = 64;

/// The value the request cycle changes. Every payload already holds it, so a cycle changes a
/// value rather than growing the session.
pub const CHANGED_KEY: &str = "last_activity";

/// Default worker threads of the runtime (the bench machine has 2 cores). Override with
/// `SESSIONKIT_BENCH_WORKERS`.
const DEFAULT_WORKERS: usize = 2;

/// Default operations of one latency pass, split evenly over its tasks. Override with
/// `SESSIONKIT_LATENCY_OPS`.
const DEFAULT_LATENCY_OPS: usize = 4_096;

/// The criterion settings every bench file uses: 1 s warm-up, 2 s measurement, 20 samples,
/// 20,000 bootstrap resamples (a fifth of the default: faster analysis, slightly wider
/// confidence intervals), no plots. `criterion_group!` applies the command line on top, so
/// `--warm-up-time`, `--measurement-time`, `--sample-size`, `--nresamples` and the rest still
/// override these.
pub fn criterion_config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .nresamples(20_000)
        .without_plots()
}

/// Worker threads of the benchmark runtime: `SESSIONKIT_BENCH_WORKERS`, else 2.
pub fn worker_threads() -> usize {
    env_usize("SESSIONKIT_BENCH_WORKERS").unwrap_or(DEFAULT_WORKERS)
}

/// Operations per task in a latency pass with `tasks` tasks: `SESSIONKIT_LATENCY_OPS` (else
/// 4,096) split evenly, at least one each — 4,096 at 1 task, 128 per task at 32 tasks, so a
/// pass costs the same at every concurrency level.
pub fn latency_ops_per_task(tasks: usize) -> usize {
    let total = env_usize("SESSIONKIT_LATENCY_OPS").unwrap_or(DEFAULT_LATENCY_OPS);
    (total / tasks.max(1)).max(1)
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
}

/// The operations every back end is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Load an existing session by the key its client holds (fetch + decode).
    Load,
    /// Save an already loaded session again: an update of an existing record (encode + write).
    Save,
    /// Create a new session holding the payload and save it (key draw + encode +
    /// insert-if-absent). To keep the store's size constant, each task then deletes the session
    /// it created [`SESSIONS_PER_TASK`] creates earlier; that delete is part of the measured
    /// operation, for every implementation alike.
    Create,
    /// One request: load a session, change one value ([`CHANGED_KEY`]), save it.
    RequestCycle,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 4] = [Op::Load, Op::Save, Op::Create, Op::RequestCycle];

    /// The name used in benchmark ids and reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Load => "load",
            Op::Save => "save",
            Op::Create => "create",
            Op::RequestCycle => "request_cycle",
        }
    }
}

/// A session's contents used as benchmark payload.
#[derive(Debug, Clone)]
pub struct Payload {
    label: &'static str,
    values: Vec<(String, Value)>,
}

impl Payload {
    /// The three payloads, smallest first: [`small`](Payload::small),
    /// [`dashboard`](Payload::dashboard), [`large`](Payload::large).
    pub fn all() -> Vec<Payload> {
        vec![Self::small(), Self::dashboard(), Self::large()]
    }

    /// About 100 bytes encoded: a plain Django login (user id, auth backend).
    pub fn small() -> Self {
        Self::new(
            "100B",
            [
                ("_auth_user_id", json!("42")),
                (
                    "_auth_user_backend",
                    json!("django.contrib.auth.backends.ModelBackend"),
                ),
            ],
        )
    }

    /// About 1.5 KB encoded: the conformance suite's dashboard login
    /// ([`sessionkit_conformance::behaviours::dashboard_payload`]): a user id, a ~1 KB token
    /// and a few strings.
    pub fn dashboard() -> Self {
        Self::new(
            "1.5KB",
            sessionkit_conformance::behaviours::dashboard_payload(),
        )
    }

    /// About 16 KB encoded: the dashboard login plus a 75-entry service catalog (nested
    /// objects), the kind of session that caches per-user data.
    pub fn large() -> Self {
        let catalog: Vec<Value> = (0..75)
            .map(|i: usize| {
                const TYPES: [&str; 7] = [
                    "compute",
                    "network",
                    "volumev3",
                    "image",
                    "identity",
                    "object-store",
                    "placement",
                ];
                const INTERFACES: [&str; 3] = ["public", "internal", "admin"];
                let kind = TYPES[i % TYPES.len()];
                let interface = INTERFACES[i % INTERFACES.len()];
                let region = if i.is_multiple_of(2) { "RegionOne" } else { "RegionTwo" };
                json!({
                    "id": format!("{:032x}", 0x9f3c_2a1b_u64 * (i as u64 + 1)),
                    "type": kind,
                    "name": format!("service-{i:02}"),
                    "region": region,
                    "interface": interface,
                    "url": format!("https://cloud-{i:02}.example.org:8774/v2.1/9f3c2a1b0e8d4c7f6a5b4c3d2e1f0a9b"),
                    "enabled": !i.is_multiple_of(5),
                })
            })
            .collect();
        let mut values = sessionkit_conformance::behaviours::dashboard_payload();
        values.push(("service_catalog", Value::Array(catalog)));
        Self::new("16KB", values)
    }

    fn new<'a>(label: &'static str, values: impl IntoIterator<Item = (&'a str, Value)>) -> Self {
        let mut values: Vec<(String, Value)> =
            values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        values.push((CHANGED_KEY.to_owned(), json!(0)));
        Self { label, values }
    }

    /// The label used in group names and reports ("100B", "1.5KB", "16KB").
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// The values, in insertion order (the last one is [`CHANGED_KEY`]).
    pub fn values(&self) -> &[(String, Value)] {
        &self.values
    }

    /// The values as a map, for stores that keep a map (tower-sessions' `Record::data`).
    pub fn to_map<M: FromIterator<(String, Value)>>(&self) -> M {
        self.values.iter().cloned().collect()
    }

    /// Inserts every value into `session`.
    pub fn fill(&self, session: &mut Session) {
        for (k, v) in &self.values {
            session.insert_value(k, v.clone());
        }
    }

    /// The bytes sessionkit stores for a session holding this payload (default codec, default
    /// expiry): what a raw-client baseline should move to do the same work.
    pub fn record_bytes(&self) -> Vec<u8> {
        let data = self.values.iter().cloned().collect();
        let record = sessionkit_core::Record {
            expires_at: UnixTime::now().add_secs(SessionConfig::default().cookie_age()),
            expiry: sessionkit_core::Expiry::Default,
            data,
        };
        sessionkit_core::Codecs::default()
            .encode(record.as_ref())
            .expect("a benchmark payload encodes")
    }

    /// The size of [`record_bytes`](Payload::record_bytes).
    pub fn encoded_len(&self) -> usize {
        self.record_bytes().len()
    }
}

/// One kind of work, measured by [`Group::bench`]: how to prepare each task, and one operation.
///
/// A workload is shared by all tasks (`&self`); per-task state (its sessions, a cursor) lives
/// in [`Task`](Workload::Task), which is prepared once before measuring and kept across
/// criterion's samples. Panic on failure: a benchmark whose operations fail must stop rather
/// than report how fast it fails.
pub trait Workload: Send + Sync + 'static {
    /// What one task owns: its sessions and its position among them.
    type Task: Send + 'static;

    /// Prepares task number `index` (e.g. creates its [`SESSIONS_PER_TASK`] sessions). Not
    /// timed.
    fn setup(&self, index: usize) -> impl Future<Output = Self::Task> + Send;

    /// One operation, the thing measured.
    fn run(&self, task: &mut Self::Task) -> impl Future<Output = ()> + Send;
}

/// Where a bench run writes its latency table: `SESSIONKIT_LATENCY_CSV` if set, else
/// `sessionkit-latency.csv` in `CARGO_TARGET_DIR` or the workspace's `target/`.
pub fn latency_csv_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SESSIONKIT_LATENCY_CSV") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("sessionkit-latency.csv")
}

/// Whether criterion will really benchmark (`cargo bench`), as opposed to testing each
/// benchmark once (`cargo test --benches`, `--test`), listing, or profiling. Mirrors
/// criterion's own command-line rules.
fn benchmark_mode() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    has("--bench") && !has("--test") && !has("--list") && !has("--profile-time")
}

/// One bench file's context: the runtime, and where latencies go.
#[derive(Debug)]
pub struct Suite {
    name: &'static str,
    rt: Runtime,
    latency: bool,
    csv: PathBuf,
}

impl Suite {
    /// The context for the bench file `name` (written into the latency CSV). Builds the
    /// multi-thread runtime with [`worker_threads`] workers.
    pub fn new(name: &'static str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads())
            .enable_all()
            .build()
            .expect("build the benchmark runtime");
        let latency = benchmark_mode();
        let suite = Self {
            name,
            rt,
            latency,
            csv: latency_csv_path(),
        };
        if latency {
            println!(
                "sessionkit bench `{name}`: {} worker threads; latency p50/p99 appended to {}",
                worker_threads(),
                suite.csv.display()
            );
        }
        suite
    }

    /// The runtime the benchmarks run on (use it to build stores and clients).
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// The benchmark group `{op}/{payload}/{tasks}tasks`, e.g. `request_cycle/1.5KB/32tasks`,
    /// measuring operations per second. Add one benchmark per implementation with
    /// [`Group::bench`].
    pub fn group<'a>(
        &'a self,
        c: &'a mut Criterion,
        op: Op,
        payload: &Payload,
        tasks: usize,
    ) -> Group<'a> {
        self.group_with_prefix(c, "", op, payload, tasks)
    }

    /// Like [`group`](Suite::group), named `{prefix}{op}/{payload}/{tasks}tasks`: for a second
    /// set of groups measuring the same operation in one bench file, e.g. `cached-db-load/...`
    /// next to `load/...`.
    pub fn group_with_prefix<'a>(
        &'a self,
        c: &'a mut Criterion,
        prefix: &str,
        op: Op,
        payload: &Payload,
        tasks: usize,
    ) -> Group<'a> {
        self.make_group(c, prefix, op.name(), payload, tasks)
    }

    /// The group `{op_name}/{payload}/{tasks}tasks` for an operation that is not one of the
    /// shared [`Op`]s, e.g. `touch`, which only some back ends have: its workloads decide what
    /// one operation is.
    pub fn named_group<'a>(
        &'a self,
        c: &'a mut Criterion,
        op_name: &'static str,
        payload: &Payload,
        tasks: usize,
    ) -> Group<'a> {
        self.make_group(c, "", op_name, payload, tasks)
    }

    fn make_group<'a>(
        &'a self,
        c: &'a mut Criterion,
        prefix: &str,
        op_name: &'static str,
        payload: &Payload,
        tasks: usize,
    ) -> Group<'a> {
        let name = format!("{prefix}{op_name}/{}/{tasks}tasks", payload.label());
        let mut inner = c.benchmark_group(name.clone());
        inner.throughput(Throughput::Elements(1));
        Group {
            suite: self,
            inner,
            name,
            op_name,
            payload_label: payload.label(),
            payload_bytes: payload.encoded_len(),
            tasks,
        }
    }
}

/// One benchmark group: one operation, payload and concurrency, every implementation.
#[allow(missing_debug_implementations)] // criterion's BenchmarkGroup is not Debug
pub struct Group<'a> {
    suite: &'a Suite,
    inner: BenchmarkGroup<'a, WallTime>,
    name: String,
    /// The operation's name in the latency CSV (`load`, `touch`...).
    op_name: &'static str,
    payload_label: &'static str,
    payload_bytes: usize,
    tasks: usize,
}

impl Group<'_> {
    /// Measures `workload` as implementation `backend` (the benchmark id, e.g. `locmem`,
    /// `raw-map`), then, in benchmark mode, runs its latency pass.
    pub fn bench<W: Workload>(&mut self, backend: &str, workload: W) {
        let rt = &self.suite.rt;
        let count = self.tasks;
        let workload = Arc::new(workload);
        // Prepared on the first call, so benchmarks that criterion's filter skips cost nothing;
        // criterion times only the `iter_custom` routine, not this.
        let mut tasks: Option<Vec<W::Task>> = None;
        self.inner
            .bench_function(BenchmarkId::from_parameter(backend), |b| {
                if tasks.is_none() {
                    tasks = Some(rt.block_on(async {
                        let mut tasks = Vec::with_capacity(count);
                        for i in 0..count {
                            tasks.push(workload.setup(i).await);
                        }
                        tasks
                    }));
                }
                b.iter_custom(|iters| {
                    let (elapsed, back) =
                        run_batch(rt, &workload, tasks.take().expect("task state"), iters);
                    tasks = Some(back);
                    elapsed
                });
            });
        if let (Some(tasks), true) = (tasks, self.suite.latency) {
            let per_task = latency_ops_per_task(count);
            let mut samples = run_latency(rt, &workload, tasks, per_task);
            let stats = LatencyStats::from_samples(&mut samples);
            println!(
                "{}/{backend}  latency over {} ops: p50 {}  p99 {}  max {}",
                self.name,
                stats.count,
                fmt_ns(stats.p50_ns),
                fmt_ns(stats.p99_ns),
                fmt_ns(stats.max_ns),
            );
            if let Err(e) = self.append_csv(backend, &stats) {
                eprintln!("could not append to {}: {e}", self.suite.csv.display());
            }
        }
    }

    fn append_csv(&self, backend: &str, s: &LatencyStats) -> std::io::Result<()> {
        let path = &self.suite.csv;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let new = !path.exists();
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        if new {
            writeln!(
                f,
                "unix_time,bench,op,payload,payload_bytes,tasks,backend,workers,ops,p50_ns,p99_ns,max_ns"
            )?;
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        writeln!(
            f,
            "{now},{},{},{},{},{},{backend},{},{},{},{},{}",
            self.suite.name,
            self.op_name,
            self.payload_label,
            self.payload_bytes,
            self.tasks,
            worker_threads(),
            s.count,
            s.p50_ns,
            s.p99_ns,
            s.max_ns
        )
    }

    /// Ends the group (criterion prints its summary).
    pub fn finish(self) {
        self.inner.finish();
    }
}

/// Runs `iters` operations split evenly over the tasks, each on its own tokio task, and
/// returns the wall time of the whole batch and the task states.
fn run_batch<W: Workload>(
    rt: &Runtime,
    workload: &Arc<W>,
    tasks: Vec<W::Task>,
    iters: u64,
) -> (Duration, Vec<W::Task>) {
    let n = tasks.len() as u64;
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = tasks
            .into_iter()
            .enumerate()
            .map(|(i, mut task)| {
                let share = iters / n + u64::from((i as u64) < iters % n);
                let workload = Arc::clone(workload);
                tokio::spawn(async move {
                    for _ in 0..share {
                        workload.run(&mut task).await;
                    }
                    task
                })
            })
            .collect();
        let mut back = Vec::with_capacity(handles.len());
        for h in handles {
            back.push(h.await.expect("a benchmark task panicked"));
        }
        (start.elapsed(), back)
    })
}

/// Runs `per_task` operations on every task concurrently, timing each; returns the latencies
/// in nanoseconds.
fn run_latency<W: Workload>(
    rt: &Runtime,
    workload: &Arc<W>,
    tasks: Vec<W::Task>,
    per_task: usize,
) -> Vec<u64> {
    let all = Arc::new(Mutex::new(Vec::with_capacity(per_task * tasks.len())));
    rt.block_on(async {
        let handles: Vec<_> = tasks
            .into_iter()
            .map(|mut task| {
                let workload = Arc::clone(workload);
                let all = Arc::clone(&all);
                tokio::spawn(async move {
                    let mut mine = Vec::with_capacity(per_task);
                    for _ in 0..per_task {
                        let t = Instant::now();
                        workload.run(&mut task).await;
                        mine.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
                    }
                    all.lock().expect("latency lock").extend(mine);
                })
            })
            .collect();
        for h in handles {
            h.await.expect("a benchmark task panicked");
        }
    });
    let mut all = all.lock().expect("latency lock");
    std::mem::take(&mut *all)
}

/// Percentiles of one latency pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyStats {
    /// Operations timed.
    pub count: usize,
    /// Median, nanoseconds.
    pub p50_ns: u64,
    /// 99th percentile, nanoseconds.
    pub p99_ns: u64,
    /// Slowest, nanoseconds.
    pub max_ns: u64,
}

impl LatencyStats {
    /// Percentiles (nearest rank) of `samples`, which get sorted. All zero when empty.
    pub fn from_samples(samples: &mut [u64]) -> Self {
        samples.sort_unstable();
        let n = samples.len();
        let rank = |p: usize| {
            if n == 0 {
                0
            } else {
                // Nearest rank: the smallest value with at least p% of samples at or below it.
                samples[(n * p).div_ceil(100).clamp(1, n) - 1]
            }
        };
        Self {
            count: n,
            p50_ns: rank(50),
            p99_ns: rank(99),
            max_ns: samples.last().copied().unwrap_or(0),
        }
    }
}

fn fmt_ns(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

/// The sessionkit side of every bench: [`Op`]s on any store, through [`Sessions`] and
/// [`Session`], exactly as an application uses them.
#[derive(Debug)]
pub struct SessionsWorkload {
    sessions: Sessions,
    op: Op,
    payload: Payload,
}

/// A task's state in a [`SessionsWorkload`].
#[derive(Debug)]
pub struct SessionsTask {
    /// The cookie values of this task's sessions.
    keys: Vec<String>,
    /// The same sessions, loaded (only for [`Op::Save`]).
    loaded: Vec<Session>,
    /// Sessions this task created in [`Op::Create`], oldest first.
    created: VecDeque<SessionKey>,
    next: usize,
    counter: u64,
}

impl SessionsWorkload {
    /// `op` on `payload` through `sessions`.
    pub fn new(sessions: Sessions, op: Op, payload: &Payload) -> Self {
        Self {
            sessions,
            op,
            payload: payload.clone(),
        }
    }
}

impl Workload for SessionsWorkload {
    type Task = SessionsTask;

    async fn setup(&self, _index: usize) -> SessionsTask {
        let mut keys = Vec::with_capacity(SESSIONS_PER_TASK);
        let mut loaded = Vec::new();
        for _ in 0..SESSIONS_PER_TASK {
            let mut s = self.sessions.create();
            self.payload.fill(&mut s);
            s.save().await.expect("create a benchmark session");
            let key = s
                .key()
                .expect("a saved session has a key")
                .as_str()
                .to_owned();
            if self.op == Op::Save {
                let s = self.sessions.load(Some(&key)).await.expect("load");
                assert!(s.key().is_some(), "a just-created session loads");
                loaded.push(s);
            }
            keys.push(key);
        }
        SessionsTask {
            keys,
            loaded,
            created: VecDeque::with_capacity(SESSIONS_PER_TASK + 1),
            next: 0,
            counter: 0,
        }
    }

    async fn run(&self, t: &mut SessionsTask) {
        let i = t.next;
        t.next = (t.next + 1) % SESSIONS_PER_TASK;
        t.counter += 1;
        match self.op {
            Op::Load => {
                let s = self.sessions.load(Some(&t.keys[i])).await.expect("load");
                assert!(s.key().is_some(), "the session is still stored");
                black_box(s);
            }
            Op::Save => {
                t.loaded[i].save().await.expect("save");
            }
            Op::Create => {
                let mut s = self.sessions.create();
                self.payload.fill(&mut s);
                s.save().await.expect("create");
                t.created
                    .push_back(s.key().expect("a saved session has a key").clone());
                if t.created.len() > SESSIONS_PER_TASK {
                    if let Some(old) = t.created.pop_front() {
                        self.sessions.store().delete(&old).await.expect("delete");
                    }
                }
            }
            Op::RequestCycle => {
                let mut s = self.sessions.load(Some(&t.keys[i])).await.expect("load");
                assert!(s.key().is_some(), "the session is still stored");
                s.insert(CHANGED_KEY, t.counter).expect("insert");
                s.save().await.expect("save");
            }
        }
    }
}

/// The store alone, without the session layer: the same [`Op`]s on already encoded bytes
/// through the [`SessionStore`] trait. Set next to [`SessionsWorkload`] on the same kind of
/// store, the difference is what `Session` adds (key checks, encoding, decoding, key draws);
/// set next to a raw client, the difference is what the store adds.
#[derive(Debug)]
pub struct StoreBytesWorkload {
    store: Arc<dyn SessionStore>,
    op: Op,
    bytes: Vec<u8>,
    cookie_age: i64,
    /// Numbers this workload's created keys apart from every other workload's in the process,
    /// so workloads may share one store (a database table) without colliding.
    instance: u64,
}

/// The next [`StoreBytesWorkload::instance`].
static NEXT_STORE_BYTES_INSTANCE: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// A task's state in a [`StoreBytesWorkload`].
#[derive(Debug)]
pub struct StoreBytesTask {
    keys: Vec<SessionKey>,
    created: VecDeque<SessionKey>,
    index: usize,
    next: usize,
    serial: u64,
}

impl StoreBytesWorkload {
    /// `op` on the encoded `payload` ([`Payload::record_bytes`]) in `store`.
    pub fn new(store: Arc<dyn SessionStore>, op: Op, payload: &Payload) -> Self {
        Self {
            store,
            op,
            bytes: payload.record_bytes(),
            cookie_age: SessionConfig::default().cookie_age(),
            instance: NEXT_STORE_BYTES_INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The store, called through `&dyn SessionStore`: one boxed future per call, the least a
    /// trait object costs.
    fn store(&self) -> &dyn SessionStore {
        &*self.store
    }

    /// When a record written now expires (what `Session::save` computes for a default
    /// session).
    fn expires_at(&self) -> UnixTime {
        UnixTime::now().add_secs(self.cookie_age)
    }
}

impl Workload for StoreBytesWorkload {
    type Task = StoreBytesTask;

    async fn setup(&self, index: usize) -> StoreBytesTask {
        let mut keys = Vec::with_capacity(SESSIONS_PER_TASK);
        for _ in 0..SESSIONS_PER_TASK {
            let key = SessionKey::generate();
            let key = self
                .store()
                .create(&key, &self.bytes, self.expires_at())
                .await
                .expect("create a benchmark record")
                .key;
            keys.push(key);
        }
        StoreBytesTask {
            keys,
            created: VecDeque::with_capacity(SESSIONS_PER_TASK + 1),
            index,
            next: 0,
            serial: 0,
        }
    }

    async fn run(&self, t: &mut StoreBytesTask) {
        let i = t.next;
        t.next = (t.next + 1) % SESSIONS_PER_TASK;
        t.serial += 1;
        match self.op {
            Op::Load => {
                let bytes = self.store().load(&t.keys[i]).await.expect("load");
                black_box(bytes.expect("the record is still stored"));
            }
            Op::Save => {
                self.store()
                    .update(&t.keys[i], &self.bytes, self.expires_at(), Expected::Any)
                    .await
                    .expect("update");
            }
            Op::Create => {
                // A unique key without a random draw (drawing keys is the session layer's job):
                // workload, task and serial number, 32 digits.
                let raw = format!(
                    "{:06}{:02}{:024}",
                    self.instance % 1_000_000,
                    t.index % 100,
                    t.serial
                );
                let key = SessionKey::parse(&raw, KeyFormat::Random).expect("a valid key");
                let key = self
                    .store()
                    .create(&key, &self.bytes, self.expires_at())
                    .await
                    .expect("create")
                    .key;
                t.created.push_back(key);
                if t.created.len() > SESSIONS_PER_TASK {
                    if let Some(old) = t.created.pop_front() {
                        self.store().delete(&old).await.expect("delete");
                    }
                }
            }
            Op::RequestCycle => {
                let mut bytes = self
                    .store()
                    .load(&t.keys[i])
                    .await
                    .expect("load")
                    .expect("the record is still stored")
                    .record;
                if let Some(last) = bytes.last_mut() {
                    *last = t.serial as u8;
                }
                self.store()
                    .update(&t.keys[i], &bytes, self.expires_at(), Expected::Any)
                    .await
                    .expect("update");
            }
        }
    }
}

/// The peer: one of tower-sessions' stores on tower-sessions-core 0.14 (its redis and sqlx
/// stores: `tower-sessions-redis-store` 0.16, `tower-sessions-sqlx-store` 0.15) used through its
/// store trait, the steps tower-sessions' session layer takes: load = `load` of a `Record`;
/// save = `save` of a loaded `Record`; create = `create` of a new `Record` (plus the `delete`
/// that keeps the store's size, as for every implementation); request cycle = load, insert
/// [`CHANGED_KEY`] into `record.data`, save.
#[derive(Debug)]
pub struct TowerStoreWorkload<S> {
    store: S,
    op: Op,
    template: TowerRecord,
}

/// A task's state in a [`TowerStoreWorkload`].
#[derive(Debug)]
pub struct TowerStoreTask {
    ids: Vec<TowerId>,
    records: Vec<TowerRecord>,
    created: VecDeque<TowerId>,
    next: usize,
    counter: u64,
}

impl<S: TowerSessionStore> TowerStoreWorkload<S> {
    /// `op` on `store`. Every record it creates is a copy of `template` (its `data` and
    /// `expiry_date`; the id is drawn by the store), so build the template from the payload
    /// ([`Payload::to_map`]) with an expiry well after the run.
    pub fn new(store: S, op: Op, template: TowerRecord) -> Self {
        Self {
            store,
            op,
            template,
        }
    }

    fn record(&self) -> TowerRecord {
        TowerRecord {
            id: TowerId::default(),
            data: self.template.data.clone(),
            expiry_date: self.template.expiry_date,
        }
    }

    async fn load(&self, id: &TowerId) -> TowerRecord {
        self.store
            .load(id)
            .await
            .expect("load")
            .expect("the record is still stored")
    }
}

impl<S: TowerSessionStore> Workload for TowerStoreWorkload<S> {
    type Task = TowerStoreTask;

    async fn setup(&self, _index: usize) -> TowerStoreTask {
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
        TowerStoreTask {
            ids,
            records,
            created: VecDeque::with_capacity(SESSIONS_PER_TASK + 1),
            next: 0,
            counter: 0,
        }
    }

    async fn run(&self, t: &mut TowerStoreTask) {
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

/// sessionkit's rolling-session touch: [`Session::touch`] on a loaded session (for
/// [`Suite::named_group`] groups named `touch`; touch is not one of the shared [`Op`]s because
/// not every peer has it).
#[derive(Debug)]
pub struct SessionsTouch {
    /// The sessions under test.
    pub sessions: Sessions,
    /// What each session holds.
    pub payload: Payload,
}

impl Workload for SessionsTouch {
    type Task = (Vec<Session>, usize);

    async fn setup(&self, _index: usize) -> Self::Task {
        let mut loaded = Vec::with_capacity(SESSIONS_PER_TASK);
        for _ in 0..SESSIONS_PER_TASK {
            let mut s = self.sessions.create();
            self.payload.fill(&mut s);
            s.save().await.expect("create");
            let key = s.key().expect("saved").as_str().to_owned();
            loaded.push(self.sessions.load(Some(&key)).await.expect("load"));
        }
        (loaded, 0)
    }

    async fn run(&self, (loaded, next): &mut Self::Task) {
        let i = *next;
        *next = (*next + 1) % SESSIONS_PER_TASK;
        loaded[i].touch().await.expect("touch");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_sizes_are_what_their_labels_say() {
        let sizes: Vec<(&str, usize)> = Payload::all()
            .iter()
            .map(|p| (p.label(), p.encoded_len()))
            .collect();
        let [(_, small), (_, dash), (_, large)] = sizes[..] else {
            panic!("three payloads: {sizes:?}");
        };
        assert!((80..=130).contains(&small), "{sizes:?}");
        assert!((1_300..=1_700).contains(&dash), "{sizes:?}");
        assert!((14_500..=17_500).contains(&large), "{sizes:?}");
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut v: Vec<u64> = (1..=1000).rev().collect();
        let s = LatencyStats::from_samples(&mut v);
        assert_eq!(
            (s.count, s.p50_ns, s.p99_ns, s.max_ns),
            (1000, 500, 990, 1000)
        );
        let mut one = vec![7];
        let s = LatencyStats::from_samples(&mut one);
        assert_eq!((s.p50_ns, s.p99_ns, s.max_ns), (7, 7, 7));
        assert_eq!(LatencyStats::from_samples(&mut []).count, 0);
    }

    #[test]
    fn batches_split_every_iteration_over_the_tasks() {
        struct Count;
        impl Workload for Count {
            type Task = u64;
            async fn setup(&self, _: usize) -> u64 {
                0
            }
            async fn run(&self, t: &mut u64) {
                *t += 1;
            }
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let w = Arc::new(Count);
        for (tasks, iters) in [(1, 5), (32, 5), (32, 1000), (3, 100)] {
            let (_, back) = run_batch(&rt, &w, vec![0; tasks], iters);
            assert_eq!(back.len(), tasks);
            assert_eq!(back.iter().sum::<u64>(), iters);
            assert!(back.iter().max().unwrap() - back.iter().min().unwrap() <= 1);
        }
        let lat = run_latency(&rt, &w, vec![0; 4], 10);
        assert_eq!(lat.len(), 40);
    }
}
