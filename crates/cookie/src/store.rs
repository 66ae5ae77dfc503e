//! [`CookieStore`]: the [`SessionStore`] whose records travel in the cookie.

use std::sync::Arc;

use async_trait::async_trait;
use sessionkit_core::{
    Error, ErrorKind, Expected, Housekeeping, KeyFormat, Loaded, Result, SessionKey, SessionStore,
    StoreStats, Stored, UnixTime,
};

use crate::config::{Compression, CookieConfig, Protection};
use crate::seal::Sealer;

/// Sessions kept in the cookie itself: the record, its issue time and its expiry, signed with
/// HMAC-SHA256 or encrypted with AES-256-GCM. Nothing is stored on the server.
///
/// The "key" the client holds is the whole signed value, so [`Session::key`] changes on every
/// save and must be sent back in `Set-Cookie` each time. Cheap to clone (one `Arc`).
///
/// How it fills the [`SessionStore`] contract:
///
/// | method | does |
/// |---|---|
/// | [`create`](SessionStore::create), [`update`](SessionStore::update) | seal the record; the returned key is the cookie value (nothing can collide or vanish). A value over the size limit is an [`ErrorKind::TooLarge`] error |
/// | [`load`](SessionStore::load) | verify and return the record, or `None` for anything forged, tampered, truncated, expired, too old, too long or signed with another key or salt |
/// | [`delete`](SessionStore::delete) | nothing: a cookie cannot be revoked ([`Session::flush`] drops the key so the cookie is deleted; a copy stays valid until it expires) |
/// | [`touch`](SessionStore::touch) | nothing: [`Session::touch`] re-saves sessions of client-side stores, which re-issues the cookie with a new expiry |
/// | [`exists`](SessionStore::exists) | `false`, as Django's `signed_cookies` |
/// | [`clear_expired`](SessionStore::clear_expired) | `0`: there is nothing to clear |
///
/// [`Session::key`]: sessionkit_core::Session::key
/// [`Session::flush`]: sessionkit_core::Session::flush
/// [`Session::touch`]: sessionkit_core::Session::touch
#[derive(Debug, Clone)]
pub struct CookieStore {
    inner: Arc<Sealer>,
}

impl CookieStore {
    /// A store with `config`. A secret shorter than
    /// [`MIN_SECRET_LEN`](crate::MIN_SECRET_LEN), an invalid cookie name, or a size limit that
    /// leaves too little room for the value is an [`ErrorKind::Config`] error.
    pub fn new(config: CookieConfig) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(Sealer::new(&config)?),
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
    /// first. This is what [`create`](SessionStore::create) and
    /// [`update`](SessionStore::update) do, without the async wrapper.
    pub fn seal(&self, record: &[u8], expires_at: UnixTime) -> Result<String> {
        self.inner.seal_at(record, expires_at, UnixTime::now())
    }

    /// The record inside a cookie value, if the value verifies and is still live; what
    /// [`load`](SessionStore::load) does, without the async wrapper. Never panics, whatever
    /// `value` holds.
    pub fn open(&self, value: &str) -> Option<Vec<u8>> {
        self.open_at(value, UnixTime::now())
            .map(|(record, _)| record)
    }

    /// The record and the last second it is live (its sealed expiry, or its issue time plus
    /// the maximum age if that comes first).
    fn open_at(&self, value: &str, now: UnixTime) -> Option<(Vec<u8>, UnixTime)> {
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

    fn key_for(&self, value: String) -> Result<SessionKey> {
        SessionKey::parse(&value, self.key_format()).ok_or_else(|| {
            Error::new(ErrorKind::Encode, "cookie")
                .with_detail("a sealed value does not match the store's key format")
        })
    }
}

#[async_trait]
impl SessionStore for CookieStore {
    fn key_format(&self) -> KeyFormat {
        KeyFormat::Token {
            max_len: self.inner.max_incoming(),
        }
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
        Ok(self
            .open_at(key.as_str(), UnixTime::now())
            .map(|(record, expires_at)| Loaded::untracked(record, expires_at)))
    }

    async fn create(
        &self,
        _key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<Stored> {
        Ok(Stored::untracked(
            self.key_for(self.seal(record, expires_at)?)?,
        ))
    }

    /// A new sealed value; `expected` cannot be checked (the client holds the state, and
    /// every request may present an older cookie), so the last response wins, as with Django.
    async fn update(
        &self,
        _key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        _expected: Expected,
    ) -> Result<Stored> {
        Ok(Stored::untracked(
            self.key_for(self.seal(record, expires_at)?)?,
        ))
    }

    /// Does nothing: a cookie's expiry is sealed inside it, so moving it means issuing a new
    /// value, which [`Session::touch`](sessionkit_core::Session::touch) does by saving.
    async fn touch(&self, _key: &SessionKey, _expires_at: UnixTime) -> Result<()> {
        Ok(())
    }

    /// Does nothing: nothing is stored on the server, so a value cannot be revoked before it
    /// expires (the replay window; see the crate docs).
    async fn delete(&self, _key: &SessionKey) -> Result<()> {
        Ok(())
    }

    /// Always `false`: the server keeps no record to look up (Django's `signed_cookies` does
    /// the same).
    async fn exists(&self, _key: &SessionKey) -> Result<bool> {
        Ok(false)
    }

    /// Always `0`: expired values are rejected when presented and there is nothing to clear.
    async fn clear_expired(&self) -> Result<u64> {
        Ok(0)
    }

    fn housekeeping(&self) -> Housekeeping {
        Housekeeping::ClientSide
    }

    async fn stats(&self) -> Result<StoreStats> {
        let mut stats = StoreStats::new("cookie");
        stats.housekeeping = Some(Housekeeping::ClientSide);
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn open_at_logs_nothing_and_never_panics_on_garbage() {
        let store = CookieStore::new(CookieConfig::new(SECRET)).unwrap();
        let now = UnixTime::from_secs(1_700_000_000);
        for v in ["", "s1.", "e1.", "s1.A", "e1.AAAA", "x", "s1..", "s1.==="] {
            assert_eq!(store.open_at(v, now), None, "{v:?}");
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
