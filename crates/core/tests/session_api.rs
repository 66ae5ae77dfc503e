//! The session API where no store is involved — typed access, Django's `accessed`/`modified`
//! flags, expiry arithmetic — tested once here rather than against every back end. The store
//! behind these sessions fails the test if anything reaches it. (The numbers are the tests of
//! Django 5.2's `SessionTestsMixin`.)

use std::time::Duration;

use serde_json::{json, Value};
use sessionkit_core::{
    async_trait, Expected, Expiry, KeyFormat, Loaded, Result, SessionConfig, SessionKey,
    SessionStore, Sessions, Stored, UnixTime,
};

/// A store no test here may reach.
#[derive(Debug)]
struct Untouchable;

#[async_trait]
impl SessionStore for Untouchable {
    fn key_format(&self) -> KeyFormat {
        KeyFormat::Random
    }
    async fn load(&self, _: &SessionKey) -> Result<Option<Loaded>> {
        unreachable!("load reached the store")
    }
    async fn create(&self, _: &SessionKey, _: &[u8], _: UnixTime) -> Result<Stored> {
        unreachable!("create reached the store")
    }
    async fn update(&self, _: &SessionKey, _: &[u8], _: UnixTime, _: Expected) -> Result<Stored> {
        unreachable!("update reached the store")
    }
    async fn touch(&self, _: &SessionKey, _: UnixTime) -> Result<()> {
        unreachable!("touch reached the store")
    }
    async fn delete(&self, _: &SessionKey) -> Result<()> {
        unreachable!("delete reached the store")
    }
    async fn clear_expired(&self) -> Result<u64> {
        unreachable!("clear_expired reached the store")
    }
}

fn sessions() -> Sessions {
    sessions_with(SessionConfig::default())
}

fn sessions_with(config: SessionConfig) -> Sessions {
    Sessions::with_config(Untouchable, config)
}

/// Django 1: a new session is neither accessed nor modified.
#[tokio::test]
async fn new_session_is_untouched() {
    let s = sessions().create();
    assert!(!s.is_accessed());
    assert!(!s.is_modified());
    assert!(s.key().is_none());
    let loaded = sessions().load(None).await.unwrap();
    assert!(!loaded.is_accessed() && !loaded.is_modified() && loaded.key().is_none());
}

/// Django 2–3: reading a missing value gives nothing.
#[tokio::test]
async fn get_missing_is_none() {
    let s = sessions().create();
    assert_eq!(s.get::<String>("cat").unwrap(), None);
    assert!(s.is_accessed());
    assert!(!s.is_modified());
}

/// Django 4–5: storing marks the session modified; taking returns the value.
#[tokio::test]
async fn insert_marks_modified_and_take_returns_it() {
    let mut s = sessions().create();
    s.insert("cat", "dog").unwrap();
    assert!(s.is_modified());
    assert_eq!(s.take::<String>("cat").unwrap().as_deref(), Some("dog"));
}

/// Django 8–13: `pop` of a missing key (with or without a default) changes nothing.
#[tokio::test]
async fn take_missing_is_none_and_not_modified() {
    let mut s = sessions().create();
    let v = s.take::<String>("some key").unwrap();
    assert_eq!(
        v.unwrap_or_else(|| "does not exist".into()),
        "does not exist"
    );
    assert!(s.is_accessed());
    assert!(!s.is_modified());
    assert_eq!(s.remove("some key"), None);
    assert!(!s.is_modified());
}

/// Django 14–15: `setdefault` keeps the first value.
#[tokio::test]
async fn get_or_insert_keeps_first_value() {
    let mut s = sessions().create();
    assert_eq!(s.get_or_insert("foo", "bar".to_owned()).unwrap(), "bar");
    assert_eq!(s.get_or_insert("foo", "baz".to_owned()).unwrap(), "bar");
    assert!(s.is_accessed());
    assert!(s.is_modified());
}

/// Django 16–17: `update` stores every pair and marks modified, even when empty.
#[tokio::test]
async fn extend_marks_modified() {
    let mut s = sessions().create();
    s.extend([("update key".to_owned(), json!(1))]);
    assert!(s.is_accessed() && s.is_modified());
    assert_eq!(s.get::<i64>("update key").unwrap(), Some(1));
    let mut t = sessions().create();
    t.extend(std::iter::empty());
    assert!(t.is_modified(), "Django marks modified unconditionally");
}

/// Django 18–19: membership tests access but do not modify.
#[tokio::test]
async fn contains_key_only_accesses() {
    let mut s = sessions().create();
    s.insert("some key", 1).unwrap();
    s.reset_flags();
    assert!(s.contains_key("some key"));
    assert!(s.is_accessed());
    assert!(!s.is_modified());
}

/// Django 20–21, 24–25: listing values/items accesses but does not modify.
#[tokio::test]
async fn iter_and_values_only_access() {
    let mut s = sessions().create();
    assert_eq!(s.iter().count(), 0);
    assert!(s.is_accessed());
    s.insert("x", 1).unwrap();
    s.reset_flags();
    let items: Vec<(String, Value)> = s.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
    assert_eq!(items, vec![("x".to_owned(), json!(1))]);
    assert!(s.is_accessed());
    assert!(!s.is_modified());
}

/// Django 22–23: listing keys accesses but does not modify.
#[tokio::test]
async fn keys_only_access() {
    let mut s = sessions().create();
    s.insert("x", 1).unwrap();
    s.reset_flags();
    assert_eq!(s.keys().collect::<Vec<_>>(), vec!["x"]);
    assert!(s.is_accessed());
    assert!(!s.is_modified());
}

/// Django 26: clearing empties the session and marks it modified.
#[tokio::test]
async fn clear_marks_modified() {
    let mut s = sessions().create();
    s.insert("x", 1).unwrap();
    s.reset_flags();
    assert_eq!(s.len(), 1);
    s.clear();
    assert!(s.is_empty());
    assert!(s.is_accessed() && s.is_modified());
}

/// Django 45–46: the default expiry is the cookie age, also for browser-close sessions.
#[tokio::test]
async fn default_expiry_is_cookie_age() {
    let mut s = sessions().create();
    assert_eq!(s.expiry_age(), 1_209_600);
    s.set_expiry(Expiry::from_secs(0));
    assert_eq!(s.expiry(), Expiry::AtBrowserClose);
    assert_eq!(s.expiry_age(), 1_209_600);
    let custom = sessions_with(SessionConfig::new().with_cookie_age(Duration::from_secs(86_400)));
    assert_eq!(custom.create().expiry_age(), 86_400);
}

/// Django 47–48: an expiry in seconds.
#[tokio::test]
async fn custom_expiry_seconds() {
    let m = UnixTime::now();
    let mut s = sessions().create();
    s.set_expiry(Expiry::from_secs(10));
    assert!(s.is_modified());
    assert_eq!(s.expiry_date_at(m), m.add_secs(10));
    assert_eq!(s.expiry_age_at(m), 10);
}

/// Django 49–50: an expiry as a duration (Django's `timedelta`).
#[tokio::test]
async fn custom_expiry_duration() {
    let m = UnixTime::now();
    let mut s = sessions().create();
    s.set_expiry(Expiry::after(Duration::from_secs(10)));
    assert_eq!(s.expiry_date_at(m), m.add_secs(10));
    assert_eq!(s.expiry_age_at(m), 10);
}

/// Django 51–52: an expiry at a fixed time.
#[tokio::test]
async fn custom_expiry_datetime() {
    let m = UnixTime::now();
    let mut s = sessions().create();
    s.set_expiry(Expiry::at(m.add_secs(10).to_system_time()));
    assert_eq!(s.expiry_date_at(m), m.add_secs(10));
    assert_eq!(s.expiry_age_at(m), 10);
    assert_eq!(s.expiry_age_at(m.add_secs(15)), -5);
}

/// Django 53–54: resetting the expiry goes back to the cookie age.
#[tokio::test]
async fn custom_expiry_reset() {
    let mut s = sessions().create();
    s.set_expiry(Expiry::Default);
    assert!(
        !s.is_modified(),
        "resetting an unset expiry changes nothing"
    );
    s.set_expiry(Expiry::from_secs(10));
    s.set_expiry(Expiry::Default);
    assert!(s.is_modified());
    assert_eq!(s.expiry_age(), 1_209_600);
}

/// Django 55–56: browser-close follows the session's own choice, else the setting.
#[tokio::test]
async fn expire_at_browser_close_follows_setting() {
    for (setting, expected_default) in [(false, false), (true, true)] {
        let sessions = sessions_with(SessionConfig::new().with_expire_at_browser_close(setting));
        let mut s = sessions.create();
        s.set_expiry(Expiry::from_secs(10));
        assert!(!s.expire_at_browser_close());
        s.set_expiry(Expiry::from_secs(0));
        assert!(s.expire_at_browser_close());
        s.set_expiry(Expiry::Default);
        assert_eq!(s.expire_at_browser_close(), expected_default);
    }
}

/// Whatever a load would refuse, insert refuses first: a NaN or infinite float (which
/// `serde_json` would store as `null`) is a `Value` error, and the session is unchanged.
#[tokio::test]
async fn non_finite_floats_are_refused_not_stored_as_null() {
    let mut s = sessions().create();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = s.insert("reading", bad).unwrap_err();
        assert_eq!(err.kind(), sessionkit_core::ErrorKind::Value, "{err:?}");
        let err = s
            .insert("readings", vec![Some(1.0), Some(bad)])
            .unwrap_err();
        assert_eq!(err.kind(), sessionkit_core::ErrorKind::Value);
    }
    assert!(s.is_empty() && !s.is_modified(), "nothing was stored");
    s.insert("reading", 21.5).unwrap();
    assert_eq!(s.get::<f64>("reading").unwrap(), Some(21.5));
}
