//! [`CookieStore`]: the [`Sealer`] (a client-side store) whose records travel in the cookie.

use std::sync::Arc;

use sessionkit_core::{Result, Sealer, UnixTime};

use crate::config::{Compression, CookieConfig, Protection};
use crate::seal::Seal;

/// Sessions kept in the cookie itself: the record, its issue time and its expiry, signed with
/// HMAC-SHA256 or encrypted with AES-256-GCM. Nothing is stored on the server.
///
/// The "key" the client holds is the whole signed value, so [`Session::key`] changes on every
/// save and must be sent back in `Set-Cookie` each time. Cheap to clone (one `Arc`).
///
/// A [`Sealer`], so a [`SessionStore`](sessionkit_core::SessionStore) as every client-side
/// store is: `delete` cannot revoke a cookie (a copy stays valid until it expires), `touch`
/// re-seals through the session layer, `exists` is `false`, there is nothing to clear.
///
/// [`Session::key`]: sessionkit_core::Session::key
#[derive(Debug, Clone)]
pub struct CookieStore {
    inner: Arc<Seal>,
}

impl CookieStore {
    /// A store with `config`. A secret shorter than
    /// [`MIN_SECRET_LEN`](crate::MIN_SECRET_LEN), an invalid cookie name, or a size limit that
    /// leaves too little room for the value is an [`ErrorKind::Config`](sessionkit_core::ErrorKind::Config) error.
    pub fn new(config: CookieConfig) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(Seal::new(&config)?),
        })
    }

    /// How new values are protected.
    pub fn protection(&self) -> Protection {
        self.inner.protection
    }

    /// When new values are compressed.
    pub fn compression(&self) -> Compression {
        self.inner.compression
    }

    /// The cookie name the size limit is computed for.
    pub fn cookie_name(&self) -> &str {
        &self.inner.cookie_name
    }

    /// The longest value this store issues: the size limit minus the cookie name, `=` and the
    /// attribute budget.
    pub fn max_value_len(&self) -> usize {
        self.inner.max_issued()
    }

    /// Seals `record` (the bytes [`Session`](sessionkit_core::Session) encodes) into a cookie
    /// value, issued now and valid until `expires_at` or the maximum age, whichever comes
    /// first. This is what [`create`](sessionkit_core::SessionStore::create) and
    /// [`update`](sessionkit_core::SessionStore::update) do, without the async wrapper.
    pub fn seal(&self, record: &[u8], expires_at: UnixTime) -> Result<String> {
        self.seal_record(record, expires_at, UnixTime::now())
    }

    /// The record inside a cookie value, if the value verifies and is still live; what
    /// [`load`](sessionkit_core::SessionStore::load) does, without the async wrapper. Never panics, whatever
    /// `value` holds.
    pub fn open(&self, value: &str) -> Option<Vec<u8>> {
        self.open_sealed(value, UnixTime::now())
            .map(|(record, _)| record)
    }
}

impl Sealer for CookieStore {
    fn name(&self) -> &'static str {
        "cookie"
    }

    fn max_sealed_len(&self) -> usize {
        self.inner.max_incoming()
    }

    fn seal_record(&self, record: &[u8], expires_at: UnixTime, now: UnixTime) -> Result<String> {
        self.inner.seal_at(record, expires_at, now)
    }

    fn open_sealed(&self, value: &str, now: UnixTime) -> Option<(Vec<u8>, UnixTime)> {
        match self.inner.open_expiring_at(value, now) {
            Ok(opened) => Some(opened),
            Err(reason) => {
                tracing::debug!(
                    target: "sessionkit::cookie",
                    reason = reason.as_str(),
                    len = value.len(),
                    "session cookie rejected; starting a new session"
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn open_sealed_logs_nothing_and_never_panics_on_garbage() {
        let store = CookieStore::new(CookieConfig::new(SECRET)).unwrap();
        let now = UnixTime::from_secs(1_700_000_000);
        for v in ["", "s1.", "e1.", "s1.A", "e1.AAAA", "x", "s1..", "s1.==="] {
            assert_eq!(store.open_sealed(v, now), None, "{v:?}");
        }
    }

    #[test]
    fn debug_shows_settings_but_no_key_material() {
        let store =
            CookieStore::new(CookieConfig::new(SECRET).with_fallback_secret(SECRET)).unwrap();
        let text = format!("{store:?}");
        assert!(text.contains("fallbacks: 1"), "{text}");
        assert!(text.contains("sessionid"), "{text}");
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }
}
