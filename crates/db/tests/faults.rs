//! Failure behaviour, each test on a throwaway database server of its own (never the
//! machine's): PostgreSQL and MariaDB killed (SIGKILL) under 32 tasks of request cycles, then
//! restarted on the same port and data directory. Calls fail with `Unavailable`/`Timeout`
//! (never a panic, never a hang past the configured timeouts) while it is down, and the same
//! store object serves again once it is back. And the same servers frozen (SIGSTOP: connections
//! stay open, nothing answers): every call ends with `Timeout` within the store's own bound
//! instead of waiting for the server, and the store serves again once the server is thawed.
#![cfg(any(feature = "postgres", feature = "mysql"))]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sessionkit_core::{ErrorKind, SessionKey, SessionStore, Sessions, UnixTime};
use sessionkit_db::DbConfig;
use sessionkit_testkit::{Service, ThrowawayServer};
use tokio::time::{sleep, timeout};

const TASKS: usize = 32;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(2);
/// Far above the operation limit (connect + statement timeout + 1 s = 5 s): a call still
/// pending after this is hung.
const HANG: Duration = Duration::from_secs(20);

async fn start(service: Service) -> Box<dyn ThrowawayServer> {
    tokio::task::spawn_blocking(move || match service.start() {
        Ok(server) => server,
        Err(e) => panic!("cannot start a throwaway {service} server for the fault tests: {e}"),
    })
    .await
    .expect("start task")
}

/// One request cycle: load the session, bump its counter, save it.
async fn cycle(sessions: &Sessions, key: &str) -> sessionkit_core::Result<u64> {
    let mut s = sessions.load(Some(key)).await?;
    let n: u64 = s.get("n")?.unwrap_or(0) + 1;
    s.insert("n", n)?;
    s.save().await?;
    Ok(n)
}

/// Runs `fut` and fails the test if it is still pending after [`HANG`].
async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match timeout(HANG, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} hung for {HANG:?}, beyond every configured timeout"),
    }
}

async fn killed_database_fails_calls_and_the_same_store_recovers(service: Service) {
    let mut server = start(service).await;
    let store = DbConfig::new(server.urls().remove(0))
        .table("sessionkit_faults")
        // One connection per task: no request waits for the pool while the server is up.
        .pool_size(TASKS as u32)
        .connect_timeout(CONNECT_TIMEOUT)
        .statement_timeout(STATEMENT_TIMEOUT)
        .connect()
        .await
        .expect("connect to the throwaway server");
    store.migrate().await.expect("migrate");
    let sessions = Sessions::new(store.clone());

    let mut keys = Vec::with_capacity(TASKS);
    for i in 0..TASKS {
        let mut s = sessions.create();
        s.insert("task", i).unwrap();
        s.save().await.unwrap();
        keys.push(s.key().unwrap().as_str().to_owned());
    }

    // Set just before the kill (calls may fail from then on) and just after it (calls started
    // from then on must fail).
    let killing = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors_after_kill = Arc::new(AtomicU64::new(0));
    let cycles_before_kill = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for key in keys.clone() {
        let (sessions, killing, killed, stop, errors, before) = (
            sessions.clone(),
            killing.clone(),
            killed.clone(),
            stop.clone(),
            errors_after_kill.clone(),
            cycles_before_kill.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Bounded: at most 100,000 cycles, and the main task stops us within seconds.
            for _ in 0..100_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let started_after_kill = killed.load(Ordering::SeqCst);
                match bounded("a request cycle", cycle(&sessions, &key)).await {
                    Ok(_) => {
                        assert!(
                            !started_after_kill,
                            "a request started after the kill succeeded"
                        );
                        before.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        assert!(
                            matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
                            "unexpected error kind: {e:?}"
                        );
                        if started_after_kill {
                            errors.fetch_add(1, Ordering::SeqCst);
                        } else if !killing.load(Ordering::SeqCst) {
                            panic!("a request failed while the server was up: {e:?}");
                        }
                    }
                }
                if started_after_kill {
                    sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }

    sleep(Duration::from_millis(1_500)).await;
    killing.store(true, Ordering::SeqCst);
    server.kill().unwrap();
    killed.store(true, Ordering::SeqCst);
    // Let every task fail for a while: broken connections, refused new ones, pool timeouts.
    sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.expect("a request task panicked");
    }
    assert!(
        cycles_before_kill.load(Ordering::SeqCst) > 0,
        "no cycle completed before the kill"
    );
    assert!(
        errors_after_kill.load(Ordering::SeqCst) >= TASKS as u64,
        "every task saw its calls fail while the server was down"
    );

    // Same port, same data: the SAME store object must serve again without being rebuilt.
    let server = tokio::task::spawn_blocking(move || {
        server.restart().expect("restart on the same port");
        server
    })
    .await
    .unwrap();
    let probe = SessionKey::generate();
    let mut recovered = false;
    for attempt in 1..=100 {
        let created = bounded(
            "a create after the restart",
            store.create(&probe, b"probe", UnixTime::now().add_secs(60)),
        )
        .await;
        match created {
            Ok(_) => {
                eprintln!(
                    "{service}: {} failed calls while the server was down; served again at \
                     attempt {attempt}",
                    errors_after_kill.load(Ordering::SeqCst)
                );
                recovered = true;
                break;
            }
            Err(e) => assert!(e.is_unavailable(), "after the restart: {e:?}"),
        }
        sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the store did not recover within 100 attempts");
    assert_eq!(
        store.load(&probe).await.unwrap().as_deref(),
        Some(&b"probe"[..])
    );

    // And under load again: every task's session is still there (the data survived the kill)
    // and every cycle succeeds and reads back what it saved.
    let mut tasks = Vec::new();
    for key in keys {
        let sessions = sessions.clone();
        tasks.push(tokio::spawn(async move {
            let mut last = None;
            for _ in 0..20 {
                let n = bounded("a cycle after recovery", cycle(&sessions, &key))
                    .await
                    .expect("a cycle after recovery");
                if let Some(prev) = last {
                    assert_eq!(n, prev + 1, "a saved counter was lost");
                }
                last = Some(n);
            }
        }));
    }
    for t in tasks {
        t.await.expect("a task after recovery panicked");
    }
    server.ping().unwrap();
}

/// Bound of one call of a store built with [`CONNECT_TIMEOUT`] and [`STATEMENT_TIMEOUT`]:
/// connect + statement timeout + 1 s (docs/db.md), plus slack for a loaded machine.
const CALL_BOUND: Duration = Duration::from_secs(9);

async fn paused_database_times_out_and_the_same_store_recovers(service: Service) {
    let mut server = start(service).await;
    let store = DbConfig::new(server.urls().remove(0))
        .table("sessionkit_paused")
        .pool_size(4)
        .connect_timeout(CONNECT_TIMEOUT)
        .statement_timeout(STATEMENT_TIMEOUT)
        .connect()
        .await
        .expect("connect to the throwaway server");
    store.migrate().await.expect("migrate");
    let sessions = Sessions::new(store.clone());
    let mut s = sessions.create();
    s.insert("n", 0_u64).unwrap();
    s.save().await.unwrap();
    let key = s.key().unwrap().as_str().to_owned();
    cycle(&sessions, &key)
        .await
        .expect("a cycle before the pause");

    server.pause().expect("pause the server");
    // More concurrent requests than connections: some wait on busy connections, some for the
    // pool. Every one must end, with Timeout (or Unavailable), within the store's bound.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (sessions, key) = (sessions.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = timeout(CALL_BOUND * 2, cycle(&sessions, &key)).await;
            (result, started.elapsed())
        }));
    }
    for t in tasks {
        let (result, took) = t.await.expect("a request task panicked");
        let result = result.unwrap_or_else(|_| {
            panic!("a request cycle against a frozen {service} did not end within {CALL_BOUND:?} per call")
        });
        let err = result.expect_err("a request against a frozen server succeeded");
        assert!(
            matches!(err.kind(), ErrorKind::Timeout | ErrorKind::Unavailable),
            "unexpected error kind: {err:?}"
        );
        eprintln!("{service} frozen: {:?} after {took:?}", err.kind());
    }

    server.resume().expect("resume the server");
    let mut recovered = None;
    for attempt in 1..=100 {
        match bounded("a cycle after the thaw", cycle(&sessions, &key)).await {
            Ok(n) => {
                recovered = Some((attempt, n));
                break;
            }
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Unavailable),
                "after the thaw: {e:?}"
            ),
        }
        sleep(Duration::from_millis(100)).await;
    }
    let (attempt, n) = recovered.expect("the store did not serve again after the thaw");
    eprintln!("{service}: served again at attempt {attempt} (counter {n})");
    // The counter only moves by whole cycles: the cycles that timed out may or may not have
    // reached the server, but none left a torn record.
    assert!(n >= 2, "the counter went backwards: {n}");
    let loaded = sessions.load(Some(&key)).await.unwrap();
    assert_eq!(loaded.get::<u64>("n").unwrap(), Some(n));
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_frozen_calls_time_out_and_recover() {
    paused_database_times_out_and_the_same_store_recovers(Service::Postgres).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_frozen_calls_time_out_and_recover() {
    paused_database_times_out_and_the_same_store_recovers(Service::Mysql).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_and_restarted_under_load() {
    killed_database_fails_calls_and_the_same_store_recovers(Service::Postgres).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_killed_and_restarted_under_load() {
    killed_database_fails_calls_and_the_same_store_recovers(Service::Mysql).await;
}
