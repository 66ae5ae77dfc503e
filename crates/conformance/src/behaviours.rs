//! One `pub async fn` per behaviour. The numbers in the docs are the tests of Django 5.2's
//! `SessionTestsMixin` (see `shared/reference/django-sessions.md` §5.1) each one covers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sessionkit_core::{
    Clock, Codecs, Expected, Expiry, Housekeeping, JsonCodec, KeyFormat, ManualClock, Record,
    SessionConfig, SessionKey, Sessions, UnixTime,
};

pub use crate::conflicts::{
    a_slow_request_is_not_starved_by_fast_ones, concurrent_saves_of_different_keys_lose_nothing,
    concurrent_saves_of_one_key_with_fail_policy_count_exactly,
    merge_keeps_other_keys_and_applies_own_changes, overwrite_policy_is_last_write_wins,
    racing_creates_admit_exactly_one, saves_racing_a_flush_never_resurrect,
    update_at_a_stale_version_is_a_conflict_and_writes_nothing,
};
pub use crate::contract::{
    calls_the_contract_forbids_never_reach_the_store,
    records_over_the_store_maximum_are_refused_and_nothing_is_stored,
};
use crate::{Harness, Recording, WarningCounter};

/// Every behaviour that applies to every store: the `suite!` and `client_side_suite!` macros
/// expand this list.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_behaviour {
    ($callback:path, $make:expr) => {
        $callback!($make;
            take_marks_accessed_and_modified,
            save_stores_a_session_with_values,
            new_empty_session_is_never_stored,
            emptied_session_with_key_is_saved_not_deleted,
            delete_is_idempotent,
            flush_logs_out,
            flush_of_unsaved_session_stores_nothing,
            cycle_key_moves_data_to_new_key,
            cycle_key_of_loaded_session_keeps_data,
            cycle_key_of_unsaved_session_stores_it,
            save_keeps_data,
            invalid_key_gives_new_session,
            hostile_keys_never_reach_the_store,
            expiry_setting_survives_save_and_load,
            round_trip_between_handles,
            both_codecs_read_each_others_records,
            corrupted_bytes_load_as_no_session,
            already_expired_save_removes_session,
            expired_record_is_never_returned,
            load_does_not_create_record,
            touch_extends_life,
            concurrent_creates_get_distinct_keys,
            clear_expired_removes_only_expired,
            clear_expired_every_runs_until_stopped,
            what_load_would_refuse_save_refuses_first,
            calls_the_contract_forbids_never_reach_the_store,
            records_over_the_store_maximum_are_refused_and_nothing_is_stored,
            the_configured_clock_decides_expiry_to_the_second,
            load_reports_the_expiry_it_was_written_with,
        );
    };
}

/// Every behaviour that applies only to a store that keeps sessions on the server (it can
/// delete, expire, refuse a taken key, compare and set): `suite!` registers these too,
/// `client_side_suite!` does not.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_server_side_behaviour {
    ($callback:path, $make:expr) => {
        $callback!($make;
            delete_removes_record,
            save_does_not_resurrect_logged_out_session,
            create_never_overwrites,
            expired_record_does_not_hold_its_key,
            update_of_missing_record_is_vanished,
            touch_of_missing_record_is_vanished,
            load_reports_the_expiry_a_touch_moved,
            concurrent_saves_of_different_keys_lose_nothing,
            a_slow_request_is_not_starved_by_fast_ones,
            concurrent_saves_of_one_key_with_fail_policy_count_exactly,
            merge_keeps_other_keys_and_applies_own_changes,
            overwrite_policy_is_last_write_wins,
            update_at_a_stale_version_is_a_conflict_and_writes_nothing,
            saves_racing_a_flush_never_resurrect,
            racing_creates_admit_exactly_one,
        );
    };
}

/// A 1.5 KB dashboard login: user id, a ~1 KB token, a few strings.
pub fn dashboard_payload() -> Vec<(&'static str, Value)> {
    vec![
        ("_auth_user_id", json!("42")),
        (
            "_auth_user_backend",
            json!("openstack_auth.backend.KeystoneBackend"),
        ),
        (
            "_auth_user_hash",
            json!("f1c2d3e4b5a6978812345678deadbeefcafe0123"),
        ),
        ("token", json!("gAAAAA".to_owned() + &"x".repeat(1018))),
        (
            "region_endpoint",
            json!("https://keystone.example.org:5000/v3"),
        ),
        ("services_region", json!("RegionOne")),
        ("project_id", json!("9f3c2a1b0e8d4c7f6a5b4c3d2e1f0a9b")),
        ("user_name", json!("admin")),
        ("horizon_pagesize", json!(20)),
        ("django_language", json!("en")),
    ]
}

fn fresh_unknown_key() -> SessionKey {
    SessionKey::generate()
}

async fn stored_session(h: &Harness, values: &[(&str, Value)]) -> sessionkit_core::Session {
    let mut s = h.sessions().create();
    for (k, v) in values {
        s.insert_value(k, v.clone());
    }
    s.save().await.expect("save");
    assert!(s.key().is_some(), "a saved session with values has a key");
    s
}

/// A record created through the store that expires one second after `now`.
async fn short_lived_record(h: &Harness, now: UnixTime) -> SessionKey {
    h.store
        .create(
            &fresh_unknown_key(),
            &encoded(&[("a", json!(1))], now.add_secs(1)),
            now.add_secs(1),
        )
        .await
        .unwrap()
        .key
}

fn encoded(data: &[(&str, Value)], expires_at: UnixTime) -> Vec<u8> {
    let record = Record {
        expires_at,
        expiry: Expiry::Default,
        data: data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    };
    Codecs::default().encode(record.as_ref()).expect("encode")
}

/// Django 6–7: `pop` of a present key marks accessed and modified and removes it.
pub async fn take_marks_accessed_and_modified(h: Harness) {
    let mut s = stored_session(&h, &[("some key", json!("exists"))]).await;
    let mut s2 = h
        .sessions()
        .load(Some(s.key().unwrap().as_str()))
        .await
        .unwrap();
    assert!(
        !s2.is_accessed() && !s2.is_modified(),
        "a loaded session starts untouched"
    );
    assert_eq!(
        s2.take::<String>("some key").unwrap().as_deref(),
        Some("exists")
    );
    assert!(s2.is_accessed());
    assert!(s2.is_modified());
    assert_eq!(s2.get::<String>("some key").unwrap(), None);
    s.delete().await.unwrap();
}

/// Django 27–28: saving a new session with values stores it under a fresh key.
pub async fn save_stores_a_session_with_values(h: Harness) {
    let mut s = stored_session(&h, &[("a", json!(1))]).await;
    let key = s.key().unwrap().clone();
    if h.server_side() {
        assert_eq!(key.as_str().len(), sessionkit_core::KEY_LEN);
        assert!(h.store.exists(&key).await.unwrap());
    }
    let loaded = h.sessions().load(Some(key.as_str())).await.unwrap();
    assert_eq!(loaded.get::<i64>("a").unwrap(), Some(1));
    s.delete().await.unwrap();
}

/// CVE-2015-5963: a new session that holds nothing is not stored and gets no key.
pub async fn new_empty_session_is_never_stored(h: Harness) {
    let recording = Arc::new(Recording::new(h.store.clone()));
    let sessions = Sessions::from_arc(recording.clone(), SessionConfig::default());
    let mut s = sessions.create();
    let _ = s.get::<String>("anything").unwrap();
    s.save().await.unwrap();
    assert!(s.key().is_none());
    let mut t = sessions.create();
    t.insert("x", 1).unwrap();
    t.remove("x");
    t.save().await.unwrap();
    assert!(t.key().is_none());
    assert_eq!(recording.calls(), 0, "nothing may reach the store");
}

/// Django middleware test 112: a session emptied after it was stored is saved empty, not
/// deleted.
pub async fn emptied_session_with_key_is_saved_not_deleted(h: Harness) {
    let s = stored_session(&h, &[("foo", json!("bar"))]).await;
    let mut s2 = h
        .sessions()
        .load(Some(s.key().unwrap().as_str()))
        .await
        .unwrap();
    s2.remove("foo");
    s2.save().await.unwrap();
    let key = s2.key().unwrap().clone();
    let s3 = h.sessions().load(Some(key.as_str())).await.unwrap();
    assert_eq!(s3.key(), Some(&key), "still a session");
    assert!(s3.is_empty());
    if h.server_side() {
        assert!(h.store.exists(&key).await.unwrap());
    }
}

/// Django 29–30: deleting removes the record.
pub async fn delete_removes_record(h: Harness) {
    let mut s = stored_session(&h, &[("a", json!(1))]).await;
    let key = s.key().unwrap().clone();
    s.delete().await.unwrap();
    assert!(!h.store.exists(&key).await.unwrap());
    let again = h.sessions().load(Some(key.as_str())).await.unwrap();
    assert!(again.key().is_none() && again.is_empty());
}

/// Deleting a missing record is not an error (Django: a silent no-op).
pub async fn delete_is_idempotent(h: Harness) {
    h.store.delete(&fresh_unknown_key()).await.unwrap();
    let mut s = h.sessions().create();
    s.delete().await.unwrap();
}

/// Django 31–32: flush deletes the record, empties the session and drops the key.
pub async fn flush_logs_out(h: Harness) {
    let mut s = stored_session(&h, &[("foo", json!("bar"))]).await;
    let prev = s.key().unwrap().clone();
    s.flush().await.unwrap();
    assert!(!h.store.exists(&prev).await.unwrap());
    assert!(s.key().is_none());
    assert!(s.is_empty());
    assert!(s.is_modified() && s.is_accessed());
    if h.server_side() {
        let old = h.sessions().load(Some(prev.as_str())).await.unwrap();
        assert!(old.is_empty() && old.key().is_none(), "the old key is dead");
    }
    s.save().await.unwrap();
    assert!(
        s.key().is_none(),
        "flush does not create a new session (CVE-2015-5964)"
    );
}

/// Flushing a session that was never stored touches nothing.
pub async fn flush_of_unsaved_session_stores_nothing(h: Harness) {
    let recording = Arc::new(Recording::new(h.store.clone()));
    let sessions = Sessions::from_arc(recording.clone(), SessionConfig::default());
    let mut s = sessions.create();
    s.insert("a", 1).unwrap();
    s.flush().await.unwrap();
    s.save().await.unwrap();
    assert!(s.key().is_none());
    assert_eq!(recording.calls(), 0);
}

/// Django 33–34: cycling the key keeps the data under a new key and removes the old record.
pub async fn cycle_key_moves_data_to_new_key(h: Harness) {
    let mut s = stored_session(&h, &[("a", json!("c")), ("b", json!("d"))]).await;
    let prev = s.key().unwrap().clone();
    let prev_items: Vec<(String, Value)> =
        s.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
    s.cycle_key().await.unwrap();
    let new = s.key().unwrap().clone();
    if h.server_side() {
        // A token store's key is the sealed data: the same data sealed in the same second may
        // be the same value, and the old one cannot be revoked anyway (Django skips
        // `test_cycle` for signed cookies for that reason).
        assert_ne!(new, prev);
    }
    let items: Vec<(String, Value)> = s.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
    assert_eq!(items, prev_items);
    if h.server_side() {
        assert!(
            !h.store.exists(&prev).await.unwrap(),
            "the old record is gone"
        );
        let old = h.sessions().load(Some(prev.as_str())).await.unwrap();
        assert!(old.is_empty() && old.key().is_none());
    }
    let loaded = h.sessions().load(Some(new.as_str())).await.unwrap();
    let loaded_items: Vec<(String, Value)> = loaded
        .iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
    assert_eq!(
        loaded_items, prev_items,
        "the data is stored under the new key"
    );
}

/// Django 35–36: cycling a session loaded by key (no cached data of its own) keeps its data.
pub async fn cycle_key_of_loaded_session_keeps_data(h: Harness) {
    let s = stored_session(&h, &[("a", json!("c")), ("b", json!("d"))]).await;
    let mut t = h
        .sessions()
        .load(Some(s.key().unwrap().as_str()))
        .await
        .unwrap();
    t.cycle_key().await.unwrap();
    assert!(t.key().is_some());
    if h.server_side() {
        assert_ne!(t.key(), s.key());
    }
    let mut items: Vec<(String, Value)> =
        t.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        items,
        vec![("a".to_owned(), json!("c")), ("b".to_owned(), json!("d"))]
    );
}

/// Cycling a session that was never stored stores it under a fresh key (Django's
/// `cycle_key()` on a keyless session).
pub async fn cycle_key_of_unsaved_session_stores_it(h: Harness) {
    let mut s = h.sessions().create();
    s.insert("a", 1).unwrap();
    s.cycle_key().await.unwrap();
    let key = s.key().expect("a key after cycle_key").clone();
    let loaded = h.sessions().load(Some(key.as_str())).await.unwrap();
    assert_eq!(loaded.get::<i64>("a").unwrap(), Some(1));
}

/// Django 37–38: saving does not clear the in-memory data.
pub async fn save_keeps_data(h: Harness) {
    let mut s = h.sessions().create();
    s.insert("a", "b").unwrap();
    s.save().await.unwrap();
    assert_eq!(s.get::<String>("a").unwrap().as_deref(), Some("b"));
    s.insert("a", "c").unwrap();
    s.save().await.unwrap();
    assert_eq!(s.get::<String>("a").unwrap().as_deref(), Some("c"));
}

/// Django 39–43, 62: a key that breaks the rules is no session, and saving draws a fresh key.
pub async fn invalid_key_gives_new_session(h: Harness) {
    for presented in ["1", "", "1234567", "12345678"] {
        let mut s = h.sessions().load(Some(presented)).await.unwrap();
        assert!(s.key().is_none(), "{presented:?}");
        assert_eq!(s.get::<String>("cat").unwrap(), None);
        s.insert("cat", "dog").unwrap();
        s.save().await.unwrap();
        assert_ne!(s.key().unwrap().as_str(), presented);
        s.delete().await.unwrap();
    }
}

/// Malformed or hostile keys (too short, too long, control characters, CR/LF, path traversal,
/// non-ASCII, 1,240 characters as Django's `test_load_overlong_key`) are "no session" and never
/// reach the store.
pub async fn hostile_keys_never_reach_the_store(h: Harness) {
    let recording = Arc::new(Recording::new(h.store.clone()));
    let sessions = Sessions::from_arc(recording.clone(), SessionConfig::default());
    let overlong = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".repeat(20);
    let huge = "a".repeat(1 << 20);
    let hostile = [
        "",
        "1",
        "abc",
        "abcdefgh12345678abcdefgh1234567\r\nSet-Cookie: x=y",
        "abcdefgh12345678abcdefgh1234567\n",
        "abcdefgh12345678abcdefgh1234567\0",
        "abcdefgh12345678abcdefgh123456\u{7f}",
        "abcdefgh 2345678abcdefgh12345678",
        "../../../../../../../../etc/passwd",
        "abcdefgh12345678abcdefgh1234567é",
        "*",
        "key with spaces and = signs",
        overlong.as_str(),
        huge.as_str(),
    ];
    for raw in hostile {
        if h.store.key_format().accepts(raw) {
            continue; // a token store may accept some of these shapes; it then verifies them itself
        }
        let s = sessions.load(Some(raw)).await.unwrap();
        assert!(s.key().is_none() && s.is_empty());
    }
    assert_eq!(recording.calls(), 0, "a malformed key reached the store");
}

/// The session's own expiry travels with it, and the server-side expiry honours it.
pub async fn expiry_setting_survives_save_and_load(h: Harness) {
    for expiry in [
        Expiry::AtBrowserClose,
        Expiry::AfterInactivity(3_600),
        Expiry::At(UnixTime::now().add_secs(7_200)),
    ] {
        let mut s = h.sessions().create();
        s.insert("a", 1).unwrap();
        s.set_expiry(expiry);
        s.save().await.unwrap();
        let loaded = h
            .sessions()
            .load(Some(s.key().unwrap().as_str()))
            .await
            .unwrap();
        assert_eq!(loaded.expiry(), expiry);
        assert_eq!(loaded.get::<i64>("a").unwrap(), Some(1));
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    roles: Vec<String>,
    quota: Option<f64>,
}

/// Django 57: a session written by one handle reads back equal through another: every JSON
/// type, nested structures, unicode, typed structs, and insertion order.
pub async fn round_trip_between_handles(h: Harness) {
    let profile = Profile {
        id: u64::MAX,
        name: "café ☕ 😀 \"quoted\" \\ \u{0}".into(),
        roles: vec!["admin".into(), "member".into()],
        quota: Some(2.5),
    };
    let mut s = h.sessions().create();
    for (k, v) in dashboard_payload() {
        s.insert_value(k, v);
    }
    s.insert("profile", &profile).unwrap();
    s.insert("negative", -9_007_199_254_740_993_i64).unwrap();
    s.insert("float", 1e-300).unwrap();
    s.insert("flags", [true, false]).unwrap();
    s.insert("nothing", ()).unwrap();
    s.insert("nested", json!({"a": {"b": [1, [2, [3, {"c": null}]]]}}))
        .unwrap();
    s.insert("empty_map", json!({})).unwrap();
    s.insert("", "empty key").unwrap();
    s.save().await.unwrap();
    let written: Vec<(String, Value)> = s.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();

    let other = h
        .sessions()
        .load(Some(s.key().unwrap().as_str()))
        .await
        .unwrap();
    let read: Vec<(String, Value)> = other
        .iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
    assert_eq!(read, written);
    assert_eq!(other.get::<Profile>("profile").unwrap(), Some(profile));
    assert_eq!(
        other.get::<i64>("negative").unwrap(),
        Some(-9_007_199_254_740_993)
    );
    assert!(
        other.get::<u32>("token").is_err(),
        "a value of another type is an error"
    );
}

/// Records written with either built-in codec stay readable when the configured codec changes.
pub async fn both_codecs_read_each_others_records(h: Harness) {
    let json_sessions = h.sessions_with(SessionConfig::new().with_codec(JsonCodec));
    let mut s = json_sessions.create();
    s.insert("written_as", "json").unwrap();
    s.save().await.unwrap();
    let mut via_default = h
        .sessions()
        .load(Some(s.key().unwrap().as_str()))
        .await
        .unwrap();
    assert_eq!(
        via_default.get::<String>("written_as").unwrap().as_deref(),
        Some("json")
    );
    via_default.insert("written_as", "bincode").unwrap();
    via_default.save().await.unwrap();
    let via_json = json_sessions
        .load(Some(via_default.key().unwrap().as_str()))
        .await
        .unwrap();
    assert_eq!(
        via_json.get::<String>("written_as").unwrap().as_deref(),
        Some("bincode")
    );
}

/// Django 58–59: bytes that do not decode (garbage, truncated, an unknown format, another
/// program's data) load as no session, log a security warning, and never panic.
pub async fn corrupted_bytes_load_as_no_session(h: Harness) {
    let good = encoded(&dashboard_payload(), UnixTime::now().add_secs(600));
    let corrupt: Vec<Vec<u8>> = vec![
        b"Zmxhc2tkajphbGtkamY=".to_vec(),
        b"bad:encoded:value".to_vec(),
        good[..good.len() / 2].to_vec(),
        good[..1].to_vec(),
        vec![
            0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ],
        br#"{"v":2,"expires_at":0,"expiry":"default","data":{}}"#.to_vec(),
        b"\x80\x05\x95\x14\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x05hello\x94\x8c\x05world\x94s."
            .to_vec(),
        {
            let mut b = good.clone();
            b.push(0);
            b
        },
    ];
    let expires_at = UnixTime::now().add_secs(600);
    for bytes in corrupt {
        let key = h
            .store
            .create(&fresh_unknown_key(), &bytes, expires_at)
            .await
            .unwrap()
            .key;
        let counter = WarningCounter::install();
        let s = h.sessions().load(Some(key.as_str())).await.unwrap();
        assert_eq!(counter.count(), 1, "one security warning for {bytes:?}");
        drop(counter);
        assert!(
            s.key().is_none() && s.is_empty(),
            "{bytes:?} loaded as a session"
        );
        // Clean-up (a no-op for a cookie store, which keeps nothing).
        h.store.delete(&key).await.unwrap();
    }
}

/// Django 60–61: saving a session whose expiry has passed removes it; its key is dead.
pub async fn already_expired_save_removes_session(h: Harness) {
    let mut s = stored_session(&h, &[("foo", json!("bar"))]).await;
    let old = s.key().unwrap().clone();
    s.set_expiry(Expiry::at(UnixTime::now().add_secs(-10).to_system_time()));
    s.save().await.unwrap();
    assert!(
        s.key().is_none(),
        "the key is dropped, so the middleware deletes the cookie"
    );
    assert!(!h.store.exists(&old).await.unwrap());
    if h.server_side() {
        let again = h.sessions().load(Some(old.as_str())).await.unwrap();
        assert!(!again.contains_key("foo"));
    }
    // A cookie store cannot revoke the value the client still holds: it stays valid until its
    // own expiry (the documented replay window).

    let mut t = h.sessions().create();
    t.insert("foo", "bar").unwrap();
    t.set_expiry(Expiry::from_secs(-10));
    t.save().await.unwrap();
    assert!(
        t.key().is_none(),
        "an already-expired new session is not stored"
    );
}

/// A record is never served once its expiry has passed: neither by the store nor by
/// `Sessions::load`. (An already-expired record never reaches a store:
/// `calls_the_contract_forbids_never_reach_the_store`.)
pub async fn expired_record_is_never_returned(h: Harness) {
    let now = UnixTime::now();
    let short = short_lived_record(&h, now).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(h.bytes(&short).await, None, "an expired record was served");
    assert!(!h.store.exists(&short).await.unwrap());
    let s = h.sessions().load(Some(short.as_str())).await.unwrap();
    assert!(s.key().is_none() && s.is_empty());
}

/// Django 62–63 (CVE-2015-5143): loading an unknown key creates nothing and drops the key.
pub async fn load_does_not_create_record(h: Harness) {
    let unknown = fresh_unknown_key();
    let s = h.sessions().load(Some(unknown.as_str())).await.unwrap();
    assert!(s.key().is_none());
    assert!(!h.store.exists(&unknown).await.unwrap());
}

/// Django 64–65: a save after a concurrent logout fails as vanished and resurrects nothing.
pub async fn save_does_not_resurrect_logged_out_session(h: Harness) {
    let mut s1 = stored_session(&h, &[("test_data", json!("value1"))]).await;
    let key = s1.key().unwrap().clone();
    let mut s2 = h.sessions().load(Some(key.as_str())).await.unwrap();
    s2.delete().await.unwrap();
    s1.insert("test_data", "value2").unwrap();
    let err = s1.save().await.unwrap_err();
    assert!(err.is_vanished(), "{err:?}");
    assert!(!h.store.exists(&key).await.unwrap());
    let again = h.sessions().load(Some(key.as_str())).await.unwrap();
    assert!(again.is_empty() && again.key().is_none());
}

/// `create` is atomic insert-if-absent: a taken key is a collision and the first record stays.
pub async fn create_never_overwrites(h: Harness) {
    let exp = UnixTime::now().add_secs(600);
    let first = encoded(&[("who", json!("first"))], exp);
    let second = encoded(&[("who", json!("second"))], exp);
    let key = fresh_unknown_key();
    let held = h.store.create(&key, &first, exp).await.unwrap().key;
    assert_eq!(&held, &key);
    let err = h.store.create(&key, &second, exp).await.unwrap_err();
    assert!(err.is_collision(), "{err:?}");
    assert_eq!(h.bytes(&key).await.as_deref(), Some(&first[..]));
    h.store.delete(&key).await.unwrap();
}

/// A record past its expiry does not hold its key: `update` and `touch` of it are vanished, and
/// `create` under that key succeeds (an expired row left in a table until `clear_expired` must
/// not block the key, nor be revived by a write).
pub async fn expired_record_does_not_hold_its_key(h: Harness) {
    let now = UnixTime::now();
    let key = short_lived_record(&h, now).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let exp = UnixTime::now().add_secs(600);
    let new = encoded(&[("who", json!("new"))], exp);
    let err = h
        .store
        .update(&key, &new, exp, Expected::Any)
        .await
        .unwrap_err();
    assert!(err.is_vanished(), "update of an expired record: {err:?}");
    let err = h.store.touch(&key, exp).await.unwrap_err();
    assert!(err.is_vanished(), "touch of an expired record: {err:?}");
    assert_eq!(h.bytes(&key).await, None);
    assert_eq!(h.store.create(&key, &new, exp).await.unwrap().key, key);
    assert_eq!(
        h.bytes(&key).await.as_deref(),
        Some(&new[..]),
        "create over an expired record must store the new one"
    );
    h.store.delete(&key).await.unwrap();
}

/// `update` of a missing record is vanished and creates nothing.
pub async fn update_of_missing_record_is_vanished(h: Harness) {
    let exp = UnixTime::now().add_secs(600);
    let key = fresh_unknown_key();
    let bytes = encoded(&[("a", json!(1))], exp);
    let err = h
        .store
        .update(&key, &bytes, exp, Expected::Any)
        .await
        .unwrap_err();
    assert!(err.is_vanished(), "{err:?}");
    assert!(!h.store.exists(&key).await.unwrap());
}

/// `touch` moves the expiry of a live record without rewriting it (rolling sessions).
pub async fn touch_extends_life(h: Harness) {
    // Whole-second expiry: saved at t0 with 4 s, the record dies in (t0+3, t0+4]. Touched at
    // t0+2, it then lives until at least t0+5. Checked at t0+4.5: past the first expiry, well
    // before the second.
    let mut s = h.sessions().create();
    s.insert("a", 1).unwrap();
    s.set_expiry(Expiry::from_secs(4));
    s.save().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let mut loaded = h
        .sessions()
        .load(Some(s.key().unwrap().as_str()))
        .await
        .unwrap();
    assert_eq!(loaded.get::<i64>("a").unwrap(), Some(1));
    loaded.touch().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let still = h
        .sessions()
        .load(Some(loaded.key().unwrap().as_str()))
        .await
        .unwrap();
    assert_eq!(
        still.get::<i64>("a").unwrap(),
        Some(1),
        "touch did not extend the session"
    );
}

/// `touch` of a missing record is vanished.
pub async fn touch_of_missing_record_is_vanished(h: Harness) {
    let err = h
        .store
        .touch(&fresh_unknown_key(), UnixTime::now().add_secs(600))
        .await
        .unwrap_err();
    assert!(err.is_vanished(), "{err:?}");
}

/// 1,000 concurrent creates give 1,000 distinct keys, each holding its own data.
pub async fn concurrent_creates_get_distinct_keys(h: Harness) {
    let sessions = h.sessions();
    let tasks: Vec<_> = (0..1_000u32)
        .map(|i| {
            let sessions = sessions.clone();
            tokio::spawn(async move {
                let mut s = sessions.create();
                s.insert("i", i).unwrap();
                s.save().await.unwrap();
                (i, s.key().unwrap().clone())
            })
        })
        .collect();
    let mut keys = HashSet::new();
    let mut pairs = Vec::new();
    for t in tasks {
        let (i, key) = t.await.unwrap();
        assert!(keys.insert(key.clone()), "duplicate key");
        pairs.push((i, key));
    }
    for (i, key) in pairs.iter().step_by(37) {
        let s = sessions.load(Some(key.as_str())).await.unwrap();
        assert_eq!(s.get::<u32>("i").unwrap(), Some(*i));
    }
    for (_, key) in pairs {
        h.store.delete(&key).await.unwrap();
    }
}

/// `clear_expired` removes expired records (and says how many, where the store counts them)
/// and keeps live ones.
pub async fn clear_expired_removes_only_expired(h: Harness) {
    let now = UnixTime::now();
    let mut short = Vec::new();
    for _ in 0..3 {
        short.push(short_lived_record(&h, now).await);
    }
    let live_bytes = encoded(&[("a", json!(2))], now.add_secs(600));
    let live = h
        .store
        .create(&fresh_unknown_key(), &live_bytes, now.add_secs(600))
        .await
        .unwrap()
        .key;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let cleared = h.store.clear_expired().await.unwrap();
    if h.clear_expired_counts() {
        assert!(
            cleared >= 3,
            "cleared {cleared}, expected at least the 3 expired records"
        );
    } else {
        assert_eq!(cleared, 0);
    }
    for key in &short {
        assert_eq!(h.store.load(key).await.unwrap(), None);
    }
    assert_eq!(h.bytes(&live).await.as_deref(), Some(&live_bytes[..]));
    assert_eq!(
        h.store.clear_expired().await.unwrap(),
        0,
        "nothing left to clear"
    );
    h.store.delete(&live).await.unwrap();
}

/// `Sessions::clear_expired_every` calls `clear_expired` at once and then on every tick until
/// its handle is dropped, removing expired records; for a store with nothing to clear (its
/// server expires records, or sessions live in cookies) it ends at once without a call.
pub async fn clear_expired_every_runs_until_stopped(h: Harness) {
    let recording = Arc::new(Recording::new(h.store.clone()));
    let sessions = Sessions::from_arc(recording.clone(), SessionConfig::default());
    let needed = !matches!(
        h.store.housekeeping(),
        Housekeeping::ServerExpires | Housekeeping::ClientSide
    );
    let now = UnixTime::now();
    let short = short_lived_record(&h, now).await;
    let task = sessions.clear_expired_every(Duration::from_secs(1));
    if !needed {
        for _ in 0..50 {
            if task.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(task.is_finished(), "nothing to clear: the task should end");
        assert_eq!(recording.calls(), 0, "nothing to clear: no call expected");
        return;
    }
    // The first run is immediate, the next ones a second apart: three runs within ~2 s, the
    // last of them after the record expired.
    for _ in 0..100 {
        if recording.calls() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recording.calls() >= 3,
        "clear_expired ran {} times in 5 s, expected 3",
        recording.calls()
    );
    assert!(!task.is_finished(), "the task ends only when stopped");
    if h.clear_expired_counts() {
        assert_eq!(
            h.store.clear_expired().await.unwrap(),
            0,
            "the task left the expired record behind"
        );
    }
    assert_eq!(h.bytes(&short).await, None);
    task.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after_stop = recording.calls();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(
        recording.calls(),
        after_stop,
        "the task ran after it was stopped"
    );
}

#[allow(dead_code)]
/// Whatever `load` would refuse, `save` refuses first and stores nothing: a value nested deeper
/// than `MAX_DEPTH` (a `Value` error, however deep: no stack is exhausted), a record over
/// `MAX_RECORD_BYTES` or over the store's own limit (`TooLarge`). A new session keeps no key;
/// a stored one keeps its last good record.
pub async fn what_load_would_refuse_save_refuses_first(h: Harness) {
    let sessions = h.sessions();
    let mut stored = sessions.create();
    stored.insert("user", "42").unwrap();
    stored.save().await.unwrap();
    let cookie = stored.key().unwrap().as_str().to_owned();

    let deep = |levels: usize| {
        let mut v = json!(1);
        for _ in 1..levels {
            v = json!([v]);
        }
        v
    };
    let at_limit = deep(sessionkit_core::MAX_DEPTH);
    let mut fine = sessions.load(Some(&cookie)).await.unwrap();
    fine.insert_value("nested", at_limit.clone());
    fine.save().await.expect("MAX_DEPTH levels are allowed");
    // (A cookie session's key is its sealed value: it changes on every save.)
    let cookie = fine.key().unwrap().as_str().to_owned();
    let loaded = sessions.load(Some(&cookie)).await.unwrap();
    assert_eq!(loaded.get_value("nested"), Some(&at_limit));
    let cookie = loaded.key().unwrap().as_str().to_owned();

    for levels in [sessionkit_core::MAX_DEPTH + 1, 500] {
        let mut s = sessions.load(Some(&cookie)).await.unwrap();
        s.insert_value("nested", deep(levels));
        let err = s.save().await.unwrap_err();
        assert_eq!(
            err.kind(),
            sessionkit_core::ErrorKind::Value,
            "{levels}: {err:?}"
        );
        let mut new = sessions.create();
        new.insert_value("nested", deep(levels));
        assert!(new.save().await.is_err());
        assert!(new.key().is_none(), "a refused new session keeps no key");
    }
    let huge = "x".repeat(sessionkit_core::MAX_RECORD_BYTES + 1);
    let mut s = sessions.load(Some(&cookie)).await.unwrap();
    s.insert("blob", &huge).unwrap();
    let err = s.save().await.unwrap_err();
    assert!(err.is_too_large(), "{err:?}");
    let mut new = sessions.create();
    new.insert("blob", &huge).unwrap();
    assert!(new.save().await.unwrap_err().is_too_large());
    assert!(new.key().is_none(), "a refused new session keeps no key");

    let after = sessions.load(Some(&cookie)).await.unwrap();
    assert_eq!(after.get::<String>("user").unwrap().as_deref(), Some("42"));
    assert_eq!(
        after.get_value("nested"),
        Some(&at_limit),
        "the last good record stays"
    );
    assert_eq!(after.get_value("blob"), None);
    if let Some(key) = after.key() {
        h.store.delete(key).await.unwrap();
    }
}

fn _assert_key_format_is_public(_: KeyFormat) {}

/// The configured [`Clock`](sessionkit_core::Clock) decides expiry to the second, without
/// sleeping: a session with a fixed expiry saved one second before it is stored; saved at that
/// second it is deleted and its key dropped. A client-side record, whose expiry only the
/// session layer can check, is live up to its expiry second (inclusive, as Django's max age)
/// and not one second after.
pub async fn the_configured_clock_decides_expiry_to_the_second(h: Harness) {
    let clock = ManualClock::starting_now();
    let sessions = h.sessions_with(SessionConfig::new().with_clock(clock.clone()));
    let start = clock.now();
    let mut s = sessions.create();
    s.insert("a", 1).unwrap();
    s.set_expiry(Expiry::At(start.add_secs(10)));
    clock.advance(9);
    assert_eq!(s.expiry_age(), 1);
    s.save().await.unwrap();
    let key = s.key().expect("saved one second before its expiry").clone();
    let loaded = sessions.load(Some(key.as_str())).await.unwrap();
    assert_eq!(loaded.get::<i64>("a").unwrap(), Some(1));
    if !h.server_side() {
        clock.set(start.add_secs(10));
        let at_expiry = sessions.load(Some(key.as_str())).await.unwrap();
        assert_eq!(at_expiry.get::<i64>("a").unwrap(), Some(1), "inclusive");
        clock.set(start.add_secs(11));
        let after = sessions.load(Some(key.as_str())).await.unwrap();
        assert!(
            after.key().is_none() && after.is_empty(),
            "served after expiry"
        );
    }
    clock.set(start.add_secs(10));
    assert_eq!(s.expiry_age(), 0);
    s.insert("a", 2).unwrap();
    s.save().await.unwrap();
    assert!(s.key().is_none(), "saved at its expiry, the session ends");
    if h.server_side() {
        assert!(
            !h.store.exists(&key).await.unwrap(),
            "and its record is gone"
        );
    }
}

/// Within a second: memcached reports the remaining whole seconds, which may round down.
fn assert_expiry(what: &str, reported: UnixTime, written: UnixTime) {
    let early = written.secs_after(reported);
    assert!(
        (0..=1).contains(&early),
        "{what}: load reports {}, written {}",
        reported.as_secs(),
        written.as_secs()
    );
}

/// `load` returns the expiry the record was written with (by `create`, then by `update`), so
/// a caller that copies records (cached-db's refill) needs no codec to learn it.
pub async fn load_reports_the_expiry_it_was_written_with(h: Harness) {
    let sessions = h.sessions();
    let at = UnixTime::now().add_secs(600);
    let mut s = sessions.create();
    s.insert("a", 1).unwrap();
    for (what, at) in [("after create", at), ("after update", at.add_secs(300))] {
        s.set_expiry(Expiry::At(at));
        s.save().await.unwrap();
        let key = s.key().unwrap();
        let loaded = h.store.load(key).await.unwrap().expect("stored");
        assert_expiry(what, loaded.expires_at, at);
    }
    if let Some(key) = s.key() {
        h.store.delete(key).await.unwrap();
    }
}

/// After `touch`, `load` reports the expiry the touch set, and the record is unchanged.
pub async fn load_reports_the_expiry_a_touch_moved(h: Harness) {
    let s = stored_session(&h, &[("a", json!(1))]).await;
    let key = s.key().unwrap().clone();
    let before = h.store.load(&key).await.unwrap().expect("stored");
    let moved = UnixTime::now().add_secs(7_200);
    h.sessions().store().touch(&key, moved).await.unwrap();
    let after = h.store.load(&key).await.unwrap().expect("still stored");
    assert_expiry("after touch", after.expires_at, moved);
    assert_eq!(after.record, before.record, "a touch rewrites no record");
    h.store.delete(&key).await.unwrap();
}
