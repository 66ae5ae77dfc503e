//! Issue 10: `clear_expired` on a million expired rows whose statistics are stale, while 32
//! tasks serve request cycles on the same table, on PostgreSQL, MariaDB and SQLite.
//!
//! For each database: a table made by the store's own `migrate()`, its statistics taken while it
//! is empty and then frozen (PostgreSQL: `ANALYZE` then autovacuum off for the table; MariaDB:
//! `ANALYZE TABLE` then `STATS_AUTO_RECALC=0`), so the planner believes the table is empty;
//! then `SESSIONKIT_BENCH_CLEAR_ROWS` (default 1,000,000) expired rows and as many live ones are
//! bulk-loaded, spread over a day of expiry dates, 100-byte records. 32 tasks then run request
//! cycles (load, change one value, save) on sessions of their own through `Sessions`, and
//! `clear_expired_batch(1000)` is called until it removes fewer than 1,000 rows — each call one
//! select of at most 1,000 expired keys by the expiry index and one delete of those keys —
//! and finally `clear_expired()` once more, on a table with nothing left to clear. Printed:
//! the plan the database chooses for the select (without the store's index guard, to show what
//! the stale statistics would do), time per batch (p50, p99, max), the empty batch, the total,
//! the count (it must equal the rows loaded), what is left, and the serving tasks' throughput
//! and errors before and during the clearing. The store runs with its default 5 s statement
//! timeout, as an application would.
//!
//! ```text
//! cargo bench -p sessionkit-benches --bench clear_expired
//! SESSIONKIT_BENCH_DBS=postgres SESSIONKIT_BENCH_CLEAR_ROWS=100000 cargo bench -p sessionkit-benches --bench clear_expired
//! ```
//!
//! Servers: `SESSIONKIT_POSTGRES_URL`, `SESSIONKIT_MYSQL_URL` (MariaDB: the bulk load uses its
//! `seq_1_to_N` sequence tables), or throwaway servers from the binaries on `PATH`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sessionkit_benches::db::{selected_dbs, unique_table, Db, RawPool, Target};
use sessionkit_core::{SessionStore, Sessions, UnixTime};
use sessionkit_db::{DbConfig, CLEAR_BATCH_SIZE};

/// Serving tasks, as in the issue's measurement.
const TASKS: usize = 32;
/// Rows per bulk-load statement.
const LOAD_CHUNK: u64 = 100_000;

fn rows() -> u64 {
    std::env::var("SESSIONKIT_BENCH_CLEAR_ROWS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000)
}

/// The SQL that loads rows `from..=to` of one kind (`e` expired, `l` live), expiring at
/// `base + (i mod 86,400)`.
fn load_sql(db: Db, table: &str, kind: char, base: i64, from: u64, to: u64) -> String {
    match db {
        Db::Postgres => format!(
            "INSERT INTO {table} (session_key, session_data, expire_date) \
             SELECT '{kind}' || lpad(i::text, 31, '0'), decode(repeat('78', 100), 'hex'), \
             {base} + (i % 86400) FROM generate_series({from}, {to}) AS i"
        ),
        Db::Mysql => format!(
            "INSERT INTO {table} (session_key, session_data, expire_date) \
             SELECT CONCAT('{kind}', LPAD(seq, 31, '0')), REPEAT('x', 100), \
             {base} + (seq % 86400) FROM seq_{from}_to_{to}"
        ),
        Db::Sqlite => format!(
            "WITH RECURSIVE s(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM s WHERE i < {to}) \
             INSERT INTO {table} (session_key, session_data, expire_date) \
             SELECT '{kind}' || printf('%031d', i), randomblob(100), {base} + (i % 86400) FROM s"
        ),
    }
}

/// Statistics taken on the empty table, then frozen.
fn freeze_stats_sql(db: Db, table: &str) -> String {
    match db {
        Db::Postgres => format!(
            "ANALYZE {table}; ALTER TABLE {table} SET (autovacuum_enabled = false, \
             toast.autovacuum_enabled = false)"
        ),
        Db::Mysql => format!(
            "ANALYZE TABLE {table}; ALTER TABLE {table} STATS_PERSISTENT = 1, STATS_AUTO_RECALC = 0"
        ),
        Db::Sqlite => format!("ANALYZE {table}"),
    }
}

/// The plan of the store's select without its index guard (what stale statistics choose).
fn explain_sql(db: Db, table: &str, now: i64) -> String {
    let select = format!(
        "SELECT session_key FROM {table} WHERE expire_date <= {now} \
         ORDER BY expire_date LIMIT {CLEAR_BATCH_SIZE}"
    );
    match db {
        Db::Postgres => format!("EXPLAIN {select}"),
        Db::Mysql => format!("EXPLAIN FORMAT=JSON {select}"),
        Db::Sqlite => format!("EXPLAIN QUERY PLAN {select}"),
    }
}

#[derive(Default)]
struct Serving {
    ops: AtomicU64,
    errors: AtomicU64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn run(db: Db, n: u64) {
    let target = Target::new(db);
    let table = unique_table("clear");
    let store = DbConfig::new(&target.url)
        .with_table(&table)
        .connect()
        .await
        .expect("connect sessionkit-db");
    store.migrate().await.expect("migrate");
    let raw = RawPool::new(db, &target.url, true);
    raw.execute(&freeze_stats_sql(db, &table));

    let now = UnixTime::now().as_secs();
    let started = Instant::now();
    for (kind, base) in [('e', now - 86_401), ('l', now + 3_600)] {
        let mut from = 1;
        while from <= n {
            let to = (from + LOAD_CHUNK - 1).min(n);
            raw.execute(&load_sql(db, &table, kind, base, from, to));
            from = to + 1;
        }
    }
    let load_time = started.elapsed();
    let plan = raw.texts(&explain_sql(db, &table, now));
    println!(
        "\n== {}: {n} expired + {n} live rows loaded in {:.1} s; statistics frozen while empty",
        db.name(),
        load_time.as_secs_f64()
    );
    println!("plan of the select without the index guard:");
    for line in &plan {
        println!("    {line}");
    }

    let sessions = Sessions::new(store.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let serving = Arc::new(Serving::default());
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (sessions, stop, serving) = (sessions.clone(), stop.clone(), serving.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = sessions.create();
            s.insert_value("task", json!(t));
            s.save().await.expect("create a serving session");
            let cookie = s.key().expect("saved").as_str().to_owned();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let cycle = async {
                    let mut s = sessions.load(Some(&cookie)).await?;
                    s.insert("last_activity", i)?;
                    s.save().await
                };
                match cycle.await {
                    Ok(()) => serving.ops.fetch_add(1, Ordering::Relaxed),
                    Err(_) => serving.errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_ops = serving.ops.load(Ordering::Relaxed);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before_rate =
        (serving.ops.load(Ordering::Relaxed) - before_ops) as f64 / window.elapsed().as_secs_f64();

    let ops_at_start = serving.ops.load(Ordering::Relaxed);
    let errors_at_start = serving.errors.load(Ordering::Relaxed);
    let clearing = Instant::now();
    let batch = u64::from(CLEAR_BATCH_SIZE);
    let mut batches = Vec::new();
    let mut removed = 0u64;
    let mut failure = None;
    loop {
        let t = Instant::now();
        match store.clear_expired_batch(batch).await {
            Ok(k) => {
                batches.push(t.elapsed());
                removed += k;
                if k < batch {
                    break;
                }
            }
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    let total = clearing.elapsed();
    let during_rate =
        (serving.ops.load(Ordering::Relaxed) - ops_at_start) as f64 / total.as_secs_f64();
    let errors_during = serving.errors.load(Ordering::Relaxed) - errors_at_start;
    let empty = Instant::now();
    let again = store.clear_expired().await;
    let empty_time = empty.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("serving task");
    }

    let left_expired = raw.count(&format!(
        "SELECT COUNT(*) AS n FROM {table} WHERE expire_date <= {now}"
    ));
    let live = raw.count(&format!(
        "SELECT COUNT(*) AS n FROM {table} WHERE expire_date > {now}"
    ));
    let last = batches.last().copied().unwrap_or_default();
    let mut sorted = batches.clone();
    sorted.sort();
    println!(
        "clear_expired_batch({CLEAR_BATCH_SIZE}) × {}: removed {removed} in {:.1} s; per batch p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; last batch {:.1} ms{}",
        batches.len(),
        total.as_secs_f64(),
        ms(percentile(&sorted, 0.5)),
        ms(percentile(&sorted, 0.99)),
        ms(percentile(&sorted, 1.0)),
        ms(last),
        failure.map(|e| format!("; FAILED: {e}")).unwrap_or_default()
    );
    println!(
        "clear_expired() with nothing left: {:?} in {:.2} ms",
        again,
        ms(empty_time)
    );
    println!(
        "left: {left_expired} expired, {live} live (loaded {n} + {TASKS} serving); count exact: {}",
        removed == n && left_expired == 0 && live == n as i64 + TASKS as i64
    );
    println!(
        "serving ({TASKS} tasks, request cycles): {before_rate:.0}/s before, {during_rate:.0}/s while clearing, {errors_during} errors while clearing"
    );
    raw.drop_table(&table);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let n = rows();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for db in selected_dbs() {
        runtime.block_on(run(db, n));
    }
}
