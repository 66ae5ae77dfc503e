//! axum-login's login flow (axum-login 0.18 on tower-sessions 0.14) with sessionkit's
//! `TowerSessionsStore` as the tower-sessions store, for the back end `SESSIONKIT_HTTP_BACKEND`
//! names: an application on tower-sessions switches to sessionkit's back ends by changing the
//! store, and logins, protected pages, logout and restarts behave.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use axum_login::tower_sessions::SessionManagerLayer;
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use sessionkit_conformance::http::{recorded, TestBackend};
use sessionkit_conformance::Recording;
use sessionkit_tower::TowerSessionsStore;

#[derive(Debug, Clone)]
struct User {
    id: i64,
    name: String,
    password: String,
}

impl AuthUser for User {
    type Id = i64;
    fn id(&self) -> i64 {
        self.id
    }
    fn session_auth_hash(&self) -> &[u8] {
        // Changes when the password does, which logs out the user's other sessions.
        self.password.as_bytes()
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Debug, Clone)]
struct Users(Arc<HashMap<i64, User>>);

/// An error that cannot happen.
#[derive(Debug)]
enum Never {}

impl std::fmt::Display for Never {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

impl std::error::Error for Never {}

impl AuthnBackend for Users {
    type User = User;
    type Credentials = Credentials;
    type Error = Never;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<User>, Never> {
        Ok(self
            .0
            .values()
            .find(|u| u.name == creds.username && u.password == creds.password)
            .cloned())
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, Never> {
        Ok(self.0.get(id).cloned())
    }
}

async fn login(mut auth: AuthSession<Users>, Form(creds): Form<Credentials>) -> impl IntoResponse {
    match auth.authenticate(creds).await {
        Ok(Some(user)) => match auth.login(&user).await {
            Ok(()) => (StatusCode::OK, "logged in").into_response(),
            Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        },
        Ok(None) => StatusCode::UNAUTHORIZED.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn protected(auth: AuthSession<Users>) -> impl IntoResponse {
    match auth.user {
        Some(user) => (StatusCode::OK, format!("hello {}", user.name)).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn logout(mut auth: AuthSession<Users>) -> impl IntoResponse {
    match auth.logout().await {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The application on a free port, its store recorded; serves until the handle is aborted.
async fn serve(
    sessions: &sessionkit::Sessions,
) -> (String, Arc<Recording>, tokio::task::JoinHandle<()>) {
    let (sessions, recording) = recorded(sessions);
    let users = Users(Arc::new(HashMap::from([(
        1,
        User {
            id: 1,
            name: "ferris".into(),
            password: "hunter2".into(),
        },
    )])));
    let session_layer =
        SessionManagerLayer::new(TowerSessionsStore::new(sessions).unwrap()).with_secure(false);
    let app = Router::new()
        .route("/login", post(login))
        .route("/protected", get(protected))
        .route("/logout", get(logout))
        .layer(AuthManagerLayerBuilder::new(users, session_layer).build());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, recording, server)
}

struct Reply {
    status: StatusCode,
    cookie: Option<String>,
    body: String,
}

async fn send(method: &str, url: &str, cookie: Option<&str>, form: Option<&str>) -> Reply {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = axum::http::Request::builder().method(method).uri(url);
    if let Some(c) = cookie {
        request = request.header("cookie", c);
    }
    if form.is_some() {
        request = request.header("content-type", "application/x-www-form-urlencoded");
    }
    let body = Full::new(Bytes::from(form.unwrap_or_default().to_owned()));
    let response = client.request(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        cookie,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_login_logs_in_and_out_through_sessionkit() {
    let backend = TestBackend::connect_url().await;
    sessionkit::migrate(&backend.url).await.expect("migrate");
    let sessions = sessionkit::connect(&backend.url).await.expect("connect");
    if !sessions.store().key_format().is_server_side() {
        // A cookie store cannot back tower-sessions (its cookie holds an id): refused clearly.
        let err = TowerSessionsStore::new(sessions).unwrap_err();
        assert!(err.is_config(), "{err}");
        return;
    }
    let (base, recording, server) = serve(&sessions).await;

    assert_eq!(
        send("GET", &format!("{base}/protected"), None, None)
            .await
            .status,
        401
    );
    let wrong = send(
        "POST",
        &format!("{base}/login"),
        None,
        Some("username=ferris&password=nope"),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let before = recording.calls();
    let ok = send(
        "POST",
        &format!("{base}/login"),
        None,
        Some("username=ferris&password=hunter2"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(
        recording.calls() > before,
        "the login went to the sessionkit store"
    );
    let cookie = ok.cookie.expect("tower-sessions sets its cookie");
    let page = send("GET", &format!("{base}/protected"), Some(&cookie), None).await;
    assert_eq!(
        (page.status, page.body.as_str()),
        (StatusCode::OK, "hello ferris")
    );

    // A restart of the application (a new store handle on the same back end; for the
    // in-process store, the same one): still logged in.
    server.abort();
    let sessions = if backend.url.starts_with("locmem:") {
        sessions
    } else {
        sessionkit::connect(&backend.url).await.expect("reconnect")
    };
    let (base, _, server) = serve(&sessions).await;
    let page = send("GET", &format!("{base}/protected"), Some(&cookie), None).await;
    assert_eq!(page.body, "hello ferris");

    // A forged id is nobody.
    let forged = format!("{}x", &cookie[..cookie.len() - 1]);
    assert_eq!(
        send("GET", &format!("{base}/protected"), Some(&forged), None)
            .await
            .status,
        401
    );

    assert_eq!(
        send("GET", &format!("{base}/logout"), Some(&cookie), None)
            .await
            .status,
        200
    );
    assert_eq!(
        send("GET", &format!("{base}/protected"), Some(&cookie), None)
            .await
            .status,
        401
    );
    server.abort();
}
