//! Expiry: never served, purged by writes without `clear_expired`, counted by `clear_expired`.
//!
//! Expiry has one-second resolution, so these tests write sessions that expire two whole seconds
//! from now (filling the store may cross one second boundary without expiring them early) and
//! wait until the clock has reached that second (one to two seconds).

use std::time::Duration;

use sessionkit_core::{ErrorKind, KeyFormat, SessionKey, SessionStore, UnixTime};
use sessionkit_locmem::{LocMemConfig, LocMemStore};

/// Waits until a record expiring at `expires_at` has expired: the clock is at or past it.
async fn wait_past(expires_at: UnixTime) {
    while UnixTime::now() < expires_at {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn fill(store: &LocMemStore, n: usize, expires_at: UnixTime) -> Vec<SessionKey> {
    let mut keys = Vec::with_capacity(n);
    for _ in 0..n {
        let key = SessionKey::generate();
        store.create(&key, b"record", expires_at).await.unwrap();
        keys.push(key);
    }
    keys
}

/// Writes new long-lived sessions until `len()` reaches `target`; returns how many it took,
/// or `None` if `max_writes` were not enough.
async fn write_until_len(store: &LocMemStore, target: usize, max_writes: usize) -> Option<usize> {
    let exp = UnixTime::now().add_secs(600);
    for writes in 1..=max_writes {
        store
            .create(&SessionKey::generate(), b"new", exp)
            .await
            .unwrap();
        if store.len() == target + writes {
            return Some(writes);
        }
    }
    None
}

#[tokio::test]
async fn writes_purge_expired_entries_incrementally_in_one_shard() {
    let store = LocMemStore::new(LocMemConfig::new().with_shards(1));
    assert_eq!(store.shards(), 1);
    let now = UnixTime::now();
    fill(&store, 100, now.add_secs(2)).await;
    fill(&store, 5, now.add_secs(600)).await;
    wait_past(now.add_secs(2)).await;
    assert_eq!(
        store.len(),
        105,
        "nothing is removed without a read or write"
    );

    // Each write removes a few expired entries, not all of them: no stop-the-world scan.
    store
        .create(
            &SessionKey::generate(),
            b"new",
            UnixTime::now().add_secs(600),
        )
        .await
        .unwrap();
    let len = store.len();
    assert!(len < 106, "the write purged nothing");
    assert!(len > 6, "one write purged every expired entry at once");

    let writes = write_until_len(&store, 5 + 1, 100).await;
    assert!(
        writes.is_some(),
        "100 writes did not purge 100 expired entries"
    );
    assert_eq!(store.evicted(), 0);
}

#[tokio::test]
async fn writes_purge_expired_entries_in_every_shard() {
    let store = LocMemStore::new(LocMemConfig::new());
    assert_eq!(store.shards(), 32);
    let now = UnixTime::now();
    fill(&store, 1000, now.add_secs(2)).await;
    let live = fill(&store, 10, now.add_secs(600)).await;
    wait_past(now.add_secs(2)).await;
    assert_eq!(store.len(), 1010);
    // Writes land on random shards; each purges its own. 20,000 writes are far more than the
    // ~125 per shard needed (~8 purged per write).
    let writes = write_until_len(&store, live.len(), 20_000).await;
    assert!(writes.is_some(), "expired entries survived 20,000 writes");
    for k in &live {
        assert!(store.exists(k).await.unwrap());
    }
}

#[tokio::test]
async fn expired_records_are_never_served_and_keys_can_be_reused() {
    let store = LocMemStore::default();
    let now = UnixTime::now();
    let keys = fill(&store, 5, now.add_secs(2)).await;
    assert!(store
        .load(&keys[0])
        .await
        .unwrap()
        .map(|l| l.record)
        .is_some());
    wait_past(now.add_secs(2)).await;
    let exp = UnixTime::now().add_secs(600);

    assert_eq!(store.load(&keys[0]).await.unwrap().map(|l| l.record), None);
    assert!(!store.exists(&keys[1]).await.unwrap());
    let err = store
        .update(&keys[2], b"again", exp, sessionkit_core::Expected::Any)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Vanished);
    let err = store.touch(&keys[3], exp).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Vanished);
    // An expired record does not block its key.
    store.create(&keys[4], b"again", exp).await.unwrap();
    assert_eq!(
        store
            .load(&keys[4])
            .await
            .unwrap()
            .map(|l| l.record)
            .as_deref(),
        Some(&b"again"[..])
    );
    // The reads and failed writes above removed what they met.
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn clear_expired_counts_what_it_removes() {
    let store = LocMemStore::default();
    let now = UnixTime::now();
    fill(&store, 60, now.add_secs(2)).await;
    let live = fill(&store, 40, now.add_secs(600)).await;
    wait_past(now.add_secs(2)).await;
    assert_eq!(store.len(), 100);
    assert_eq!(store.clear_expired().await.unwrap(), 60);
    assert_eq!(store.len(), 40);
    assert_eq!(store.clear_expired().await.unwrap(), 0);
    for k in &live {
        assert!(store.exists(k).await.unwrap());
    }
    assert_eq!(store.bytes(), 40 * (6 + sessionkit_locmem::ENTRY_OVERHEAD));
}

#[tokio::test]
async fn clear_expired_handles_more_than_one_batch_per_shard() {
    let store = LocMemStore::new(LocMemConfig::new().with_shards(1));
    let now = UnixTime::now();
    fill(&store, 5000, now.add_secs(2)).await;
    fill(&store, 3, now.add_secs(600)).await;
    wait_past(now.add_secs(2)).await;
    assert_eq!(store.clear_expired().await.unwrap(), 5000);
    assert_eq!(store.len(), 3);
}

#[tokio::test]
async fn already_expired_writes_leave_nothing_servable() {
    let store = LocMemStore::default();
    let now = UnixTime::now();
    let key = SessionKey::generate();

    store.create(&key, b"r", now.add_secs(-1)).await.unwrap();
    assert_eq!(sessionkit_conformance::stored(&store, &key).await, None);
    assert_eq!(store.len(), 0);

    store.create(&key, b"r", now.add_secs(600)).await.unwrap();
    store
        .update(&key, b"r2", now, sessionkit_core::Expected::Any)
        .await
        .unwrap();
    assert_eq!(sessionkit_conformance::stored(&store, &key).await, None);
    assert_eq!(store.len(), 0);

    store.create(&key, b"r", now.add_secs(600)).await.unwrap();
    store.touch(&key, now.add_secs(-100)).await.unwrap();
    assert!(!store.exists(&key).await.unwrap());
    assert_eq!((store.len(), store.bytes()), (0, 0));
}

#[tokio::test]
async fn keys_of_another_format_are_refused_without_panicking() {
    let store = LocMemStore::default();
    let token = SessionKey::parse("not-a-random-key", KeyFormat::Token { max_len: 64 }).unwrap();
    let exp = UnixTime::now().add_secs(60);
    assert_eq!(sessionkit_conformance::stored(&store, &token).await, None);
    assert!(!store.exists(&token).await.unwrap());
    store.delete(&token).await.unwrap();
    assert!(store
        .create(&token, b"r", exp)
        .await
        .unwrap_err()
        .is_invalid());
    assert!(store
        .update(&token, b"r", exp, sessionkit_core::Expected::Any)
        .await
        .unwrap_err()
        .is_invalid());
    assert!(store.touch(&token, exp).await.unwrap_err().is_vanished());
    assert_eq!(store.len(), 0);
}
