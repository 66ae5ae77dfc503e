//! `sessionkit::connect(url)` opens every back end compiled in, against real servers (from the
//! `SESSIONKIT_*` variables, else throwaway servers started by the testkit).

#[cfg(any(feature = "redis", feature = "memcache"))]
use sessionkit_testkit::Service;

/// One login-like round trip through the handle `connect` returned.
#[cfg(any(feature = "redis", feature = "memcache"))]
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

#[cfg(feature = "memcache")]
#[tokio::test]
async fn connect_memcache() {
    let server = Service::Memcached { nodes: 1 }
        .from_env_or_start()
        .expect("a memcached server");
    let url = server.urls().join(",");
    let url = if url.starts_with("memcache://") {
        url
    } else {
        format!("memcache://{url}")
    };
    round_trip(sessionkit::connect(&url).await.unwrap()).await;
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
