//! Failures: a server killed under load and restarted, a server that accepts but never answers,
//! a server whose accept queue is full. Each test uses servers of its own.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sessionkit_core::{ErrorKind, SessionKey, SessionStore, Sessions, UnixTime};
use sessionkit_memcached::{MemcachedConfig, MemcachedStore};

const TASKS: usize = 32;
const TIMEOUT: Duration = Duration::from_millis(400);
/// Far above what the configured timeouts allow for one call: reaching it means a hang.
const HANG: Duration = Duration::from_secs(15);

fn config(urls: &[String]) -> MemcachedConfig {
    MemcachedConfig::new(urls)
        .with_prefix(common::unique_prefix("fault"))
        .with_connect_timeout(TIMEOUT)
        .with_response_timeout(TIMEOUT)
}

/// One request cycle: load the task's session, bump its counter, save.
async fn cycle(sessions: &Sessions, key: &str, n: u64) -> sessionkit_core::Result<()> {
    let mut s = sessions.load(Some(key)).await?;
    s.insert("n", n)?;
    s.save().await
}

#[derive(Debug, Default)]
struct Tally {
    ok_before: u64,
    calls_after: u64,
    ok_after: u64,
    wrong_kind_after: Vec<ErrorKind>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_fails_every_call_then_the_same_store_recovers() {
    let mut servers = common::own_servers(1).await;
    let store = MemcachedStore::connect(config(&servers.urls()))
        .await
        .unwrap();
    let sessions = Sessions::new(store.clone());

    let mut keys = Vec::new();
    for i in 0..TASKS {
        let mut s = sessions.create();
        s.insert("task", i).unwrap();
        s.save().await.unwrap();
        keys.push(s.key().unwrap().as_str().to_owned());
    }

    let killed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    // Tasks that have completed a cycle: the server is killed once all of them have.
    let warmed = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = keys
        .iter()
        .cloned()
        .map(|key| {
            let sessions = sessions.clone();
            let (killed, stop, warmed) = (killed.clone(), stop.clone(), warmed.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let after = killed.load(Ordering::SeqCst);
                    let result = tokio::time::timeout(HANG, cycle(&sessions, &key, n))
                        .await
                        .expect("a call hung past every configured timeout");
                    match (after, result) {
                        (false, Ok(())) => {
                            if tally.ok_before == 0 {
                                warmed.fetch_add(1, Ordering::SeqCst);
                            }
                            tally.ok_before += 1;
                        }
                        (false, Err(_)) => {} // in flight while the server died
                        (true, Ok(())) => {
                            tally.calls_after += 1;
                            tally.ok_after += 1;
                        }
                        (true, Err(e)) => {
                            tally.calls_after += 1;
                            if !e.is_unavailable() {
                                tally.wrong_kind_after.push(e.kind());
                            }
                        }
                    }
                    tokio::task::yield_now().await;
                }
                tally
            })
        })
        .collect();

    let start = std::time::Instant::now();
    while warmed.load(Ordering::SeqCst) < TASKS {
        assert!(start.elapsed() < HANG, "the tasks never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let servers = tokio::task::spawn_blocking(move || {
        servers.kill_node(0).unwrap();
        servers
    })
    .await
    .unwrap();
    killed.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stop.store(true, Ordering::SeqCst);

    for worker in workers {
        let tally = worker.await.expect("a worker panicked");
        assert!(tally.ok_before > 0, "{tally:?}");
        assert!(tally.calls_after > 0, "{tally:?}");
        assert_eq!(
            tally.ok_after, 0,
            "a call succeeded with the server dead: {tally:?}"
        );
        assert!(tally.wrong_kind_after.is_empty(), "{tally:?}");
    }

    // Same port, same store object: it serves again at once.
    let servers = tokio::task::spawn_blocking(move || {
        let mut servers = servers;
        servers.restart_node(0).unwrap();
        servers
    })
    .await
    .unwrap();
    let after: Vec<_> = (0..TASKS)
        .map(|i| {
            let sessions = sessions.clone();
            tokio::spawn(async move {
                for round in 0..5u64 {
                    let mut s = sessions.create();
                    s.insert("task", i).unwrap();
                    s.insert("round", round).unwrap();
                    s.save().await.unwrap();
                    let key = s.key().unwrap().as_str().to_owned();
                    cycle(&sessions, &key, round + 100).await.unwrap();
                    let again = sessions.load(Some(&key)).await.unwrap();
                    assert_eq!(again.get::<usize>("task").unwrap(), Some(i));
                    assert_eq!(again.get::<u64>("n").unwrap(), Some(round + 100));
                }
            })
        })
        .collect();
    for task in after {
        task.await
            .expect("the restarted server did not serve the same store");
    }
    // The sessions from before the crash are gone (memcached keeps nothing), not resurrected.
    let old = sessions.load(Some(&keys[0])).await.unwrap();
    assert!(old.key().is_none() && old.is_empty());
    drop(servers);
}

/// A server that accepts connections and never answers (a real socket, not a mock: it speaks
/// nothing at all, as a hung memcached would).
async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (format!("memcached://{addr}"), task)
}

/// A fresh key that `store` routes to `server` (`HOST:PORT`).
fn key_on(store: &MemcachedStore, server: &str) -> SessionKey {
    loop {
        let key = SessionKey::generate();
        if store.server_for(&key) == server {
            return key;
        }
    }
}

/// A store over a real memcached and `bad` (so that `connect` finds a server that answers,
/// as the start-up rule asks), after checking that `bad` alone fails `connect` in time.
async fn store_with(bad: &str) -> (MemcachedStore, sessionkit_testkit::MemcachedServers) {
    let alone = tokio::time::timeout(HANG, MemcachedStore::connect(config(&[bad.to_owned()])))
        .await
        .expect("connect hung");
    assert!(
        alone.unwrap_err().is_timeout(),
        "no server answers: connect fails"
    );
    let good = sessionkit_testkit::MemcachedServers::start(1).expect("a memcached server");
    let store = MemcachedStore::connect(config(&[good.urls()[0].clone(), bad.to_owned()]))
        .await
        .unwrap();
    (store, good)
}

async fn every_operation_times_out(store: &MemcachedStore, server: &str) {
    let key = key_on(store, server);
    let exp = UnixTime::now().add_secs(60);
    let calls: Vec<(&str, sessionkit_core::Error)> = vec![
        ("load", store.load(&key).await.unwrap_err()),
        ("create", store.create(&key, b"x", exp).await.unwrap_err()),
        (
            "update",
            store
                .update(&key, b"x", exp, sessionkit_core::Expected::Any)
                .await
                .unwrap_err(),
        ),
        ("touch", store.touch(&key, exp).await.unwrap_err()),
        ("delete", store.delete(&key).await.unwrap_err()),
        ("exists", store.exists(&key).await.unwrap_err()),
    ];
    for (op, err) in calls {
        assert!(err.is_timeout(), "{op}: {err:?}");
        assert_eq!(err.backend_name(), "memcached");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_trips_the_response_timeout() {
    let (url, server) = silent_server().await;
    let (store, _good) = store_with(&url).await;
    let bad = url.trim_start_matches("memcached://").to_owned();
    every_operation_times_out(&store, &bad).await;

    // Many concurrent callers: each gets its timeout, none hangs.
    let sessions = Sessions::new(store.clone());
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let sessions = sessions.clone();
            let key = key_on(&store, &bad);
            tokio::spawn(async move {
                let result = tokio::time::timeout(HANG, sessions.load(Some(key.as_str())))
                    .await
                    .expect("hung");
                result.unwrap_err().kind()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), ErrorKind::Timeout);
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_accepts_nothing_trips_the_connect_timeout() {
    // A listening socket whose accept queue (backlog 0) is filled by one connection that is
    // never accepted: the kernel then drops further connection attempts, as with an
    // overloaded or firewalled server.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => fillers.push(stream),
            Err(_) => break, // the queue is full
        }
    }
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(),
        "the accept queue did not fill; this kernel does not drop connections when it is full"
    );
    let (store, _good) = store_with(&format!("memcached://{addr}")).await;
    every_operation_times_out(&store, &addr.to_string()).await;
    drop(fillers);
    drop(listener);
}
