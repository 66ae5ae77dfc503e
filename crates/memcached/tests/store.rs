//! memcached-specific behaviour beyond the conformance suite, against a real server (the first
//! of `SESSIONKIT_MEMCACHED_URLS`, or a throwaway one).

mod common;

use memcache::exp::Meta;
use sessionkit_core::{ErrorKind, Expiry, SessionKey, SessionStore, Sessions, UnixTime};
use sessionkit_memcached::{
    memcache, MemcachedConfig, MemcachedStore, DEFAULT_MAX_ITEM_SIZE, DEFAULT_PREFIX,
};

const DAY: i64 = 86_400;

/// The remaining TTL memcached reports for a session (`mg KEY t`); `-1` means "never".
async fn remaining_ttl(store: &MemcachedStore, key: &SessionKey) -> Option<i64> {
    let reply = store
        .client()
        .get(store.wire_key(key))
        .without_value()
        .meta(Meta::NONE.ttl())
        .send()
        .await
        .unwrap();
    reply.hit().then(|| reply.item.ttl.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_collision_is_reported_by_the_meta_protocol() {
    let t = common::store(1).await;
    let key = SessionKey::generate();
    let exp = UnixTime::now().add_secs(600);
    t.store.create(&key, b"first", exp).await.unwrap();
    for _ in 0..3 {
        let err = t.store.create(&key, b"second", exp).await.unwrap_err();
        assert!(err.is_collision(), "{err:?}");
    }
    assert_eq!(
        sessionkit_conformance::stored(&t.store, &key)
            .await
            .as_deref(),
        Some(&b"first"[..])
    );
    // Concurrent creates of one key: exactly one wins.
    let other = SessionKey::generate();
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let store = t.store.clone();
            let key = other.clone();
            tokio::spawn(async move { store.create(&key, &[i + 1], exp).await })
        })
        .collect();
    let mut won = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(_) => won.push(i as u8 + 1),
            Err(e) => assert!(e.is_collision(), "{e:?}"),
        }
    }
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(
        sessionkit_conformance::stored(&t.store, &other).await,
        Some(won)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_over_30_days_is_sent_as_an_absolute_time() {
    let t = common::store(1).await;
    let now = UnixTime::now();
    for days in [29, 30, 31, 60, 365] {
        let key = SessionKey::generate();
        let exp = now.add_secs(days * DAY);
        t.store.create(&key, b"long", exp).await.unwrap();
        assert_eq!(
            sessionkit_conformance::stored(&t.store, &key)
                .await
                .as_deref(),
            Some(&b"long"[..]),
            "a {days}-day session expired at once"
        );
        let left = remaining_ttl(&t.store, &key).await.expect("stored");
        // Within a few seconds of the requested life (clock ticks, the round trip).
        assert!(
            (days * DAY - 5..=days * DAY + 2).contains(&left),
            "{days} days: memcached reports {left} s left"
        );
        // update and touch follow the same rule.
        let later = now.add_secs((days + 1) * DAY);
        t.store
            .update(&key, b"longer", later, sessionkit_core::Expected::Any)
            .await
            .unwrap();
        let left = remaining_ttl(&t.store, &key).await.expect("updated");
        assert!(((days + 1) * DAY - 5..=(days + 1) * DAY + 2).contains(&left));
        t.store.touch(&key, exp).await.unwrap();
        let left = remaining_ttl(&t.store, &key).await.expect("touched");
        assert!((days * DAY - 5..=days * DAY + 2).contains(&left));
        assert_eq!(
            sessionkit_conformance::stored(&t.store, &key)
                .await
                .as_deref(),
            Some(&b"longer"[..])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_day_session_round_trips_through_sessions() {
    let t = common::store(1).await;
    let sessions = Sessions::new(t.store.clone());
    let mut s = sessions.create();
    s.insert("user", 7).unwrap();
    s.set_expiry(Expiry::from_secs(60 * DAY));
    s.save().await.unwrap();
    let loaded = sessions
        .load(Some(s.key().unwrap().as_str()))
        .await
        .unwrap();
    assert_eq!(loaded.get::<i64>("user").unwrap(), Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_beyond_2038_is_clamped_not_wrapped() {
    let t = common::store(1).await;
    let key = SessionKey::generate();
    // Year 2200: beyond what memcached parses; stored until 2038 instead of being refused.
    let far = UnixTime::from_secs(7_258_118_400);
    t.store.create(&key, b"far", far).await.unwrap();
    assert_eq!(
        sessionkit_conformance::stored(&t.store, &key)
            .await
            .as_deref(),
        Some(&b"far"[..])
    );
    let left = remaining_ttl(&t.store, &key).await.unwrap();
    let to_2038 = i64::from(i32::MAX) - UnixTime::now().as_secs();
    assert!((to_2038 - 5..=to_2038 + 2).contains(&left), "{left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_expired_records_are_never_servable() {
    let t = common::store(1).await;
    let now = UnixTime::now();
    let live = now.add_secs(600);
    for past in [
        now,
        now.add_secs(-1),
        now.add_secs(-40 * DAY),
        UnixTime::from_secs(i64::MIN),
    ] {
        // create: nothing stored.
        let key = SessionKey::generate();
        assert_eq!(t.store.create(&key, b"x", past).await.unwrap().key, key);
        assert_eq!(sessionkit_conformance::stored(&t.store, &key).await, None);
        assert!(!t.store.exists(&key).await.unwrap());

        // update of a live record to an expired time: the record goes.
        t.store.create(&key, b"x", live).await.unwrap();
        t.store
            .update(&key, b"y", past, sessionkit_core::Expected::Any)
            .await
            .unwrap();
        assert_eq!(sessionkit_conformance::stored(&t.store, &key).await, None);
        // ... and of a missing record: vanished, nothing created.
        let err = t
            .store
            .update(&key, b"y", past, sessionkit_core::Expected::Any)
            .await
            .unwrap_err();
        assert!(err.is_vanished(), "{err:?}");
        assert_eq!(sessionkit_conformance::stored(&t.store, &key).await, None);

        // touch to an expired time: the record goes; missing: vanished.
        t.store.create(&key, b"x", live).await.unwrap();
        t.store.touch(&key, past).await.unwrap();
        assert_eq!(sessionkit_conformance::stored(&t.store, &key).await, None);
        assert!(t.store.touch(&key, past).await.unwrap_err().is_vanished());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_above_the_item_limit_are_too_large_not_dropped() {
    let t = common::store(1).await;
    let exp = UnixTime::now().add_secs(600);
    let key = SessionKey::generate();

    // The configured limit is declared, so the session layer refuses longer records before
    // sending (the conformance suite checks that against this store).
    assert_eq!(
        t.store.capabilities().max_record_bytes,
        Some(DEFAULT_MAX_ITEM_SIZE)
    );

    // Just under it, but too large once memcached adds its item header: the server refuses and
    // that is reported too.
    let almost = vec![7u8; DEFAULT_MAX_ITEM_SIZE - 8];
    let err = t.store.create(&key, &almost, exp).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err:?}");
    assert!(!t.store.exists(&key).await.unwrap());

    // A large record that fits is stored. (An update the server refuses as too large makes
    // memcached drop the item it would replace; records over the declared limit never reach
    // it: the conformance suite's `records_over_the_store_maximum_are_refused_and_nothing_is_stored`.)
    let big = vec![9u8; 512 * 1024];
    t.store.create(&key, &big, exp).await.unwrap();

    // The connections are still in step with the server afterwards.
    assert_eq!(
        sessionkit_conformance::stored(&t.store, &key).await,
        Some(big)
    );
    let small = SessionKey::generate();
    t.store.create(&small, b"ok", exp).await.unwrap();
    assert_eq!(
        sessionkit_conformance::stored(&t.store, &small)
            .await
            .as_deref(),
        Some(&b"ok"[..])
    );

    // A raised client limit (say the operator expects -I 2m) still reports the server's refusal.
    let raised = common::store_with(1, |c| c.with_max_item_size(2 * 1024 * 1024)).await;
    let err = raised
        .store
        .create(&SessionKey::generate(), &vec![1u8; 1536 * 1024], exp)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_prefixed_and_the_default_prefix_is_namespaced() {
    let servers = common::servers(1).await;
    let config = MemcachedConfig::new(&servers.urls()[..1]);
    assert_eq!(config.prefix(), DEFAULT_PREFIX);
    assert_eq!(DEFAULT_PREFIX, "sessionkit:");
    let store = MemcachedStore::connect(config).await.unwrap();
    let key = SessionKey::generate();
    store
        .create(&key, b"v", UnixTime::now().add_secs(60))
        .await
        .unwrap();
    let raw = store
        .client()
        .get(format!("sessionkit:{}", key.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.value.as_deref(), Some(&b"v"[..]));
    store.delete(&key).await.unwrap();

    let t = common::store(1).await;
    let prefix = t.store.config().prefix().to_owned();
    let key = SessionKey::generate();
    t.store
        .create(&key, b"w", UnixTime::now().add_secs(60))
        .await
        .unwrap();
    assert_eq!(t.store.wire_key(&key), format!("{prefix}{}", key.as_str()));
    let raw = t
        .store
        .client()
        .get(t.store.wire_key(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.value.as_deref(), Some(&b"w"[..]));
    // Another prefix is another namespace.
    let other = common::store(1).await;
    assert_eq!(
        sessionkit_conformance::stored(&other.store, &key).await,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_a_config_error() {
    let servers = common::servers(1).await;
    let url = servers.url().to_owned();
    let long_prefix = "p".repeat(219);
    for config in [
        MemcachedConfig::new([&url]).with_prefix(long_prefix.as_str()),
        MemcachedConfig::new([&url]).with_prefix("has space:"),
        MemcachedConfig::new([&url]).with_prefix("ctrl\x01:"),
        MemcachedConfig::new([format!("{url}?protocol=ascii")]),
        MemcachedConfig::new(["memcache+tls://127.0.0.1:11211"]),
        MemcachedConfig::new(Vec::<String>::new()),
    ] {
        let err = MemcachedStore::connect(config.clone()).await.unwrap_err();
        assert!(err.is_config(), "{config:?}: {err:?}");
    }
    // 218 bytes of prefix + 32 of key = 250: accepted and usable.
    let mut prefix = common::unique_prefix("x");
    while prefix.len() < 218 {
        prefix.push('p');
    }
    let store = MemcachedStore::connect(MemcachedConfig::new([&url]).with_prefix(prefix))
        .await
        .unwrap();
    let key = SessionKey::generate();
    assert_eq!(store.wire_key(&key).len(), 250);
    store
        .create(&key, b"edge", UnixTime::now().add_secs(60))
        .await
        .unwrap();
    assert_eq!(
        sessionkit_conformance::stored(&store, &key)
            .await
            .as_deref(),
        Some(&b"edge"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_unavailable() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // The start-up rule: `connect` fails when no server answers (a server that dies later
    // fails only its requests: see faults.rs).
    let err = MemcachedStore::connect(MemcachedConfig::new([format!(
        "memcached://127.0.0.1:{port}"
    )]))
    .await
    .expect_err("nothing listens there");
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(err.backend_name(), "memcached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touch_moves_the_expiry_without_rewriting() {
    let t = common::store(1).await;
    let key = SessionKey::generate();
    let now = UnixTime::now();
    t.store
        .create(&key, b"keep", now.add_secs(100))
        .await
        .unwrap();
    t.store.touch(&key, now.add_secs(5_000)).await.unwrap();
    let left = remaining_ttl(&t.store, &key).await.unwrap();
    assert!((4_990..=5_000).contains(&left), "{left}");
    assert_eq!(
        sessionkit_conformance::stored(&t.store, &key)
            .await
            .as_deref(),
        Some(&b"keep"[..])
    );
}

#[test]
fn the_client_crate_is_reexported() {
    let _ = memcache::exp::MAX_KEY_LENGTH;
    assert_eq!(
        memcache::exp::MAX_KEY_LENGTH,
        sessionkit_memcached::MAX_KEY_LEN
    );
}
