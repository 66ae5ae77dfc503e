//! The tower layer and the axum extractor through a real axum server on a real socket: the
//! HTTP behaviours of `sessionkit_conformance::http` (Django's middleware tests and more), for
//! the back end named by `SESSIONKIT_HTTP_BACKEND` (the `http-*` matrix cells name each one).

use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sessionkit_conformance::http::{recorded, HttpApp, TestBackend};
use sessionkit_http::CookieSettings;
use sessionkit_tower::{Session, SessionLayer};

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
        let chunk: &'static [u8] = match self.0 {
            1 => b"part one, ",
            2 => b"part two",
            _ => return std::task::Poll::Ready(None),
        };
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
            chunk,
        )))))
    }
}

async fn static_page() -> &'static str {
    "no session here"
}

/// The suite's application on axum, with sessions of this test's back end.
async fn start(settings: CookieSettings) -> HttpApp {
    let backend = TestBackend::connect_url().await;
    sessionkit::migrate(&backend.url).await.expect("migrate");
    let sessions = sessionkit::connect(&backend.url)
        .await
        .expect("connect the back end");
    let (sessions, recording) = recorded(&sessions);
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
    HttpApp::new(base, recording, (backend, AbortOnDrop(server)))
}

/// Stops the server when the test's application is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

sessionkit_conformance::http_suite!(start);

#[tokio::test]
async fn a_route_without_the_layer_is_a_500_naming_it() {
    let app = Router::new().route("/", get(read));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(
            axum::http::Request::get(format!("{base}/"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("SessionLayer"));
}
