//! The one error type every sessionkit crate returns.

use std::error::Error as StdError;
use std::fmt;

/// A boxed error from a back end's client library, kept as the [`Error::source`](StdError::source).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The result type of every fallible sessionkit operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, for callers that branch on it.
///
/// The list may grow, so match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `create` found the key already taken. [`Session::save`](crate::Session::save) draws a new
    /// key and retries by itself, so callers only see this when the store keeps reporting it.
    Collision,
    /// `update` or `touch` found no record: the session was deleted (a logout in a concurrent
    /// request, an expiry, an eviction) after this request loaded it. Django's `UpdateError`.
    Vanished,
    /// `update` found the record changed by another request since this one loaded it (its
    /// version moved on), and wrote nothing. [`Session::save`](crate::Session::save) merges and
    /// retries by itself under the default [`ConflictPolicy::Merge`](crate::ConflictPolicy);
    /// callers see this under [`ConflictPolicy::Fail`](crate::ConflictPolicy) (answer 409 or
    /// retry the request) or when merging kept losing the race.
    Conflict,
    /// Stored bytes could not be decoded into a session record.
    Decode,
    /// A session record could not be encoded.
    Encode,
    /// A value could not be converted to or from the type the caller asked for.
    Value,
    /// The back end could not be reached or refused the request (connection refused or reset,
    /// server shutting down, pool exhausted).
    Unavailable,
    /// The back end did not answer within the configured time.
    Timeout,
    /// The store or session configuration is invalid.
    Config,
    /// The record is larger than the back end (or its configuration) accepts.
    TooLarge,
    /// Any other failure reported by the back end.
    Backend,
    /// A store was called with what the contract forbids — a key made for another store's
    /// [`KeyFormat`](crate::KeyFormat), an `expires_at` that has already passed — and the call
    /// was refused before reaching it ([`CheckedStore`](crate::CheckedStore)). A bug in the
    /// caller: [`Session`](crate::Session) never does this.
    Invalid,
}

/// The error of every sessionkit operation: a kind, the back end that raised it, and the
/// underlying client error (if any) as its [`source`](StdError::source).
///
/// `Display` says what happened and what to do about it; the source error is never folded into
/// the message, so walk [`StdError::source`] to log the whole chain.
pub struct Error {
    kind: ErrorKind,
    backend: &'static str,
    detail: Option<String>,
    source: Option<BoxError>,
}

impl Error {
    /// An error of `kind`, raised by `backend` (such as `"redis"`), with no further cause.
    pub fn new(kind: ErrorKind, backend: &'static str) -> Self {
        Self {
            kind,
            backend,
            detail: None,
            source: None,
        }
    }

    /// Attaches the client library's error as the source.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Attaches a short detail of our own (a size, a limit, a setting's name), shown in `Display`.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The key was taken (see [`ErrorKind::Collision`]).
    pub fn collision(backend: &'static str) -> Self {
        Self::new(ErrorKind::Collision, backend)
    }

    /// The record vanished (see [`ErrorKind::Vanished`]).
    pub fn vanished(backend: &'static str) -> Self {
        Self::new(ErrorKind::Vanished, backend)
    }

    /// The record changed since it was loaded (see [`ErrorKind::Conflict`]).
    pub fn conflict(backend: &'static str) -> Self {
        Self::new(ErrorKind::Conflict, backend)
    }

    /// The back end is unreachable, caused by `source`.
    pub fn unavailable(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Unavailable, backend).with_source(source)
    }

    /// The back end did not answer in time.
    pub fn timeout(backend: &'static str) -> Self {
        Self::new(ErrorKind::Timeout, backend)
    }

    /// The configuration is invalid; `detail` names what is wrong.
    pub fn config(backend: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, backend).with_detail(detail)
    }

    /// The back end failed in some other way, caused by `source`.
    pub fn backend(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Backend, backend).with_source(source)
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The back end that raised the error (`"core"` for errors of the session itself).
    pub fn backend_name(&self) -> &'static str {
        self.backend
    }

    /// The key was already taken.
    pub fn is_collision(&self) -> bool {
        self.kind == ErrorKind::Collision
    }

    /// The session was deleted concurrently; answer the request with 400 Bad Request, as Django
    /// does with `SessionInterrupted`.
    pub fn is_vanished(&self) -> bool {
        self.kind == ErrorKind::Vanished
    }

    /// Another request changed the session since this one loaded it; nothing was written.
    pub fn is_conflict(&self) -> bool {
        self.kind == ErrorKind::Conflict
    }

    /// The back end is unreachable or timed out: a transient failure worth a 503 and a retry.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable | ErrorKind::Timeout)
    }

    /// The back end did not answer in time.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// The record is larger than the back end accepts.
    pub fn is_too_large(&self) -> bool {
        self.kind == ErrorKind::TooLarge
    }

    /// The call was refused as invalid before reaching the store (see [`ErrorKind::Invalid`]).
    pub fn is_invalid(&self) -> bool {
        self.kind == ErrorKind::Invalid
    }

    /// The configuration is invalid.
    pub fn is_config(&self) -> bool {
        self.kind == ErrorKind::Config
    }

    fn advice(&self) -> &'static str {
        match self.kind {
            ErrorKind::Collision => {
                "session key already taken; sessionkit retries with fresh keys, so a repeated \
                 collision means the store is misbehaving (check that it really stores what it acknowledges)"
            }
            ErrorKind::Vanished => {
                "the session was deleted before the request completed (the user may have logged \
                 out in a concurrent request); answer 400 Bad Request and do not set the cookie"
            }
            ErrorKind::Conflict => {
                "another request changed the session since this one loaded it, and nothing was \
                 written; retry the request (or answer 409 Conflict), or keep the default merge \
                 policy, which re-applies this request's changes by itself"
            }
            ErrorKind::Decode => {
                "stored session bytes could not be decoded; they were corrupted or written by \
                 something else"
            }
            ErrorKind::Encode => "the session record could not be encoded",
            ErrorKind::Value => {
                "a session value could not be converted to or from the requested type; check \
                 that the type read matches the type stored"
            }
            ErrorKind::Unavailable => {
                "session store unavailable; check that the server is running and reachable \
                 (the request can be retried)"
            }
            ErrorKind::Timeout => {
                "session store did not answer in time; check the server's load and the \
                 configured timeouts (the request can be retried)"
            }
            ErrorKind::Config => "invalid session configuration; fix the setting named here",
            ErrorKind::TooLarge => {
                "session record too large for this back end; store less in the session or \
                 choose a back end with a larger limit"
            }
            ErrorKind::Backend => "session store error; see the source error for the cause",
            ErrorKind::Invalid => {
                "the session store was called with what its contract forbids, and nothing was \
                 sent; use Session/Sessions, which never do this, or fix the call named here"
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.backend, self.advice())?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("backend", &self.backend);
        if let Some(detail) = &self.detail {
            d.field("detail", detail);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_ref()
            .map(|e| &**e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_backend_and_advice_but_not_source() {
        let err = Error::unavailable("redis", std::io::Error::other("connection refused"));
        let text = err.to_string();
        assert!(
            text.starts_with("redis: session store unavailable"),
            "{text}"
        );
        assert!(!text.contains("connection refused"), "{text}");
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some("connection refused")
        );
        assert!(err.is_unavailable());
        assert!(!err.is_vanished());
    }

    #[test]
    fn detail_is_shown() {
        let err = Error::new(ErrorKind::TooLarge, "cookie").with_detail("5012 bytes > 4096");
        assert!(err.to_string().ends_with("(5012 bytes > 4096)"));
        assert!(err.is_too_large());
    }
}
