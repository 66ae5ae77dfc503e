//! The cookie store through `Sessions`/`Session`, as applications use it: size errors,
//! rotation, moving between signed and encrypted, the replay window, and values sealed by an
//! earlier build (the format must keep opening them).

use std::time::Duration;

use sessionkit_cookie::{Compression, CookieConfig, CookieStore, Protection};
use sessionkit_core::{ErrorKind, SessionStore, Sessions, UnixTime};

const SECRET: &str = "integration-test-secret-0123456789abcdef";
const OLD_SECRET: &str = "the-previous-secret-0123456789abcdef-old";

fn store(config: CookieConfig) -> CookieStore {
    CookieStore::new(config).expect("valid config")
}

fn sessions(config: CookieConfig) -> Sessions {
    Sessions::new(store(config))
}

/// Saves a session holding `user_id` and returns its cookie value.
async fn login(sessions: &Sessions) -> String {
    let mut s = sessions.create();
    s.insert("user_id", 42).unwrap();
    s.save().await.unwrap();
    s.key().expect("saved").as_str().to_owned()
}

async fn user_id(sessions: &Sessions, cookie: &str) -> Option<u32> {
    sessions
        .load(Some(cookie))
        .await
        .unwrap()
        .get("user_id")
        .unwrap()
}

#[tokio::test]
async fn an_oversized_session_is_a_typed_error_naming_size_and_limit() {
    for protection in [Protection::Signed, Protection::Encrypted] {
        let sessions = sessions(
            CookieConfig::new(SECRET)
                .with_protection(protection)
                .with_compression(Compression::Never),
        );
        let mut s = sessions.create();
        s.insert("blob", "x".repeat(3_000)).unwrap();
        let err = s.save().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{err:?}");
        assert_eq!(err.backend_name(), "cookie");
        let text = err.to_string();
        assert!(text.contains("over the limit of 4096 bytes"), "{text}");
        assert!(text.contains("would take 4"), "{text}");
        assert!(
            s.key().is_none(),
            "no cookie for a session that does not fit"
        );
        // Shrunk, it saves.
        s.insert("blob", "x".repeat(1_000)).unwrap();
        s.save().await.unwrap();
        assert!(s.key().unwrap().as_str().len() <= 4096 - 10 - 128);
    }
}

#[tokio::test]
async fn a_compressible_session_over_the_limit_still_fits_when_signed() {
    let sessions = sessions(CookieConfig::new(SECRET));
    let mut s = sessions.create();
    s.insert("blob", "x".repeat(10_000)).unwrap();
    s.save().await.unwrap();
    let cookie = s.key().unwrap().as_str().to_owned();
    assert!(cookie.len() < 500, "{}", cookie.len());
    let loaded = sessions.load(Some(&cookie)).await.unwrap();
    assert_eq!(
        loaded.get::<String>("blob").unwrap().map(|b| b.len()),
        Some(10_000)
    );
}

#[tokio::test]
async fn oversized_and_garbage_values_are_no_session() {
    let sessions = sessions(CookieConfig::new(SECRET));
    let cookie = login(&sessions).await;
    let long = format!("{cookie}{}", "A".repeat(4_096));
    for presented in [
        "",
        "s1.",
        "e1.",
        "garbage",
        "s1.AAAA",
        long.as_str(),
        &cookie[..cookie.len() - 1],
    ] {
        let s = sessions.load(Some(presented)).await.unwrap();
        assert!(s.key().is_none() && s.is_empty(), "{presented:?}");
    }
    assert_eq!(user_id(&sessions, &cookie).await, Some(42));
}

#[tokio::test]
async fn rotating_the_secret_logs_nobody_out() {
    let before = sessions(CookieConfig::new(OLD_SECRET));
    let cookie = login(&before).await;

    // Deploy: the new secret signs, the old one still verifies.
    let during = sessions(CookieConfig::new(SECRET).with_fallback_secret(OLD_SECRET));
    let mut s = during.load(Some(&cookie)).await.unwrap();
    assert_eq!(s.get::<u32>("user_id").unwrap(), Some(42));
    s.insert("seen", true).unwrap();
    s.save().await.unwrap();
    let reissued = s.key().unwrap().as_str().to_owned();

    // Once every old cookie has expired, the fallback goes.
    let after = sessions(CookieConfig::new(SECRET));
    assert_eq!(user_id(&after, &reissued).await, Some(42));
    assert_eq!(user_id(&after, &cookie).await, None);
    assert_eq!(user_id(&before, &reissued).await, None);
}

#[tokio::test]
async fn moving_from_signed_to_encrypted_and_back() {
    let signed = sessions(CookieConfig::new(SECRET));
    let encrypted = sessions(CookieConfig::new(SECRET).with_protection(Protection::Encrypted));
    let cookie = login(&signed).await;
    assert!(cookie.starts_with("s1."));

    let mut s = encrypted.load(Some(&cookie)).await.unwrap();
    assert_eq!(s.get::<u32>("user_id").unwrap(), Some(42));
    s.save().await.unwrap();
    let upgraded = s.key().unwrap().as_str().to_owned();
    assert!(upgraded.starts_with("e1."), "re-issued encrypted");

    // Rolling back does not log anyone out either (documented choice).
    assert_eq!(user_id(&signed, &upgraded).await, Some(42));
}

#[tokio::test]
async fn flush_drops_the_cookie_but_cannot_revoke_a_copy() {
    let sessions = sessions(CookieConfig::new(SECRET));
    let cookie = login(&sessions).await;
    let mut s = sessions.load(Some(&cookie)).await.unwrap();
    s.flush().await.unwrap();
    assert!(s.key().is_none(), "the middleware deletes the cookie");
    // The replay window: a copy of the value stays valid until it expires.
    assert_eq!(user_id(&sessions, &cookie).await, Some(42));
}

#[tokio::test]
async fn the_sessions_own_expiry_is_sealed_in() {
    let sessions = sessions(CookieConfig::new(SECRET));
    let mut s = sessions.create();
    s.insert("a", 1).unwrap();
    s.set_expiry(sessionkit_core::Expiry::AfterInactivity(1));
    s.save().await.unwrap();
    let cookie = s.key().unwrap().as_str().to_owned();
    let store = sessions.store();
    let key = sessionkit_core::SessionKey::parse(&cookie, store.key_format()).unwrap();
    assert!(sessionkit_conformance::stored(store, &key).await.is_some());
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        sessionkit_conformance::stored(store, &key).await,
        None,
        "the store itself refuses it"
    );
}

#[tokio::test]
async fn server_side_operations_are_documented_no_ops() {
    let store = store(CookieConfig::new(SECRET));
    let key = sessionkit_core::SessionKey::generate();
    let far = UnixTime::now().add_secs(60);
    let value = store.create(&key, b"\x01bytes", far).await.unwrap().key;
    assert!(!store.key_format().is_server_side());
    assert!(!store.exists(&value).await.unwrap());
    store.touch(&value, far).await.unwrap();
    store.delete(&value).await.unwrap();
    assert_eq!(store.clear_expired().await.unwrap(), 0);
    assert_eq!(
        sessionkit_conformance::stored(&store, &value)
            .await
            .as_deref(),
        Some(&b"\x01bytes"[..])
    );
}

#[tokio::test]
async fn short_secrets_are_refused() {
    let err = CookieStore::new(CookieConfig::new("hunter2")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("at least 32"), "{err}");
}

/// Values sealed at 2023-11-14T22:13:20Z by this format's first build (expiring in 2096; the
/// store's maximum age is stretched to 200 years so they are still live). If these stop
/// opening, the format changed and every live cookie would be lost.
#[tokio::test]
async fn values_sealed_by_an_earlier_build_still_open() {
    const SIGNED: &str =
        "s1.AWEga25vd24gcmVjb3JkAAAAAABlU_EAAAAAAO5rKABIiwTXlI4usxY0ZdRAged9jXaRm62QA-jYi1wZjf5_9g";
    const ENCRYPTED: &str =
        "e1.BwcHBwcHBwcHBwcHJexPVjGf5nmb-SUty8tdI2Zb6J-tp9_cEVVM8TgZ1i5yw2cWteaQYqSof7p1y3Aj";
    let store = store(
        CookieConfig::new("sessionkit-test-vector-secret-01")
            .with_max_age(Duration::from_secs(200 * 365 * 86_400)),
    );
    for value in [SIGNED, ENCRYPTED] {
        assert_eq!(
            store.open(value).as_deref(),
            Some(&b"\x01a known record"[..])
        );
    }
    let default_age =
        CookieStore::new(CookieConfig::new("sessionkit-test-vector-secret-01")).unwrap();
    assert_eq!(
        default_age.open(SIGNED),
        None,
        "issued in 2023: past two weeks"
    );
}

/// A cookie exactly `SESSION_COOKIE_AGE` old is accepted, as Django accepts it (its max-age
/// check is inclusive), and refused a second later — through `Sessions`, where the sealed
/// expiry of a default session is its issue time + the cookie age.
#[tokio::test]
async fn a_cookie_exactly_the_cookie_age_old_is_valid() {
    let age = Duration::from_secs(1);
    let store = store(CookieConfig::new(SECRET).with_max_age(age));
    let sessions = Sessions::with_config(
        store,
        sessionkit_core::SessionConfig::default().with_cookie_age(age),
    );
    // Start right after a second turns, so that "one second later" is the next second.
    let wait = 1_000
        - (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 1_000) as u64;
    tokio::time::sleep(Duration::from_millis(wait + 20)).await;
    let issued = UnixTime::now();
    let cookie = login(&sessions).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    if UnixTime::now().secs_after(issued) == 1 {
        assert_eq!(
            user_id(&sessions, &cookie).await,
            Some(42),
            "exactly the cookie age old"
        );
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(user_id(&sessions, &cookie).await, None, "a second past it");
}
