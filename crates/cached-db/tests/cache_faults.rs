//! The cache fails under 32 tasks of request cycles, each test on a throwaway cache server of
//! its own (never the machine's), with PostgreSQL behind (`SESSIONKIT_POSTGRES_URL` or a
//! throwaway server): every request still succeeds from the database, and once the cache is
//! back it is used again and holds no copy the database contradicts.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Db, Resources};
use sessionkit_cached_db::{CachedDbOptions, CachedDbStore};
use sessionkit_core::{SessionKey, SessionStore, Sessions};
use sessionkit_testkit::{MemcachedServers, RedisServer, ThrowawayServer};
use tokio::time::{sleep, timeout};

const TASKS: usize = 32;
/// Far above every configured timeout: a request still pending after this is hung.
const HANG: Duration = Duration::from_secs(10);

type Store = CachedDbStore<Arc<dyn SessionStore>, Arc<dyn SessionStore>>;

fn options() -> CachedDbOptions {
    CachedDbOptions::new().with_bypass_after(3, Duration::from_millis(300))
}

/// One request cycle: load, check the counter is what this task saved last, bump it, save.
async fn cycle(sessions: &Sessions, cookie: &str, last: u64) -> u64 {
    let mut s = timeout(HANG, sessions.load(Some(cookie)))
        .await
        .expect("a load hung")
        .expect("a load failed although the database is up");
    assert_eq!(s.key().map(|k| k.as_str()), Some(cookie), "session lost");
    assert_eq!(
        s.get::<u64>("counter").unwrap(),
        Some(last),
        "a stale or foreign session was served"
    );
    s.insert("counter", last + 1).unwrap();
    timeout(HANG, s.save())
        .await
        .expect("a save hung")
        .expect("a save failed although the database is up");
    last + 1
}

/// 32 tasks cycling through a session each until `stop`; each returns its cookie and the
/// counter it saved last.
fn start_cycles(
    sessions: &Sessions,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(String, u64)>> {
    (0..TASKS)
        .map(|task| {
            let (sessions, stop) = (sessions.clone(), stop.clone());
            tokio::spawn(async move {
                let mut s = sessions.create();
                s.insert("task", task).unwrap();
                s.insert("counter", 0u64).unwrap();
                s.save().await.expect("initial save");
                let cookie = s.key().unwrap().as_str().to_owned();
                let mut last = 0;
                // Bounded: the main task stops us within seconds.
                for _ in 0..1_000_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    last = cycle(&sessions, &cookie, last).await;
                }
                (cookie, last)
            })
        })
        .collect()
}

async fn finish(
    stop: &AtomicBool,
    tasks: Vec<tokio::task::JoinHandle<(String, u64)>>,
) -> Vec<(String, u64)> {
    stop.store(true, Ordering::SeqCst);
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("a request task panicked"));
    }
    out
}

/// Every cache copy equals the database's record (or there is none); returns how many keys
/// the cache holds.
async fn assert_cache_agrees(store: &Store, sessions: &[(String, u64)]) -> usize {
    let mut cached = 0;
    for (cookie, _) in sessions {
        let key = SessionKey::parse(cookie, store.key_format()).expect("a valid key");
        let in_db = store
            .db()
            .load(&key)
            .await
            .expect("db load")
            .map(|l| l.record);
        assert!(in_db.is_some(), "the session is in the database");
        if let Some(copy) = store
            .cache()
            .load(&key)
            .await
            .expect("cache load")
            .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record())
        {
            cached += 1;
            assert_eq!(Some(copy), in_db, "the cache contradicts the database");
        }
    }
    cached
}

/// More cycles on the same sessions after the cache is back, until the store has drained its
/// suspect keys and the cache holds copies again.
async fn cycles_after_recovery(sessions: &Sessions, store: &Store, own: &mut [(String, u64)]) {
    for round in 0..100 {
        for (cookie, last) in own.iter_mut() {
            *last = cycle(sessions, cookie, *last).await;
        }
        let status = store.cache_status();
        if status.is_healthy() && round >= 2 {
            return;
        }
        sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the store did not use the cache again: {:?}",
        store.cache_status()
    );
}

async fn start<T: Send + 'static>(f: fn() -> sessionkit_testkit::Result<T>) -> T {
    tokio::task::spawn_blocking(move || f().expect("start a throwaway cache server"))
        .await
        .expect("start task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_load() {
    let mut redis = start(RedisServer::start).await;
    let mut res = Resources::default();
    let db: Arc<dyn SessionStore> = Arc::new(common::db(Db::Postgres, "rk", 16, &mut res).await);
    let cache: Arc<dyn SessionStore> =
        Arc::new(common::redis_at(&redis.url(), &common::unique("rk")).await);
    let store = CachedDbStore::with_options(cache, db, options()).unwrap();
    let sessions = Sessions::new(store.clone());

    let stop = Arc::new(AtomicBool::new(false));
    let tasks = start_cycles(&sessions, &stop);
    sleep(Duration::from_millis(700)).await;
    assert_eq!(
        store.cache_status().errors_total,
        0,
        "the cache works at first"
    );
    redis.kill().unwrap();
    sleep(Duration::from_millis(1_500)).await;
    let down = store.cache_status();
    assert!(
        down.errors_total > 0,
        "the dead cache was noticed: {down:?}"
    );
    let redis = tokio::task::spawn_blocking(move || {
        redis.restart().expect("restart redis on the same port");
        redis
    })
    .await
    .unwrap();
    sleep(Duration::from_millis(1_000)).await;
    let mut own = finish(&stop, tasks).await;
    eprintln!("while redis was down: {down:?}");

    cycles_after_recovery(&sessions, &store, &mut own).await;
    let cached = assert_cache_agrees(&store, &own).await;
    assert!(cached > 0, "the cache is used again after the restart");
    redis.ping().unwrap();
    drop(res);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_killed_and_restarted_under_load() {
    let mut memcached = start(|| MemcachedServers::start(1)).await;
    let mut res = Resources::default();
    let db: Arc<dyn SessionStore> = Arc::new(common::db(Db::Postgres, "mk", 16, &mut res).await);
    let cache: Arc<dyn SessionStore> =
        Arc::new(common::memcached_at(&memcached.urls(), &common::unique("mk")).await);
    let store = CachedDbStore::with_options(cache, db, options()).unwrap();
    let sessions = Sessions::new(store.clone());

    let stop = Arc::new(AtomicBool::new(false));
    let tasks = start_cycles(&sessions, &stop);
    sleep(Duration::from_millis(700)).await;
    assert_eq!(
        store.cache_status().errors_total,
        0,
        "the cache works at first"
    );
    memcached.kill().unwrap();
    sleep(Duration::from_millis(1_500)).await;
    let down = store.cache_status();
    assert!(
        down.errors_total > 0,
        "the dead cache was noticed: {down:?}"
    );
    let memcached = tokio::task::spawn_blocking(move || {
        memcached
            .restart()
            .expect("restart memcached on the same port");
        memcached
    })
    .await
    .unwrap();
    sleep(Duration::from_millis(1_000)).await;
    let mut own = finish(&stop, tasks).await;
    eprintln!("while memcached was down: {down:?}");

    cycles_after_recovery(&sessions, &store, &mut own).await;
    let cached = assert_cache_agrees(&store, &own).await;
    assert!(cached > 0, "the cache is used again after the restart");
    memcached.ping().unwrap();
    drop(res);
}

/// A cache that stops answering but keeps its data (a hung server, a network partition) is the
/// dangerous case: when it answers again it still holds the copies from before, which every
/// write since has made stale. The keys written meanwhile must be invalidated before the cache
/// is read for them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_keeps_no_stale_copy() {
    let redis = start(RedisServer::start).await;
    let mut res = Resources::default();
    let db: Arc<dyn SessionStore> = Arc::new(common::db(Db::Postgres, "rp", 16, &mut res).await);
    let cache: Arc<dyn SessionStore> =
        Arc::new(common::redis_at(&redis.url(), &common::unique("rp")).await);
    let store = CachedDbStore::with_options(cache, db, options()).unwrap();
    let sessions = Sessions::new(store.clone());

    let stop = Arc::new(AtomicBool::new(false));
    let tasks = start_cycles(&sessions, &stop);
    sleep(Duration::from_millis(700)).await;
    // Every client's commands wait for 2 s (the response timeout is 250 ms); the data stays.
    let reply = redis.command(&["CLIENT", "PAUSE", "2000"]).unwrap();
    assert_eq!(reply.as_text().as_deref(), Some("OK"), "{reply:?}");
    sleep(Duration::from_millis(1_500)).await;
    let paused = store.cache_status();
    assert!(
        paused.errors_total > 0,
        "the hung cache was noticed: {paused:?}"
    );
    sleep(Duration::from_millis(1_500)).await;
    let mut own = finish(&stop, tasks).await;
    eprintln!("while redis was paused: {paused:?}");

    cycles_after_recovery(&sessions, &store, &mut own).await;
    let cached = assert_cache_agrees(&store, &own).await;
    assert!(cached > 0, "the cache is used again after the pause");
    drop(res);
}
