//! [`Session`]: the axum extractor.

use std::ops::Deref;

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;
use sessionkit_http::RequestSession;

/// The request's session, for axum handlers: `async fn handler(session: Session)`. It derefs to
/// [`RequestSession`] (`get`, `insert`, `remove`, `login`, `logout`, `lock`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Session(pub RequestSession);

impl Deref for Session {
    type Target = RequestSession;

    fn deref(&self) -> &RequestSession {
        &self.0
    }
}

/// The rejection when the route has no [`SessionLayer`](crate::SessionLayer): a 500 whose body
/// names the missing layer (a configuration mistake, never a panic).
#[derive(Debug, Clone, Copy)]
pub struct MissingSessionLayer;

impl IntoResponse for MissingSessionLayer {
    fn into_response(self) -> Response {
        tracing::error!(
            "sessionkit-tower: a handler asked for the Session but the route has no \
             sessionkit_tower::SessionLayer; add .layer(SessionLayer::new(..)) to the router"
        );
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "sessionkit: this route has no SessionLayer (add .layer(sessionkit_tower::SessionLayer::new(..)) to the router)",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestSession>()
            .cloned()
            .map(Session)
            .ok_or(MissingSessionLayer)
    }
}
