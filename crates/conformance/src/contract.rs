//! The rules every store relies on, enforced once in core
//! ([`CheckedStore`](sessionkit_core::CheckedStore)) before a store is called: these
//! behaviours check, against each store, that what the contract forbids is refused with a typed
//! error and never reaches the store.

use std::sync::Arc;

use serde_json::json;
use sessionkit_core::{
    ErrorKind, Expected, KeyFormat, Result, SessionConfig, SessionKey, Sessions, UnixTime,
};

use crate::{Harness, Recording};

/// A key the store under test would never hand out: of another [`KeyFormat`].
fn foreign_key(format: KeyFormat) -> SessionKey {
    let (raw, as_format) = match format {
        KeyFormat::Token { max_len } => (
            "a".repeat(max_len + 1),
            KeyFormat::Token {
                max_len: max_len + 1,
            },
        ),
        _ => (
            "a-token.not-a-random-key".to_owned(),
            KeyFormat::Token { max_len: 64 },
        ),
    };
    let key = SessionKey::parse(&raw, as_format).expect("a valid key of the other format");
    assert!(!format.accepts(key.as_str()));
    key
}

fn assert_refused<T: std::fmt::Debug>(what: &str, result: Result<T>, kind: ErrorKind) {
    match result {
        Err(e) => assert_eq!(e.kind(), kind, "{what}: {e:?}"),
        Ok(v) => panic!("{what} was accepted: {v:?}"),
    }
}

/// A key of another store's format, and an `expires_at` that has already passed, are refused
/// as [`ErrorKind::Invalid`] by every operation of `Sessions::store()` — and nothing reaches
/// the store.
pub async fn calls_the_contract_forbids_never_reach_the_store(h: Harness) {
    let recording = Arc::new(Recording::new(h.store.clone()));
    let sessions = Sessions::from_arc(recording.clone(), SessionConfig::default());
    let store = sessions.store();
    let now = UnixTime::now();
    let exp = now.add_secs(600);
    let bytes = b"\x01any record".as_slice();

    let foreign = foreign_key(store.key_format());
    let invalid = ErrorKind::Invalid;
    assert_refused("load", store.load(&foreign).await, invalid);
    assert_refused("create", store.create(&foreign, bytes, exp).await, invalid);
    assert_refused(
        "update",
        store.update(&foreign, bytes, exp, Expected::Any).await,
        invalid,
    );
    assert_refused("touch", store.touch(&foreign, exp).await, invalid);
    assert_refused("delete", store.delete(&foreign).await, invalid);
    assert_refused("exists", store.exists(&foreign).await, invalid);

    let key = SessionKey::parse(
        "abcdefgh12345678abcdefgh12345678",
        sessionkit_core::KeyFormat::Random,
    )
    .unwrap();
    assert!(store.key_format().accepts(key.as_str()));
    for passed in [now, now.add_secs(-1), UnixTime::from_secs(i64::MIN)] {
        let at = passed.as_secs();
        assert_refused(
            &format!("create expiring at {at}"),
            store.create(&key, bytes, passed).await,
            invalid,
        );
        assert_refused(
            &format!("update expiring at {at}"),
            store.update(&key, bytes, passed, Expected::Any).await,
            invalid,
        );
        assert_refused(
            &format!("touch to {at}"),
            store.touch(&key, passed).await,
            invalid,
        );
    }
    assert_eq!(recording.calls(), 0, "a forbidden call reached the store");
}

/// A record over the store's maximum (its declared
/// [`max_record_bytes`](sessionkit_core::Capabilities::max_record_bytes), at most
/// `MAX_RECORD_BYTES`) is refused as `TooLarge` before it reaches the store: a create stores
/// nothing, an update leaves the stored record as it was, and a session whose record would be
/// too large is not saved.
pub async fn records_over_the_store_maximum_are_refused_and_nothing_is_stored(h: Harness) {
    let recording = Arc::new(Recording::new(h.store.clone()));
    let sessions = Sessions::from_arc(recording.clone(), SessionConfig::default());
    let store = sessions.store();
    let max = store.max_record_bytes();
    assert!(max <= sessionkit_core::MAX_RECORD_BYTES);
    if let Some(declared) = h.store.capabilities().max_record_bytes {
        assert_eq!(max, declared.min(sessionkit_core::MAX_RECORD_BYTES));
    }

    let mut kept = sessions.create();
    kept.insert("user", "42").unwrap();
    kept.save().await.unwrap();
    let key = kept.key().unwrap().clone();
    let before = recording.calls();

    let too_big = vec![b'x'; max + 1];
    let exp = UnixTime::now().add_secs(600);
    let fresh = SessionKey::generate();
    assert_refused(
        "create",
        store.create(&fresh, &too_big, exp).await,
        ErrorKind::TooLarge,
    );
    assert_refused(
        "update",
        store.update(&key, &too_big, exp, Expected::Any).await,
        ErrorKind::TooLarge,
    );
    assert_eq!(
        recording.calls(),
        before,
        "a too-large record reached the store"
    );
    drop(too_big);

    // Through a session: only where the store's own limit is below what a session may hold
    // anyway (MAX_RECORD_BYTES is `what_load_would_refuse_save_refuses_first`'s).
    if max < sessionkit_core::MAX_RECORD_BYTES {
        let blob = "x".repeat(max);
        let mut new = sessions.create();
        new.insert("blob", &blob).unwrap();
        let err = new.save().await.unwrap_err();
        assert!(err.is_too_large(), "{err:?}");
        assert!(new.key().is_none(), "a refused new session keeps no key");
        let mut grown = sessions.load(Some(key.as_str())).await.unwrap();
        grown.insert("blob", &blob).unwrap();
        assert!(grown.save().await.unwrap_err().is_too_large());
        assert_eq!(
            recording.calls(),
            before + 1,
            "only the load reached the store"
        );
    }

    let after = sessions.load(Some(key.as_str())).await.unwrap();
    assert_eq!(after.get_value("user"), Some(&json!("42")));
    assert_eq!(
        after.get_value("blob"),
        None,
        "the stored record is as it was"
    );
    if let Some(key) = after.key() {
        h.store.delete(key).await.unwrap();
    }
}
