//! sessionkit stores configured Django-compatible, sharing sessions with a real Django running
//! the same engine on the same servers (the matrix's throwaway redis and memcached, or
//! `SESSIONKIT_REDIS_URL` / `SESSIONKIT_MEMCACHED_URLS`): each side reads what the other
//! wrote, equal; a change on one side is seen on the other; a logout on either side logs the
//! other out; an expired, tampered or foreign session is no session on both sides.
//!
//! One module per engine, one matrix cell per module (`django-cache-redis`,
//! `django-cache-memcached`, `django-signed-cookies`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sessionkit_core::{Expiry, SessionConfig, Sessions, UnixTime};
use sessionkit_django::session::EXPIRY_KEY;
use sessionkit_django::DjangoCodec;
use sessionkit_testkit::{unique_name, Provided, Service};

use common::{data_of, object_of, payload};

const SECRET: &str = "a django secret key for the sessionkit engine tests";

/// A sessionkit store and a Django engine on the same servers.
struct Engine {
    sessions: Sessions,
    /// What every request to the Django peer carries: the engine and its settings.
    django: Value,
    _server: Option<Arc<Mutex<Provided>>>,
}

impl Engine {
    /// Runs `op` in Django: its answer.
    fn django(&self, mut op: Value) -> Value {
        for (k, v) in self.django.as_object().unwrap() {
            op[k] = v.clone();
        }
        op["secret"] = json!(SECRET);
        common::django(&op)
    }

    /// The session Django loads under `key` (its items; `{}` for none).
    fn django_loads(&self, key: &str) -> Value {
        self.django(json!({"op": "load", "key": key}))["session"].clone()
    }

    /// A session Django creates with the payload and an expiry of 900 s of inactivity: its key.
    fn django_creates(&self) -> String {
        let answer = self.django(json!({
            "op": "create", "data": payload(), "expiry": {"seconds": 900}
        }));
        answer["key"].as_str().unwrap().to_owned()
    }
}

async fn server(service: Service) -> Arc<Mutex<Provided>> {
    tokio::task::spawn_blocking(move || service.shared_for_test())
        .await
        .expect("server start task")
}

fn url(server: &Mutex<Provided>) -> String {
    server
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .url()
        .to_owned()
}

/// Django writes a login with its own expiry; sessionkit reads it equal, changes it and saves;
/// Django reads the change.
async fn django_writes_sessionkit_changes_django_reads(e: &Engine) {
    let key = e.django_creates();
    let mut session = e.sessions.load(Some(&key)).await.unwrap();
    assert_eq!(
        object_of(session.iter()),
        payload(),
        "sessionkit reads Django's session"
    );
    assert_eq!(session.expiry(), Expiry::AfterInactivity(900));

    session.insert("visits", 1).unwrap();
    session.save().await.unwrap();
    let key = session.key().expect("saved").as_str().to_owned();
    let mut expected = payload();
    expected["visits"] = json!(1);
    expected[EXPIRY_KEY] = json!(900);
    assert_eq!(
        e.django_loads(&key),
        expected,
        "Django reads sessionkit's change"
    );
}

/// sessionkit logs a user in (a new session with the login's keys); Django loads it and sees
/// the user; Django changes it and sessionkit sees the change.
async fn sessionkit_logs_in_django_sees_the_user(e: &Engine) {
    let mut session = e.sessions.create();
    session.extend(payload().as_object().unwrap().clone());
    session.set_expiry(Expiry::At(UnixTime::from_secs(1_893_553_445)));
    session.save().await.unwrap();
    let key = session.key().unwrap().as_str().to_owned();
    let seen = e.django_loads(&key);
    assert_eq!(seen["_auth_user_id"], json!("42"));
    let mut expected = payload();
    expected[EXPIRY_KEY] = json!("2030-01-02T03:04:05+00:00");
    assert_eq!(seen, expected);

    let key = e.django(json!({"op": "change", "key": key, "data": {"theme": "dark"}}))["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = e.sessions.load(Some(&key)).await.unwrap();
    assert_eq!(
        session.get::<String>("theme").unwrap().as_deref(),
        Some("dark")
    );
    assert_eq!(session.get_value("_auth_user_id"), Some(&json!("42")));
    assert_eq!(
        session.expiry(),
        Expiry::At(UnixTime::from_secs(1_893_553_445))
    );
}

/// A logout (flush) on either side logs the other out (server-side engines).
async fn a_logout_on_either_side_logs_the_other_out(e: &Engine) {
    let key = e.django_creates();
    let mut session = e.sessions.load(Some(&key)).await.unwrap();
    assert!(!session.is_empty());
    session.flush().await.unwrap();
    assert_eq!(
        e.django_loads(&key),
        json!({}),
        "sessionkit's logout holds for Django"
    );

    let key = e.django_creates();
    assert!(!e.sessions.load(Some(&key)).await.unwrap().is_empty());
    e.django(json!({"op": "flush", "key": key}));
    let session = e.sessions.load(Some(&key)).await.unwrap();
    assert!(
        session.is_empty() && session.key().is_none(),
        "Django's logout holds for sessionkit"
    );
}

/// An expired session is no session on either side (server-side engines: the cache's TTL).
async fn expired_sessions_are_none_on_both_sides(e: &Engine) {
    let mut session = e.sessions.create();
    session.extend(payload().as_object().unwrap().clone());
    session.set_expiry(Expiry::AfterInactivity(3));
    session.save().await.unwrap();
    let key = session.key().unwrap().as_str().to_owned();
    assert_eq!(e.django_loads(&key)["_auth_user_id"], json!("42"));
    // memcached counts whole seconds: 3 s of life, 4 s of waiting.
    tokio::time::sleep(Duration::from_millis(4_100)).await;
    assert_eq!(e.django_loads(&key), json!({}));
    assert!(e.sessions.load(Some(&key)).await.unwrap().is_empty());
}

/// What a cache engine can hold but JSON cannot (a `datetime`, pickled by Django) is no
/// session for sessionkit — logged, never a panic — and sessionkit leaves it alone.
async fn values_json_cannot_hold_are_no_session(e: &Engine) {
    let key = e.django(json!({"op": "store_datetime"}))["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = e.sessions.load(Some(&key)).await.unwrap();
    assert!(session.is_empty() && session.key().is_none());
    assert_eq!(
        e.django_loads(&key)["when"],
        json!("2030-01-02 03:04:05+00:00"),
        "Django's own session is untouched"
    );
}

/// One test per behaviour named, each with its own `engine`.
macro_rules! behaviours {
    ($engine:expr; $($behaviour:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $behaviour() {
                super::$behaviour(&$engine).await;
            }
        )+
    };
}

mod cache_redis {
    use super::*;
    use sessionkit_django::session::{cache_key_prefix, CACHE_KEY_PREFIX};
    use sessionkit_redis::RedisConfig;

    /// Django's `cache` engine on `RedisCache`; sessionkit's redis store with Django's key and
    /// pickled values, on the same server.
    async fn engine() -> Engine {
        let server = server(Service::Redis).await;
        let location = url(&server);
        let key_prefix = unique_name("dj");
        let store = RedisConfig::new(location.clone())
            .with_key_prefix(cache_key_prefix(&key_prefix, 1, CACHE_KEY_PREFIX))
            .connect()
            .await
            .expect("connect to redis")
            .with_plain_values(true);
        Engine {
            sessions: Sessions::with_config(
                store,
                SessionConfig::new().with_only_codec(DjangoCodec::pickle()),
            ),
            django: json!({
                "engine": "cache",
                "cache": {"kind": "redis", "location": location, "key_prefix": key_prefix},
            }),
            _server: Some(server),
        }
    }

    behaviours!(
        engine().await;
        django_writes_sessionkit_changes_django_reads,
        sessionkit_logs_in_django_sees_the_user,
        a_logout_on_either_side_logs_the_other_out,
        expired_sessions_are_none_on_both_sides,
        values_json_cannot_hold_are_no_session,
    );
}

mod cache_memcached {
    use super::*;
    use sessionkit_django::session::{cache_key_prefix, CACHE_KEY_PREFIX};
    use sessionkit_memcached::{MemcachedConfig, MemcachedStore};

    /// Django's `cache` engine on `PyMemcacheCache`; sessionkit's memcached store with Django's
    /// key, pickled values and pymemcache's pickle flag, on the same server.
    async fn engine() -> Engine {
        let server = server(Service::Memcached { nodes: 1 }).await;
        let location = url(&server);
        let key_prefix = unique_name("dj");
        let config = MemcachedConfig::new([location.as_str()])
            .with_prefix(cache_key_prefix(&key_prefix, 1, CACHE_KEY_PREFIX))
            .with_client_flags(1);
        let store = MemcachedStore::connect(config)
            .await
            .expect("connect to memcached");
        let host_port = location.trim_start_matches("memcached://").to_owned();
        Engine {
            sessions: Sessions::with_config(
                store,
                SessionConfig::new().with_only_codec(DjangoCodec::pickle()),
            ),
            django: json!({
                "engine": "cache",
                "cache": {"kind": "memcached", "location": host_port, "key_prefix": key_prefix},
            }),
            _server: Some(server),
        }
    }

    behaviours!(
        engine().await;
        django_writes_sessionkit_changes_django_reads,
        sessionkit_logs_in_django_sees_the_user,
        a_logout_on_either_side_logs_the_other_out,
        expired_sessions_are_none_on_both_sides,
        values_json_cannot_hold_are_no_session,
    );
}

mod signed_cookies {
    use super::*;
    use sessionkit_django::SignedCookieStore;

    const AGE: Duration = Duration::from_secs(1_209_600);

    fn store() -> SignedCookieStore {
        SignedCookieStore::new(SECRET.as_bytes(), [], AGE)
    }

    /// Django's `signed_cookies` engine and sessionkit's, with the same `SECRET_KEY` and
    /// `SESSION_COOKIE_AGE`: the cookie value is the session.
    fn engine() -> Engine {
        Engine {
            sessions: Sessions::with_config(
                store(),
                SessionConfig::new()
                    .with_cookie_age(AGE)
                    .with_only_codec(DjangoCodec::json()),
            ),
            django: json!({"engine": "signed_cookies", "cookie_age": AGE.as_secs()}),
            _server: None,
        }
    }

    behaviours!(
        engine();
        django_writes_sessionkit_changes_django_reads,
        sessionkit_logs_in_django_sees_the_user,
    );

    /// Past `SESSION_COOKIE_AGE` since it was signed, or with one character changed, or signed
    /// with another key, a cookie is no session on either side.
    #[tokio::test]
    async fn expired_tampered_or_foreign_cookies_are_none_on_both_sides() {
        let e = engine();
        let json = sessionkit_django::session::session_json(&data_of(&payload()), Expiry::Default);
        let age = AGE.as_secs() as i64;
        let old = store().sign_at(json.as_bytes(), UnixTime::now().add_secs(-age - 5));
        let fresh = store().sign_at(json.as_bytes(), UnixTime::now());
        let tampered = {
            let mut b = fresh.clone().into_bytes();
            b[5] = if b[5] == b'A' { b'B' } else { b'A' };
            String::from_utf8(b).unwrap()
        };
        let foreign = SignedCookieStore::new(b"another secret key entirely", [], AGE)
            .sign_at(json.as_bytes(), UnixTime::now());
        assert_eq!(e.django_loads(&fresh)["_auth_user_id"], json!("42"));
        assert!(!e.sessions.load(Some(&fresh)).await.unwrap().is_empty());
        for cookie in [old, tampered, foreign] {
            assert_eq!(e.django_loads(&cookie), json!({}), "{cookie}");
            let session = e.sessions.load(Some(&cookie)).await.unwrap();
            assert!(session.is_empty() && session.key().is_none(), "{cookie}");
        }
    }
}
