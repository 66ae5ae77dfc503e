//! Redis Cluster under load and under failure: the soak over a cluster
//! (`SESSIONKIT_REDIS_CLUSTER_URLS` or a throwaway one), and a master killed and restarted on a
//! throwaway cluster of this test's own.

mod common;

use std::time::Duration;

use sessionkit_core::{ErrorKind, SessionKey, SessionStore, UnixTime};
use sessionkit_redis::RedisConfig;
use sessionkit_testkit::RedisCluster;
use tokio::time::{sleep, timeout};

/// Far above the configured operation timeout: a call still pending after this is hung.
const HANG: Duration = Duration::from_secs(15);
/// How long the same store may take to reach every slot again after the master restarted.
const RECOVERY: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_soak_never_loses_or_mixes_sessions() {
    let server = common::cluster_store().await;
    let duration = common::soak_duration();
    let cycles = common::soak(server.store.clone(), duration).await;
    eprintln!(
        "cluster soak: {} tasks, {cycles} cycles in {duration:?} ({:.0} cycles/s)",
        common::SOAK_TASKS,
        cycles as f64 / duration.as_secs_f64()
    );
    assert!(cycles > 0);
}

// Known limitation, kept out of the default run so CI stays meaningful: when the dead master
// takes the whole cluster down (CLUSTERDOWN, most loads failing), redis-rs 1.8's cluster client
// sometimes does not find every slot again within 60 s of the master's return, so the same
// store object does not recover (seen once in four CI runs). Run it with
// `cargo test -p sessionkit-redis --test cluster_faults -- --ignored`.
#[ignore = "flaky: redis-rs cluster client sometimes does not recover from CLUSTERDOWN (see comment)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_master_fails_its_calls_and_the_same_store_recovers() {
    let mut cluster = tokio::task::spawn_blocking(|| match RedisCluster::start() {
        Ok(c) => c,
        Err(e) => panic!("cannot start a throwaway redis cluster: {e}"),
    })
    .await
    .unwrap();
    let store = RedisConfig::cluster(cluster.urls())
        .with_key_prefix("cluster-faults:")
        .with_connect_timeout(Duration::from_millis(500))
        .with_response_timeout(Duration::from_millis(500))
        .connect()
        .await
        .expect("connect to the throwaway cluster");

    // Enough keys that every master holds some.
    let exp = UnixTime::now().add_secs(600);
    let keys: Vec<SessionKey> = (0..60).map(|_| SessionKey::generate()).collect();
    for k in &keys {
        store.create(k, b"v", exp).await.unwrap();
    }

    let t0 = tokio::time::Instant::now();
    cluster.kill_node(0).unwrap();
    // All at once: with full slot coverage required (the default), the whole cluster refuses
    // commands once it notices the dead master, and each call then fails after its timeout.
    let loads: Vec<_> = keys
        .iter()
        .map(|k| {
            let (store, k) = (store.clone(), k.clone());
            tokio::spawn(async move { timeout(HANG, store.load(&k)).await })
        })
        .collect();
    let mut failed = 0;
    for load in loads {
        match load.await.unwrap() {
            Err(_) => panic!("a load hung for {HANG:?} with a master down"),
            Ok(Ok(v)) => assert_eq!(
                v.map(|l| l.record).as_deref(),
                Some(&b"v"[..]),
                "a surviving master's key"
            ),
            Ok(Err(e)) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
                    "{e:?}"
                );
                failed += 1;
            }
        }
    }
    assert!(failed > 0, "no key lived on the killed master");
    eprintln!(
        "{failed} of {} loads failed with a master down ({:?})",
        keys.len(),
        t0.elapsed()
    );

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart_node(0).expect("restart the killed master");
        cluster
    })
    .await
    .unwrap();
    eprintln!("master restarted, cluster ok ({:?})", t0.elapsed());

    // The restarted master is empty (nothing is kept on disk), so its keys are gone; the
    // others are intact, and the same store object reaches every slot again.
    // Bounded in time: each failing call costs up to the operation timeout, so count the wait,
    // not the attempts.
    let deadline = tokio::time::Instant::now() + RECOVERY;
    let mut recovered = false;
    while !recovered && tokio::time::Instant::now() < deadline {
        recovered = true;
        for k in &keys {
            match timeout(HANG, store.exists(k)).await {
                Err(_) => panic!("a call hung for {HANG:?} after the restart"),
                Ok(Ok(_)) => {}
                Ok(Err(_)) => {
                    recovered = false;
                    break;
                }
            }
        }
        if !recovered {
            sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(
        recovered,
        "the store did not reach every slot again within {RECOVERY:?}"
    );
    eprintln!("every slot reachable again ({:?})", t0.elapsed());
    for k in &keys {
        let bounded = async {
            store.delete(k).await.unwrap();
            store.create(k, b"again", exp).await.unwrap();
            sessionkit_conformance::stored(&store, k).await
        };
        let loaded = timeout(HANG, bounded)
            .await
            .unwrap_or_else(|_| panic!("a call hung for {HANG:?} after recovery"));
        assert_eq!(loaded.as_deref(), Some(&b"again"[..]));
    }
    drop(cluster);
}
