//! Failure behaviour, each test on a throwaway redis server of its own (never the machine's):
//! a server killed under load, restarted on the same port, and a server too slow to answer.

use std::time::Duration;

use sessionkit_conformance::outage::{self, cycle, KillUnderLoad};
use sessionkit_core::{SessionKey, SessionStore, Sessions, UnixTime};
use sessionkit_redis::{RedisConfig, RedisStore};
use sessionkit_testkit::{RedisServer, ThrowawayServer};
use tokio::time::sleep;

const TASKS: usize = 32;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// Far above the configured operation timeout (1 s): a call still pending after this is hung.
const HANG: Duration = Duration::from_secs(10);

async fn start_server() -> RedisServer {
    tokio::task::spawn_blocking(|| match RedisServer::start() {
        Ok(server) => server,
        Err(e) => panic!("cannot start a throwaway redis-server for the fault tests: {e}"),
    })
    .await
    .expect("start task")
}

async fn store(url: &str, tag: &str) -> RedisStore {
    RedisConfig::new(url)
        .with_key_prefix(format!("faults:{tag}:"))
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_response_timeout(RESPONSE_TIMEOUT)
        .connect()
        .await
        .expect("connect to the throwaway server")
}

/// Runs `fut`, failing the test if it is still pending after [`HANG`].
async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    outage::bounded(what, HANG, fut).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_fails_every_call_and_the_same_store_recovers() {
    let mut server = start_server().await;
    let store = store(&server.url(), "kill").await;
    let sessions = Sessions::new(store.clone());

    let killed = KillUnderLoad {
        tasks: TASKS,
        warm_up: Duration::from_millis(500),
        // Refused connections, reconnect attempts.
        down_for: Duration::from_millis(1_500),
        retry_pause: Duration::from_millis(5),
        hang: HANG,
    }
    .run(&sessions, || server.kill().expect("kill the server"))
    .await;

    // Same port, empty data set (nothing is kept on disk): the SAME store object must serve
    // again without being rebuilt. The first call may still meet the old, broken connection.
    let server = tokio::task::spawn_blocking(move || {
        server.restart().expect("restart redis on the same port");
        server
    })
    .await
    .unwrap();
    let probe = SessionKey::generate();
    let mut recovered = false;
    for attempt in 1..=50 {
        let created = bounded(
            "a create after the restart",
            store.create(&probe, b"probe", UnixTime::now().add_secs(60)),
        )
        .await;
        if created.is_ok() {
            eprintln!(
                "{} failed calls while the server was down; served again at attempt {attempt}",
                killed.errors_after_kill
            );
            recovered = true;
            break;
        }
        sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the store did not reconnect within 50 attempts");
    assert_eq!(
        sessionkit_conformance::stored(&store, &probe)
            .await
            .as_deref(),
        Some(&b"probe"[..])
    );

    // And under load again: 32 tasks, every cycle succeeds and reads back what it saved.
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let sessions = sessions.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = sessions.create();
            s.insert("task", i).unwrap();
            s.save().await.expect("save after recovery");
            let key = s.key().unwrap().as_str().to_owned();
            for expected in 1..=20u64 {
                let n = bounded("a cycle after recovery", cycle(&sessions, &key))
                    .await
                    .expect("a cycle after recovery");
                assert_eq!(n, expected);
            }
        }));
    }
    for t in tasks {
        t.await.expect("a task after recovery panicked");
    }
    server.ping().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_server_trips_the_response_timeout() {
    let server = start_server().await;
    let store = store(&server.url(), "slow").await;
    let key = SessionKey::generate();
    let exp = UnixTime::now().add_secs(600);
    store.create(&key, b"before", exp).await.unwrap();

    // A second connection makes the server stop answering for 2 s. `DEBUG SLEEP 2` is the
    // classic way, but redis 7 refuses DEBUG unless started with `enable-debug-command`;
    // `CLIENT PAUSE` (every redis since 6.0) blocks our commands the same way.
    let reply = server.command(&["CLIENT", "PAUSE", "2000"]).unwrap();
    assert_eq!(reply.as_text().as_deref(), Some("OK"), "{reply:?}");

    let err = bounded("a load from a paused server", store.load(&key))
        .await
        .expect_err("the server is paused for 2 s, the response timeout is 500 ms");
    assert!(err.is_timeout(), "{err:?}");
    let err = bounded(
        "an update to a paused server",
        store.update(&key, b"during", exp, sessionkit_core::Expected::Any),
    )
    .await
    .expect_err("still paused");
    assert!(err.is_timeout(), "{err:?}");

    // Once the server answers again, the same connection serves, and late replies to the
    // timed-out commands are not mistaken for answers to new ones.
    let mut value = None;
    for _ in 0..50 {
        match bounded("a load after the pause", store.load(&key)).await {
            Ok(v) => {
                value = Some(v);
                break;
            }
            Err(e) => {
                assert!(e.is_timeout() || e.is_unavailable(), "{e:?}");
                sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let value = value.expect("the store answers again after the pause");
    // The timed-out update may or may not have been applied by the server when it woke up.
    assert!(
        matches!(
            value.as_ref().map(|l| &l.record[..]),
            Some(b"before") | Some(b"during")
        ),
        "{value:?}"
    );
    for i in 0..100u32 {
        let bytes = i.to_be_bytes();
        store
            .update(&key, &bytes, exp, sessionkit_core::Expected::Any)
            .await
            .unwrap();
        assert_eq!(
            sessionkit_conformance::stored(&store, &key)
                .await
                .as_deref(),
            Some(&bytes[..])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_built_while_server_is_down_fails_fast() {
    let mut server = start_server().await;
    let url = server.url();
    server.kill().unwrap();
    let err = bounded(
        "connecting to a dead server",
        RedisConfig::new(&url).connect(),
    )
    .await
    .expect_err("nothing listens on the port");
    assert!(err.is_unavailable(), "{err:?}");
}
