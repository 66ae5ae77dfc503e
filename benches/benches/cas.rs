//! Issue 12 §5: what compare-and-set costs. For each server back end, through
//! `sessionkit::connect_with(url, config)` as an application uses it: 32 tokio tasks on 2
//! workers, each with its own 1.5 KB dashboard session, doing request cycles (load, change one
//! value, save) under `ConflictPolicy::Merge` (the default: every save is a compare-and-set)
//! and under `ConflictPolicy::Overwrite` (the plain replace of before versions), on the same
//! store and sessions. The two policies take turns in 500 ms slices, so the machine's drift
//! falls on both alike; printed per back end: request cycles per second of each, and the median
//! over rounds of CAS's time per cycle ÷ the plain one's in the same round (quartiles too).
//!
//! Servers: `SESSIONKIT_REDIS_URL`, `SESSIONKIT_MEMCACHED_URLS`, `SESSIONKIT_POSTGRES_URL`,
//! `SESSIONKIT_MYSQL_URL`, or throwaway ones; SQLite in a temporary file.
//!
//! ```text
//! cargo bench -p sessionkit-benches --bench cas
//! SESSIONKIT_BENCH_CAS_SECS=20 SESSIONKIT_BENCH_CAS_BACKENDS=redis,postgres cargo bench -p sessionkit-benches --bench cas
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessionkit::{ConflictPolicy, SessionConfig, Sessions};
use sessionkit_conformance::behaviours::dashboard_payload;
use sessionkit_testkit::{Provided, Service};

/// Concurrent tasks per cell, each with its own session.
const TASKS: usize = 32;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One policy's tasks over one store: request cycles while `active`.
struct Cell {
    active: tokio::sync::watch::Sender<bool>,
    done: Arc<AtomicU64>,
    /// (cycles, seconds) per measured slice.
    slices: Vec<(u64, f64)>,
}

impl Cell {
    async fn start(sessions: Sessions) -> Self {
        let (active, _) = tokio::sync::watch::channel(false);
        let done = Arc::new(AtomicU64::new(0));
        for _ in 0..TASKS {
            let mut s = sessions.create();
            for (k, v) in dashboard_payload() {
                s.insert_value(k, v);
            }
            s.save().await.expect("create a benchmark session");
            let cookie = s.key().expect("saved").as_str().to_owned();
            let (sessions, done) = (sessions.clone(), done.clone());
            let mut on = active.subscribe();
            tokio::spawn(async move {
                let mut n = 0u64;
                loop {
                    if !*on.borrow_and_update() {
                        if on.changed().await.is_err() {
                            return;
                        }
                        continue;
                    }
                    let mut s = sessions.load(Some(&cookie)).await.expect("load");
                    n += 1;
                    s.insert("last_activity", n).expect("insert");
                    s.save().await.expect("save");
                    done.fetch_add(1, Ordering::Relaxed);
                    // locmem never waits: let the timers and the other tasks run.
                    tokio::task::yield_now().await;
                }
            });
        }
        Self {
            active,
            done,
            slices: Vec::new(),
        }
    }

    async fn run(&mut self, slice: Duration) {
        let (n0, t0) = (self.done.load(Ordering::Relaxed), Instant::now());
        self.active.send_replace(true);
        tokio::time::sleep(slice).await;
        self.active.send_replace(false);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = self.done.load(Ordering::Relaxed) - n0;
        self.slices.push((n, t0.elapsed().as_secs_f64()));
    }

    fn per_sec(&self) -> f64 {
        let n: u64 = self.slices.iter().map(|s| s.0).sum();
        let secs: f64 = self.slices.iter().map(|s| s.1).sum();
        n as f64 / secs
    }
}

/// The URL of each back end to measure, and what keeps its server alive.
fn backends() -> Vec<(&'static str, String, Option<Provided>)> {
    let only = std::env::var("SESSIONKIT_BENCH_CAS_BACKENDS").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|c| c == name);
    let mut out = Vec::new();
    if wanted("locmem") {
        out.push(("locmem", "locmem://".to_owned(), None));
    }
    if wanted("redis") {
        let p = Service::Redis.from_env_or_start().expect("a redis server");
        out.push((
            "redis",
            format!("{}?key_prefix=bench-cas:", p.url()),
            Some(p),
        ));
    }
    if wanted("memcached") {
        let p = Service::Memcached { nodes: 1 }
            .from_env_or_start()
            .expect("a memcached server");
        let url = p.url().to_owned();
        out.push(("memcached", url, Some(p)));
    }
    if wanted("postgres") {
        let p = Service::Postgres
            .from_env_or_start()
            .expect("a PostgreSQL server");
        out.push(("postgres", format!("{}?table=bench_cas", p.url()), Some(p)));
    }
    if wanted("mysql") {
        let p = Service::Mysql.from_env_or_start().expect("a MySQL server");
        out.push(("mysql", format!("{}?table=bench_cas", p.url()), Some(p)));
    }
    if wanted("sqlite") {
        let path = std::env::temp_dir().join(format!(
            "sessionkit-bench-cas-{}.sqlite3",
            std::process::id()
        ));
        out.push(("sqlite", format!("sqlite://{}", path.display()), None));
    }
    out
}

fn main() {
    let secs = env_number("SESSIONKIT_BENCH_CAS_SECS", 10);
    let slice_ms = env_number("SESSIONKIT_BENCH_CAS_SLICE_MS", 500);
    let rounds = (secs * 1000 / slice_ms).max(1) as usize;
    let backends = backends();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "{TASKS} tasks, 1.5 KB sessions, request cycles; {rounds} rounds of one {slice_ms} ms \
         slice per policy"
    );
    println!(
        "{:<10} {:>14} {:>14} {:>28}",
        "back end", "CAS cycles/s", "plain cycles/s", "CAS time ÷ plain (p25–p75)"
    );
    runtime.block_on(async move {
        for (name, url, _server) in &backends {
            if let Err(e) = sessionkit::migrate(url).await {
                if !e.is_config() {
                    panic!("migrate {name}: {e}");
                }
            }
            let with = |policy| SessionConfig::default().with_conflict_policy(policy);
            let cas = sessionkit::connect_with(url, with(ConflictPolicy::Merge))
                .await
                .expect("connect");
            let plain = sessionkit::connect_with(url, with(ConflictPolicy::Overwrite))
                .await
                .expect("connect");
            let (mut a, mut b) = (Cell::start(cas).await, Cell::start(plain).await);
            a.run(Duration::from_secs(1)).await; // warm up
            b.run(Duration::from_secs(1)).await;
            a.slices.clear();
            b.slices.clear();
            let slice = Duration::from_millis(slice_ms);
            for _ in 0..rounds {
                a.run(slice).await;
                b.run(slice).await;
            }
            let mut ratios: Vec<f64> = a
                .slices
                .iter()
                .zip(&b.slices)
                .map(|(x, y)| (x.1 / x.0.max(1) as f64) / (y.1 / y.0.max(1) as f64))
                .collect();
            ratios.sort_by(f64::total_cmp);
            let q = |f: f64| ratios[((ratios.len() - 1) as f64 * f).round() as usize];
            println!(
                "{name:<10} {:>14.0} {:>14.0} {:>16.3} ({:.2}–{:.2})",
                a.per_sec(),
                b.per_sec(),
                q(0.5),
                q(0.25),
                q(0.75)
            );
        }
    });
}
