//! Every setting by URL, one set of rules: hostile and odd URLs through `sessionkit::connect`
//! are clear `Config` errors naming what is wrong (never silently ignored, never a panic or a
//! hang), and what a URL sets is what the store does — against real servers.

#![cfg(all(feature = "locmem", feature = "cookie", feature = "db-sqlite"))]

use std::time::Duration;

/// `connect(url)` fails as a `Config` error whose message names `needle`; returns the message.
async fn refused(url: &str, needle: &str) -> String {
    let err = tokio::time::timeout(Duration::from_secs(20), sessionkit::connect(url))
        .await
        .unwrap_or_else(|_| panic!("{url}: connect hung"))
        .expect_err(url);
    let msg = err.to_string();
    assert!(err.is_config(), "{url}: not a config error: {err:?}");
    assert!(
        msg.contains(needle),
        "{url}: {msg:?} does not name {needle:?}"
    );
    assert!(msg.len() < 400, "{url}: a {}-byte message", msg.len());
    msg
}

#[tokio::test]
async fn unknown_repeated_and_out_of_range_parameters_are_refused_by_name() {
    for (url, needle) in [
        ("locmem://?max_bytes=0", "max_bytes"),
        ("locmem://?max_entries=0", "max_entries"),
        ("locmem://?max_bytes=100", "max_bytes"),
        ("locmem://?shards=1&shards=2", "given twice"),
        ("locmem://?colour=blue", "colour"),
        ("locmem://host/", "takes no host"),
        ("locmem:///path", "takes no path"),
        ("locmem://?max_entries=%zz", "%-escape"),
        ("locmem://#frag", "fragment"),
        ("cookie://x/?secret_env=A", "takes no host"),
        ("cookie://?secret_env=A&secret_env=B", "given twice"),
        ("sqlite:///tmp/x.db?mode=memory", "mode"),
        ("sqlite:///tmp/x.db?foo=bar", "foo"),
        ("sqlite:///tmp/x.db?pool_size=0", "pool_size"),
        (
            "sqlite:///tmp/x.db?statement_timeout=soon",
            "statement_timeout",
        ),
        ("sqlite:///dev/null", "not a regular file"),
        (
            "sqlite:///nonexistent-dir-sessionkit/x.db",
            "does not exist",
        ),
        ("nosuch://x", "nosuch"),
        ("cached-db://?cache=locmem://", "needs both"),
        (
            "cached-db://?cache=cookie://&db=sqlite:///tmp/x.db",
            "cookie",
        ),
        (
            "cached-db://?cache=locmem://&db=locmem://",
            "not a database",
        ),
    ] {
        refused(url, needle).await;
    }
    // A 100 KB parameter is not echoed whole.
    let long = format!("locmem://?{}=1", "x".repeat(100_000));
    refused(&long, "unknown parameter").await;
    // The scheme is case-insensitive everywhere.
    sessionkit::connect("LOCMEM://?max_entries=10")
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_paths_are_decoded_and_modes_honoured() {
    let dir = sessionkit_testkit::TempDir::new("sessionkit-urls").unwrap();
    let path = dir.path().join("AB.sqlite3");
    let url = format!("sqlite://{}", dir.path().join("%41B.sqlite3").display());
    sessionkit::migrate(&url).await.unwrap();
    assert!(
        path.is_file(),
        "%41 is decoded to A: {} exists",
        path.display()
    );
    // `?mode=...` is SQLite's, not part of the file name.
    let ro = format!("sqlite://{}?mode=ro&cache=shared", path.display());
    let sessions = sessionkit::connect(&ro).await.unwrap();
    let mut s = sessions.create();
    s.insert("a", 1).unwrap();
    let err = s.save().await.unwrap_err();
    assert!(
        !err.is_config() || err.to_string().contains("read"),
        "{err}"
    );
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains('?')));
    // A read-only file that is not there is a configuration error, not "retry".
    refused(
        &format!(
            "sqlite://{}?mode=ro",
            dir.path().join("missing.db").display()
        ),
        "does not exist",
    )
    .await;
    // Settings reach the store: a table of our own.
    let custom = format!("sqlite://{}?table=app_session&pool_size=2", path.display());
    sessionkit::migrate(&custom).await.unwrap();
    let sessions = sessionkit::connect(&custom).await.unwrap();
    let stats = sessions.store().stats().await.unwrap();
    assert_eq!(stats.live_sessions, Some(0));
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_database_password_and_options_come_from_the_url() {
    let server = sessionkit_testkit::RedisServer::start().expect("a throwaway redis-server");
    let port = server.port();
    // ?db=5 puts the sessions in database 5, and nowhere else.
    let five = sessionkit::connect(&format!("redis://127.0.0.1:{port}/?db=5&key_prefix=app:"))
        .await
        .unwrap();
    let mut s = five.create();
    s.insert("a", 1).unwrap();
    s.save().await.unwrap();
    let key = s.key().unwrap().as_str().to_owned();
    let zero = sessionkit::connect(&format!("redis://127.0.0.1:{port}/0?key_prefix=app:"))
        .await
        .unwrap();
    assert!(zero.load(Some(&key)).await.unwrap().is_empty());
    let again = sessionkit::connect(&format!("redis://127.0.0.1:{port}/5?key_prefix=app:"))
        .await
        .unwrap();
    assert_eq!(
        again
            .load(Some(&key))
            .await
            .unwrap()
            .get::<i32>("a")
            .unwrap(),
        Some(1)
    );
    for (url, needle) in [
        (format!("redis://127.0.0.1:{port}/5?db=5"), "twice"),
        (format!("redis://127.0.0.1:{port}/?db=99"), "database"),
        (format!("redis://127.0.0.1:{port}/?foo=bar"), "foo"),
        (
            format!("redis://127.0.0.1:{port}/?response_timeout=0s"),
            "response_timeout",
        ),
        (format!("redis://127.0.0.1:{port}/x"), "database index"),
    ] {
        refused(&url, needle).await;
    }
    // A server with a password: none, or a wrong one, fails at connect, naming neither.
    server
        .command(&["CONFIG", "SET", "requirepass", "hunter2hunter2"])
        .unwrap();
    for url in [
        format!("redis://127.0.0.1:{port}/0"),
        format!("redis://:wrong-password@127.0.0.1:{port}/0"),
    ] {
        let err = sessionkit::connect(&url).await.unwrap_err();
        assert!(err.is_config(), "{url}: {err:?}");
        assert!(!format!("{err:?}").contains("wrong-password"), "{err:?}");
    }
    sessionkit::connect(&format!("redis://:hunter2hunter2@127.0.0.1:{port}/0"))
        .await
        .unwrap();
}

/// One URL configures the store and the cookie: the middleware's parameters are taken out, the
/// store refuses whatever else it does not know, by name.
#[cfg(all(feature = "http", feature = "locmem"))]
#[tokio::test]
async fn one_url_for_the_store_and_the_cookie() {
    let (sessions, cookie) = sessionkit::http::connect(
        "locmem://?max_entries=100&cookie_name=sid&cookie_secure=1&cookie_samesite=strict",
    )
    .await
    .unwrap();
    assert_eq!(
        sessions.store().housekeeping(),
        sessionkit::Housekeeping::InProcess
    );
    assert_eq!(cookie.name(), "sid");
    assert!(cookie.secure());
    assert_eq!(cookie.same_site(), Some(sessionkit::http::SameSite::Strict));
    let err = sessionkit::http::connect("locmem://?cookie_nmae=sid")
        .await
        .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("cookie_nmae"),
        "{err}"
    );
    let err = sessionkit::http::connect("locmem://?cookie_samesite=none")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Secure"), "{err}");
}
