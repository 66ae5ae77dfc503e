//! The bounds: entries and bytes, the eviction order, and records too large to store.

use sessionkit_core::{ErrorKind, SessionKey, SessionStore, Sessions, UnixTime};
use sessionkit_locmem::{LocMemConfig, LocMemStore, ENTRY_OVERHEAD};

fn keys(n: usize) -> Vec<SessionKey> {
    (0..n).map(|_| SessionKey::generate()).collect()
}

async fn live(store: &LocMemStore, keys: &[SessionKey]) -> Vec<bool> {
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        out.push(store.exists(k).await.unwrap());
    }
    out
}

#[tokio::test]
async fn entry_bound_evicts_the_soonest_to_expire_one_at_a_time() {
    // Django's default MAX_ENTRIES: a store this small gets a single shard.
    let store = LocMemStore::new(LocMemConfig::new().with_max_entries(300));
    assert_eq!(store.shards(), 1);
    let now = UnixTime::now();
    let first = keys(300);
    // Created in shuffled expiry order: the eviction order must follow expiry, not insertion.
    let mut order: Vec<usize> = (0..300).collect();
    order.reverse();
    order.rotate_left(100);
    for &i in &order {
        let exp = now.add_secs(10_000 + i as i64);
        store.create(&first[i], b"x", exp).await.unwrap();
    }
    assert_eq!(store.len(), 300);
    assert_eq!(store.evicted(), 0);

    // The 301st session costs exactly one session, not a third of the store as Django's cull.
    let extra = keys(50);
    store
        .create(&extra[0], b"y", now.add_secs(20_000))
        .await
        .unwrap();
    assert_eq!(store.len(), 300);
    assert_eq!(store.evicted(), 1);
    assert!(!store.exists(&first[0]).await.unwrap());
    assert!(store.exists(&first[1]).await.unwrap());

    for k in &extra[1..] {
        store.create(k, b"y", now.add_secs(20_000)).await.unwrap();
    }
    assert_eq!(store.len(), 300);
    assert_eq!(store.evicted(), 50);
    let alive = live(&store, &first).await;
    for (i, alive) in alive.iter().enumerate() {
        assert_eq!(*alive, i >= 50, "session {i} (expiring {i}th soonest)");
    }
    assert!(live(&store, &extra).await.iter().all(|&a| a));
}

#[tokio::test]
async fn updates_move_a_session_back_in_the_eviction_order() {
    let store = LocMemStore::new(LocMemConfig::new().with_max_entries(10));
    let now = UnixTime::now();
    let ks = keys(11);
    for (i, k) in ks[..10].iter().enumerate() {
        store
            .create(k, b"x", now.add_secs(100 + i as i64))
            .await
            .unwrap();
    }
    // Session 0 is saved again with a later expiry (sliding expiry): session 1 is now the
    // one closest to its end.
    store
        .update(
            &ks[0],
            b"x2",
            now.add_secs(1000),
            sessionkit_core::Expected::Any,
        )
        .await
        .unwrap();
    store.touch(&ks[2], now.add_secs(1000)).await.unwrap();
    store
        .create(&ks[10], b"x", now.add_secs(500))
        .await
        .unwrap();
    let alive = live(&store, &ks).await;
    assert_eq!(
        alive,
        [true, false, true, true, true, true, true, true, true, true, true]
    );
    assert_eq!(store.evicted(), 1);
}

#[tokio::test]
async fn byte_bound_counts_records_and_overhead() {
    let record = vec![1u8; 1000];
    let cost = record.len() + ENTRY_OVERHEAD;
    let store = LocMemStore::new(
        LocMemConfig::new()
            .with_max_entries(1000)
            .with_max_bytes(10 * cost),
    );
    assert_eq!(store.shards(), 1);
    let now = UnixTime::now();
    let ks = keys(12);
    for (i, k) in ks[..10].iter().enumerate() {
        store
            .create(k, &record, now.add_secs(100 + i as i64))
            .await
            .unwrap();
    }
    assert_eq!(store.bytes(), 10 * cost);
    assert_eq!(store.evicted(), 0);

    // One more full-size record: the soonest-to-expire session (0) makes room.
    store
        .create(&ks[10], &record, now.add_secs(500))
        .await
        .unwrap();
    assert_eq!(store.bytes(), 10 * cost);
    assert!(!store.exists(&ks[0]).await.unwrap());

    // Session 1 is now the soonest to expire. Growing it by two records' worth evicts the two
    // sessions after it (2 and 3), never session 1 itself.
    let bigger = vec![2u8; 1000 + 2 * cost];
    store
        .update(
            &ks[1],
            &bigger,
            now.add_secs(101),
            sessionkit_core::Expected::Any,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .load(&ks[1])
            .await
            .unwrap()
            .map(|l| l.record)
            .as_deref(),
        Some(&bigger[..])
    );
    let alive = live(&store, &ks[..11]).await;
    assert_eq!(
        alive,
        [false, true, false, false, true, true, true, true, true, true, true]
    );
    assert_eq!(store.evicted(), 3);
    assert_eq!(store.bytes(), 10 * cost);

    // Shrinking gives the bytes back.
    store
        .update(
            &ks[1],
            b"small",
            now.add_secs(101),
            sessionkit_core::Expected::Any,
        )
        .await
        .unwrap();
    assert_eq!(store.bytes(), 7 * cost + 5 + ENTRY_OVERHEAD);
    store.delete(&ks[1]).await.unwrap();
    assert_eq!(store.bytes(), 7 * cost);
}

/// The byte bound sets the longest record, declared to the session layer (which refuses longer
/// ones before they reach the store: the conformance suite's
/// `records_over_the_store_maximum_are_refused_and_nothing_is_stored`); exactly that long fits
/// and takes the whole budget.
#[tokio::test]
async fn the_longest_record_is_the_byte_budget_and_is_declared() {
    let store = LocMemStore::new(
        LocMemConfig::new()
            .with_max_entries(1000)
            .with_max_bytes(64 * 1024),
    );
    let limit = store.max_record_bytes();
    assert_eq!(limit, 64 * 1024 - ENTRY_OVERHEAD);
    assert_eq!(store.capabilities().max_record_bytes, Some(limit));
    let exp = UnixTime::now().add_secs(60);
    let key = SessionKey::generate();

    let checked = Sessions::new(store.clone());
    let err = checked
        .store()
        .create(&key, &vec![0u8; limit + 1], exp)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    let text = err.to_string();
    assert!(text.contains(&(limit + 1).to_string()), "{text}");
    assert!(text.contains(&limit.to_string()), "{text}");
    assert_eq!(store.len(), 0);

    checked
        .store()
        .create(&key, &vec![0u8; limit], exp)
        .await
        .unwrap();
    assert_eq!(store.bytes(), 64 * 1024);
}

#[tokio::test]
async fn sharded_bounds_hold_for_the_whole_store() {
    let shards = 32;
    let max = shards * 1024;
    let store = LocMemStore::new(
        LocMemConfig::new()
            .with_shards(shards)
            .with_max_entries(max),
    );
    assert_eq!(store.shards(), shards);
    assert_eq!(store.max_entries_per_shard(), 1024);
    let exp = UnixTime::now().add_secs(600);
    let created = 40_000;
    for i in 0..created {
        store
            .create(&SessionKey::generate(), b"r", exp)
            .await
            .unwrap();
        if i % 1000 == 0 {
            assert!(store.len() <= max);
        }
    }
    let len = store.len();
    assert!(len <= max, "{len} > {max}");
    assert_eq!(store.evicted(), (created - len) as u64);
    // Random keys fill the shards evenly: 40,000 sessions over 32 shards of 1,024 put ~1,250
    // into each, so every shard is full.
    assert_eq!(len, max);
}
