//! The behaviour every HTTP adapter shows (`sessionkit-tower`, `sessionkit-actix`), written
//! once: Django's `SessionMiddlewareTests` (reference §5.8, tests 101–112) plus what they leave
//! out — no store call and no `Vary` for a page that never touches the session, forged
//! cookies, concurrent requests on one cookie, a panicking handler, HEAD and streamed bodies,
//! login and logout across requests — over a real socket with a real HTTP client (hyper).
//!
//! An adapter's test starts an application of its framework that serves the routes below, with
//! the adapter's middleware over the sessions of [`TestBackend::connect`], and hands this module
//! an [`HttpApp`]; [`http_suite!`](crate::http_suite) makes one test per behaviour.
//!
//! | route | handler |
//! |---|---|
//! | `GET /touch` | stores `hello` = `"world"`, answers `Session test` |
//! | `GET /read` | answers the value of `hello`, or `-`; 503 if the store fails |
//! | `GET /status/{code}` | stores `hello` = `"changed"`, answers with status `code` |
//! | `GET /slow-change` | stores `hello` = `"slow"`, waits 400 ms, answers |
//! | `GET /logout` | `logout()` |
//! | `GET /remove` | removes `hello` |
//! | `GET /login/{id}` | `login(id)` |
//! | `GET /whoami` | the logged-in user's id, or `anonymous` |
//! | `GET /panic` | stores `hello` = `"panicked"`, then panics |
//! | `GET /stream` | stores `hello` = `"streamed"`, answers `part one, part two` in two chunks |
//! | `GET /static` | answers `no session here` without touching the session |
//!
//! The back end is the one `SESSIONKIT_HTTP_BACKEND` names (`locmem` when unset): `redis`,
//! `memcached`, `postgres`, `mysql`, `sqlite`, `cached-db` (redis in front of SQLite),
//! `cookie-signed`, `cookie-encrypted`; servers from the `SESSIONKIT_*` variables or throwaway
//! ones.

use std::any::Any;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sessionkit_core::{percent_encode, SessionStore, Sessions};
use sessionkit_http::{CookieSettings, SameSite, INTERRUPTED_MESSAGE};
use sessionkit_testkit::{unique_name, Provided, Service, SqliteFile};

use crate::Recording;

/// The back end of one test: its URL and whatever keeps its server alive.
pub struct TestBackend {
    /// The URL to `connect` (and `migrate`) with: its own key prefix, table or file.
    pub url: String,
    _server: Option<Arc<Mutex<Provided>>>,
    /// The SQLite file of a `sqlite` or `cached-db` back end, removed with its folder.
    _sqlite: SqliteFile,
}

impl std::fmt::Debug for TestBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBackend")
            .field("url", &self.url)
            .finish()
    }
}

fn shared(service: Service) -> (String, Option<Arc<Mutex<Provided>>>) {
    let provided = service.shared().expect("a server for the back end");
    let url = provided.lock().unwrap().urls().join(",");
    (url, Some(provided))
}

impl TestBackend {
    /// The back end `SESSIONKIT_HTTP_BACKEND` names, with a URL of its own. Blocks while a
    /// throwaway server starts (call it from `spawn_blocking`).
    pub fn for_this_test() -> Self {
        let backend = std::env::var("SESSIONKIT_HTTP_BACKEND").unwrap_or_else(|_| "locmem".into());
        let name = unique_name("http");
        let file = SqliteFile::new(&name).expect("a temporary folder");
        let sqlite = || file.url();
        let (url, server) = match backend.as_str() {
            "locmem" => ("locmem://".to_owned(), None),
            "redis" => {
                let (url, g) = shared(Service::Redis);
                (format!("{url}?key_prefix={name}:"), g)
            }
            "memcached" => {
                let (urls, g) = shared(Service::Memcached { nodes: 1 });
                let hosts: Vec<&str> = urls
                    .split(',')
                    .map(|u| u.trim_start_matches("memcached://"))
                    .collect();
                (format!("memcached://{}?prefix={name}:", hosts.join(",")), g)
            }
            "postgres" => {
                let (url, g) = shared(Service::Postgres);
                (format!("{url}?table={name}"), g)
            }
            "mysql" => {
                let (url, g) = shared(Service::Mysql);
                (format!("{url}?table={name}"), g)
            }
            "sqlite" => (sqlite(), None),
            "cached-db" => {
                let (redis, g) = shared(Service::Redis);
                let cache = percent_encode(&format!("{redis}?key_prefix={name}:"));
                let db = percent_encode(&sqlite());
                (format!("cached-db://?cache={cache}&db={db}"), g)
            }
            "cookie-signed" | "cookie-encrypted" => {
                std::env::set_var(
                    "SESSIONKIT_HTTP_TEST_SECRET",
                    "a test secret of more than thirty-two bytes, not for production",
                );
                let protection = backend.trim_start_matches("cookie-");
                (
                    format!(
                        "cookie://?secret_env=SESSIONKIT_HTTP_TEST_SECRET&protection={protection}"
                    ),
                    None,
                )
            }
            other => panic!("SESSIONKIT_HTTP_BACKEND={other}: not a back end this suite knows"),
        };
        Self {
            url,
            _server: server,
            _sqlite: file,
        }
    }

    /// The back end of this test, in async code.
    pub async fn connect_url() -> Self {
        tokio::task::spawn_blocking(Self::for_this_test)
            .await
            .expect("start the back end")
    }
}

/// Wraps the store of `sessions` in a [`Recording`], so behaviours can count the calls that
/// reach it: returns the sessions (same settings) to serve with and the recording.
pub fn recorded(sessions: &Sessions) -> (Sessions, Arc<Recording>) {
    let recording = Arc::new(Recording::new(sessions.store().clone()));
    (
        Sessions::from_arc(recording.clone(), sessions.config().clone()),
        recording,
    )
}

/// A running application of the adapter under test.
pub struct HttpApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Every call that reached the store.
    pub recording: Arc<Recording>,
    /// Whether the store keeps sessions on the server (not in cookies).
    pub server_side: bool,
    /// Whatever keeps the server and its back end alive (dropped with the app).
    pub keep: Box<dyn Any + Send + Sync>,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl std::fmt::Debug for HttpApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpApp").field("base", &self.base).finish()
    }
}

/// An answer of the application.
#[derive(Debug)]
pub struct Reply {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: String,
}

impl Reply {
    /// Every `Set-Cookie`.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The session cookie's new value, if one was set (not deleted).
    pub fn cookie(&self) -> Option<String> {
        self.set_cookies().iter().find_map(|c| {
            let value = c.split(';').next()?.split_once('=')?.1;
            (value != "\"\"").then(|| value.to_owned())
        })
    }

    /// Whether the response deletes the session cookie as Django does.
    pub fn deletes_cookie(&self) -> bool {
        self.set_cookies().iter().any(|c| {
            c.starts_with("sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0;")
        })
    }

    /// The `Vary` header.
    pub fn vary(&self) -> Option<&str> {
        self.headers.get("vary").map(|v| v.to_str().unwrap())
    }
}

impl HttpApp {
    /// The application at `base`, whose sessions are recorded by `recording`.
    pub fn new(base: String, recording: Arc<Recording>, keep: impl Any + Send + Sync) -> Self {
        let server_side = recording.key_format().is_server_side();
        Self {
            base,
            recording,
            server_side,
            keep: Box::new(keep),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends `method path` with the session cookie `cookie` (beside another cookie).
    pub async fn send(&self, method: Method, path: &str, cookie: Option<&str>) -> Reply {
        self.try_send(method, path, cookie)
            .await
            .expect("the server answers")
    }

    async fn try_send(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
    ) -> Result<Reply, hyper_util::client::legacy::Error> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            request = request.header("cookie", format!("csrftoken=abc; sessionid={c}"));
        }
        let response = self
            .client
            .request(request.body(Empty::new()).unwrap())
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok(Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        self.send(Method::GET, path, cookie).await
    }

    /// A stored session holding hello=world, and its cookie.
    pub async fn stored_session(&self) -> String {
        let r = self.get("/touch", None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.cookie().expect("a session cookie")
    }
}

/// A page that never touches the session: no store call, no cookie, no `Vary`.
pub async fn untouched_page_costs_nothing<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let app = start(CookieSettings::new()).await;
    let cookie = app.stored_session().await;
    let before = app.recording.calls();
    let r = app.get("/static", Some(&cookie)).await;
    assert_eq!(r.body, "no session here");
    assert_eq!(app.recording.calls(), before, "no store call");
    assert!(r.set_cookies().is_empty());
    assert_eq!(r.vary(), None);
}

/// Django 101–104: `Secure`, `HttpOnly` and `SameSite` follow the settings.
pub async fn cookie_attributes_follow_the_settings<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let settings = CookieSettings::new()
        .with_secure(true)
        .with_same_site(Some(SameSite::Strict));
    let app = start(settings).await;
    let r = app.get("/touch", None).await;
    let set = &r.set_cookies()[0];
    assert!(
        set.contains("; HttpOnly; Max-Age=1209600; Path=/; SameSite=Strict; Secure"),
        "{set}"
    );
    assert_eq!(r.vary(), Some("Cookie"));
    let app = start(CookieSettings::new().with_http_only(false)).await;
    let r = app.get("/touch", None).await;
    assert!(!r.set_cookies()[0].contains("HttpOnly"));
}

/// Django 105 and 106: nothing is saved on a 5xx.
pub async fn nothing_is_saved_on_a_5xx<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let app = start(CookieSettings::new()).await;
    let cookie = app.stored_session().await;
    for code in [500, 503] {
        let r = app.get(&format!("/status/{code}"), Some(&cookie)).await;
        assert_eq!(r.status.as_u16(), code);
        assert!(r.set_cookies().is_empty(), "{code}: {:?}", r.set_cookies());
        assert_eq!(r.vary(), Some("Cookie"));
        assert_eq!(app.get("/read", Some(&cookie)).await.body, "world");
    }
}

/// Django 107, with two real concurrent requests: a session logged out meanwhile answers 400
/// with Django's message, and nothing is resurrected.
pub async fn logged_out_meanwhile_answers_400<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let app = start(CookieSettings::new()).await;
    if !app.server_side {
        return; // a cookie session cannot be deleted by another request
    }
    let cookie = app.stored_session().await;
    let slow = app.get("/slow-change", Some(&cookie));
    let logout = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.get("/logout", Some(&cookie)).await
    };
    let (slow, logout) = tokio::join!(slow, logout);
    assert!(logout.deletes_cookie());
    assert_eq!(slow.status, 400, "{}", slow.body);
    assert_eq!(slow.body, INTERRUPTED_MESSAGE);
    assert_eq!(app.get("/read", Some(&cookie)).await.body, "-");
}

/// Django 108 and 109: logout deletes the cookie exactly as Django renders it.
pub async fn logout_deletes_the_cookie_exactly_as_django<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let app = start(CookieSettings::new()).await;
    let cookie = app.stored_session().await;
    let r = app.get("/logout", Some(&cookie)).await;
    assert_eq!(
        r.set_cookies(),
        ["sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax"]
    );
    assert_eq!(r.vary(), Some("Cookie"));
    let scoped = CookieSettings::new()
        .with_domain(Some(".example.local".into()))
        .with_path("/example/");
    let app = start(scoped).await;
    let r = app.get("/logout", Some("abc")).await;
    assert_eq!(
        r.set_cookies(),
        ["sessionid=\"\"; Domain=.example.local; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/example/; SameSite=Lax"]
    );
    assert_eq!(r.vary(), Some("Cookie"));
}

/// Django 110: a logout without a cookie sets none (but the response varies on it).
pub async fn logout_without_a_cookie_sets_none<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let app = start(CookieSettings::new()).await;
    let r = app.get("/logout", None).await;
    assert!(r.set_cookies().is_empty());
    assert_eq!(r.vary(), Some("Cookie"));
}

/// Django 111 (and CVE-2026-35192): `SESSION_SAVE_EVERY_REQUEST` renews the cookie of a page
/// that never touched the session, with `Vary: Cookie`.
pub async fn save_every_request_renews_untouched_pages<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let app = start(CookieSettings::new().with_save_every_request(true)).await;
    let cookie = app.stored_session().await;
    let r = app.get("/static", Some(&cookie)).await;
    let renewed = r.cookie().expect("the cookie is renewed");
    if app.server_side {
        assert_eq!(renewed, cookie);
    }
    assert_eq!(r.vary(), Some("Cookie"));
    assert_eq!(app.get("/read", Some(&renewed)).await.body, "world");
}

/// Django 112: a session emptied by the handler keeps its key and is saved, not deleted.
pub async fn emptied_session_is_saved_not_deleted<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let app = start(CookieSettings::new()).await;
    let cookie = app.stored_session().await;
    let r = app.get("/remove", Some(&cookie)).await;
    let again = r.cookie().expect("the emptied session keeps a cookie");
    if app.server_side {
        assert_eq!(again, cookie);
    }
    assert!(!r.deletes_cookie());
    assert_eq!(r.vary(), Some("Cookie"));
    assert_eq!(app.get("/read", Some(&again)).await.body, "-");
}

/// Forged, unknown and malformed cookies read as an empty session, and are deleted.
pub async fn forged_cookies_read_as_empty_and_are_deleted<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let app = start(CookieSettings::new()).await;
    let cookie = app.stored_session().await;
    let mut forged = cookie.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'a' { b'b' } else { b'a' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [
        forged.as_str(),
        "0123456789abcdefghijklmnopqrstuv",
        "../../x",
        "\"quoted\"",
    ] {
        let r = app.get("/read", Some(bad)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "-", "{bad}");
        assert!(r.deletes_cookie(), "{bad}: {:?}", r.set_cookies());
        assert_eq!(r.vary(), Some("Cookie"));
    }
}

/// Login gives a new key (no session fixation); logout ends the session for every tab.
pub async fn login_changes_the_key_and_logout_ends_it<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let app = start(CookieSettings::new()).await;
    let anonymous = app.stored_session().await;
    let r = app.get("/login/42", Some(&anonymous)).await;
    let user = r.cookie().expect("login sets the cookie");
    assert_ne!(user, anonymous, "no session fixation");
    assert_eq!(app.get("/whoami", Some(&user)).await.body, "42");
    if app.server_side {
        assert_eq!(app.get("/whoami", Some(&anonymous)).await.body, "anonymous");
        assert!(app.get("/logout", Some(&user)).await.deletes_cookie());
        assert_eq!(app.get("/whoami", Some(&user)).await.body, "anonymous");
    }
}

/// Sixteen concurrent requests with one cookie all answer (no deadlock).
pub async fn concurrent_requests_on_one_cookie_all_answer<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let app = Arc::new(start(CookieSettings::new()).await);
    let cookie = app.stored_session().await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..16 {
        let app = app.clone();
        let cookie = cookie.clone();
        set.spawn(async move {
            let path = if i % 2 == 0 { "/touch" } else { "/read" };
            tokio::time::timeout(Duration::from_secs(10), app.get(path, Some(&cookie)))
                .await
                .expect("no deadlock")
        });
    }
    for r in set.join_all().await {
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

/// A handler that panics saves nothing and sets no cookie.
pub async fn panicking_handler_saves_nothing<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let app = start(CookieSettings::new()).await;
    let cookie = app.stored_session().await;
    // The framework closes the connection or answers 500; either way, no cookie.
    if let Ok(r) = app.try_send(Method::GET, "/panic", Some(&cookie)).await {
        assert_eq!(r.status, 500);
        assert!(r.set_cookies().is_empty(), "{:?}", r.set_cookies());
    }
    assert_eq!(app.get("/read", Some(&cookie)).await.body, "world");
}

/// HEAD and streamed responses carry the session like any other.
pub async fn head_and_streaming_responses_carry_the_session<F: Future<Output = HttpApp>>(
    start: impl Fn(CookieSettings) -> F,
) {
    let app = start(CookieSettings::new()).await;
    let r = app.send(Method::HEAD, "/touch", None).await;
    assert_eq!(r.status, 200);
    let cookie = r.cookie().expect("HEAD sets the cookie");
    assert_eq!(r.vary(), Some("Cookie"));
    assert_eq!(app.get("/read", Some(&cookie)).await.body, "world");
    let r = app.get("/stream", Some(&cookie)).await;
    assert_eq!(r.body, "part one, part two");
    let cookie = r.cookie().expect("a streamed response sets the cookie");
    assert_eq!(app.get("/read", Some(&cookie)).await.body, "streamed");
}

/// Every behaviour, in one place: [`http_suite!`](crate::http_suite) expands this list.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_http_behaviour {
    ($callback:path, $start:path) => {
        $callback!($start;
            untouched_page_costs_nothing,
            cookie_attributes_follow_the_settings,
            nothing_is_saved_on_a_5xx,
            logged_out_meanwhile_answers_400,
            logout_deletes_the_cookie_exactly_as_django,
            logout_without_a_cookie_sets_none,
            save_every_request_renews_untouched_pages,
            emptied_session_is_saved_not_deleted,
            forged_cookies_read_as_empty_and_are_deleted,
            login_changes_the_key_and_logout_ends_it,
            concurrent_requests_on_one_cookie_all_answer,
            panicking_handler_saves_nothing,
            head_and_streaming_responses_carry_the_session,
        );
    };
}

/// One `#[tokio::test]` per HTTP behaviour, each calling `start(settings)` (an `async fn` of the
/// adapter's test returning an [`HttpApp`]) as often as it needs an application.
#[macro_export]
macro_rules! http_suite {
    ($start:path) => {
        $crate::__for_each_http_behaviour!($crate::__emit_http_test, $start);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __emit_http_test {
    ($start:path; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::http::$name($start).await;
            }
        )*
    };
}
