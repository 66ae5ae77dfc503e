//! `RequestSession` against real stores (in-process memory and signed cookies): Django's
//! `SessionMiddlewareTests` (reference §5.8, tests 101–112) at the framework-neutral level,
//! plus what Django leaves out (no store call for an untouched session, touch instead of a
//! rewrite, forged cookies, store failures, oversized cookie sessions). The HTTP adapters run
//! the same behaviours over real sockets.

use std::sync::{Arc, Mutex};

use http::header::{SET_COOKIE, VARY};
use http::{HeaderMap, HeaderValue};
use sessionkit_cookie::{CookieConfig, CookieStore};
use sessionkit_core::async_trait;
use sessionkit_core::{Error, KeyFormat, Result, SessionKey, SessionStore, Sessions, UnixTime};
use sessionkit_http::{CookieSettings, Failure, RequestSession, SameSite, INTERRUPTED_MESSAGE};
use sessionkit_locmem::LocMemStore;

/// A store that records the name of every call reaching it and can be told to fail.
#[derive(Debug)]
struct Spy {
    inner: Arc<dyn SessionStore>,
    calls: Mutex<Vec<&'static str>>,
    down: std::sync::atomic::AtomicBool,
}

impl Spy {
    fn new(inner: impl SessionStore) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::new(inner),
            calls: Mutex::new(Vec::new()),
            down: Default::default(),
        })
    }
    fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }
    fn clear(&self) {
        self.calls.lock().unwrap().clear();
    }
    fn call(&self, name: &'static str) -> Result<()> {
        self.calls.lock().unwrap().push(name);
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::unavailable("spy", "told to fail"));
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for Spy {
    fn key_format(&self) -> KeyFormat {
        self.inner.key_format()
    }
    fn capabilities(&self) -> sessionkit_core::Capabilities {
        self.inner.capabilities()
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<sessionkit_core::Loaded>> {
        self.call("load")?;
        self.inner.load(key).await
    }
    async fn create(
        &self,
        key: &SessionKey,
        r: &[u8],
        e: UnixTime,
    ) -> Result<sessionkit_core::Stored> {
        self.call("create")?;
        self.inner.create(key, r, e).await
    }
    async fn update(
        &self,
        key: &SessionKey,
        r: &[u8],
        e: UnixTime,
        expected: sessionkit_core::Expected,
    ) -> Result<sessionkit_core::Stored> {
        self.call("update")?;
        self.inner.update(key, r, e, expected).await
    }
    async fn touch(&self, key: &SessionKey, e: UnixTime) -> Result<()> {
        self.call("touch")?;
        self.inner.touch(key, e).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<()> {
        self.call("delete")?;
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &SessionKey) -> Result<bool> {
        self.call("exists")?;
        self.inner.exists(key).await
    }
    async fn clear_expired(&self) -> Result<u64> {
        self.call("clear_expired")?;
        self.inner.clear_expired().await
    }
}

struct Fixture {
    spy: Arc<Spy>,
    sessions: Sessions,
    settings: CookieSettings,
}

impl Fixture {
    fn locmem() -> Self {
        Self::with(LocMemStore::default(), CookieSettings::new())
    }
    fn with(store: impl SessionStore, settings: CookieSettings) -> Self {
        let spy = Spy::new(store);
        let sessions = Sessions::from_arc(spy.clone(), Default::default());
        Self {
            spy,
            sessions,
            settings,
        }
    }
    fn request(&self, cookie: Option<&str>) -> RequestSession {
        let mut headers = HeaderMap::new();
        if let Some(c) = cookie {
            headers.insert(
                http::header::COOKIE,
                HeaderValue::from_str(&format!("csrftoken=x; {}={c}", self.settings.name()))
                    .unwrap(),
            );
        }
        RequestSession::from_request_headers(self.sessions.clone(), &self.settings, &headers)
    }
    async fn respond(&self, session: &RequestSession, status: u16) -> Response {
        let mut headers = HeaderMap::new();
        session
            .finish(&self.settings, status, &mut headers)
            .await
            .expect("finish");
        Response(headers)
    }
    /// A stored session holding hello=world, and its cookie value.
    async fn stored(&self) -> String {
        let s = self.request(None);
        s.insert("hello", "world").await.unwrap();
        let cookie = self
            .respond(&s, 200)
            .await
            .cookie_value()
            .expect("cookie set");
        self.spy.clear();
        cookie
    }
}

struct Response(HeaderMap);

impl Response {
    fn set_cookies(&self) -> Vec<String> {
        self.0
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
    fn cookie_value(&self) -> Option<String> {
        let all = self.set_cookies();
        let first = all.first()?;
        let value = first.split(';').next()?.split_once('=')?.1;
        Some(value.to_owned())
    }
    fn vary(&self) -> Option<String> {
        self.0.get(VARY).map(|v| v.to_str().unwrap().to_owned())
    }
}

#[tokio::test]
async fn untouched_session_costs_no_store_call_and_sends_nothing() {
    let f = Fixture::locmem();
    let cookie = f.stored().await;
    let s = f.request(Some(&cookie));
    let r = f.respond(&s, 200).await;
    assert!(f.spy.calls().is_empty(), "{:?}", f.spy.calls());
    assert!(r.set_cookies().is_empty());
    assert_eq!(r.vary(), None);
    assert!(!s.is_loaded());
}

#[tokio::test]
async fn a_change_is_saved_and_the_cookie_set_with_vary() {
    // Django 112, first half; 102 (HttpOnly) with the defaults.
    let f = Fixture::locmem();
    let s = f.request(None);
    s.insert("foo", "bar").await.unwrap();
    let r = f.respond(&s, 200).await;
    let set = r.set_cookies();
    assert_eq!(set.len(), 1);
    assert!(set[0].starts_with("sessionid="));
    assert!(
        set[0].ends_with("; HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax"),
        "{}",
        set[0]
    );
    assert_eq!(r.vary().as_deref(), Some("Cookie"));
    let again = f.request(Some(&r.cookie_value().unwrap()));
    assert_eq!(
        again.get::<String>("foo").await.unwrap().as_deref(),
        Some("bar")
    );
}

#[tokio::test]
async fn cookie_attributes_follow_the_settings() {
    // Django 101 (Secure), 103 (SameSite=Strict), 104 (no HttpOnly).
    let settings = CookieSettings::new()
        .with_secure(true)
        .with_same_site(Some(SameSite::Strict))
        .with_http_only(false);
    let f = Fixture::with(LocMemStore::default(), settings);
    let s = f.request(None);
    s.insert("hello", "world").await.unwrap();
    let r = f.respond(&s, 200).await;
    let set = &r.set_cookies()[0];
    assert!(
        set.ends_with("; Max-Age=1209600; Path=/; SameSite=Strict; Secure"),
        "{set}"
    );
    assert!(!set.contains("HttpOnly"));
    assert_eq!(r.vary().as_deref(), Some("Cookie"));
}

#[tokio::test]
async fn nothing_is_saved_on_any_5xx() {
    // Django 105 (500) and 106 (503).
    for status in [500, 503, 599] {
        let f = Fixture::locmem();
        let cookie = f.stored().await;
        let s = f.request(Some(&cookie));
        s.insert("hello", "changed").await.unwrap();
        let r = f.respond(&s, status).await;
        assert!(r.set_cookies().is_empty(), "{status}");
        assert_eq!(r.vary().as_deref(), Some("Cookie"), "accessed: {status}");
        assert!(
            !f.spy.calls().contains(&"update"),
            "{status}: {:?}",
            f.spy.calls()
        );
        let later = f.request(Some(&cookie));
        assert_eq!(
            later.get::<String>("hello").await.unwrap().as_deref(),
            Some("world")
        );
    }
}

#[tokio::test]
async fn a_session_deleted_meanwhile_is_a_400_with_djangos_message() {
    // Django 107.
    let f = Fixture::locmem();
    let cookie = f.stored().await;
    let s = f.request(Some(&cookie));
    s.insert("hello", "mine").await.unwrap();
    // A concurrent request logs out.
    let other = f.request(Some(&cookie));
    other.logout().await.unwrap();
    let mut headers = HeaderMap::new();
    let err = s.finish(&f.settings, 200, &mut headers).await.unwrap_err();
    assert!(matches!(err, Failure::Interrupted), "{err:?}");
    assert_eq!(err.status(), 400);
    assert_eq!(err.public_message(), INTERRUPTED_MESSAGE);
    assert_eq!(
        INTERRUPTED_MESSAGE,
        "The request's session was deleted before the request completed. The user may have \
         logged out in a concurrent request, for example."
    );
    // Nothing was resurrected.
    assert_eq!(
        f.request(Some(&cookie))
            .get::<String>("hello")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn flush_deletes_the_cookie_exactly_as_django() {
    // Django 108 and 109.
    let f = Fixture::locmem();
    let cookie = f.stored().await;
    let s = f.request(Some(&cookie));
    s.logout().await.unwrap();
    let r = f.respond(&s, 200).await;
    assert_eq!(
        r.set_cookies(),
        ["sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax"]
    );
    assert_eq!(r.vary().as_deref(), Some("Cookie"));

    let scoped = CookieSettings::new()
        .with_domain(Some(".example.local".into()))
        .with_path("/example/");
    let f = Fixture::with(LocMemStore::default(), scoped);
    let s = f.request(Some("abc"));
    s.logout().await.unwrap();
    let r = f.respond(&s, 200).await;
    assert_eq!(
        r.set_cookies(),
        ["sessionid=\"\"; Domain=.example.local; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/example/; SameSite=Lax"]
    );
    assert_eq!(r.vary().as_deref(), Some("Cookie"));
}

#[tokio::test]
async fn flush_without_a_cookie_sets_none() {
    // Django 110.
    let f = Fixture::locmem();
    let s = f.request(None);
    s.logout().await.unwrap();
    let r = f.respond(&s, 200).await;
    assert!(r.set_cookies().is_empty());
    assert_eq!(r.vary().as_deref(), Some("Cookie"));
    assert!(f.spy.calls().is_empty(), "{:?}", f.spy.calls());
}

#[tokio::test]
async fn save_every_request_renews_an_untouched_session_with_a_touch() {
    // Django 111, with the touch instead of a rewrite.
    let settings = CookieSettings::new().with_save_every_request(true);
    let f = Fixture::with(LocMemStore::default(), settings);
    let cookie = f.stored().await;
    let s = f.request(Some(&cookie));
    let r = f.respond(&s, 200).await;
    assert_eq!(f.spy.calls(), ["load", "touch"]);
    assert_eq!(r.cookie_value().as_deref(), Some(cookie.as_str()));
    assert!(r.set_cookies()[0].contains("; Max-Age=1209600; "));
    assert_eq!(r.vary().as_deref(), Some("Cookie"));
    // A changed session is written whole.
    f.spy.clear();
    let s = f.request(Some(&cookie));
    s.insert("n", 1).await.unwrap();
    f.respond(&s, 200).await;
    assert_eq!(f.spy.calls(), ["load", "update"]);
    // A cookie that names nothing is deleted, not recreated as an empty session.
    f.spy.clear();
    let unknown = SessionKey::generate();
    let r = f.respond(&f.request(Some(unknown.as_str())), 200).await;
    assert_eq!(f.spy.calls(), ["load"]);
    assert!(r.set_cookies()[0].starts_with("sessionid=\"\"; "));
}

#[tokio::test]
async fn an_emptied_session_with_a_key_is_saved_not_deleted() {
    // Django 112, second half.
    let f = Fixture::locmem();
    let cookie = f.stored().await;
    let s = f.request(Some(&cookie));
    s.remove("hello").await.unwrap();
    let r = f.respond(&s, 200).await;
    assert_eq!(r.cookie_value().as_deref(), Some(cookie.as_str()));
    assert_eq!(r.vary().as_deref(), Some("Cookie"));
    assert_eq!(f.spy.calls(), ["load", "update"]);
    let again = f.request(Some(&cookie));
    assert!(again.lock().await.unwrap().is_empty());
    assert_eq!(
        again
            .lock()
            .await
            .unwrap()
            .key()
            .map(|k| k.as_str().to_owned()),
        Some(cookie)
    );
}

#[tokio::test]
async fn forged_unknown_and_malformed_cookies_give_an_empty_session_and_are_deleted() {
    let f = Fixture::locmem();
    for cookie in [
        SessionKey::generate().as_str().to_owned(), // well-formed, unknown
        "short".to_owned(),                         // malformed
        "../../etc/passwd".to_owned(),
        "x".repeat(5000),
    ] {
        f.spy.clear();
        let s = f.request(Some(&cookie));
        assert!(s.lock().await.unwrap().is_empty());
        let r = f.respond(&s, 200).await;
        assert!(
            r.set_cookies()[0].starts_with("sessionid=\"\"; "),
            "{cookie:.20}"
        );
        assert_eq!(r.vary().as_deref(), Some("Cookie"));
        assert!(f.spy.calls().len() <= 1, "{:?}", f.spy.calls());
    }
    // A malformed cookie on a page that never reads the session: no store call; deleted, as
    // Django does (its is_empty() is true without a load).
    f.spy.clear();
    let r = f.respond(&f.request(Some("not a key")), 200).await;
    assert!(f.spy.calls().is_empty());
    assert_eq!(r.set_cookies().len(), 1);
}

#[tokio::test]
async fn a_failing_store_is_a_503_and_the_handler_sees_the_error() {
    let f = Fixture::locmem();
    let cookie = f.stored().await;
    f.spy.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let s = f.request(Some(&cookie));
    assert!(s.get::<String>("hello").await.unwrap_err().is_unavailable());
    let r = f.respond(&s, 503).await;
    assert!(r.set_cookies().is_empty());
    assert_eq!(r.vary().as_deref(), Some("Cookie"));
    // A save that fails: a Store failure, 503, whose public message says nothing of the store.
    f.spy.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let s = f.request(Some(&cookie));
    s.insert("hello", "again").await.unwrap();
    f.spy.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = s
        .finish(&f.settings, 200, &mut HeaderMap::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Failure::Store(ref e) if e.is_unavailable()),
        "{err:?}"
    );
    assert_eq!(err.status(), 503);
    assert!(!err.public_message().contains("spy"));
}

#[tokio::test]
async fn login_changes_the_key_and_logout_forgets_the_user() {
    let f = Fixture::locmem();
    let before = f.stored().await;
    let s = f.request(Some(&before));
    s.login("42").await.unwrap();
    let r = f.respond(&s, 200).await;
    let after = r.cookie_value().unwrap();
    assert_ne!(after, before, "the pre-login key must be worthless");
    assert_eq!(f.request(Some(&before)).user_id().await.unwrap(), None);
    let s = f.request(Some(&after));
    assert_eq!(s.user_id().await.unwrap().as_deref(), Some("42"));
    assert_eq!(
        s.get::<String>("hello").await.unwrap().as_deref(),
        Some("world")
    );
    // Another user logging in on the same browser starts from nothing.
    s.login("7").await.unwrap();
    let r = f.respond(&s, 200).await;
    let third = r.cookie_value().unwrap();
    let s = f.request(Some(&third));
    assert_eq!(s.user_id().await.unwrap().as_deref(), Some("7"));
    assert_eq!(s.get::<String>("hello").await.unwrap(), None);
    s.logout().await.unwrap();
    assert!(f.respond(&s, 200).await.set_cookies()[0].starts_with("sessionid=\"\"; "));
    assert_eq!(f.request(Some(&third)).user_id().await.unwrap(), None);
}

fn cookie_store(budget: usize) -> CookieStore {
    CookieStore::new(
        CookieConfig::new("0s6QZ8cKpYw1v3Jf5Hn7Lr9Tb2Xd4Mg6-test-secret")
            .with_attribute_budget(budget),
    )
    .unwrap()
}

#[tokio::test]
async fn cookie_sessions_travel_in_the_cookie() {
    let f = Fixture::with(cookie_store(100), CookieSettings::new());
    let s = f.request(None);
    s.insert("user_id", 42).await.unwrap();
    let r = f.respond(&s, 200).await;
    let value = r.cookie_value().unwrap();
    assert!(value.len() > 32, "the cookie holds the sealed session");
    assert_eq!(
        f.request(Some(&value)).get::<u32>("user_id").await.unwrap(),
        Some(42)
    );
    // Tampered: an empty session, and the cookie is deleted.
    let mut tampered = value.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let s = f.request(Some(&tampered));
    assert_eq!(s.get::<u32>("user_id").await.unwrap(), None);
    assert!(f.respond(&s, 200).await.set_cookies()[0].starts_with("sessionid=\"\"; "));
}

#[tokio::test]
async fn a_cookie_session_too_large_for_a_browser_is_a_500_not_a_truncated_cookie() {
    // The store was told the attributes take no room, so it accepts a value that the rendered
    // header (with its attributes) pushes past 4,096 bytes.
    let settings =
        CookieSettings::new().with_domain(Some(format!("{}.example.com", "d".repeat(60))));
    let f = Fixture::with(cookie_store(0), settings);
    let s = f.request(None);
    // Random-looking data does not compress.
    let noise: String = (0..2_900u32)
        .map(|i| char::from(b'a' + ((i.wrapping_mul(2_654_435_761) >> 13) % 26) as u8))
        .collect();
    s.insert("blob", noise).await.unwrap();
    let mut headers = HeaderMap::new();
    let err = s.finish(&f.settings, 200, &mut headers).await.unwrap_err();
    match err {
        Failure::CookieTooLarge { size } => assert!(size > 4096, "{size}"),
        other => panic!("expected CookieTooLarge, got {other:?}"),
    }
    assert_eq!(headers.get_all(SET_COOKIE).iter().count(), 0);
}

#[tokio::test]
async fn concurrent_requests_on_one_cookie_both_answer() {
    let f = Fixture::locmem();
    let cookie = f.stored().await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = f.request(Some(&cookie));
        let settings = f.settings.clone();
        tasks.push(tokio::spawn(async move {
            let clone = s.clone();
            clone.insert(&format!("k{i}"), i).await.unwrap();
            let mut headers = HeaderMap::new();
            s.finish(&settings, 200, &mut headers)
                .await
                .map(|_| headers)
        }));
    }
    for t in tasks {
        let headers = tokio::time::timeout(std::time::Duration::from_secs(10), t)
            .await
            .expect("no deadlock")
            .unwrap()
            .unwrap();
        assert_eq!(headers.get_all(SET_COOKIE).iter().count(), 1);
    }
}

#[test]
fn failure_responses_render_as_configured() {
    use sessionkit_http::FailureResponses;
    let store = Failure::Store(Error::unavailable(
        "redis",
        "connection refused (10.0.0.5:6379)",
    ));
    let r = FailureResponses::new().response(&store);
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()["vary"], "Cookie");
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(
        !r.body().contains("10.0.0.5"),
        "the store's error never reaches the client"
    );
    let custom = FailureResponses::new()
        .with_store_status(http::StatusCode::INTERNAL_SERVER_ERROR)
        .with_retry_after(None)
        .with_store_body("Please try again.");
    let r = custom.response(&store);
    assert_eq!(
        (r.status().as_u16(), r.body().as_str()),
        (500, "Please try again.")
    );
    assert!(!r.headers().contains_key("retry-after"));
    // Django's answers stay Django's whatever the store's is set to.
    let r = custom.response(&Failure::Interrupted);
    assert_eq!(
        (r.status().as_u16(), r.body().as_str()),
        (400, INTERRUPTED_MESSAGE)
    );
    let r = custom.response(&Failure::CookieTooLarge { size: 5000 });
    assert_eq!(r.status(), 500);
    assert_eq!(
        FailureResponses::new()
            .with_store_status(http::StatusCode::OK)
            .response(&store)
            .status(),
        503
    );
}
