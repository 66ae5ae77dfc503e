//! [`RequestSession`]: the session of one request, loaded on first use, and
//! [`RequestSession::finish`], which applies Django's response decision to the response.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sessionkit_core::{Error, Result, Session, SessionKey, Sessions, UnixTime, Value};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::decide::{decide, Action, Outcome, Write};
use crate::render::{
    append_set_cookie, delete_cookie, patch_vary_cookie, request_cookie, set_cookie,
};
use crate::settings::CookieSettings;

/// What a browser keeps of one cookie at most, name and attributes included (RFC 6265's
/// minimum, what every browser enforces).
pub const BROWSER_COOKIE_LIMIT: usize = 4096;

/// The session value under which [`RequestSession::login`] keeps the user's id (Django's
/// `SESSION_KEY`).
pub const USER_ID_KEY: &str = "_auth_user_id";

/// Django's `SessionInterrupted` message, the body of the 400 answer when a request's session
/// was deleted (a logout in a concurrent request) before the request could save it.
pub const INTERRUPTED_MESSAGE: &str = "The request's session was deleted before the request \
                                       completed. The user may have logged out in a concurrent \
                                       request, for example.";

/// The session of one request, shared by the middleware and the handler (cheap to clone:
/// clones are the same session). The store is not touched until the handler reads or writes
/// the session, so a page that never does costs no round trip and sends no `Vary: Cookie`.
#[derive(Debug, Clone)]
pub struct RequestSession {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sessions: Sessions,
    /// The session cookie's value on the request, if it had one.
    presented: Option<String>,
    /// `None` until the handler first uses the session.
    session: Mutex<Option<Session>>,
    /// A load was tried and the store failed: the handler saw an error, the response depends
    /// on the cookie, nothing is saved.
    load_failed: AtomicBool,
}

/// The loaded session, locked for this request's use; other clones of the handle wait while
/// it is held. Drop it before awaiting anything long.
pub type SessionGuard<'a> = MappedMutexGuard<'a, Session>;

/// Why [`RequestSession::finish`] could not complete the response. The adapters turn it into
/// [`status`](Self::status) with a short body; the store's error text never reaches the client.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// The session was deleted (a logout in a concurrent request) before this request saved
    /// its changes: 400 with [`INTERRUPTED_MESSAGE`], as Django's `SessionInterrupted`.
    Interrupted,
    /// The store failed (down, slow, refused): 503, the request may be retried.
    Store(Error),
    /// A cookie session grew past what a browser keeps ([`BROWSER_COOKIE_LIMIT`]): 500. Keep
    /// less in the session or use a server-side back end.
    CookieTooLarge {
        /// The `Set-Cookie` header's size in bytes.
        size: usize,
    },
}

impl Failure {
    /// The status of the response that replaces the handler's.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Interrupted => StatusCode::BAD_REQUEST,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::CookieTooLarge { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body for the client: nothing about the store or the session's content.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::Interrupted => INTERRUPTED_MESSAGE,
            Self::Store(_) => "The session store is unavailable. Try again in a moment.",
            Self::CookieTooLarge { .. } => "The session could not be saved.",
        }
    }
}

/// The responses that replace the handler's when the session cannot be completed. The store
/// failure's answer is configurable (default: 503, `Retry-After: 1`, a short message that says
/// nothing about the store); the other two are Django's and fixed: 400 with
/// [`INTERRUPTED_MESSAGE`], 500 for a cookie too large. Every one carries `Vary: Cookie` and
/// `Content-Type: text/plain; charset=utf-8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureResponses {
    store_status: StatusCode,
    retry_after: Option<u64>,
    store_body: String,
}

impl Default for FailureResponses {
    fn default() -> Self {
        Self::new()
    }
}

impl FailureResponses {
    /// The defaults above.
    pub fn new() -> Self {
        Self {
            store_status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: Some(1),
            store_body: Failure::Store(Error::timeout(crate::settings::BACKEND))
                .public_message()
                .to_owned(),
        }
    }

    /// The status answered when the store fails (default 503); a status below 400 is taken
    /// as 503.
    pub fn with_store_status(mut self, status: StatusCode) -> Self {
        self.store_status = if status.as_u16() >= 400 {
            status
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        self
    }

    /// The `Retry-After` seconds sent with it (default `Some(1)`; `None` sends none).
    pub fn with_retry_after(mut self, seconds: Option<u64>) -> Self {
        self.retry_after = seconds;
        self
    }

    /// The body sent with it (default: "The session store is unavailable. Try again in a
    /// moment.").
    pub fn with_store_body(mut self, body: impl Into<String>) -> Self {
        self.store_body = body.into();
        self
    }

    /// The response for `failure`.
    pub fn response(&self, failure: &Failure) -> http::Response<String> {
        let (status, body) = match failure {
            Failure::Store(_) => (self.store_status, self.store_body.clone()),
            other => (other.status(), other.public_message().to_owned()),
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let (Failure::Store(_), Some(seconds)) = (failure, self.retry_after) {
            headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        patch_vary_cookie(headers);
        response
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Interrupted => f.write_str(INTERRUPTED_MESSAGE),
            Self::Store(e) => write!(f, "saving the session failed: {e}"),
            Self::CookieTooLarge { size } => write!(
                f,
                "the session cookie would be {size} bytes, over the {BROWSER_COOKIE_LIMIT} a \
                 browser keeps: store less in the session or use a server-side back end"
            ),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl RequestSession {
    /// The session of a request that presented `cookie` (the session cookie's value, if any).
    pub fn new(sessions: Sessions, cookie: Option<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                sessions,
                presented: cookie,
                session: Mutex::new(None),
                load_failed: AtomicBool::new(false),
            }),
        }
    }

    /// The session of a request with these headers: its cookie named as `settings` says.
    pub fn from_request_headers(
        sessions: Sessions,
        settings: &CookieSettings,
        headers: &HeaderMap,
    ) -> Self {
        Self::new(sessions, request_cookie(headers, settings.name()))
    }

    /// The session, loaded from the store on first use (one round trip if the request carried
    /// a well-formed cookie, none otherwise). An unknown, expired or forged cookie gives an
    /// empty session; only a failing store is an error (and the response then saves nothing).
    pub async fn lock(&self) -> Result<SessionGuard<'_>> {
        let mut guard = self.inner.session.lock().await;
        if guard.is_none() {
            match self
                .inner
                .sessions
                .load(self.inner.presented.as_deref())
                .await
            {
                Ok(session) => *guard = Some(session),
                Err(e) => {
                    self.inner.load_failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(MutexGuard::map(guard, |s| {
            s.as_mut().expect("loaded above")
        }))
    }

    /// Whether the handler has used the session (and so the store was asked for it).
    pub fn is_loaded(&self) -> bool {
        self.inner
            .session
            .try_lock()
            .map_or(true, |guard| guard.is_some())
    }

    /// The value under `key` as a `T`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.lock().await?.get(key)
    }

    /// Stores `value` under `key` (saved when the response is sent).
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<()> {
        self.lock().await?.insert(key, value)
    }

    /// Removes the value under `key`, returning it.
    pub async fn remove(&self, key: &str) -> Result<Option<Value>> {
        Ok(self.lock().await?.remove(key))
    }

    /// Logs `user_id` in, as Django's `auth.login`: a session with nobody logged in gets a new
    /// key (the key the client held before logging in becomes worthless: no session fixation);
    /// a session of another user is flushed (nothing of theirs carries over, and the key is new
    /// too); then the id is stored under [`USER_ID_KEY`]. Logging the same user in again
    /// changes nothing.
    pub async fn login(&self, user_id: &str) -> Result<()> {
        let mut session = self.lock().await?;
        match session.get::<String>(USER_ID_KEY).ok().flatten() {
            Some(current) if current == user_id => return Ok(()),
            Some(_) => session.flush().await?,
            None => session.cycle_key().await?,
        }
        session.insert(USER_ID_KEY, user_id)
    }

    /// The id [`login`](Self::login) stored, if a user is logged in.
    pub async fn user_id(&self) -> Result<Option<String>> {
        self.lock().await?.get(USER_ID_KEY)
    }

    /// Logs out, as Django's `auth.logout`: [`Session::flush`] (every value removed, the
    /// stored session deleted, the cookie deleted by the response).
    pub async fn logout(&self) -> Result<()> {
        self.lock().await?.flush().await
    }

    /// Completes the response of `status` with `headers`, as Django's
    /// `SessionMiddleware.process_response`: decides ([`decide`]) from what the handler did,
    /// saves (or, for an unchanged session renewed by `SESSION_SAVE_EVERY_REQUEST`, touches)
    /// the session, appends the session's `Set-Cookie` or the deletion cookie, and patches
    /// `Vary`. Never saves for a status ≥ 500.
    ///
    /// Waits for clones the handler still holds locked. On `Err`, `headers` may hold the
    /// `Vary`/cookie headers decided so far; the adapters replace the response.
    pub async fn finish(
        &self,
        settings: &CookieSettings,
        status: u16,
        headers: &mut HeaderMap,
    ) -> std::result::Result<(), Failure> {
        let mut slot = self.inner.session.lock().await;
        let had_cookie = self.inner.presented.is_some();
        let store = self.inner.sessions.store();
        if slot.is_none() {
            let well_formed = self
                .inner
                .presented
                .as_deref()
                .and_then(|raw| SessionKey::parse(raw, store.key_format()))
                .is_some();
            if well_formed && settings.save_every_request() && status < 500 {
                // Renewing needs the session's own expiry: load it as the handler would have.
                match self
                    .inner
                    .sessions
                    .load(self.inner.presented.as_deref())
                    .await
                {
                    Ok(session) => *slot = Some(session),
                    Err(e) => return Err(store_failure(e)),
                }
            } else {
                let outcome = Outcome {
                    had_cookie,
                    accessed: self.inner.load_failed.load(Ordering::Relaxed),
                    modified: false,
                    empty: !well_formed,
                    expire_at_browser_close: false,
                    expiry_age: 0,
                };
                apply_untouched(settings, &outcome, status, headers);
                return Ok(());
            }
        }
        let session = slot.as_mut().expect("loaded above");
        let accessed = session.is_accessed();
        let modified = session.is_modified();
        let outcome = Outcome {
            had_cookie,
            accessed,
            modified,
            empty: session.key().is_none() && session.is_empty(),
            expire_at_browser_close: session.expire_at_browser_close(),
            expiry_age: session.expiry_age(),
        };
        let decision = decide(&outcome, status, settings.save_every_request());
        if decision.vary_cookie {
            patch_vary_cookie(headers);
        }
        match decision.action {
            Action::Nothing => Ok(()),
            Action::DeleteCookie => {
                append_set_cookie(headers, &delete_cookie(settings));
                Ok(())
            }
            Action::SaveAndSetCookie { write, max_age } => {
                let written = match write {
                    Write::Full => session.save().await,
                    Write::Touch => session.touch().await,
                };
                match written {
                    Ok(()) => {}
                    // A touch finds the session logged out meanwhile: nothing of this request
                    // is lost; the cookie goes.
                    Err(e) if e.is_vanished() && write == Write::Touch => {
                        append_set_cookie(headers, &delete_cookie(settings));
                        return Ok(());
                    }
                    Err(e) if e.is_vanished() => {
                        tracing::info!(
                            "sessionkit-http: the session was deleted before this request saved \
                             it (a concurrent logout?); answering 400"
                        );
                        return Err(Failure::Interrupted);
                    }
                    Err(e) => return Err(store_failure(e)),
                }
                let Some(key) = session.key() else {
                    // Saved already expired: the store dropped it.
                    if had_cookie {
                        append_set_cookie(headers, &delete_cookie(settings));
                    }
                    return Ok(());
                };
                let header = set_cookie(settings, key.as_str(), max_age, UnixTime::now().as_secs());
                let size = "Set-Cookie: ".len() + header.len();
                if size > BROWSER_COOKIE_LIMIT {
                    tracing::error!(
                        size,
                        limit = BROWSER_COOKIE_LIMIT,
                        "sessionkit-http: the session cookie is too large for a browser; \
                         answering 500 (store less in the session or use a server-side back end)"
                    );
                    return Err(Failure::CookieTooLarge { size });
                }
                append_set_cookie(headers, &header);
                Ok(())
            }
        }
    }
}

/// The decision for a session the handler never loaded.
fn apply_untouched(
    settings: &CookieSettings,
    outcome: &Outcome,
    status: u16,
    headers: &mut HeaderMap,
) {
    let decision = decide(outcome, status, settings.save_every_request());
    if decision.vary_cookie {
        patch_vary_cookie(headers);
    }
    if decision.action == Action::DeleteCookie {
        append_set_cookie(headers, &delete_cookie(settings));
    }
}

fn store_failure(e: Error) -> Failure {
    tracing::warn!(
        error = %e,
        source = ?std::error::Error::source(&e).map(ToString::to_string),
        "sessionkit-http: the session store failed; answering 503"
    );
    Failure::Store(e)
}
