//! Django's `SessionMiddleware` for [sessionkit](https://github.com/sessionkit/sessionkit),
//! written once for every web framework: the tower/axum and actix-web adapters are thin layers
//! over this crate.
//!
//! - [`CookieSettings`]: Django's `SESSION_COOKIE_*` settings and `SESSION_SAVE_EVERY_REQUEST`,
//!   with Django's defaults, checked for what browsers would drop, loadable from a URL's
//!   `cookie_*` parameters.
//! - [`decide`]: the response decision (delete the cookie / save and set it / nothing, and
//!   whether to add `Vary: Cookie`) as one pure function of what the request did.
//! - [`set_cookie`], [`delete_cookie`], [`patch_vary_cookie`], [`request_cookie`]: the headers
//!   exactly as Django renders and reads them.
//! - [`RequestSession`]: the session of one request, loaded from the store only when the
//!   handler first uses it; [`RequestSession::finish`] applies the decision to the response.
//!
//! An adapter does three things per request: make a [`RequestSession`] from the request's
//! headers, hand clones of it to the handler, and call [`finish`](RequestSession::finish) with
//! the response's status and headers, answering a [`Failure`] with its status.
//!
//! ```
//! use http::HeaderMap;
//! use sessionkit_core::Sessions;
//! use sessionkit_http::{CookieSettings, RequestSession};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sessions = Sessions::new(sessionkit_locmem::LocMemStore::default());
//! let settings = CookieSettings::new();
//!
//! // A request without a cookie whose handler stores a value:
//! let session = RequestSession::from_request_headers(sessions.clone(), &settings, &HeaderMap::new());
//! session.insert("user_id", 42).await?;
//! let mut response_headers = HeaderMap::new();
//! session.finish(&settings, 200, &mut response_headers).await?;
//! let set_cookie = response_headers["set-cookie"].to_str()?;
//! assert!(set_cookie.starts_with("sessionid="));
//! assert!(set_cookie.ends_with("; HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax"));
//! assert_eq!(response_headers["vary"], "Cookie");
//! # Ok(()) }
//! ```

mod decide;
mod handle;
mod middleware;
mod render;
mod settings;

pub use decide::{decide, Action, Decision, Outcome, Write};
pub use handle::{
    Failure, FailureResponses, RequestSession, SessionGuard, BROWSER_COOKIE_LIMIT,
    INTERRUPTED_MESSAGE, USER_ID_KEY,
};
pub use middleware::Middleware;
pub use render::{
    append_set_cookie, delete_cookie, http_date, patch_vary_cookie, request_cookie, set_cookie,
    EPOCH_HTTP_DATE,
};
pub use settings::{CookieSettings, SameSite, URL_PARAMETERS};

/// Re-exported so adapters and applications use the same version.
pub use http;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
