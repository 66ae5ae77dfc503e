//! Django's `SessionMiddleware` for [actix-web](https://actix.rs), over any
//! [sessionkit](https://github.com/sessionkit/sessionkit) back end: the same rules as the tower
//! layer, from the same framework-neutral crate (`sessionkit-http`).
//!
//! [`SessionMiddleware`] gives each request its session (loaded only when the handler uses
//! it) and completes the response as Django does: save, `Set-Cookie`, `Vary: Cookie`, the
//! deletion cookie on logout, nothing saved on a 5xx. [`Session`] is the extractor. When the
//! session cannot be completed the handler's response is replaced: 400 with Django's
//! `SessionInterrupted` message (a concurrent logout), 503 with `Retry-After: 1` (the store
//! failed; its error text is never sent), 500 (a cookie session too large for a browser).
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use sessionkit_actix::{Session, SessionMiddleware};
//!
//! async fn visits(session: Session) -> String {
//!     let n: u64 = session.get("visits").await.ok().flatten().unwrap_or(0) + 1;
//!     let _ = session.insert("visits", n).await;
//!     format!("{n} visits")
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let sessions = sessionkit::connect("locmem://").await?;
//!     let middleware = SessionMiddleware::new(sessions, Default::default())?;
//!     HttpServer::new(move || {
//!         App::new()
//!             .wrap(middleware.clone())
//!             .route("/", web::get().to(visits))
//!     })
//!     .bind(("127.0.0.1", 3000))?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```

use std::future::{ready, Future, Ready};
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self as actix_header, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use sessionkit_core::{Result, Sessions};

pub use sessionkit_http::{CookieSettings, FailureResponses, Middleware, RequestSession, SameSite};

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The middleware: `App::new().wrap(SessionMiddleware::new(sessions, settings)?)`.
#[derive(Debug, Clone)]
pub struct SessionMiddleware {
    middleware: Arc<Middleware>,
}

impl SessionMiddleware {
    /// Sessions from `sessions`, in cookies described by `settings` (refused with a
    /// [`Config`](sessionkit_core::ErrorKind::Config) error if a browser would drop them).
    pub fn new(sessions: Sessions, settings: CookieSettings) -> Result<Self> {
        Ok(Self {
            middleware: Arc::new(Middleware::new(sessions, settings)?),
        })
    }

    /// What the client gets when the session cannot be completed (the store's failure is
    /// configurable: status, `Retry-After`, body; see [`FailureResponses`]).
    pub fn with_failure_responses(mut self, failures: FailureResponses) -> Self {
        let middleware = Arc::unwrap_or_clone(self.middleware);
        self.middleware = Arc::new(middleware.with_failure_responses(failures));
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<S>;
    type InitError = ();
    type Future = Ready<std::result::Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionService {
            service: Rc::new(service),
            middleware: self.middleware.clone(),
        }))
    }
}

/// The service [`SessionMiddleware`] wraps around the application.
#[derive(Debug)]
pub struct SessionService<S> {
    service: Rc<S>,
    middleware: Arc<Middleware>,
}

/// The values of header `name` in an actix-web map, as an `http` 1 map (actix-web 4 has its
/// own header types).
fn to_http(from: &actix_header::HeaderMap, name: http::header::HeaderName) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for value in from.get_all(name.as_str()) {
        if let Ok(v) = http::HeaderValue::from_bytes(value.as_bytes()) {
            headers.append(name.clone(), v);
        }
    }
    headers
}

impl<S, B> Service<ServiceRequest> for SessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let middleware = self.middleware.clone();
        let session = middleware.start(&to_http(request.headers(), http::header::COOKIE));
        request.extensions_mut().insert(session.clone());
        let service = self.service.clone();
        Box::pin(async move {
            let mut response = service.call(request).await?;
            let status = response.status().as_u16();
            // The decision patches `Vary` and appends `Set-Cookie` on an `http` 1 map holding
            // the response's `Vary`; the result is copied back.
            let mut headers = to_http(response.headers(), http::header::VARY);
            match middleware.finish(&session, status, &mut headers).await {
                Ok(()) => {
                    copy_back(&headers, response.headers_mut());
                    Ok(response.map_into_left_body())
                }
                Err(replacement) => {
                    let (request, _) = response.into_parts();
                    Ok(ServiceResponse::new(request, to_actix(replacement)).map_into_right_body())
                }
            }
        })
    }
}

/// Writes the decided `Vary` and `Set-Cookie` headers into the actix response.
fn copy_back(from: &http::HeaderMap, to: &mut actix_header::HeaderMap) {
    if let Some(vary) = from.get(http::header::VARY) {
        if let Ok(v) = HeaderValue::from_bytes(vary.as_bytes()) {
            to.insert(actix_header::VARY, v);
        }
    }
    for cookie in from.get_all(http::header::SET_COOKIE) {
        if let Ok(v) = HeaderValue::from_bytes(cookie.as_bytes()) {
            to.append(actix_header::SET_COOKIE, v);
        }
    }
}

/// An `http` 1 response as an actix-web one.
fn to_actix(response: http::Response<String>) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(response.status().as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in response.headers() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            builder.append_header((n, v));
        }
    }
    builder.body(response.into_body())
}

/// The request's session, for actix-web handlers: `async fn handler(session: Session)`. It
/// derefs to [`RequestSession`] (`get`, `insert`, `remove`, `login`, `logout`, `lock`).
#[derive(Debug, Clone)]
pub struct Session(pub RequestSession);

impl Deref for Session {
    type Target = RequestSession;

    fn deref(&self) -> &RequestSession {
        &self.0
    }
}

impl FromRequest for Session {
    type Error = actix_web::Error;
    type Future = Ready<std::result::Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            request
                .extensions()
                .get::<RequestSession>()
                .cloned()
                .map(Session)
                .ok_or_else(|| {
                    tracing::error!(
                        "sessionkit-actix: a handler asked for the Session but the app has no \
                         SessionMiddleware; add .wrap(SessionMiddleware::new(..)) to the App"
                    );
                    actix_web::error::ErrorInternalServerError(
                        "sessionkit: this app has no SessionMiddleware (add .wrap(sessionkit_actix::SessionMiddleware::new(..)) to the App)",
                    )
                }),
        )
    }
}
