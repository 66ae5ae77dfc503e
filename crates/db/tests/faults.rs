//! Failure behaviour, each test on a throwaway database server of its own (never the
//! machine's): PostgreSQL and MariaDB killed (SIGKILL) under 32 tasks of request cycles, then
//! restarted on the same port and data directory. Calls fail with `Unavailable`/`Timeout`
//! (never a panic, never a hang past the configured timeouts) while it is down, and the same
//! store object serves again once it is back. And the same servers frozen (SIGSTOP: connections
//! stay open, nothing answers): every call ends with `Timeout` within the store's own bound
//! instead of waiting for the server, and the store serves again once the server is thawed.
#![cfg(any(feature = "postgres", feature = "mysql"))]

use std::time::Duration;

use sessionkit_conformance::outage::{self, cycle, KillUnderLoad};
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

/// Runs `fut`, failing the test if it is still pending after [`HANG`].
async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    outage::bounded(what, HANG, fut).await
}

async fn killed_database_fails_calls_and_the_same_store_recovers(service: Service) {
    let mut server = start(service).await;
    let store = DbConfig::new(server.urls().remove(0))
        .with_table("sessionkit_faults")
        // One connection per task: no request waits for the pool while the server is up.
        .with_pool_size(TASKS as u32)
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_statement_timeout(STATEMENT_TIMEOUT)
        .connect()
        .await
        .expect("connect to the throwaway server");
    store.migrate().await.expect("migrate");
    let sessions = Sessions::new(store.clone());

    let killed = KillUnderLoad {
        tasks: TASKS,
        warm_up: Duration::from_millis(1_500),
        // Long enough for broken connections, refused new ones and pool timeouts.
        down_for: Duration::from_secs(4),
        retry_pause: Duration::from_millis(20),
        hang: HANG,
    }
    .run(&sessions, || server.kill().expect("kill the server"))
    .await;

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
                    killed.errors_after_kill
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
        sessionkit_conformance::stored(&store, &probe)
            .await
            .as_deref(),
        Some(&b"probe"[..])
    );

    // And under load again: every task's session is still there (the data survived the kill)
    // and every cycle succeeds and reads back what it saved.
    let mut tasks = Vec::new();
    for key in killed.keys {
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
        .with_table("sessionkit_paused")
        .with_pool_size(4)
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_statement_timeout(STATEMENT_TIMEOUT)
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
