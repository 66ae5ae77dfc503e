//! What the store leaves in redis, looked at with a plain redis-rs connection: key names, TTLs,
//! the already-expired cases, clamping, and configuration (database index, credentials).

mod common;

use redis::AsyncCommands;
use sessionkit_core::{ErrorKind, SessionKey, SessionStore, UnixTime};
use sessionkit_redis::{RedisConfig, RedisStore, DEFAULT_KEY_PREFIX, MAX_TTL_SECS};
use sessionkit_testkit::{RedisServer, Service};

/// A plain connection to the same server, to look behind the store.
async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn url() -> (
    String,
    std::sync::Arc<std::sync::Mutex<sessionkit_testkit::Provided>>,
) {
    let server = common::server(Service::Redis).await;
    (common::urls(&server).remove(0), server)
}

/// The record inside a stored value (after its envelope).
fn record(value: Vec<u8>) -> Vec<u8> {
    sessionkit_core::Loaded::from_envelope(value).into_record()
}

#[tokio::test]
async fn sessions_are_prefixed_keys_with_the_expiry_as_ttl() {
    let (url, _server) = url().await;
    let store = RedisStore::connect(&url).await.unwrap();
    assert_eq!(store.key_prefix(), DEFAULT_KEY_PREFIX);
    assert_eq!(DEFAULT_KEY_PREFIX, "sessionkit:");
    let mut conn = raw(&url).await;

    let key = SessionKey::generate();
    store
        .create(&key, b"record", UnixTime::now().add_secs(300))
        .await
        .unwrap();
    let name = format!("sessionkit:{}", key.as_str());
    assert_eq!(store.redis_key(&key), name);
    let stored: Option<Vec<u8>> = conn.get(&name).await.unwrap();
    assert_eq!(stored.map(record).as_deref(), Some(&b"record"[..]));
    let ttl: i64 = conn.ttl(&name).await.unwrap();
    assert!((298..=300).contains(&ttl), "ttl {ttl}");

    // touch moves the TTL and the expiry the envelope records, without rewriting the record
    let touched = UnixTime::now().add_secs(5_000);
    store.touch(&key, touched).await.unwrap();
    let ttl: i64 = conn.ttl(&name).await.unwrap();
    assert!((4_998..=5_000).contains(&ttl), "ttl {ttl}");
    assert_eq!(store.load(&key).await.unwrap().unwrap().expires_at, touched);
    let stored: Option<Vec<u8>> = conn.get(&name).await.unwrap();
    assert_eq!(stored.map(record).as_deref(), Some(&b"record"[..]));

    // update replaces value and TTL
    store
        .update(
            &key,
            b"second",
            UnixTime::now().add_secs(60),
            sessionkit_core::Expected::Any,
        )
        .await
        .unwrap();
    let ttl: i64 = conn.ttl(&name).await.unwrap();
    assert!((58..=60).contains(&ttl), "ttl {ttl}");
    assert_eq!(
        sessionkit_conformance::stored(&store, &key)
            .await
            .as_deref(),
        Some(&b"second"[..])
    );

    // an absurd expiry is clamped, not rejected
    store
        .update(
            &key,
            b"forever",
            UnixTime::from_secs(i64::MAX),
            sessionkit_core::Expected::Any,
        )
        .await
        .unwrap();
    let ttl: i64 = conn.ttl(&name).await.unwrap();
    assert!(
        ttl > 0 && ttl.unsigned_abs() <= MAX_TTL_SECS && ttl.unsigned_abs() > MAX_TTL_SECS - 5,
        "ttl {ttl}"
    );

    store.delete(&key).await.unwrap();
    let exists: bool = conn.exists(&name).await.unwrap();
    assert!(!exists);
    assert_eq!(store.clear_expired().await.unwrap(), 0);
}

#[tokio::test]
async fn touch_keeps_a_record_alive_past_its_first_expiry() {
    let (url, _server) = url().await;
    let store = RedisConfig::new(&url)
        .with_key_prefix(common::unique_prefix("touch"))
        .connect()
        .await
        .unwrap();
    let key = SessionKey::generate();
    store
        .create(&key, b"r", UnixTime::now().add_secs(2))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    store
        .touch(&key, UnixTime::now().add_secs(3))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert_eq!(
        sessionkit_conformance::stored(&store, &key)
            .await
            .as_deref(),
        Some(&b"r"[..])
    );
    store.delete(&key).await.unwrap();
}

#[tokio::test]
async fn already_expired_records_are_never_stored() {
    let (url, _server) = url().await;
    let store = RedisConfig::new(&url)
        .with_key_prefix(common::unique_prefix("expired"))
        .connect()
        .await
        .unwrap();
    let mut conn = raw(&url).await;
    let past = UnixTime::now().add_secs(-1);
    let live = UnixTime::now().add_secs(600);

    // create: a free key is handed back, nothing is written
    let free = SessionKey::generate();
    assert_eq!(store.create(&free, b"dead", past).await.unwrap().key, free);
    let exists: bool = conn.exists(store.redis_key(&free)).await.unwrap();
    assert!(!exists);
    // ...but a taken key is still a collision, and the live record stays
    let taken = SessionKey::generate();
    store.create(&taken, b"live", live).await.unwrap();
    let err = store.create(&taken, b"dead", past).await.unwrap_err();
    assert!(err.is_collision(), "{err:?}");
    assert_eq!(
        sessionkit_conformance::stored(&store, &taken)
            .await
            .as_deref(),
        Some(&b"live"[..])
    );

    // update: a live record replaced by an expired one is gone; a missing one is vanished
    store
        .update(&taken, b"dead", past, sessionkit_core::Expected::Any)
        .await
        .unwrap();
    assert_eq!(sessionkit_conformance::stored(&store, &taken).await, None);
    let err = store
        .update(&taken, b"dead", past, sessionkit_core::Expected::Any)
        .await
        .unwrap_err();
    assert!(err.is_vanished(), "{err:?}");

    // touch: moving the expiry into the past ends the session; a missing one is vanished
    store.create(&taken, b"live", live).await.unwrap();
    store.touch(&taken, past).await.unwrap();
    assert!(!store.exists(&taken).await.unwrap());
    let err = store.touch(&taken, past).await.unwrap_err();
    assert!(err.is_vanished(), "{err:?}");
}

#[tokio::test]
async fn a_foreign_value_under_the_name_is_an_error_not_a_panic() {
    let (url, _server) = url().await;
    let store = RedisConfig::new(&url)
        .with_key_prefix(common::unique_prefix("wrongtype"))
        .connect()
        .await
        .unwrap();
    let mut conn = raw(&url).await;
    let key = SessionKey::generate();
    let name = store.redis_key(&key);
    let _: () = conn.hset(&name, "field", "value").await.unwrap();
    let _: () = conn.expire(&name, 60).await.unwrap();
    let err = store.load(&key).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err:?}");
    let err = store
        .create(&key, b"r", UnixTime::now().add_secs(60))
        .await
        .unwrap_err();
    assert!(err.is_collision(), "a taken name is a collision: {err:?}");
    store.delete(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_index_and_credentials_come_from_the_url() {
    // Our own server: we change its password.
    let server = tokio::task::spawn_blocking(|| RedisServer::start().expect("throwaway redis"))
        .await
        .unwrap();
    let port = server.port();
    let ok = server
        .command(&[
            "ACL",
            "SETUSER",
            "app",
            "on",
            ">s3cret",
            "~sessionkit:*",
            "+@all",
        ])
        .unwrap();
    assert_eq!(ok.as_text().as_deref(), Some("OK"), "{ok:?}");
    let ok = server
        .command(&["CONFIG", "SET", "requirepass", "default-pw"])
        .unwrap();
    assert_eq!(ok.as_text().as_deref(), Some("OK"), "{ok:?}");

    // no credentials: refused on first use, reported as configuration
    let anonymous = format!("redis://127.0.0.1:{port}/");
    let err = match RedisStore::connect(&anonymous).await {
        Ok(store) => store.exists(&SessionKey::generate()).await.unwrap_err(),
        Err(e) => e,
    };
    assert!(err.is_config(), "{err:?}");
    assert!(!format!("{err}").contains("default-pw"));

    // wrong password
    let err = RedisStore::connect(&format!("redis://app:wrong@127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");

    // an ACL user and database 3
    let url = format!("redis://app:s3cret@127.0.0.1:{port}/3");
    let store = RedisStore::connect(&url).await.unwrap();
    let key = SessionKey::generate();
    store
        .create(&key, b"in db 3", UnixTime::now().add_secs(60))
        .await
        .unwrap();
    let mut db3 = raw(&url).await;
    let v: Option<Vec<u8>> = db3.get(store.redis_key(&key)).await.unwrap();
    assert_eq!(v.map(record).as_deref(), Some(&b"in db 3"[..]));
    let mut db0 = raw(&format!("redis://app:s3cret@127.0.0.1:{port}/0")).await;
    let v: Option<Vec<u8>> = db0.get(store.redis_key(&key)).await.unwrap();
    assert_eq!(v, None);

    // the ACL only allows sessionkit:* keys: another prefix is a configuration error
    let store = store.with_key_prefix("other:");
    let err = store.exists(&key).await.unwrap_err();
    assert!(err.is_config(), "{err:?}");
    drop(server);
}

/// Values written before versions (the bare record) load at version 0, and a session loaded
/// from one saves with compare-and-set against that version: upgrading logs nobody out. The
/// saved value carries a version envelope from then on.
#[tokio::test]
async fn bare_records_written_before_versions_load_and_save() {
    let (url, _server) = url().await;
    let store = RedisStore::connect(&url).await.unwrap();
    let sessions = sessionkit_core::Sessions::new(store.clone());
    let mut conn = raw(&url).await;
    let mut s = sessions.create();
    s.insert("user", "42").unwrap();
    s.save().await.unwrap();
    let key = s.key().cloned().unwrap();
    let name = store.redis_key(&key);
    // Rewrite it as an earlier sessionkit did: the record after the version alone, then the
    // record alone. Their expiry comes from the server's TTL.
    let value: Vec<u8> = conn.get(&name).await.unwrap();
    let bare = record(value.clone());
    let mut versioned = value[..9].to_vec();
    versioned.extend_from_slice(&bare);
    let _: () = conn.set_ex(&name, &versioned, 300).await.unwrap();
    let loaded = store.load(&key).await.unwrap().expect("it loads");
    assert_eq!(loaded.version.get().to_be_bytes(), value[1..9]);
    assert_eq!(loaded.record, bare);
    let ttl = loaded.expires_at.secs_after(UnixTime::now());
    assert!((298..=300).contains(&ttl), "expiry from PTTL: {ttl}");

    let _: () = conn.set_ex(&name, &bare, 300).await.unwrap();
    let loaded = store
        .load(&key)
        .await
        .unwrap()
        .expect("a bare record loads");
    assert_eq!(loaded.version, sessionkit_core::Version::UNTRACKED);
    assert_eq!(loaded.record, bare);
    let ttl = loaded.expires_at.secs_after(UnixTime::now());
    assert!((298..=300).contains(&ttl), "expiry from PTTL: {ttl}");
    // A touch leaves an earlier value's bytes alone (there is no expiry in it to move).
    store
        .touch(&key, UnixTime::now().add_secs(400))
        .await
        .unwrap();
    let value: Vec<u8> = conn.get(&name).await.unwrap();
    assert_eq!(value, bare);
    let mut s = sessions.load(Some(key.as_str())).await.unwrap();
    assert_eq!(s.get::<String>("user").unwrap().as_deref(), Some("42"));
    s.insert("visits", 1).unwrap();
    s.save().await.expect("a session from a bare record saves");
    let value: Vec<u8> = conn.get(&name).await.unwrap();
    assert_eq!(value[0], sessionkit_core::ENVELOPE_MARKER, "now versioned");
    let again = sessions.load(Some(key.as_str())).await.unwrap();
    assert_eq!(again.get::<u64>("visits").unwrap(), Some(1));
}

/// The compare-and-set script is sent by its SHA-1; a server that lost it (`SCRIPT FLUSH`,
/// a restart, a failover) gets it once by text, and the update goes through. The update sets
/// the TTL like a plain `SET … EX`.
#[tokio::test]
async fn compare_and_set_survives_a_flushed_script_cache() {
    let (url, _server) = url().await;
    let store = RedisStore::connect(&url).await.unwrap();
    let mut conn = raw(&url).await;
    let key = SessionKey::generate();
    let exp = UnixTime::now().add_secs(300);
    let created = store.create(&key, b"\x01one", exp).await.unwrap();
    for (i, body) in [&b"\x01two"[..], b"\x01three"].into_iter().enumerate() {
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut conn)
            .await
            .unwrap();
        let current = store.load(&key).await.unwrap().unwrap().version;
        if i == 0 {
            assert_eq!(current, created.version);
        }
        store
            .update(
                &key,
                body,
                UnixTime::now().add_secs(120),
                sessionkit_core::Expected::Version(current),
            )
            .await
            .expect("the update reloads the script");
        assert_eq!(store.load(&key).await.unwrap().unwrap().record, body);
    }
    let ttl: i64 = conn.ttl(store.redis_key(&key)).await.unwrap();
    assert!((118..=120).contains(&ttl), "ttl {ttl}");

    // The touch script too.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let later = UnixTime::now().add_secs(240);
    store
        .touch(&key, later)
        .await
        .expect("touch reloads its script");
    assert_eq!(store.load(&key).await.unwrap().unwrap().expires_at, later);
    let missing = SessionKey::generate();
    assert!(store
        .touch(&missing, later)
        .await
        .unwrap_err()
        .is_vanished());
    let exists: bool = conn.exists(store.redis_key(&missing)).await.unwrap();
    assert!(!exists, "a touch creates nothing");
}

/// With plain values (a value another program reads, e.g. Django's cache) the value holds no
/// expiry: a load reports the server's TTL, asked in the same round trip as the value, and a
/// key that is gone is no session. The value is the record itself, with no envelope.
#[tokio::test]
async fn plain_values_load_with_the_servers_ttl() {
    let (url, _server) = url().await;
    let store = RedisStore::connect(&url)
        .await
        .unwrap()
        .with_plain_values(true);
    let mut conn = raw(&url).await;
    let key = SessionKey::generate();
    let name = store.redis_key(&key);
    store
        .create(&key, b"\x01plain", UnixTime::now().add_secs(300))
        .await
        .unwrap();
    let value: Vec<u8> = conn.get(&name).await.unwrap();
    assert_eq!(value, b"\x01plain", "no envelope around a plain value");
    let _: () = conn.expire(&name, 120).await.unwrap();
    let loaded = store.load(&key).await.unwrap().expect("it loads");
    assert_eq!(loaded.record, b"\x01plain");
    let ttl = loaded.expires_at.secs_after(UnixTime::now());
    assert!((118..=120).contains(&ttl), "expiry from PTTL: {ttl}");
    let _: () = conn.del(&name).await.unwrap();
    assert_eq!(store.load(&key).await.unwrap(), None);
}
