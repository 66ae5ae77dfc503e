//! Issue 11: the whole HTTP stack — hyper client → axum → session layer → store → response —
//! with 32 concurrent keep-alive connections on a 2-worker tokio runtime (client and server in
//! this process), each connection its own session doing request cycles (`GET /`: read
//! `visits`, store `visits + 1`). In one run, interleaved over rounds:
//!
//! - `plain`: the same axum handler with no session (it bumps an in-process counter);
//! - `sessionkit-locmem`, `sessionkit-redis`: `sessionkit_tower::SessionLayer` over
//!   `connect("locmem://")` / `connect("redis://…")`;
//! - `tower-sessions-memory`, `tower-sessions-redis`: tower-sessions 0.15's
//!   `SessionManagerLayer` over its `MemoryStore` / its redis store (tower-sessions-redis-store
//!   0.16 on a fred pool of 6, bridged to core 0.15's trait).
//!
//! Printed per cell and round: requests per second, process CPU per request (client, server and
//! store client together; redis-server's own CPU is not counted), and the time per request over
//! `plain`'s. Redis: `SESSIONKIT_REDIS_URL` or a throwaway server.
//!
//! ```text
//! cargo bench -p sessionkit-benches --bench http
//! SESSIONKIT_BENCH_HTTP_SECS=3 SESSIONKIT_BENCH_HTTP_ROUNDS=2 cargo bench -p sessionkit-benches --bench http
//! SESSIONKIT_BENCH_HTTP_CELLS=plain,sessionkit-locmem cargo bench -p sessionkit-benches --bench http
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sessionkit_core::async_trait;
use sessionkit_testkit::Service;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error as StoreError, Result as StoreResult};
use tower_sessions::{MemoryStore, SessionManagerLayer, SessionStore};
use tower_sessions_core_014::session_store::SessionStore as _;
use tower_sessions_redis_store::fred::prelude::{ClientLike as _, Config as FredConfig, Pool};
use tower_sessions_redis_store::RedisStore as TowerRedisStore;

/// Concurrent connections, each with its own session.
const CONNECTIONS: usize = 32;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Process CPU time (user + system) so far, from /proc/self/stat.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let total = ticks(11) + ticks(12);
    Duration::from_millis(total * 10) // USER_HZ = 100 on Linux
}

/// tower-sessions-redis-store 0.16 implements tower-sessions-core 0.14's store trait; the
/// 0.15 layer wants 0.15's: the same records, moved across.
#[derive(Debug, Clone)]
struct Bridge(TowerRedisStore<Pool>);

fn to_014(r: &Record) -> tower_sessions_core_014::session::Record {
    tower_sessions_core_014::session::Record {
        id: tower_sessions_core_014::session::Id(r.id.0),
        data: r.data.clone(),
        expiry_date: r.expiry_date,
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[async_trait]
impl SessionStore for Bridge {
    async fn create(&self, record: &mut Record) -> StoreResult<()> {
        let mut old = to_014(record);
        self.0.create(&mut old).await.map_err(backend)?;
        record.id = Id(old.id.0);
        Ok(())
    }
    async fn save(&self, record: &Record) -> StoreResult<()> {
        self.0.save(&to_014(record)).await.map_err(backend)
    }
    async fn load(&self, id: &Id) -> StoreResult<Option<Record>> {
        let old = self
            .0
            .load(&tower_sessions_core_014::session::Id(id.0))
            .await
            .map_err(backend)?;
        Ok(old.map(|r| Record {
            id: Id(r.id.0),
            data: r.data,
            expiry_date: r.expiry_date,
        }))
    }
    async fn delete(&self, id: &Id) -> StoreResult<()> {
        self.0
            .delete(&tower_sessions_core_014::session::Id(id.0))
            .await
            .map_err(backend)
    }
}

async fn sessionkit_visits(session: sessionkit_tower::Session) -> String {
    let n: u64 = session.get("visits").await.ok().flatten().unwrap_or(0) + 1;
    session.insert("visits", n).await.expect("insert");
    format!("{n} visits")
}

async fn tower_visits(session: tower_sessions::Session) -> String {
    let n: u64 = session.get("visits").await.ok().flatten().unwrap_or(0) + 1;
    session.insert("visits", n).await.expect("insert");
    format!("{n} visits")
}

/// What one cell measured.
struct Measured {
    per_sec: f64,
    cpu_per_request: Duration,
    errors: u64,
}

/// Serves `app` on a free port and drives it with [`CONNECTIONS`] clients for `secs`.
async fn measure(app: Router, secs: u64) -> Measured {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let client: Client<_, Body> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(CONNECTIONS)
        .build_http();
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, base) = (client.clone(), base.clone());
        let (stop, counting, done, errors) =
            (stop.clone(), counting.clone(), done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut cookie: Option<String> = None;
            while !stop.load(Ordering::Relaxed) {
                let mut request = axum::http::Request::get(&base);
                if let Some(c) = &cookie {
                    request = request.header("cookie", c.as_str());
                }
                match client.request(request.body(Body::empty()).unwrap()).await {
                    Ok(response) if response.status().is_success() => {
                        if let Some(set) = response.headers().get("set-cookie") {
                            let pair = set.to_str().unwrap().split(';').next().unwrap();
                            cookie = Some(pair.to_owned());
                        }
                        let _ = response.into_body().collect().await;
                        if counting.load(Ordering::Relaxed) {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // warm up: sessions created
    let (cpu0, t0) = (process_cpu(), Instant::now());
    counting.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    counting.store(false, Ordering::Relaxed);
    let (cpu1, elapsed) = (process_cpu(), t0.elapsed());
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    server.abort();
    let n = done.load(Ordering::Relaxed).max(1);
    Measured {
        per_sec: n as f64 / elapsed.as_secs_f64(),
        cpu_per_request: (cpu1 - cpu0) / n as u32,
        errors: errors.load(Ordering::Relaxed),
    }
}

fn main() {
    let secs = env_number("SESSIONKIT_BENCH_HTTP_SECS", 5);
    let rounds = env_number("SESSIONKIT_BENCH_HTTP_ROUNDS", 3);
    let redis = Service::Redis.from_env_or_start().expect("a redis server");
    let redis_url = redis.url().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let plain_hits = Arc::new(AtomicU64::new(0));
        let sk_locmem = sessionkit::connect("locmem://").await.unwrap();
        let sk_redis = sessionkit::connect(&format!("{redis_url}?key_prefix=bench-http:"))
            .await
            .unwrap();
        let pool = Pool::new(FredConfig::from_url(&redis_url).unwrap(), None, None, None, 6).unwrap();
        let _connection = pool.init().await.expect("connect the fred pool");
        let tower_redis = Bridge(TowerRedisStore::new(pool));
        println!(
            "{CONNECTIONS} connections, {secs} s per cell, {rounds} rounds; \
             per cell: requests/s, process CPU per request, time per request ÷ plain's"
        );
        for round in 1..=rounds {
            let hits = plain_hits.clone();
            let cells: Vec<(&str, Router)> = vec![
                (
                    "plain",
                    Router::new().route(
                        "/",
                        get(move || {
                            let n = hits.fetch_add(1, Ordering::Relaxed) + 1;
                            async move { format!("{n} visits") }
                        }),
                    ),
                ),
                (
                    "sessionkit-locmem",
                    Router::new().route("/", get(sessionkit_visits)).layer(
                        sessionkit_tower::SessionLayer::new(sk_locmem.clone(), Default::default())
                            .unwrap(),
                    ),
                ),
                (
                    "tower-sessions-memory",
                    Router::new()
                        .route("/", get(tower_visits))
                        .layer(SessionManagerLayer::new(MemoryStore::default()).with_secure(false)),
                ),
                (
                    "sessionkit-redis",
                    Router::new().route("/", get(sessionkit_visits)).layer(
                        sessionkit_tower::SessionLayer::new(sk_redis.clone(), Default::default())
                            .unwrap(),
                    ),
                ),
                (
                    "tower-sessions-redis",
                    Router::new()
                        .route("/", get(tower_visits))
                        .layer(SessionManagerLayer::new(tower_redis.clone()).with_secure(false)),
                ),
            ];
            let only = std::env::var("SESSIONKIT_BENCH_HTTP_CELLS").unwrap_or_default();
            let mut plain_time = None;
            for (name, app) in cells {
                if !only.is_empty() && !only.split(',').any(|c| c == name) {
                    continue;
                }
                let m = measure(app, secs).await;
                let per_request = 1.0 / m.per_sec;
                let ratio = plain_time.map_or(1.0, |p: f64| per_request / p);
                if name == "plain" {
                    plain_time = Some(per_request);
                }
                println!(
                    "round {round} {name:<22} {:>9.0}/s  cpu {:>6.1} µs/req  time ×{ratio:.2} of plain  errors {}",
                    m.per_sec,
                    m.cpu_per_request.as_secs_f64() * 1e6,
                    m.errors
                );
            }
        }
    });
}
