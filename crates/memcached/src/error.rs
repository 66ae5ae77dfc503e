//! Mapping the memcache client's errors into [`sessionkit_core::Error`].

use std::fmt;

use memcache::exp::Error as McError;
use sessionkit_core::{Error, ErrorKind};

use crate::BACKEND;

/// The server answered something the store did not expect for the command it sent.
#[derive(Debug)]
pub(crate) struct UnexpectedReply(pub(crate) &'static str);

impl fmt::Display for UnexpectedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected memcached reply to {}", self.0)
    }
}

impl std::error::Error for UnexpectedReply {}

/// Maps a client error. Keys never reach the result: the client's `Timeout` and `Ambiguous`
/// variants carry the (secret) session key, so they are unwrapped rather than kept as sources.
pub(crate) fn from_client(error: McError) -> Error {
    match error {
        McError::Timeout { .. } => Error::timeout(BACKEND),
        McError::Ambiguous { source, .. } => {
            let sent = matches!(*source, McError::Io(_) | McError::Timeout { .. });
            let mapped = from_client(*source);
            if sent {
                mapped.with_detail("the request was sent; whether the server applied it is unknown")
            } else {
                mapped
            }
        }
        McError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            Error::timeout(BACKEND).with_source(io)
        }
        McError::Io(io) => Error::unavailable(BACKEND, io),
        McError::Server(ref message) if message.contains("too large") => {
            Error::new(ErrorKind::TooLarge, BACKEND)
                .with_detail("the server refused the item as larger than its item size limit (-I)")
                .with_source(error)
        }
        other => Error::backend(BACKEND, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;
    use std::io;

    #[test]
    fn kinds() {
        let key = b"sessionkit:secretsecretsecret".to_vec();
        let t = from_client(McError::Timeout { key: key.clone() });
        assert!(t.is_timeout());
        assert!(t.source().is_none());
        let amb = from_client(McError::Ambiguous {
            key: key.clone(),
            source: Box::new(McError::Io(io::Error::from(io::ErrorKind::ConnectionReset))),
        });
        assert_eq!(amb.kind(), ErrorKind::Unavailable);
        assert!(amb.to_string().contains("unknown"));
        let mut src = amb.source();
        while let Some(s) = src {
            assert!(!s.to_string().contains("secret"), "{s}");
            src = s.source();
        }
        let refused = from_client(McError::Io(io::Error::from(
            io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(refused.kind(), ErrorKind::Unavailable);
        let slow = from_client(McError::Io(io::Error::from(io::ErrorKind::TimedOut)));
        assert!(slow.is_timeout());
        let big = from_client(McError::Ambiguous {
            key,
            source: Box::new(McError::Server("object too large for cache".into())),
        });
        assert!(big.is_too_large());
        assert!(!big.to_string().contains("unknown"));
        let oom = from_client(McError::Server("out of memory storing object".into()));
        assert_eq!(oom.kind(), ErrorKind::Backend);
        let proto = from_client(McError::Protocol("garbage".into()));
        assert_eq!(proto.kind(), ErrorKind::Backend);
        assert!(proto.source().is_some());
    }
}
