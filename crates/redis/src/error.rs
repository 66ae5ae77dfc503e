//! How redis-rs errors become [`sessionkit_core::Error`]s.

use redis::{ErrorKind as K, RedisError, ServerErrorKind as S};
use sessionkit_core::{Error, ErrorKind};

/// The back-end name every error of this crate carries.
pub(crate) const BACKEND: &str = "redis";

/// Maps a redis-rs error by what a caller can do about it:
///
/// - I/O timeouts (connect or response) → [`ErrorKind::Timeout`];
/// - refused, reset or dropped connections, other I/O errors, a cluster that is down, failing
///   over, resharding (`TRYAGAIN`), or a server still loading its data set →
///   [`ErrorKind::Unavailable`];
/// - authentication or permission failures and invalid client settings → [`ErrorKind::Config`];
/// - anything else (an unexpected reply, `OOM`, `WRONGTYPE`...) → [`ErrorKind::Backend`].
///
/// The redis-rs error is always kept as the source, never folded into the message.
/// Whether `e` is the server's `NOSCRIPT` (an `EVALSHA` of a script it has not cached).
pub(crate) fn is_noscript(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<RedisError>())
        .is_some_and(|r| r.kind() == K::Server(S::NoScript))
}

pub(crate) fn map(e: RedisError) -> Error {
    if e.is_timeout() {
        return Error::timeout(BACKEND).with_source(e);
    }
    match e.kind() {
        K::Io
        | K::ClusterConnectionNotFound
        | K::Server(S::ClusterDown | S::MasterDown | S::TryAgain | S::BusyLoading | S::ReadOnly) => {
            Error::unavailable(BACKEND, e)
        }
        K::AuthenticationFailed | K::InvalidClientConfig | K::Server(S::NoPerm) => {
            Error::new(ErrorKind::Config, BACKEND)
                .with_detail(
                    "the server refused the credentials or the client settings are invalid",
                )
                .with_source(e)
        }
        _ if e.to_string().contains("DB index is out of range") => {
            Error::new(ErrorKind::Config, BACKEND)
                .with_detail(
                    "the server has no database with the index in the URL: use a lower one, \
                     or raise the server's `databases` setting",
                )
                .with_source(e)
        }
        _ if matches!(e.code(), Some("NOAUTH" | "WRONGPASS")) => {
            Error::new(ErrorKind::Config, BACKEND)
                .with_detail("the server requires other credentials: set them in the URL")
                .with_source(e)
        }
        _ => Error::backend(BACKEND, e),
    }
}

/// The operation did not finish within the store's operation timeout.
pub(crate) fn deadline(elapsed: tokio::time::error::Elapsed) -> Error {
    Error::timeout(BACKEND).with_source(elapsed)
}

/// A reply of a shape the command cannot give (a proxy or a non-redis server answering).
pub(crate) fn unexpected(command: &'static str) -> Error {
    Error::new(ErrorKind::Backend, BACKEND).with_detail(format!("unexpected reply to {command}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn io_errors_are_unavailable_and_timeouts_are_timeouts() {
        let refused = RedisError::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(map(refused).kind(), ErrorKind::Unavailable);
        let reset = RedisError::from(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(map(reset).kind(), ErrorKind::Unavailable);
        let timed_out = RedisError::from(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(map(timed_out).kind(), ErrorKind::Timeout);
    }

    #[test]
    fn source_is_kept_and_not_in_display() {
        let err = map(RedisError::from(io::Error::other("boom 42")));
        assert!(!err.to_string().contains("boom 42"));
        let source = std::error::Error::source(&err).expect("source kept");
        assert!(source.to_string().contains("boom 42"));
    }
}
