//! Issue 11: the whole HTTP stack — hyper client → axum → session layer → store → response —
//! with 32 concurrent keep-alive connections on a 2-worker tokio runtime (client and server in
//! this process), each connection its own session doing request cycles (`GET /`: read
//! `visits`, store `visits + 1`). Every cell's server and clients run for the whole run; the
//! cells take turns, one short slice each per round (the clients of the others wait), so the
//! machine's drift (this 2-core VM moves by ±30 % over tens of seconds) falls on every cell
//! alike. The cells:
//!
//! - `plain`: the same axum handler with no session (it bumps an in-process counter);
//! - `plain-cookie`: `plain` plus the headers a session makes the request and the response
//!   carry, and nothing else: it finds the `sessionid` value in the request's `Cookie` header
//!   and answers with the `Set-Cookie` (fresh HTTP date) and `Vary: Cookie` sessionkit sends
//!   for a changed session — the floor for any layer that speaks Django's cookie protocol;
//! - `sessionkit-locmem`, `sessionkit-redis`: `sessionkit_tower::SessionLayer` over
//!   `connect("locmem://")` / `connect("redis://…")`;
//! - `tower-sessions-memory`, `tower-sessions-redis`: tower-sessions 0.15's
//!   `SessionManagerLayer` over its `MemoryStore` / its redis store (tower-sessions-redis-store
//!   0.16 on a fred pool of 6, bridged to core 0.15's trait).
//!
//! Printed per cell: requests per second and process CPU per request over all its slices
//! (client, server and store client together; redis-server's own CPU is not counted), and the
//! median (with quartiles) over rounds of its time per request ÷ `plain`'s and ÷
//! `plain-cookie`'s in the same round. Redis: `SESSIONKIT_REDIS_URL` or a throwaway server.
//! `SESSIONKIT_BENCH_HTTP_SECS` (default 10) is each cell's measured time, in slices of
//! `SESSIONKIT_BENCH_HTTP_SLICE_MS` (default 500); `SESSIONKIT_BENCH_HTTP_CELLS` picks cells.
//!
//! ```text
//! cargo bench -p sessionkit-benches --bench http
//! SESSIONKIT_BENCH_HTTP_SECS=30 SESSIONKIT_BENCH_HTTP_CELLS=plain,plain-cookie,sessionkit-locmem cargo bench -p sessionkit-benches --bench http
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
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

/// Django's two-week `SESSION_COOKIE_AGE`.
const AGE: u64 = 1_209_600;

/// `plain-cookie`: what `plain` does, with the cookie read from the request and the same
/// `Set-Cookie` and `Vary` as sessionkit's answer to a changed session.
async fn plain_cookie(
    hits: Arc<AtomicU64>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let key = headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix("sessionid="))
        .unwrap_or("3mh5rk0m2jtnkqkb3mfjsqq1sw6l0fnb")
        .to_owned();
    let n = hits.fetch_add(1, Ordering::Relaxed) + 1;
    let expires = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(AGE));
    let set_cookie = format!(
        "sessionid={key}; expires={expires}; HttpOnly; Max-Age={AGE}; Path=/; SameSite=Lax"
    );
    let mut response = axum::response::Response::new(Body::from(format!("{n} visits")));
    let out = response.headers_mut();
    out.insert("vary", axum::http::HeaderValue::from_static("Cookie"));
    out.insert(
        "set-cookie",
        axum::http::HeaderValue::try_from(set_cookie).expect("a header value"),
    );
    response
}

/// One cell: its server on a free port and [`CONNECTIONS`] clients, each keeping its cookie,
/// that send requests only while the cell is active.
struct Cell {
    name: &'static str,
    active: tokio::sync::watch::Sender<bool>,
    done: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    /// Per measured slice: (requests, seconds, process CPU seconds).
    slices: Vec<(u64, f64, f64)>,
}

impl Cell {
    async fn start(name: &'static str, app: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let client: Client<_, Body> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(CONNECTIONS)
            .build_http();
        let (active, _) = tokio::sync::watch::channel(false);
        let done = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        for _ in 0..CONNECTIONS {
            let (client, base) = (client.clone(), base.clone());
            let (done, errors) = (done.clone(), errors.clone());
            let mut on = active.subscribe();
            tokio::spawn(async move {
                let mut cookie: Option<String> = None;
                loop {
                    if !*on.borrow_and_update() {
                        if on.changed().await.is_err() {
                            return;
                        }
                        continue;
                    }
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
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        Self {
            name,
            active,
            done,
            errors,
            slices: Vec::new(),
        }
    }

    /// Runs the cell alone for `slice`; returns (requests, seconds, process CPU seconds).
    async fn run(&self, slice: Duration) -> (u64, f64, f64) {
        let (n0, cpu0, t0) = (
            self.done.load(Ordering::Relaxed),
            process_cpu(),
            Instant::now(),
        );
        self.active.send_replace(true);
        tokio::time::sleep(slice).await;
        self.active.send_replace(false);
        // The requests in flight finish (they started in this slice) before the next cell.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = self.done.load(Ordering::Relaxed) - n0;
        (
            n,
            t0.elapsed().as_secs_f64(),
            (process_cpu() - cpu0).as_secs_f64(),
        )
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let secs = env_number("SESSIONKIT_BENCH_HTTP_SECS", 10);
    let slice_ms = env_number("SESSIONKIT_BENCH_HTTP_SLICE_MS", 500);
    let rounds = (secs * 1000 / slice_ms).max(1);
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
        let pool = Pool::new(
            FredConfig::from_url(&redis_url).unwrap(),
            None,
            None,
            None,
            6,
        )
        .unwrap();
        let _connection = pool.init().await.expect("connect the fred pool");
        let tower_redis = Bridge(TowerRedisStore::new(pool));
        let hits = plain_hits.clone();
        let apps: Vec<(&'static str, Router)> = vec![
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
                "plain-cookie",
                Router::new().route("/", {
                    let hits = plain_hits.clone();
                    get(move |headers| plain_cookie(hits.clone(), headers))
                }),
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
        let mut cells = Vec::new();
        for (name, app) in apps {
            if only.is_empty() || only.split(',').any(|c| c == name) {
                cells.push(Cell::start(name, app).await);
            }
        }
        println!(
            "{CONNECTIONS} connections; {rounds} rounds of one {slice_ms} ms slice per cell, \
             cells in turn ({secs} s per cell)"
        );
        for cell in &cells {
            cell.run(Duration::from_secs(1)).await; // warm up: sessions created
        }
        let slice = Duration::from_millis(slice_ms);
        for _ in 0..rounds {
            for cell in &mut cells {
                let measured = cell.run(slice).await;
                cell.slices.push(measured);
            }
        }
        // Time per request of cell `i` over cell `base`'s, per round: the median of those.
        let time_per_request = |c: &Cell, r: usize| {
            let (n, secs, _) = c.slices[r];
            secs / n.max(1) as f64
        };
        let base_of = |name: &str| cells.iter().position(|c| c.name == name);
        let (plain, plain_cookie) = (base_of("plain"), base_of("plain-cookie"));
        println!(
            "{:<22} {:>10} {:>14} {:>26} {:>26}",
            "cell",
            "requests/s",
            "CPU µs/req",
            "time ÷ plain (p25–p75)",
            "÷ plain-cookie (p25–p75)"
        );
        for cell in &cells {
            let n: u64 = cell.slices.iter().map(|s| s.0).sum();
            let secs: f64 = cell.slices.iter().map(|s| s.1).sum();
            let cpu: f64 = cell.slices.iter().map(|s| s.2).sum();
            let ratios = |base: Option<usize>| {
                let Some(b) = base else {
                    return "-".to_owned();
                };
                let mut r: Vec<f64> = (0..cell.slices.len())
                    .map(|i| time_per_request(cell, i) / time_per_request(&cells[b], i))
                    .collect();
                r.sort_by(f64::total_cmp);
                let q = |f: f64| r[((r.len() - 1) as f64 * f).round() as usize];
                format!("×{:.3} ({:.2}–{:.2})", median(r.clone()), q(0.25), q(0.75))
            };
            println!(
                "{:<22} {:>10.0} {:>14.1} {:>26} {:>26}   errors {}",
                cell.name,
                n as f64 / secs,
                cpu / n.max(1) as f64 * 1e6,
                ratios(plain),
                ratios(plain_cookie),
                cell.errors.load(Ordering::Relaxed)
            );
        }
    });
}
