//! What application instances see of each other's writes, and what the cache holds when the
//! database changes or fails: two instances sharing redis and PostgreSQL, a logout elsewhere, a
//! delete made directly in the database, a failing database, and in-process caches (which are
//! not coherent across processes).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Db, Resources};
use sessionkit_cached_db::{CachedDbOptions, CachedDbStore};
use sessionkit_core::{ErrorKind, SessionKey, SessionStore, Sessions};
use sessionkit_locmem::LocMemStore;
use sessionkit_testkit::{PostgresServer, ThrowawayServer};

type Store = CachedDbStore<Arc<dyn SessionStore>, Arc<dyn SessionStore>>;

/// Two application instances: each its own redis connection and database pool, on the same
/// redis key prefix and the same table.
async fn two_instances(options: CachedDbOptions, res: &mut Resources) -> (Store, Store) {
    let prefix = common::unique("two");
    let (first_db, url, table) = common::db_named(Db::Postgres, "two", 4, res).await;
    let second_db = common::db_at(&url, &table, 4).await;
    let mut make = Vec::new();
    for db in [first_db, second_db] {
        let cache: Arc<dyn SessionStore> = Arc::new(common::redis_cache(&prefix, res).await);
        let db: Arc<dyn SessionStore> = Arc::new(db);
        make.push(CachedDbStore::with_options(cache, db, options.clone()).unwrap());
    }
    let b = make.pop().unwrap();
    let a = make.pop().unwrap();
    (a, b)
}

fn key(store: &Store, cookie: &str) -> SessionKey {
    SessionKey::parse(cookie, store.key_format()).expect("a valid key")
}

async fn saved(sessions: &Sessions, value: &str) -> String {
    let mut s = sessions.create();
    s.insert("v", value).unwrap();
    s.save().await.unwrap();
    s.key().unwrap().as_str().to_owned()
}

async fn value(sessions: &Sessions, cookie: &str) -> Option<String> {
    sessions
        .load(Some(cookie))
        .await
        .unwrap()
        .get::<String>("v")
        .unwrap()
}

async fn set(sessions: &Sessions, cookie: &str, value: &str) -> sessionkit_core::Result<()> {
    let mut s = sessions.load(Some(cookie)).await?;
    assert!(s.key().is_some(), "the session exists");
    s.insert("v", value)?;
    s.save().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_see_each_others_writes() {
    let mut res = Resources::default();
    let (a, b) = two_instances(CachedDbOptions::new(), &mut res).await;
    let (sa, sb) = (Sessions::new(a.clone()), Sessions::new(b.clone()));

    let cookie = saved(&sa, "created by a").await;
    assert_eq!(value(&sb, &cookie).await.as_deref(), Some("created by a"));
    for round in 0..20 {
        let v = format!("b{round}");
        set(&sb, &cookie, &v).await.unwrap();
        assert_eq!(value(&sa, &cookie).await.as_deref(), Some(v.as_str()));
        let v = format!("a{round}");
        set(&sa, &cookie, &v).await.unwrap();
        assert_eq!(value(&sb, &cookie).await.as_deref(), Some(v.as_str()));
    }
    let k = key(&a, &cookie);
    assert!(
        a.cache()
            .load(&k)
            .await
            .unwrap()
            .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record())
            .is_some(),
        "served from the shared cache"
    );

    // Logout on b: a serves nothing from then on, and a's stale request cannot resurrect it.
    let mut stale = sa.load(Some(&cookie)).await.unwrap();
    sb.load(Some(&cookie)).await.unwrap().flush().await.unwrap();
    assert_eq!(value(&sa, &cookie).await, None);
    assert!(a
        .cache()
        .load(&k)
        .await
        .unwrap()
        .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record())
        .is_none());
    stale.insert("v", "written after the logout").unwrap();
    let err = stale.save().await.unwrap_err();
    assert!(err.is_vanished(), "{err:?}");
    assert_eq!(value(&sa, &cookie).await, None);
    assert_eq!(value(&sb, &cookie).await, None);
    drop(res);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_through_another_instance_is_not_served() {
    let mut res = Resources::default();
    let (a, b) = two_instances(CachedDbOptions::new(), &mut res).await;
    let (sa, sb) = (Sessions::new(a.clone()), Sessions::new(b.clone()));
    let mut cookies = Vec::new();
    for i in 0..50 {
        cookies.push(saved(&sa, &format!("user {i}")).await);
    }
    for c in &cookies {
        // Cached on a's side too: every copy is in the shared cache.
        assert!(value(&sa, c).await.is_some());
        sb.load(Some(c)).await.unwrap().flush().await.unwrap();
    }
    for c in &cookies {
        assert_eq!(value(&sa, c).await, None, "a logged-out session was served");
        assert!(!a.exists(&key(&a, c)).await.unwrap());
    }
    drop(res);
}

/// A delete made directly in the database (another program, an admin script): the store
/// cannot know, so a cached copy is served until it expires from the cache, exactly as in
/// Django. `cache_ttl` bounds that time; `exists` asks the database and knows at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_database_delete_is_served_until_the_cache_copy_expires() {
    let ttl = Duration::from_secs(2);
    let store = common::store_with(
        common::Cache::Redis,
        Db::Postgres,
        4,
        CachedDbOptions::new().with_cache_ttl(Some(ttl)),
    )
    .await;
    let store = &store.store;
    let sessions = Sessions::new(store.clone());
    let cookie = saved(&sessions, "alive").await;
    let k = key(store, &cookie);
    assert!(store
        .cache()
        .load(&k)
        .await
        .unwrap()
        .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record())
        .is_some());

    store.db().delete(&k).await.unwrap();
    assert!(!store.exists(&k).await.unwrap(), "exists asks the database");
    assert_eq!(
        value(&sessions, &cookie).await.as_deref(),
        Some("alive"),
        "the cached copy is still served: the cache was not told"
    );
    // Whole seconds: the copy lives at most ttl + 1 s.
    tokio::time::sleep(ttl + Duration::from_millis(1_100)).await;
    assert_eq!(
        value(&sessions, &cookie).await,
        None,
        "served past cache_ttl"
    );
    assert!(store
        .cache()
        .load(&k)
        .await
        .unwrap()
        .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record())
        .is_none());

    // Through the store itself a delete is seen at once.
    let cookie = saved(&sessions, "alive").await;
    store.delete(&key(store, &cookie)).await.unwrap();
    assert_eq!(value(&sessions, &cookie).await, None);
}

/// The database rejects writes (its table was dropped): the requests fail, and the cache keeps
/// exactly what it held, so it never holds a write the database does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_database_write_leaves_the_cache_untouched() {
    let mut res = Resources::default();
    let table = common::unique("gone");
    let pg = common::server(sessionkit_testkit::Service::Postgres).await;
    let url = common::url(&pg);
    res.keep(pg);
    let db: Arc<dyn SessionStore> = Arc::new(common::db_at(&url, &table, 4).await);
    let cache: Arc<dyn SessionStore> =
        Arc::new(common::redis_cache(&common::unique("gone"), &mut res).await);
    let store = CachedDbStore::try_new(cache, db).unwrap();
    let sessions = Sessions::new(store.clone());
    let cookie = saved(&sessions, "before").await;
    let k = key(&store, &cookie);
    let before = store
        .cache()
        .load(&k)
        .await
        .unwrap()
        .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record());
    assert!(before.is_some());

    common::pg_execute(&url, &format!("DROP TABLE \"{table}\"")).expect("drop the table");
    let err = set(&sessions, &cookie, "after").await.unwrap_err();
    eprintln!("update with the table gone: {err} ({err:?})");
    assert_eq!(
        store
            .cache()
            .load(&k)
            .await
            .unwrap()
            .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record()),
        before,
        "the cache holds what it held"
    );
    let mut fresh = sessions.create();
    fresh.insert("v", "new").unwrap();
    fresh.save().await.unwrap_err();
    assert_eq!(fresh.key(), None);
}

/// The database is killed: writes fail and leave the cache as it was (loads keep being served
/// from the cache meanwhile); once it is back, the same store writes through again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_killed_fails_writes_and_keeps_the_cache() {
    let mut pg = tokio::task::spawn_blocking(|| {
        PostgresServer::start().expect("start a throwaway PostgreSQL")
    })
    .await
    .unwrap();
    let mut res = Resources::default();
    let db: Arc<dyn SessionStore> =
        Arc::new(common::db_at(&pg.url(), &common::unique("kill"), 4).await);
    let cache: Arc<dyn SessionStore> =
        Arc::new(common::redis_cache(&common::unique("kill"), &mut res).await);
    let store = CachedDbStore::try_new(cache, db).unwrap();
    let sessions = Sessions::new(store.clone());
    let cookie = saved(&sessions, "before").await;
    let k = key(&store, &cookie);
    let mut before = store
        .cache()
        .load(&k)
        .await
        .unwrap()
        .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record());
    assert!(before.is_some());

    pg.kill().unwrap();
    // Connections the pool already holds may take a moment to notice; every write that still
    // succeeds is written through, the first one that fails must leave the cache alone.
    let mut failed = None;
    for attempt in 0..100 {
        let mut s = sessions
            .load(Some(&cookie))
            .await
            .expect("a cached session is served while the database is down");
        assert!(s.key().is_some(), "the session is still served");
        s.insert("v", format!("during {attempt}")).unwrap();
        match s.save().await {
            Ok(()) => {
                before = store
                    .cache()
                    .load(&k)
                    .await
                    .unwrap()
                    .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record())
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = failed.expect("writes fail once the database is killed");
    assert!(
        matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
        "{err:?}"
    );
    let now = store
        .cache()
        .load(&k)
        .await
        .unwrap()
        .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record());
    if err.is_timeout() {
        // The write may have reached the database: the copy is dropped rather than kept.
        assert!(now.is_none() || now == before, "{now:?}");
    } else {
        assert_eq!(now, before, "the cache holds what it held");
    }

    let pg = tokio::task::spawn_blocking(move || {
        pg.restart().expect("restart PostgreSQL");
        pg
    })
    .await
    .unwrap();
    let mut written = false;
    for _ in 0..100 {
        if set(&sessions, &cookie, "after").await.is_ok() {
            written = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        written,
        "the same store writes again once the database is back"
    );
    assert_eq!(value(&sessions, &cookie).await.as_deref(), Some("after"));
    assert_eq!(
        store
            .cache()
            .load(&k)
            .await
            .unwrap()
            .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record()),
        store.db().load(&k).await.unwrap().map(|l| l.record)
    );
    pg.ping().unwrap();
}

/// In-process caches are NOT coherent across processes: each instance has its own, so another
/// instance's logout or update is invisible until the copy expires. `cache_ttl` bounds how long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_caches_are_not_coherent_across_instances() {
    let mut res = Resources::default();
    let (first_db, url, table) = common::db_named(Db::Sqlite, "local", 4, &mut res).await;
    let second_db = common::db_at(&url, &table, 4).await;
    let ttl = Duration::from_secs(2);
    let options = CachedDbOptions::new().with_cache_ttl(Some(ttl));
    let a = CachedDbStore::with_options(LocMemStore::default(), first_db, options.clone()).unwrap();
    let b = CachedDbStore::with_options(LocMemStore::default(), second_db, options).unwrap();
    let (sa, sb) = (Sessions::new(a.clone()), Sessions::new(b.clone()));

    let cookie = saved(&sa, "v1").await;
    assert_eq!(value(&sb, &cookie).await.as_deref(), Some("v1"));
    set(&sb, &cookie, "v2").await.unwrap();
    assert_eq!(
        value(&sa, &cookie).await.as_deref(),
        Some("v1"),
        "a serves its own stale copy: in-process caches are per instance"
    );
    sb.load(Some(&cookie)).await.unwrap().flush().await.unwrap();
    assert_eq!(
        value(&sa, &cookie).await.as_deref(),
        Some("v1"),
        "a still serves a session logged out on b"
    );
    tokio::time::sleep(ttl + Duration::from_millis(1_100)).await;
    assert_eq!(value(&sa, &cookie).await, None, "served past cache_ttl");
    drop(res);
}

/// Two requests saving the same session at the same moment.
async fn race_writers(sa: &Sessions, sb: &Sessions, store: &Store, rounds: u32) -> u32 {
    let cookie = saved(sa, "start").await;
    let k = key(store, &cookie);
    let mut disagreements = 0;
    for round in 0..rounds {
        let (mut x, mut y) = (
            sa.load(Some(&cookie)).await.unwrap(),
            sb.load(Some(&cookie)).await.unwrap(),
        );
        x.insert("v", format!("a{round}")).unwrap();
        y.insert("v", format!("b{round}")).unwrap();
        let (rx, ry) = tokio::join!(
            tokio::spawn(async move { x.save().await }),
            tokio::spawn(async move { y.save().await })
        );
        rx.unwrap().unwrap();
        ry.unwrap().unwrap();
        if store
            .cache()
            .load(&k)
            .await
            .unwrap()
            .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record())
            != store.db().load(&k).await.unwrap().map(|l| l.record)
        {
            disagreements += 1;
        }
    }
    set(sa, &cookie, "last").await.unwrap();
    assert_eq!(
        store
            .cache()
            .load(&k)
            .await
            .unwrap()
            .map(|l| sessionkit_core::Loaded::from_envelope(l.record).into_record()),
        store.db().load(&k).await.unwrap().map(|l| l.record),
        "the next write repairs the cache"
    );
    disagreements
}

/// Within one instance, the database write and the cache write of a session happen under a
/// per-key lock: two simultaneous saves reach the cache in the order the database took them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_through_one_instance_leave_the_cache_right() {
    let store = common::store(common::Cache::Redis, Db::Postgres).await;
    let sessions = Sessions::new(store.store.clone());
    let disagreements = race_writers(&sessions, &sessions.clone(), &store.store, 300).await;
    assert_eq!(disagreements, 0, "the cache kept an older write");
}

/// Two instances writing the same session at the same moment: the database keeps the last
/// write, and the cache may be left with the other one until the next write or expiry (as in
/// Django). Measured here; the next write always repairs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_instances() {
    let mut res = Resources::default();
    let (a, b) = two_instances(CachedDbOptions::new(), &mut res).await;
    let (sa, sb) = (Sessions::new(a.clone()), Sessions::new(b.clone()));
    let rounds = 300;
    let disagreements = race_writers(&sa, &sb, &a, rounds).await;
    eprintln!(
        "concurrent writers on two instances: the cache held the older of two simultaneous \
         writes after {disagreements} of {rounds} rounds"
    );
    drop(res);
}

/// A codec of the application's own, which the built-in codecs cannot read: `0x80`, then JSON.
#[derive(Debug)]
struct OwnCodec;

impl sessionkit_core::Codec for OwnCodec {
    fn format_byte(&self) -> u8 {
        0x80
    }
    fn encode(
        &self,
        record: sessionkit_core::RecordRef<'_>,
        out: &mut Vec<u8>,
    ) -> sessionkit_core::Result<()> {
        out.push(0x80);
        sessionkit_core::JsonCodec.encode(record, out)
    }
    fn decode(&self, mut bytes: Vec<u8>) -> sessionkit_core::Result<sessionkit_core::Record> {
        bytes.remove(0);
        sessionkit_core::JsonCodec.decode(bytes)
    }
}

/// A database hit refills the cache whatever codec wrote the record: the refill takes the
/// record's expiry from the database's answer and never decodes it (it used to decode with
/// the built-in codecs, so records of an application's own codec were never cached on load).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_hit_refills_the_cache_whatever_the_codec() {
    let mut res = Resources::default();
    let (db, _, _) = common::db_named(Db::Postgres, "codec", 2, &mut res).await;
    let cache: Arc<dyn SessionStore> =
        Arc::new(common::redis_cache(&common::unique("codec"), &mut res).await);
    let db: Arc<dyn SessionStore> = Arc::new(db);
    let store: Store = CachedDbStore::new(cache, db);
    let sessions = Sessions::with_config(
        store.clone(),
        sessionkit_core::SessionConfig::new().with_codec(OwnCodec),
    );
    let cookie = saved(&sessions, "own codec").await;
    let k = key(&store, &cookie);
    let written = store.db().load(&k).await.unwrap().expect("in the database");
    assert_eq!(
        written.record[0], 0x80,
        "written with the application's codec"
    );
    store.cache().delete(&k).await.unwrap();

    assert_eq!(
        value(&sessions, &cookie).await.as_deref(),
        Some("own codec")
    );
    let copy = store
        .cache()
        .load(&k)
        .await
        .unwrap()
        .expect("refilled on load");
    assert_eq!(
        Some(sessionkit_core::Loaded::from_envelope(copy.record)),
        store
            .db()
            .load(&k)
            .await
            .unwrap()
            .map(sessionkit_core::Opened::Whole),
        "the database's record, version and expiry"
    );
    drop(res);
}
