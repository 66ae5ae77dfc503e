//! [`Middleware`]: what every framework adapter holds and does per request, once.

use http::HeaderMap;
use sessionkit_core::{Result, Sessions};

use crate::handle::{FailureResponses, RequestSession};
use crate::settings::CookieSettings;

/// An adapter's whole state: the sessions, the (checked) cookie settings and the failure
/// responses, with the two steps of every request — [`start`](Self::start) from the request's
/// headers, [`finish`](Self::finish) on the response's. Cheap to clone behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Middleware {
    sessions: Sessions,
    settings: CookieSettings,
    failures: FailureResponses,
}

impl Middleware {
    /// Sessions from `sessions`, in cookies described by `settings` (refused with a
    /// [`Config`](sessionkit_core::ErrorKind::Config) error if a browser would drop them), with
    /// the default [`FailureResponses`].
    pub fn new(sessions: Sessions, settings: CookieSettings) -> Result<Self> {
        settings.check()?;
        Ok(Self {
            sessions,
            settings,
            failures: FailureResponses::new(),
        })
    }

    /// What the client gets when the session cannot be completed.
    pub fn with_failure_responses(mut self, failures: FailureResponses) -> Self {
        self.failures = failures;
        self
    }

    /// The sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The cookie settings.
    pub fn settings(&self) -> &CookieSettings {
        &self.settings
    }

    /// The session of a request with these headers (its cookie, as the settings name it);
    /// nothing is loaded yet.
    pub fn start(&self, request_headers: &HeaderMap) -> RequestSession {
        RequestSession::from_request_headers(self.sessions.clone(), &self.settings, request_headers)
    }

    /// Completes a response of `status` with `headers` ([`RequestSession::finish`]); when the
    /// session cannot be completed, the response that replaces the handler's.
    pub async fn finish(
        &self,
        session: &RequestSession,
        status: u16,
        headers: &mut HeaderMap,
    ) -> std::result::Result<(), http::Response<String>> {
        session
            .finish(&self.settings, status, headers)
            .await
            .map_err(|failure| self.failures.response(&failure))
    }
}
