//! `sessionkit::connect(url)` opens every back end compiled in, against real servers (from the
//! `SESSIONKIT_*` variables, else throwaway servers started by the testkit).

#[cfg(any(
    feature = "redis",
    feature = "memcached",
    feature = "db-postgres",
    feature = "db-mysql"
))]
use sessionkit_testkit::Service;

/// One login-like round trip through the handle `connect` returned.
#[cfg(any(
    feature = "redis",
    feature = "memcached",
    feature = "db-postgres",
    feature = "db-mysql",
    feature = "db-sqlite"
))]
async fn round_trip(sessions: sessionkit::Sessions) {
    let mut s = sessions.create();
    s.insert("user_id", 7).unwrap();
    s.save().await.unwrap();
    let key = s.key().unwrap().as_str().to_owned();
    let again = sessions.load(Some(&key)).await.unwrap();
    assert_eq!(again.get::<i32>("user_id").unwrap(), Some(7));
    let mut again = again;
    again.flush().await.unwrap();
    assert!(sessions.load(Some(&key)).await.unwrap().is_empty());
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn connect_redis() {
    let server = Service::Redis.from_env_or_start().expect("a redis server");
    round_trip(sessionkit::connect(server.url()).await.unwrap()).await;
}

#[cfg(feature = "memcached")]
#[tokio::test]
async fn connect_memcached() {
    let server = Service::Memcached { nodes: 1 }
        .from_env_or_start()
        .expect("a memcached server");
    let hosts: Vec<&str> = server
        .urls()
        .iter()
        .map(|u| u.trim_start_matches("memcached://"))
        .collect();
    // `memcache://` is the old spelling, kept as an alias.
    for scheme in ["memcached", "memcache"] {
        let url = format!("{scheme}://{}", hosts.join(","));
        round_trip(sessionkit::connect(&url).await.unwrap()).await;
    }
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn unreachable_redis_is_unavailable_not_a_hang() {
    // A port nothing listens on (the testkit hands out free ports).
    let err = sessionkit::connect("redis://127.0.0.1:1/")
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
}

#[cfg(feature = "cookie")]
#[tokio::test]
async fn connect_cookie_signed_and_encrypted() {
    std::env::set_var(
        "SESSIONKIT_TEST_COOKIE_SECRET",
        "a test secret that is long enough: 0123456789abcdef",
    );
    for url in [
        "cookie://?secret_env=SESSIONKIT_TEST_COOKIE_SECRET",
        "cookie://?secret_env=SESSIONKIT_TEST_COOKIE_SECRET&protection=encrypted",
    ] {
        let sessions = sessionkit::connect(url).await.unwrap();
        let mut s = sessions.create();
        s.insert("user_id", 7).unwrap();
        s.save().await.unwrap();
        let cookie = s.key().unwrap().as_str().to_owned();
        let again = sessions.load(Some(&cookie)).await.unwrap();
        assert_eq!(again.get::<i32>("user_id").unwrap(), Some(7), "{url}");
    }
    for url in [
        "cookie://",
        "cookie://?secret_env=SESSIONKIT_NO_SUCH_VARIABLE",
        "cookie://?secret_env=SESSIONKIT_TEST_COOKIE_SECRET&protection=rot13",
    ] {
        assert!(
            sessionkit::connect(url).await.unwrap_err().is_config(),
            "{url}"
        );
    }
}

/// A fresh SQLite file URL in a temp dir that lives as long as the returned guard.
#[cfg(feature = "db-sqlite")]
fn sqlite_url() -> (String, sessionkit_testkit::TempDir) {
    let dir = sessionkit_testkit::TempDir::new("sessionkit-facade-sqlite").expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("sessions.sqlite3").display());
    (url, dir)
}

#[cfg(feature = "db-sqlite")]
#[tokio::test]
async fn connect_sqlite_after_migrate() {
    let (url, _dir) = sqlite_url();
    sessionkit::migrate(&url).await.unwrap();
    // Idempotent, as Django's `migrate`.
    sessionkit::migrate(&url).await.unwrap();
    round_trip(sessionkit::connect(&url).await.unwrap()).await;
}

#[cfg(feature = "db-postgres")]
#[tokio::test]
async fn connect_postgres_after_migrate() {
    let server = Service::Postgres
        .from_env_or_start()
        .expect("a PostgreSQL server");
    sessionkit::migrate(server.url()).await.unwrap();
    round_trip(sessionkit::connect(server.url()).await.unwrap()).await;
}

#[cfg(feature = "db-mysql")]
#[tokio::test]
async fn connect_mysql_after_migrate() {
    let server = Service::Mysql
        .from_env_or_start()
        .expect("a MySQL/MariaDB server");
    sessionkit::migrate(server.url()).await.unwrap();
    round_trip(sessionkit::connect(server.url()).await.unwrap()).await;
}

#[cfg(all(feature = "cached-db", feature = "db-sqlite", feature = "locmem"))]
#[tokio::test]
async fn connect_cached_db_locmem_over_sqlite() {
    let (db_url, _dir) = sqlite_url();
    let url = format!("cached-db://?cache=locmem://%3Fmax_entries%3D100&db={db_url}");
    sessionkit::migrate(&url).await.unwrap();
    round_trip(sessionkit::connect(&url).await.unwrap()).await;
}

#[cfg(all(feature = "cached-db", feature = "db-postgres", feature = "redis"))]
#[tokio::test]
async fn connect_cached_db_redis_over_postgres() {
    let redis = Service::Redis.from_env_or_start().expect("a redis server");
    let pg = Service::Postgres
        .from_env_or_start()
        .expect("a PostgreSQL server");
    let url = format!("cached-db://?cache={}&db={}", redis.url(), pg.url());
    sessionkit::migrate(&url).await.unwrap();
    round_trip(sessionkit::connect(&url).await.unwrap()).await;
}

#[cfg(feature = "cached-db")]
#[tokio::test]
async fn bad_cached_db_urls_are_config_errors() {
    for url in [
        "cached-db://",
        "cached-db://?cache=locmem://",
        "cached-db://?db=sqlite:///tmp/x.sqlite3",
        "cached-db://?cache=locmem://&db=locmem://",
        "cached-db://?cache=locmem://&db=sqlite://%zz",
        "cached-db://?cache=locmem://&db=sqlite:///tmp/x&colour=blue",
    ] {
        let err = sessionkit::connect(url).await.unwrap_err();
        assert!(err.is_config(), "{url}: {err}");
    }
}
