//! The session middleware through a real axum server on a real socket, with a real HTTP client
//! (hyper), for the back end named by `SESSIONKIT_HTTP_BACKEND` (`locmem` when unset; the
//! `http-*` matrix cells name each one). Django's `SessionMiddlewareTests` (reference §5.8,
//! 101–112) plus what they leave out: no store call and no `Vary` for a page that never touches
//! the session, forged cookies, concurrent requests on one cookie, a panicking handler, HEAD
//! and streaming responses, login/logout across requests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sessionkit::{SessionConfig, SessionStore, Sessions};
use sessionkit_conformance::Recording;
use sessionkit_http::{CookieSettings, SameSite, INTERRUPTED_MESSAGE};
use sessionkit_testkit::{Provided, Service};
use sessionkit_tower::{Session, SessionLayer};

/// What keeps the back end's server alive for the test.
type Guard = Option<Arc<Mutex<Provided>>>;

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn shared(service: Service) -> (String, Guard) {
    let provided = service.shared().expect("a server for the back end");
    let url = provided.lock().unwrap().urls().join(",");
    (url, Some(provided))
}

/// A URL of the back end under test, with its own key prefix, table or file.
fn backend_url() -> (String, Guard) {
    let backend = std::env::var("SESSIONKIT_HTTP_BACKEND").unwrap_or_else(|_| "locmem".into());
    let table = unique("http");
    let sqlite = || {
        format!(
            "sqlite://{}/{table}.sqlite3",
            std::env::temp_dir().display()
        )
    };
    match backend.as_str() {
        "locmem" => ("locmem://".into(), None),
        "redis" => {
            let (url, g) = shared(Service::Redis);
            (format!("{url}?key_prefix={table}:"), g)
        }
        "memcached" => {
            let (urls, g) = shared(Service::Memcached { nodes: 1 });
            let hosts: Vec<&str> = urls
                .split(',')
                .map(|u| u.trim_start_matches("memcached://"))
                .collect();
            (
                format!("memcached://{}?prefix={table}:", hosts.join(",")),
                g,
            )
        }
        "postgres" => {
            let (url, g) = shared(Service::Postgres);
            (format!("{url}?table={table}"), g)
        }
        "mysql" => {
            let (url, g) = shared(Service::Mysql);
            (format!("{url}?table={table}"), g)
        }
        "sqlite" => (sqlite(), None),
        "cached-db" => {
            let (redis, g) = shared(Service::Redis);
            let cache = sessionkit::percent_encode(&format!("{redis}?key_prefix={table}:"));
            let db = sessionkit::percent_encode(&sqlite());
            (format!("cached-db://?cache={cache}&db={db}"), g)
        }
        "cookie-signed" | "cookie-encrypted" => {
            std::env::set_var(
                "SESSIONKIT_HTTP_TEST_SECRET",
                "a test secret of more than thirty-two bytes, not for production",
            );
            let protection = backend.trim_start_matches("cookie-");
            (
                format!("cookie://?secret_env=SESSIONKIT_HTTP_TEST_SECRET&protection={protection}"),
                None,
            )
        }
        other => panic!("SESSIONKIT_HTTP_BACKEND={other}: not a back end this test knows"),
    }
}

/// A running application and a client for it.
struct App {
    base: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Body>,
    recording: Arc<Recording>,
    server_side: bool,
    url: String,
    _guard: Guard,
    _server: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    /// Removes the SQLite file a `sqlite` or `cached-db` back end wrote.
    fn drop(&mut self) {
        let decoded = sessionkit::percent_decode(&self.url).unwrap_or_default();
        if let Some(start) = decoded.find("sqlite://") {
            let path = decoded[start + "sqlite://".len()..]
                .split(['?', '&'])
                .next()
                .unwrap_or_default()
                .to_owned();
            let _ = std::fs::remove_file(path);
        }
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
    /// The session cookie's new value, if one was set (not deleted).
    fn cookie(&self) -> Option<String> {
        self.set_cookies().iter().find_map(|c| {
            let value = c.split(';').next()?.split_once('=')?.1;
            (value != "\"\"").then(|| value.to_owned())
        })
    }
    fn deletes_cookie(&self) -> bool {
        self.set_cookies().iter().any(|c| {
            c.starts_with("sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0;")
        })
    }
    fn vary(&self) -> Option<&str> {
        self.headers.get("vary").map(|v| v.to_str().unwrap())
    }
}

async fn touch(session: Session) -> impl IntoResponse {
    session.insert("hello", "world").await.unwrap();
    "Session test"
}

async fn read(session: Session) -> Result<String, StatusCode> {
    match session.get::<String>("hello").await {
        Ok(v) => Ok(v.unwrap_or_else(|| "-".into())),
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

async fn with_status(session: Session, Path(code): Path<u16>) -> impl IntoResponse {
    session.insert("hello", "changed").await.unwrap();
    StatusCode::from_u16(code).unwrap()
}

async fn slow_change(session: Session) -> impl IntoResponse {
    session.insert("hello", "slow").await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    "changed slowly"
}

async fn logout(session: Session) -> impl IntoResponse {
    session.logout().await.unwrap();
    "bye"
}

async fn remove(session: Session) -> impl IntoResponse {
    session.remove("hello").await.unwrap();
    "removed"
}

async fn login(session: Session, Path(id): Path<String>) -> impl IntoResponse {
    session.login(&id).await.unwrap();
    "welcome"
}

async fn whoami(session: Session) -> String {
    session
        .user_id()
        .await
        .unwrap()
        .unwrap_or_else(|| "anonymous".into())
}

async fn panics(session: Session) -> &'static str {
    session.insert("hello", "panicked").await.unwrap();
    panic!("the handler failed half-way");
}

async fn streaming(session: Session) -> impl IntoResponse {
    session.insert("hello", "streamed").await.unwrap();
    Body::new(TwoChunks(0))
}

/// A body sent in two frames, as a streaming response is.
struct TwoChunks(u8);

impl http_body::Body for TwoChunks {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        self.0 += 1;
        std::task::Poll::Ready(match self.0 {
            1 => Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
                b"part one, ",
            )))),
            2 => Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
                b"part two",
            )))),
            _ => None,
        })
    }
}

async fn static_page() -> &'static str {
    "no session here"
}

impl App {
    async fn start(settings: CookieSettings) -> Self {
        let (url, guard) = tokio::task::spawn_blocking(backend_url).await.unwrap();
        let sessions = sessionkit::connect(&url)
            .await
            .expect("connect the back end");
        if let Ok(migration) = sessionkit::migrate(&url).await {
            let _ = migration;
        }
        let recording = Arc::new(Recording::new(sessions.store().clone()));
        let server_side = sessions.store().key_format().is_server_side();
        let sessions = Sessions::from_arc(recording.clone(), SessionConfig::default());
        let app = Router::new()
            .route("/touch", get(touch))
            .route("/read", get(read))
            .route("/status/{code}", get(with_status))
            .route("/slow-change", get(slow_change))
            .route("/logout", get(logout))
            .route("/remove", get(remove))
            .route("/login/{id}", get(login))
            .route("/whoami", get(whoami))
            .route("/panic", get(panics))
            .route("/stream", get(streaming))
            .route("/static", get(static_page))
            .layer(SessionLayer::new(sessions, settings).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base,
            client: Client::builder(TokioExecutor::new()).build_http(),
            recording,
            server_side,
            url: url.clone(),
            _guard: guard,
            _server: server,
        }
    }

    async fn send(&self, method: Method, path: &str, cookie: Option<&str>) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            request = request.header("cookie", format!("csrftoken=abc; sessionid={c}"));
        }
        let response = self
            .client
            .request(request.body(Body::empty()).unwrap())
            .await
            .expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        self.send(Method::GET, path, cookie).await
    }

    /// A stored session holding hello=world, and its cookie.
    async fn logged_session(&self) -> String {
        let r = self.get("/touch", None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.cookie().expect("a session cookie")
    }
}

#[tokio::test]
async fn a_page_that_never_touches_the_session_costs_nothing() {
    let app = App::start(CookieSettings::new()).await;
    let cookie = app.logged_session().await;
    let before = app.recording.calls();
    let r = app.get("/static", Some(&cookie)).await;
    assert_eq!(r.body, "no session here");
    assert_eq!(app.recording.calls(), before, "no store call");
    assert!(r.set_cookies().is_empty());
    assert_eq!(r.vary(), None);
}

#[tokio::test]
async fn secure_httponly_and_samesite_follow_the_settings() {
    // Django 101, 102, 103.
    let settings = CookieSettings::new()
        .with_secure(true)
        .with_same_site(Some(SameSite::Strict));
    let app = App::start(settings).await;
    let r = app.get("/touch", None).await;
    let set = &r.set_cookies()[0];
    assert!(
        set.contains("; HttpOnly; Max-Age=1209600; Path=/; SameSite=Strict; Secure"),
        "{set}"
    );
    assert_eq!(r.vary(), Some("Cookie"));
    // Django 104: no HttpOnly.
    let app = App::start(CookieSettings::new().with_http_only(false)).await;
    let r = app.get("/touch", None).await;
    assert!(!r.set_cookies()[0].contains("HttpOnly"));
}

#[tokio::test]
async fn nothing_is_saved_on_a_5xx() {
    // Django 105 and 106.
    let app = App::start(CookieSettings::new()).await;
    let cookie = app.logged_session().await;
    for code in [500, 503] {
        let r = app.get(&format!("/status/{code}"), Some(&cookie)).await;
        assert_eq!(r.status.as_u16(), code);
        assert!(r.set_cookies().is_empty(), "{code}: {:?}", r.set_cookies());
        assert_eq!(r.vary(), Some("Cookie"));
        assert_eq!(app.get("/read", Some(&cookie)).await.body, "world");
    }
}

#[tokio::test]
async fn a_session_logged_out_meanwhile_answers_400() {
    // Django 107, with two real concurrent requests.
    let app = App::start(CookieSettings::new()).await;
    if !app.server_side {
        return; // a cookie session cannot be deleted by another request
    }
    let cookie = app.logged_session().await;
    let slow = app.get("/slow-change", Some(&cookie));
    let logout = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.get("/logout", Some(&cookie)).await
    };
    let (slow, logout) = tokio::join!(slow, logout);
    assert!(logout.deletes_cookie());
    assert_eq!(slow.status, 400, "{}", slow.body);
    assert_eq!(slow.body, INTERRUPTED_MESSAGE);
    assert_eq!(
        app.get("/read", Some(&cookie)).await.body,
        "-",
        "nothing resurrected"
    );
}

#[tokio::test]
async fn logout_deletes_the_cookie_exactly_as_django() {
    // Django 108 and 109.
    let app = App::start(CookieSettings::new()).await;
    let cookie = app.logged_session().await;
    let r = app.get("/logout", Some(&cookie)).await;
    assert_eq!(
        r.set_cookies(),
        ["sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax"]
    );
    assert_eq!(r.vary(), Some("Cookie"));
    let scoped = CookieSettings::new()
        .with_domain(Some(".example.local".into()))
        .with_path("/example/");
    let app = App::start(scoped).await;
    let r = app.get("/logout", Some("abc")).await;
    assert_eq!(
        r.set_cookies(),
        ["sessionid=\"\"; Domain=.example.local; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/example/; SameSite=Lax"]
    );
    assert_eq!(r.vary(), Some("Cookie"));
}

#[tokio::test]
async fn logout_without_a_cookie_sets_none() {
    // Django 110.
    let app = App::start(CookieSettings::new()).await;
    let r = app.get("/logout", None).await;
    assert!(r.set_cookies().is_empty());
    assert_eq!(r.vary(), Some("Cookie"));
}

#[tokio::test]
async fn save_every_request_renews_the_cookie_of_an_untouched_page() {
    // Django 111 (and the CVE-2026-35192 Vary).
    let app = App::start(CookieSettings::new().with_save_every_request(true)).await;
    let cookie = app.logged_session().await;
    let r = app.get("/static", Some(&cookie)).await;
    let renewed = r.cookie().expect("the cookie is renewed");
    if app.server_side {
        assert_eq!(renewed, cookie);
    }
    assert_eq!(r.vary(), Some("Cookie"));
    assert_eq!(app.get("/read", Some(&renewed)).await.body, "world");
}

#[tokio::test]
async fn an_emptied_session_is_saved_not_deleted() {
    // Django 112.
    let app = App::start(CookieSettings::new()).await;
    let cookie = app.logged_session().await;
    let r = app.get("/remove", Some(&cookie)).await;
    let again = r.cookie().expect("the emptied session keeps a cookie");
    if app.server_side {
        assert_eq!(again, cookie);
    }
    assert!(!r.deletes_cookie());
    assert_eq!(r.vary(), Some("Cookie"));
    assert_eq!(app.get("/read", Some(&again)).await.body, "-");
}

#[tokio::test]
async fn forged_and_unknown_cookies_read_as_empty_and_are_deleted() {
    let app = App::start(CookieSettings::new()).await;
    let cookie = app.logged_session().await;
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

#[tokio::test]
async fn login_changes_the_key_and_logout_ends_it_everywhere() {
    let app = App::start(CookieSettings::new()).await;
    let anonymous = app.logged_session().await;
    let r = app.get("/login/42", Some(&anonymous)).await;
    let user = r.cookie().expect("login sets the cookie");
    assert_ne!(user, anonymous, "no session fixation");
    assert_eq!(app.get("/whoami", Some(&user)).await.body, "42");
    if app.server_side {
        assert_eq!(app.get("/whoami", Some(&anonymous)).await.body, "anonymous");
        // Two tabs share the cookie; a logout in one ends the other.
        assert!(app.get("/logout", Some(&user)).await.deletes_cookie());
        assert_eq!(app.get("/whoami", Some(&user)).await.body, "anonymous");
    }
}

#[tokio::test]
async fn concurrent_requests_on_one_cookie_all_answer() {
    let app = App::start(CookieSettings::new()).await;
    let cookie = app.logged_session().await;
    let replies = futures_join_all(&app, &cookie).await;
    for r in replies {
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

async fn futures_join_all(app: &App, cookie: &str) -> Vec<Reply> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..16 {
        let client = app.client.clone();
        let base = app.base.clone();
        let cookie = cookie.to_owned();
        set.spawn(async move {
            let path = if i % 2 == 0 { "/touch" } else { "/read" };
            let request = Request::get(format!("{base}{path}"))
                .header("cookie", format!("sessionid={cookie}"))
                .body(Body::empty())
                .unwrap();
            let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
                .await
                .expect("no deadlock")
                .unwrap();
            Reply {
                status: response.status(),
                headers: response.headers().clone(),
                body: String::new(),
            }
        });
    }
    set.join_all().await
}

#[tokio::test]
async fn a_panicking_handler_saves_nothing_and_sets_no_cookie() {
    let app = App::start(CookieSettings::new()).await;
    let cookie = app.logged_session().await;
    let request = Request::get(format!("{}/panic", app.base))
        .header("cookie", format!("sessionid={cookie}"))
        .body(Body::empty())
        .unwrap();
    // hyper closes the connection of a panicked handler: no response, so no cookie.
    assert!(app.client.request(request).await.is_err());
    assert_eq!(app.get("/read", Some(&cookie)).await.body, "world");
}

#[tokio::test]
async fn head_and_streaming_responses_carry_the_session() {
    let app = App::start(CookieSettings::new()).await;
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

#[tokio::test]
async fn a_route_without_the_layer_is_a_500_naming_it() {
    let app = Router::new().route("/", get(read));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(
            Request::get(format!("{base}/"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("SessionLayer"));
}
