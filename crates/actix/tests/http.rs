//! The actix-web middleware and extractor through a real actix-web server on a real socket:
//! the HTTP behaviours of `sessionkit_conformance::http`, the same suite the tower layer runs,
//! for the back end named by `SESSIONKIT_HTTP_BACKEND` (`locmem` in the `http-actix` cell).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer, Responder};
use sessionkit_actix::{Session, SessionMiddleware};
use sessionkit_conformance::http::{recorded, HttpApp, TestBackend};
use sessionkit_http::CookieSettings;

async fn touch(session: Session) -> impl Responder {
    session.insert("hello", "world").await.unwrap();
    "Session test"
}

async fn read(session: Session) -> HttpResponse {
    match session.get::<String>("hello").await {
        Ok(v) => HttpResponse::Ok().body(v.unwrap_or_else(|| "-".into())),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

async fn with_status(session: Session, code: web::Path<u16>) -> HttpResponse {
    session.insert("hello", "changed").await.unwrap();
    HttpResponse::new(StatusCode::from_u16(*code).unwrap())
}

async fn slow_change(session: Session) -> impl Responder {
    session.insert("hello", "slow").await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    "changed slowly"
}

async fn logout(session: Session) -> impl Responder {
    session.logout().await.unwrap();
    "bye"
}

async fn remove(session: Session) -> impl Responder {
    session.remove("hello").await.unwrap();
    "removed"
}

async fn login(session: Session, id: web::Path<String>) -> impl Responder {
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

async fn streaming(session: Session) -> HttpResponse {
    session.insert("hello", "streamed").await.unwrap();
    HttpResponse::Ok().body(TwoChunks(0))
}

/// A body sent in two chunks of unknown total size, as a streaming response is.
struct TwoChunks(u8);

impl MessageBody for TwoChunks {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<bytes::Bytes, Self::Error>>> {
        self.0 += 1;
        Poll::Ready(match self.0 {
            1 => Some(Ok(bytes::Bytes::from_static(b"part one, "))),
            2 => Some(Ok(bytes::Bytes::from_static(b"part two"))),
            _ => None,
        })
    }
}

async fn static_page() -> &'static str {
    "no session here"
}

/// Stops the actix server when the test's application is dropped.
struct StopOnDrop(ServerHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let handle = self.0.clone();
        std::thread::spawn(move || actix_rt::System::new().block_on(handle.stop(false)));
    }
}

/// The suite's application on actix-web (in a thread of its own running an actix system),
/// with sessions of this test's back end.
async fn start(settings: CookieSettings) -> HttpApp {
    let backend = TestBackend::connect_url().await;
    sessionkit::migrate(&backend.url).await.expect("migrate");
    let sessions = sessionkit::connect(&backend.url)
        .await
        .expect("connect the back end");
    let (sessions, recording) = recorded(&sessions);
    let middleware = SessionMiddleware::new(sessions, settings).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .wrap(middleware.clone())
                    .route("/touch", web::route().to(touch))
                    .route("/read", web::get().to(read))
                    .route("/status/{code}", web::get().to(with_status))
                    .route("/slow-change", web::get().to(slow_change))
                    .route("/logout", web::get().to(logout))
                    .route("/remove", web::get().to(remove))
                    .route("/login/{id}", web::get().to(login))
                    .route("/whoami", web::get().to(whoami))
                    .route("/panic", web::get().to(panics))
                    .route("/stream", web::get().to(streaming))
                    .route("/static", web::get().to(static_page))
            })
            .workers(2)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
            tx.send(server.handle()).unwrap();
            let _ = server.await;
        });
    });
    let handle = rx.recv().expect("the actix server starts");
    HttpApp::new(base, recording, (backend, StopOnDrop(handle)))
}

sessionkit_conformance::http_suite!(start);

#[actix_rt::test]
async fn an_app_without_the_middleware_is_a_500_naming_it() {
    let app = actix_web::test::init_service(App::new().route("/", web::get().to(read))).await;
    let request = actix_web::test::TestRequest::get().uri("/").to_request();
    let response = actix_web::test::call_service(&app, request).await;
    assert_eq!(response.status(), 500);
    let body = actix_web::test::read_body(response).await;
    assert!(String::from_utf8_lossy(&body).contains("SessionMiddleware"));
}
