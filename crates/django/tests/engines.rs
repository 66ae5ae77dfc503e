//! sessionkit stores opened as an operator opens them — a `?format=django` URL — sharing
//! sessions with a real Django running the same engine on the same servers (the matrix's
//! throwaway servers, or those the `SESSIONKIT_*_URL(S)` variables name): each side reads what
//! the other wrote, equal; a change on one side is seen on the other; a logout on either side
//! logs the other out; an expired, tampered or foreign session is no session on both sides.
//!
//! One module per engine, one matrix cell per module (`django-cache-redis`,
//! `django-cache-memcached`, `django-signed-cookies`, `django-db-postgres`, `django-db-mysql`,
//! `django-db-sqlite`, `django-cached-db`).

mod common;

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use serde_json::{json, Value};
use sessionkit_core::{Expiry, SessionConfig, Sessions, UnixTime};
use sessionkit_django::session::EXPIRY_KEY;
use sessionkit_testkit::{unique_name, Provided, Service};

use common::{data_of, object_of, payload};

const SECRET: &str = "a django secret key for the sessionkit engine tests";
/// Where the URLs tell sessionkit to read Django's `SECRET_KEY` (`secret_key_env=`).
const SECRET_ENV: &str = "SESSIONKIT_TEST_DJANGO_SECRET_KEY";
/// Another deployment's key, for sessions neither side may accept.
const OTHER_SECRET_ENV: &str = "SESSIONKIT_TEST_DJANGO_OTHER_SECRET_KEY";

/// A sessionkit store and a Django engine on the same servers.
struct Engine {
    sessions: Sessions,
    /// The URL the store was opened with.
    url: String,
    /// What every request to the Django peer carries: the engine and its settings.
    django: Value,
    /// What must live as long as the engine: its throwaway server or database file.
    _keep: Option<Box<dyn std::any::Any + Send + Sync>>,
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

/// `url` with `format=django`, the key's variable and `more` parameters.
fn django_url(url: &str, secret_env: &str, more: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}format=django&secret_key_env={secret_env}{more}")
}

/// The sessions of a `format=django` URL, with `config` (the cookie age).
async fn open(url: &str, config: SessionConfig) -> Sessions {
    static KEYS: Once = Once::new();
    KEYS.call_once(|| {
        // Set once, before any store reads them, to the same values in every test.
        std::env::set_var(SECRET_ENV, SECRET);
        std::env::set_var(OTHER_SECRET_ENV, "another secret key entirely");
    });
    sessionkit::connect_with(url, config)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"))
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
    // Live now (checked on this side: starting Django takes a second or more on a busy
    // machine, and the other tests show Django reads what sessionkit writes).
    assert!(!e.sessions.load(Some(&key)).await.unwrap().is_empty());
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

/// [`behaviours!`] with those of every server-side engine, then `$extra`.
macro_rules! server_side_behaviours {
    ($engine:expr $(; $($extra:ident),+)? $(,)?) => {
        behaviours!(
            $engine;
            django_writes_sessionkit_changes_django_reads,
            sessionkit_logs_in_django_sees_the_user,
            a_logout_on_either_side_logs_the_other_out,
            expired_sessions_are_none_on_both_sides,
            $($($extra),+)?
        );
    };
}

/// A session row written with another `SECRET_KEY` — or one Django would call tampered — is no
/// session on either side (database engines).
async fn foreign_session_data_is_none_on_both_sides(e: &Engine, foreign: &Sessions) {
    let mut session = foreign.create();
    session.extend(payload().as_object().unwrap().clone());
    session.save().await.unwrap();
    let key = session.key().unwrap().as_str().to_owned();
    assert_eq!(e.django_loads(&key), json!({}), "Django refuses it");
    let session = e.sessions.load(Some(&key)).await.unwrap();
    assert!(
        session.is_empty() && session.key().is_none(),
        "sessionkit refuses it"
    );
}

/// Django's `db` engine and sessionkit's database store on Django's own `django_session`
/// table (made by Django's `migrate`, once per database), with the same `SECRET_KEY`.
mod db {
    use std::collections::HashSet;

    use super::*;

    /// The engine on the database at `url`; `keep` lives as long as it.
    pub(super) async fn engine(url: String, keep: Box<dyn std::any::Any + Send + Sync>) -> Engine {
        static MIGRATED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
        let django = json!({"engine": "db", "database": {"url": url}});
        {
            // Held while Django migrates, so no test uses the table before it is made.
            let mut migrated = MIGRATED.lock().unwrap_or_else(|e| e.into_inner());
            if migrated
                .get_or_insert_with(HashSet::new)
                .insert(url.clone())
            {
                let mut op = django.clone();
                op["op"] = json!("migrate");
                op["secret"] = json!(SECRET);
                common::django(&op);
            }
        }
        let store_url = django_url(&url, SECRET_ENV, "");
        // What an operator runs at deploy time: with format=django it checks Django's table.
        assert_eq!(
            sessionkit::migrate(&store_url).await.unwrap(),
            sessionkit::Migration::Foreign
        );
        Engine {
            sessions: open(&store_url, SessionConfig::new()).await,
            url: url.clone(),
            django,
            _keep: Some(keep),
        }
    }

    /// The engine on the shared server of `service`.
    pub(super) async fn on_server(service: Service) -> Engine {
        let server = server(service).await;
        engine(url(&server), Box::new(server)).await
    }

    /// The database behaviours, for a module whose `engine()` makes the engine.
    macro_rules! db_behaviours {
        () => {
            server_side_behaviours!(engine().await);

            #[tokio::test]
            async fn foreign_session_data_is_none_on_both_sides() {
                let e = engine().await;
                let url = django_url(&e.url, OTHER_SECRET_ENV, "");
                let foreign = open(&url, SessionConfig::new()).await;
                super::foreign_session_data_is_none_on_both_sides(&e, &foreign).await;
            }
        };
    }
    pub(super) use db_behaviours;
}

mod db_postgres {
    use super::*;

    async fn engine() -> Engine {
        db::on_server(Service::Postgres).await
    }

    db::db_behaviours!();
}

mod db_mysql {
    use super::*;

    async fn engine() -> Engine {
        db::on_server(Service::Mysql).await
    }

    db::db_behaviours!();
}

mod db_sqlite {
    use sessionkit_testkit::SqliteFile;

    use super::*;

    /// A database file of its own for each test.
    async fn engine() -> Engine {
        let file = SqliteFile::new("django").expect("a database file");
        db::engine(file.url(), Box::new(file)).await
    }

    db::db_behaviours!();

    /// sessionkit never creates Django's table: without Django's `migrate`, `migrate` says to
    /// run it.
    #[tokio::test]
    async fn without_djangos_table_migrate_says_to_run_djangos_migrate() {
        let file = SqliteFile::new("no-django").expect("a database file");
        let err = sessionkit::migrate(&django_url(&file.url(), SECRET_ENV, ""))
            .await
            .unwrap_err();
        assert!(err.is_config(), "{err}");
        assert!(err.to_string().contains("manage.py migrate"), "{err}");
    }
}

/// Django's `cached_db` engine (its cache on redis, its database SQLite) and sessionkit's
/// cached database store on the same two: the row signed, the cache copy pickled under
/// `...django.contrib.sessions.cached_db<key>`.
mod cached_db {
    use sessionkit_core::{Codec, SessionKey, SessionStore};
    use sessionkit_django::session::{cache_key_prefix, CACHED_DB_KEY_PREFIX};
    use sessionkit_django::DjangoCodec;
    use sessionkit_redis::{RedisConfig, RedisStore};
    use sessionkit_testkit::SqliteFile;

    use super::*;

    async fn engine_and_cache() -> (Engine, RedisStore) {
        let server = server(Service::Redis).await;
        let location = url(&server);
        let key_prefix = unique_name("djc");
        let file = SqliteFile::new("django-cached-db").expect("a database file");
        let django = json!({
            "engine": "cached_db",
            "cache": {"kind": "redis", "location": location, "key_prefix": key_prefix},
            "database": {"url": file.url()},
        });
        let mut migrate = django.clone();
        migrate["op"] = json!("migrate");
        migrate["secret"] = json!(SECRET);
        common::django(&migrate);

        let store_url = django_url(
            &format!("cached-db://?cache={location}&db={}", file.url()),
            SECRET_ENV,
            &format!("&key_prefix={key_prefix}"),
        );
        let sessions = open(&store_url, SessionConfig::new()).await;
        // The cache as Django's engine sees it, to look at the copies.
        let cache = RedisConfig::new(location)
            .with_key_prefix(cache_key_prefix(&key_prefix, 1, CACHED_DB_KEY_PREFIX))
            .connect()
            .await
            .expect("connect to redis")
            .with_plain_values(true);
        let engine = Engine {
            sessions,
            url: store_url,
            django,
            _keep: Some(Box::new((server, file))),
        };
        (engine, cache)
    }

    async fn engine() -> Engine {
        engine_and_cache().await.0
    }

    server_side_behaviours!(engine().await);

    /// A session whose cache copy is gone is read from Django's row, and the copy sessionkit
    /// puts back is the pickled dict Django's engine reads.
    #[tokio::test]
    async fn a_database_hit_refills_djangos_cache_copy() {
        let (e, cache) = engine_and_cache().await;
        let key = e.django_creates();
        let parsed = SessionKey::parse(&key, sessionkit_core::KeyFormat::Random).unwrap();
        cache.delete(&parsed).await.unwrap();
        assert!(cache.load(&parsed).await.unwrap().is_none());
        let session = e.sessions.load(Some(&key)).await.unwrap();
        assert_eq!(object_of(session.iter()), payload());
        let copy = cache.load(&parsed).await.unwrap().expect("refilled");
        let record = DjangoCodec::pickle().decode(copy.record).unwrap();
        assert_eq!(object_of(record.data.iter()), payload());
        assert_eq!(record.expiry, Expiry::AfterInactivity(900));
    }
}

mod cache_redis {
    use super::*;

    /// Django's `cache` engine on `RedisCache`; sessionkit's redis store with Django's key and
    /// pickled values, on the same server.
    async fn engine() -> Engine {
        let server = server(Service::Redis).await;
        let location = url(&server);
        let key_prefix = unique_name("dj");
        let store_url = django_url(&location, SECRET_ENV, &format!("&key_prefix={key_prefix}"));
        Engine {
            sessions: open(&store_url, SessionConfig::new()).await,
            url: store_url,
            django: json!({
                "engine": "cache",
                "cache": {"kind": "redis", "location": location, "key_prefix": key_prefix},
            }),
            _keep: Some(Box::new(server)),
        }
    }

    server_side_behaviours!(engine().await; values_json_cannot_hold_are_no_session);
}

mod cache_memcached {
    use super::*;

    /// Django's `cache` engine on `PyMemcacheCache`; sessionkit's memcached store with Django's
    /// key, pickled values and pymemcache's pickle flag, on the same server.
    async fn engine() -> Engine {
        let server = server(Service::Memcached { nodes: 1 }).await;
        let location = url(&server);
        let key_prefix = unique_name("dj");
        let store_url = django_url(&location, SECRET_ENV, &format!("&key_prefix={key_prefix}"));
        let host_port = location.trim_start_matches("memcached://").to_owned();
        Engine {
            sessions: open(&store_url, SessionConfig::new()).await,
            url: store_url,
            django: json!({
                "engine": "cache",
                "cache": {"kind": "memcached", "location": host_port, "key_prefix": key_prefix},
            }),
            _keep: Some(Box::new(server)),
        }
    }

    server_side_behaviours!(engine().await; values_json_cannot_hold_are_no_session);
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
    async fn engine() -> Engine {
        let store_url = django_url("cookie://", SECRET_ENV, "");
        Engine {
            sessions: open(&store_url, SessionConfig::new().with_cookie_age(AGE)).await,
            url: store_url,
            django: json!({"engine": "signed_cookies", "cookie_age": AGE.as_secs()}),
            _keep: None,
        }
    }

    behaviours!(
        engine().await;
        django_writes_sessionkit_changes_django_reads,
        sessionkit_logs_in_django_sees_the_user,
    );

    #[tokio::test]
    async fn expired_tampered_or_foreign_cookies_are_none_on_both_sides() {
        let e = engine().await;
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
