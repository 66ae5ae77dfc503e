//! Issue 14: how cost grows with the work — `LocMemStore` holding 10k to 5M live 1.5 KB
//! sessions (p50/p99 of load, save and the request cycle under 32 tasks, throughput, resident
//! memory per session), the store's byte bound under pressure, and key generation (1M creates
//! at 1 and 32 tasks). A bench binary, not criterion: each size runs in a child process of its
//! own, so its resident memory is measured from a clean start.
//!
//! ```text
//! cargo bench -p sessionkit-benches --bench scale
//! SESSIONKIT_SCALE_SIZES=10000,100000 SESSIONKIT_SCALE_SECS=2 cargo bench -p sessionkit-benches --bench scale
//! ```
//!
//! Prints one table, and writes `target/sessionkit-scale.csv` and the plot
//! `target/sessionkit-scale.svg` (latency and memory against the number of sessions).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sessionkit_benches::{LatencyStats, Payload, CHANGED_KEY};
use sessionkit_core::{SessionConfig, SessionKey, SessionStore, Sessions, UnixTime};
use sessionkit_locmem::{LocMemConfig, LocMemStore};
use sessionkit_testkit::Service;

/// Sessions held, unless `SESSIONKIT_SCALE_SIZES` says otherwise.
const SIZES: [usize; 4] = [10_000, 100_000, 1_000_000, 5_000_000];
/// Sessions held by the redis and PostgreSQL servers, unless `SESSIONKIT_SCALE_SERVER_SIZES`
/// says otherwise (10M 1.5 KB sessions need ~16 GB of redis memory or of PostgreSQL table).
const SERVER_SIZES: [usize; 2] = [10_000, 1_000_000];
/// Concurrent tasks of every measured phase (on the bench's 2 workers).
const TASKS: usize = 32;
/// Seconds each phase runs, unless `SESSIONKIT_SCALE_SECS` says otherwise.
const SECS: u64 = 3;
/// Creates of the key-generation phase.
const CREATES: usize = 1_000_000;
/// The child's argument: which measurement to run.
const CHILD: &str = "--scale-child";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CHILD) {
        let what = args.get(i + 1).map(String::as_str).unwrap_or("");
        return child(what);
    }
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` find nothing to run.
    }
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("scale: run with `cargo bench -p sessionkit-benches --bench scale`");
        return;
    }
    let sizes = env_list("SESSIONKIT_SCALE_SIZES").unwrap_or_else(|| SIZES.to_vec());
    let mut rows = Vec::new();
    for &n in &sizes {
        rows.extend(run_child(&format!("size={n}")));
    }
    let server_sizes =
        env_list("SESSIONKIT_SCALE_SERVER_SIZES").unwrap_or_else(|| SERVER_SIZES.to_vec());
    for server in ["redis", "postgres"] {
        for &n in &server_sizes {
            rows.extend(run_child(&format!("{server}={n}")));
        }
    }
    rows.extend(run_child("bound"));
    rows.extend(run_child("keys"));
    report(&rows, &sizes, &server_sizes);
}

/// One measured figure: `what` at `n` sessions.
#[derive(Debug, Clone)]
struct Row {
    what: String,
    n: usize,
    ops_per_sec: f64,
    p50_ns: u64,
    p99_ns: u64,
    extra: f64,
}

impl Row {
    fn csv(&self) -> String {
        format!(
            "{},{},{:.0},{},{},{:.3}",
            self.what, self.n, self.ops_per_sec, self.p50_ns, self.p99_ns, self.extra
        )
    }

    fn parse(line: &str) -> Option<Row> {
        let mut f = line.strip_prefix("row,")?.split(',');
        Some(Row {
            what: f.next()?.to_owned(),
            n: f.next()?.parse().ok()?,
            ops_per_sec: f.next()?.parse().ok()?,
            p50_ns: f.next()?.parse().ok()?,
            p99_ns: f.next()?.parse().ok()?,
            extra: f.next()?.parse().ok()?,
        })
    }
}

/// Runs this binary again as a child measuring `what`, and reads back its rows.
fn run_child(what: &str) -> Vec<Row> {
    let exe = std::env::current_exe().expect("the bench binary's path");
    eprintln!("scale: measuring {what} ...");
    let out = Command::new(exe)
        .args([CHILD, what])
        .output()
        .expect("start the measuring child");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scale child {what} failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines().filter_map(Row::parse).collect()
}

fn child(what: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(sessionkit_benches::worker_threads())
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rows = match what.split_once('=') {
        Some(("size", n)) => rt.block_on(at_size(n.parse().expect("a size"))),
        Some(("redis", n)) => rt.block_on(on_server(Service::Redis, n.parse().expect("a size"))),
        Some(("postgres", n)) => {
            rt.block_on(on_server(Service::Postgres, n.parse().expect("a size")))
        }
        _ if what == "bound" => rt.block_on(bound()),
        _ if what == "keys" => rt.block_on(keys()),
        _ => panic!("unknown scale measurement {what:?}"),
    };
    for row in rows {
        println!("row,{}", row.csv());
    }
}

/// Resident memory of this process, in bytes (Linux).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn secs() -> Duration {
    Duration::from_secs(env_list("SESSIONKIT_SCALE_SECS").map_or(SECS, |v| v[0] as u64))
}

fn env_list(name: &str) -> Option<Vec<usize>> {
    let v = std::env::var(name).ok()?;
    let list: Vec<usize> = v.split(',').filter_map(|s| s.trim().parse().ok()).collect();
    (!list.is_empty()).then_some(list)
}

/// A small, fast generator for picking which session a task touches next (not for keys).
fn next_index(state: &mut u64, n: usize) -> usize {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state % n as u64) as usize
}

/// `n` sessions in a store with room for all of them; then load, then request cycles, each
/// for [`secs`] on [`TASKS`] tasks picking sessions at random.
async fn at_size(n: usize) -> Vec<Row> {
    let record = Payload::dashboard().record_bytes();
    let keys: Arc<Vec<SessionKey>> = Arc::new((0..n).map(|_| SessionKey::generate()).collect());
    let config = LocMemConfig::new()
        .with_max_entries(n * 2)
        .with_max_bytes(n.max(10_000) * (record.len() + 1024) * 2);
    let store: Arc<dyn SessionStore> = Arc::new(LocMemStore::new(config));
    let before = resident_bytes();
    let expires_at = UnixTime::now().add_secs(3600);
    let fillers: Vec<_> = (0..2)
        .map(|part| {
            let (store, keys, record) = (store.clone(), keys.clone(), record.clone());
            tokio::spawn(async move {
                for key in keys.iter().skip(part).step_by(2) {
                    store.create(key, &record, expires_at).await.expect("fill");
                }
            })
        })
        .collect();
    for f in fillers {
        f.await.expect("filler");
    }
    let per_session = (resident_bytes().saturating_sub(before)) as f64 / n as f64;
    let sessions = Sessions::from_arc(store, SessionConfig::default());

    let load = phase(&sessions, &keys, false).await;
    let cycle = phase(&sessions, &keys, true).await;
    drop(sessions);
    let raw = RawMap::filled(&keys, &record);
    let raw_load = raw_phase(&raw, &keys, false).await;
    let raw_cycle = raw_phase(&raw, &keys, true).await;
    let row = |what: &str, ops: f64, s: LatencyStats, extra: f64| Row {
        what: what.to_owned(),
        n,
        ops_per_sec: ops,
        p50_ns: s.p50_ns,
        p99_ns: s.p99_ns,
        extra,
    };
    vec![
        row("load", load.ops_per_sec, load.first, per_session),
        row("cycle-load", cycle.ops_per_sec, cycle.first, per_session),
        row("cycle-save", cycle.ops_per_sec, cycle.second, per_session),
        row("cycle", cycle.ops_per_sec, cycle.whole, per_session),
        row("raw-load", raw_load.ops_per_sec, raw_load.first, 0.0),
        row("raw-cycle", raw_cycle.ops_per_sec, raw_cycle.whole, 0.0),
    ]
}

/// `n` sessions on a throwaway server of `service` (redis, or a PostgreSQL table), then loads
/// and request cycles through `sessionkit::connect` as at [`at_size`]. Session `i`'s key is
/// `i` in 32 decimal digits, so PostgreSQL's rows can be written by one `INSERT … SELECT`.
async fn on_server(service: Service, n: usize) -> Vec<Row> {
    let server = service
        .from_env_or_start()
        .expect("a server: install it or set its SESSIONKIT_*_URL");
    let record = Payload::dashboard().record_bytes();
    let keys: Arc<Vec<SessionKey>> = Arc::new(
        (0..n)
            .map(|i| {
                SessionKey::parse(&format!("{i:032}"), sessionkit_core::KeyFormat::Random)
                    .expect("digits are a valid key")
            })
            .collect(),
    );
    let expires_at = UnixTime::now().add_secs(3600);
    let (name, url) = match service {
        Service::Redis => {
            let url = format!("{}?key_prefix=scale:", server.url());
            let sessions = sessionkit::connect(&url).await.expect("connect to redis");
            let chunks: Vec<_> = (0..TASKS)
                .map(|part| {
                    let (store, keys, record) =
                        (sessions.store().clone(), keys.clone(), record.clone());
                    tokio::spawn(async move {
                        for key in keys.iter().skip(part).step_by(TASKS) {
                            store.create(key, &record, expires_at).await.expect("fill");
                        }
                    })
                })
                .collect();
            for c in chunks {
                c.await.expect("filler");
            }
            ("redis", url)
        }
        _ => {
            let table = format!("scale_{n}");
            let url = format!("{}?table={table}", server.url());
            sessionkit::migrate(&url).await.expect("create the table");
            let hex: String = record.iter().map(|b| format!("{b:02x}")).collect();
            let sql = format!(
                "INSERT INTO {table} (session_key, session_data, expire_date, session_version) \
                 SELECT lpad(g::text, 32, '0'), decode('{hex}', 'hex'), {}, 1 \
                 FROM generate_series(0, {}) g; ANALYZE {table}",
                expires_at.as_secs(),
                n - 1
            );
            let db = server.url().to_owned();
            tokio::task::spawn_blocking(move || {
                use diesel::connection::SimpleConnection as _;
                use diesel::Connection as _;
                let mut conn = diesel::PgConnection::establish(&db).expect("connect to PostgreSQL");
                conn.batch_execute(&sql).expect("fill the table");
            })
            .await
            .expect("filler");
            ("postgres", url)
        }
    };
    let sessions = sessionkit::connect(&url).await.expect("connect");
    let load = phase(&sessions, &keys, false).await;
    let cycle = phase(&sessions, &keys, true).await;
    let row = |what: &str, ops: f64, s: LatencyStats| Row {
        what: format!("{name}-{what}"),
        n,
        ops_per_sec: ops,
        p50_ns: s.p50_ns,
        p99_ns: s.p99_ns,
        extra: 0.0,
    };
    vec![
        row("load", load.ops_per_sec, load.first),
        row("cycle-save", cycle.ops_per_sec, cycle.second),
        row("cycle", cycle.ops_per_sec, cycle.whole),
    ]
}

/// The floor at the same size: 32 `Mutex<HashMap>`s of bytes (as many shards as the store),
/// load = lock and copy the bytes out, cycle = that, change a byte, copy them back in. It
/// meets the same cache misses as the store on the same number of sessions, and nothing else.
struct RawMap {
    shards: Vec<Mutex<HashMap<[u8; 32], Vec<u8>>>>,
}

impl RawMap {
    fn filled(keys: &[SessionKey], record: &[u8]) -> Arc<RawMap> {
        let map = RawMap {
            shards: (0..32).map(|_| Mutex::default()).collect(),
        };
        for key in keys {
            let k = RawMap::key(key);
            map.shard(&k).insert(k, record.to_vec());
        }
        Arc::new(map)
    }

    fn key(key: &SessionKey) -> [u8; 32] {
        key.as_str()
            .as_bytes()
            .try_into()
            .expect("a 32-character key")
    }

    fn shard(&self, k: &[u8; 32]) -> MutexGuard<'_, HashMap<[u8; 32], Vec<u8>>> {
        let i = usize::from(k[0] ^ k[7] ^ k[31]) % self.shards.len();
        self.shards[i].lock().expect("raw map lock")
    }
}

/// [`phase`] on the [`RawMap`]: every operation timed whole.
async fn raw_phase(raw: &Arc<RawMap>, keys: &Arc<Vec<SessionKey>>, cycle: bool) -> Measured {
    let deadline = Instant::now() + secs();
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (raw, keys) = (raw.clone(), keys.clone());
            tokio::spawn(async move {
                let mut rng = task_seed(t);
                let mut whole = Vec::new();
                let mut counter = 0u8;
                while Instant::now() < deadline {
                    for _ in 0..64 {
                        let k = RawMap::key(&keys[next_index(&mut rng, keys.len())]);
                        let t0 = Instant::now();
                        let mut bytes = raw.shard(&k).get(&k).cloned().expect("stored");
                        if cycle {
                            counter = counter.wrapping_add(1);
                            if let Some(last) = bytes.last_mut() {
                                *last = counter;
                            }
                            raw.shard(&k).insert(k, bytes);
                        } else {
                            black_box(&bytes);
                        }
                        whole.push((Instant::now() - t0).as_nanos() as u64);
                    }
                    tokio::task::yield_now().await;
                }
                whole
            })
        })
        .collect();
    let mut whole = Vec::new();
    for t in tasks {
        whole.extend(t.await.expect("task"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    Measured {
        ops_per_sec: whole.len() as f64 / elapsed,
        first: LatencyStats::from_samples(&mut whole.clone()),
        second: LatencyStats::from_samples(&mut []),
        whole: LatencyStats::from_samples(&mut whole),
    }
}

/// Where task `t`'s choice of sessions starts (the same in every phase and size).
fn task_seed(t: usize) -> u64 {
    0x9e37_79b9_7f4a_7c15_u64 ^ (t as u64 + 1).wrapping_mul(0xa24b_aed4_963e_e407)
}

struct Measured {
    ops_per_sec: f64,
    /// The load (of a load alone, or of a cycle).
    first: LatencyStats,
    /// The save of a cycle.
    second: LatencyStats,
    /// The whole cycle.
    whole: LatencyStats,
}

/// [`TASKS`] tasks loading (and, with `cycle`, changing one value and saving) random sessions
/// for [`secs`]; every operation timed.
async fn phase(sessions: &Sessions, keys: &Arc<Vec<SessionKey>>, cycle: bool) -> Measured {
    let deadline = Instant::now() + secs();
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (sessions, keys) = (sessions.clone(), keys.clone());
            tokio::spawn(async move {
                let mut rng =
                    0x9e37_79b9_7f4a_7c15_u64 ^ (t as u64 + 1).wrapping_mul(0xa24b_aed4_963e_e407);
                let (mut first, mut second, mut whole) = (Vec::new(), Vec::new(), Vec::new());
                let mut counter = 0u64;
                while Instant::now() < deadline {
                    // A batch between deadline checks keeps the clock read out of the figures.
                    for _ in 0..64 {
                        let key = keys[next_index(&mut rng, keys.len())].as_str();
                        let t0 = Instant::now();
                        let mut s = sessions.load(Some(key)).await.expect("load");
                        let t1 = Instant::now();
                        first.push((t1 - t0).as_nanos() as u64);
                        if cycle {
                            counter += 1;
                            s.insert(CHANGED_KEY, counter).expect("insert");
                            let t2 = Instant::now();
                            s.save().await.expect("save");
                            let t3 = Instant::now();
                            second.push((t3 - t2).as_nanos() as u64);
                            whole.push((t3 - t0).as_nanos() as u64);
                        }
                        black_box(&s);
                    }
                    tokio::task::yield_now().await;
                }
                (first, second, whole)
            })
        })
        .collect();
    let (mut first, mut second, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    for t in tasks {
        let (a, b, c) = t.await.expect("task");
        first.extend(a);
        second.extend(b);
        whole.extend(c);
    }
    let elapsed = start.elapsed().as_secs_f64();
    Measured {
        ops_per_sec: first.len() as f64 / elapsed,
        first: LatencyStats::from_samples(&mut first),
        second: LatencyStats::from_samples(&mut second),
        whole: LatencyStats::from_samples(&mut whole),
    }
}

/// The default byte bound (256 MiB) under twice the sessions it holds: how close the store
/// keeps to it, by its own count and by resident memory.
async fn bound() -> Vec<Row> {
    let config = LocMemConfig::new().with_max_entries(usize::MAX / 4);
    let max_bytes = config.max_bytes();
    let store = LocMemStore::new(config);
    let record = Payload::dashboard().record_bytes();
    let expires_at = UnixTime::now().add_secs(3600);
    let before = resident_bytes();
    let n = 2 * max_bytes / record.len();
    let start = Instant::now();
    for _ in 0..n {
        store
            .create(&SessionKey::generate(), &record, expires_at)
            .await
            .expect("create");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let resident = resident_bytes().saturating_sub(before);
    let row = |what: &str, extra: f64| Row {
        what: what.to_owned(),
        n,
        ops_per_sec: n as f64 / elapsed,
        p50_ns: 0,
        p99_ns: 0,
        extra,
    };
    vec![
        row("bound-counted", store.bytes() as f64 / max_bytes as f64),
        row("bound-resident", resident as f64 / max_bytes as f64),
        row("bound-kept", store.len() as f64),
        row("bound-evicted", store.evicted() as f64),
    ]
}

/// Key generation: [`CREATES`] keys drawn, and [`CREATES`] sessions created (the 1.5 KB
/// payload, saved to a store with room for all), at 1 task and at [`TASKS`] tasks.
async fn keys() -> Vec<Row> {
    let mut rows = Vec::new();
    for tasks in [1, TASKS] {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                tokio::spawn(async move {
                    for _ in 0..CREATES / tasks {
                        black_box(SessionKey::generate());
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task");
        }
        rows.push(rate("keys", tasks, CREATES, start));

        let payload = Arc::new(Payload::dashboard());
        let config = LocMemConfig::new()
            .with_max_entries(CREATES * 2)
            .with_max_bytes(CREATES * 4096);
        let sessions = Sessions::new(LocMemStore::new(config));
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (sessions, payload) = (sessions.clone(), payload.clone());
                tokio::spawn(async move {
                    for _ in 0..CREATES / tasks {
                        let mut s = sessions.create();
                        payload.fill(&mut s);
                        s.save().await.expect("create");
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task");
        }
        rows.push(rate("creates", tasks, CREATES, start));
    }
    rows
}

fn rate(what: &str, tasks: usize, ops: usize, start: Instant) -> Row {
    Row {
        what: what.to_owned(),
        n: tasks,
        ops_per_sec: ops as f64 / start.elapsed().as_secs_f64(),
        p50_ns: 0,
        p99_ns: 0,
        extra: 0.0,
    }
}

fn report(rows: &[Row], sizes: &[usize], server_sizes: &[usize]) {
    println!("\nlocmem with n live 1.5 KB sessions, {TASKS} tasks picking sessions at random");
    println!(
        "{:>9} | {:>10} | {:>19} | {:>11} | {:>19} | {:>19} | {:>13} | {:>11} | {:>11}",
        "sessions",
        "loads/s",
        "load p50 / p99",
        "cycles/s",
        "cycle p50 / p99",
        "save p50 / p99",
        "resident B/s",
        "raw loads/s",
        "raw cycles/s"
    );
    for &n in sizes {
        let get = |w: &str| rows.iter().find(|r| r.n == n && r.what == w);
        let (Some(load), Some(cycle), Some(save), Some(raw_load), Some(raw_cycle)) = (
            get("load"),
            get("cycle"),
            get("cycle-save"),
            get("raw-load"),
            get("raw-cycle"),
        ) else {
            continue;
        };
        println!(
            "{:>9} | {:>10.0} | {:>19} | {:>11.0} | {:>19} | {:>19} | {:>13.0} | {:>11.0} | {:>11.0}",
            n,
            load.ops_per_sec,
            pair(load),
            cycle.ops_per_sec,
            pair(cycle),
            pair(save),
            load.extra,
            raw_load.ops_per_sec,
            raw_cycle.ops_per_sec
        );
    }
    println!("\nservers with n live 1.5 KB sessions, {TASKS} tasks picking sessions at random");
    for server in ["redis", "postgres"] {
        for &n in server_sizes {
            let get = |w: &str| {
                rows.iter()
                    .find(|r| r.n == n && r.what == format!("{server}-{w}"))
            };
            let (Some(load), Some(cycle), Some(save)) =
                (get("load"), get("cycle"), get("cycle-save"))
            else {
                continue;
            };
            println!(
                "{server:>8} {n:>9} | loads/s {:>8.0} | load {} | cycles/s {:>8.0} | cycle {} | save {}",
                load.ops_per_sec,
                pair(load),
                cycle.ops_per_sec,
                pair(cycle),
                pair(save)
            );
        }
    }
    for r in rows.iter().filter(|r| r.what.starts_with("bound")) {
        println!(
            "{:<15} {:>10.3}  ({} creates into the default 256 MiB bound)",
            r.what, r.extra, r.n
        );
    }
    for r in rows
        .iter()
        .filter(|r| r.what == "keys" || r.what == "creates")
    {
        println!(
            "{:<8} at {:>2} tasks: {:>10.0}/s ({CREATES} in all)",
            r.what, r.n, r.ops_per_sec
        );
    }
    let target = target_dir();
    let csv: String = std::iter::once("what,n,ops_per_sec,p50_ns,p99_ns,extra".to_owned())
        .chain(rows.iter().map(Row::csv))
        .collect::<Vec<_>>()
        .join("\n");
    let _ = std::fs::write(target.join("sessionkit-scale.csv"), csv + "\n");
    let svg = plot(rows, sizes);
    let path = target.join("sessionkit-scale.svg");
    match std::fs::write(&path, svg) {
        Ok(()) => println!("plot: {}", path.display()),
        Err(e) => eprintln!("scale: cannot write {}: {e}", path.display()),
    }
}

fn pair(r: &Row) -> String {
    format!(
        "{:.2} / {:.2} µs",
        r.p50_ns as f64 / 1e3,
        r.p99_ns as f64 / 1e3
    )
}

fn target_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(Into::into)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Two panels: p50 and p99 of load, save and the request cycle (µs, left) and resident bytes
/// per session (right), against the number of sessions (log scale).
fn plot(rows: &[Row], sizes: &[usize]) -> String {
    const W: f64 = 420.0;
    const H: f64 = 280.0;
    const PAD: f64 = 50.0;
    let xs: Vec<f64> = sizes.iter().map(|&n| (n as f64).log10()).collect();
    let (x0, x1) = (
        xs.iter().cloned().fold(f64::INFINITY, f64::min),
        xs.iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max)
            .max(x0_plus(&xs)),
    );
    let series = |what: &str, f: &dyn Fn(&Row) -> f64| -> Vec<(f64, f64)> {
        sizes
            .iter()
            .filter_map(|&n| rows.iter().find(|r| r.n == n && r.what == what))
            .map(|r| ((r.n as f64).log10(), f(r)))
            .collect()
    };
    let us = |ns: u64| ns as f64 / 1e3;
    let mut latency = Vec::new();
    for (name, what, colour) in [
        ("load", "load", "#1f77b4"),
        ("save", "cycle-save", "#2ca02c"),
        ("cycle", "cycle", "#d62728"),
    ] {
        let p50 = series(what, &|r| us(r.p50_ns));
        let p99 = series(what, &|r| us(r.p99_ns));
        latency.push((format!("{name} p50"), p50, colour, ""));
        latency.push((format!("{name} p99"), p99, colour, "4 3"));
    }
    let memory = [(
        "resident bytes per session".to_owned(),
        series("load", &|r| r.extra),
        "#9467bd",
        "",
    )];
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="11">"#,
        2.0 * (W + PAD) + PAD,
        H + 2.0 * PAD
    );
    panel(
        &mut svg,
        PAD,
        "latency (µs) at 32 tasks",
        &latency,
        (x0, x1),
        W,
        H,
        PAD,
    );
    panel(
        &mut svg,
        W + 2.0 * PAD,
        "resident memory per session (bytes)",
        &memory,
        (x0, x1),
        W,
        H,
        PAD,
    );
    svg.push_str("</svg>\n");
    svg
}

fn x0_plus(xs: &[f64]) -> f64 {
    xs.iter().cloned().fold(f64::INFINITY, f64::min) + 1.0
}

type Series<'a> = (String, Vec<(f64, f64)>, &'a str, &'a str);

#[allow(clippy::too_many_arguments)]
fn panel(
    svg: &mut String,
    left: f64,
    title: &str,
    series: &[Series<'_>],
    (x0, x1): (f64, f64),
    w: f64,
    h: f64,
    pad: f64,
) {
    let ymax = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max)
        * 1.1;
    let ymax = if ymax > 0.0 { ymax } else { 1.0 };
    let px = |x: f64| left + (x - x0) / (x1 - x0) * w;
    let py = |y: f64| pad + h - y / ymax * h;
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" font-size="13">{title}</text><rect x="{left}" y="{pad}" width="{w}" height="{h}" fill="none" stroke="#888"/>"##,
        left,
        pad - 10.0
    );
    for i in 0..=4 {
        let y = ymax * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end">{:.0}</text><line x1="{left}" x2="{}" y1="{2}" y2="{2}" stroke="#eee"/>"##,
            left - 4.0,
            py(y) + 4.0,
            y,
            left + w
        );
    }
    // A tick at every measured size (the points of the series).
    let mut ticks: Vec<f64> = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.0))
        .collect();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    for x in ticks {
        let n = 10f64.powf(x).round();
        let label = if n >= 1e6 {
            format!("{}M", n / 1e6)
        } else {
            format!("{}k", n / 1e3)
        };
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{label}</text>"#,
            px(x),
            pad + h + 15.0
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">sessions held (log scale)</text>"#,
        left + w / 2.0,
        pad + h + 32.0
    );
    for (i, (name, points, colour, dash)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
            path.join(" ")
        );
        for &(x, y) in points {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{colour}"/>"#,
                px(x),
                py(y)
            );
        }
        let ly = pad + 14.0 + 14.0 * i as f64;
        let _ = write!(
            svg,
            r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{}" y="{}">{name}</text>"#,
            left + 8.0,
            left + 30.0,
            left + 34.0,
            ly + 4.0
        );
    }
}
