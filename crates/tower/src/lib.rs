//! Django's `SessionMiddleware` for any [tower](https://docs.rs/tower) HTTP service (axum,
//! hyper, tonic's HTTP), for [sessionkit](https://github.com/sessionkit/sessionkit).
//!
//! [`SessionLayer`] wraps a service: for each request it makes the request's
//! [`RequestSession`] from its cookie and puts it in the request's extensions (the store is not
//! touched unless the handler uses it), runs the service, then completes the response as
//! Django does ([`RequestSession::finish`]: save, `Set-Cookie`, `Vary: Cookie`, nothing saved
//! on a 5xx). With the `axum` feature, [`Session`] is the extractor.
//!
//! When the session cannot be completed the handler's response is replaced (its body is
//! dropped, and the failure is logged with `tracing`):
//!
//! | what happened | the client gets |
//! |---|---|
//! | the session was deleted by a concurrent request (a logout) before this one saved | 400 with Django's `SessionInterrupted` message |
//! | the store failed or timed out | 503 with `Retry-After: 1`; never the store's error text |
//! | a cookie session grew past the 4,096 bytes a browser keeps | 500 |
//!
//! A handler that panics never reaches the save: no half-written session, no cookie.
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # mod demo {
//! use axum::{routing::get, Router};
//! use sessionkit_tower::{Session, SessionLayer};
//!
//! async fn visits(session: Session) -> Result<String, axum::http::StatusCode> {
//!     let n: u64 = session.get("visits").await.ok().flatten().unwrap_or(0) + 1;
//!     session.insert("visits", n).await.map_err(|_| axum::http::StatusCode::SERVICE_UNAVAILABLE)?;
//!     Ok(format!("{n} visits"))
//! }
//!
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sessions = sessionkit::connect("locmem://").await?;
//! let app = Router::new()
//!     .route("/", get(visits))
//!     .layer(SessionLayer::new(sessions, Default::default())?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use sessionkit_core::{Result, Sessions};
use tower_layer::Layer;
use tower_service::Service;

#[cfg(feature = "tower-sessions")]
mod compat;
#[cfg(feature = "axum")]
mod extract;
#[cfg(feature = "tower-sessions")]
pub use compat::TowerSessionsStore;
#[cfg(feature = "axum")]
pub use extract::{MissingSessionLayer, Session};

pub use sessionkit_http::{
    self as http_session, CookieSettings, FailureResponses, Middleware, RequestSession, SameSite,
};

/// The README's example, compiled as a doctest.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The tower [`Layer`] that gives every request its session; see the [crate] docs.
#[derive(Debug, Clone)]
pub struct SessionLayer {
    middleware: Arc<Middleware>,
}

impl SessionLayer {
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

    /// The cookie settings.
    pub fn settings(&self) -> &CookieSettings {
        self.middleware.settings()
    }

    /// The sessions.
    pub fn sessions(&self) -> &Sessions {
        self.middleware.sessions()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            middleware: self.middleware.clone(),
        }
    }
}

/// The service [`SessionLayer`] makes.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    middleware: Arc<Middleware>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let middleware = self.middleware.clone();
        let session = middleware.start(request.headers());
        request.extensions_mut().insert(session.clone());
        // The clone that was polled ready is the one that serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            let status = response.status().as_u16();
            match middleware
                .finish(&session, status, response.headers_mut())
                .await
            {
                Ok(()) => Ok(response),
                Err(replacement) => Ok(replacement.map(ResBody::from)),
            }
        })
    }
}
