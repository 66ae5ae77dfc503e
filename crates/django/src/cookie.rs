//! [`SignedCookieStore`]: Django's `signed_cookies` engine — the session travels in the cookie,
//! signed as Django signs it, so a cookie either side issued is a session on the other.

use std::time::Duration;

use sessionkit_core::{Error, ErrorKind, Result, Sealer, UnixTime};

use crate::session::SIGNED_COOKIES_SALT;
use crate::signing::{Refused, Signer};

/// The longest cookie value accepted or issued: what every browser keeps for one cookie
/// (name, value and attributes share 4096 bytes; a longer value would be dropped silently).
pub const MAX_COOKIE_VALUE: usize = 4000;

/// Sessions in the cookie, in Django's `signed_cookies` format:
/// `signing.dumps(session_dict, salt="django.contrib.sessions.backends.signed_cookies",
/// compress=True)` — the session JSON (written by [`DjangoCodec::json`](crate::DjangoCodec::json)),
/// zlib-compressed when shorter, with the time it was signed, under an HMAC-SHA256 of Django's
/// `SECRET_KEY`. A value signed with a `SECRET_KEY_FALLBACKS` key is accepted too.
///
/// As in Django, a cookie is valid for `SESSION_COOKIE_AGE` seconds after it was signed, at
/// most — the age is inclusive, and a session's own expiry (`set_expiry`) does not shorten it
/// on the server (Django ticket #19201; it sets only the cookie's `Max-Age`). Nothing is kept
/// on the server: `delete` cannot revoke a cookie, `touch` re-signs it (the session layer
/// saves), `exists` is `false`.
///
/// ```
/// use std::time::Duration;
/// use sessionkit_core::{SessionConfig, Sessions};
/// use sessionkit_django::{DjangoCodec, SignedCookieStore};
///
/// # async fn demo() -> sessionkit_core::Result<()> {
/// let age = Duration::from_secs(1_209_600); // SESSION_COOKIE_AGE
/// let store = SignedCookieStore::new(b"the Django SECRET_KEY", [], age);
/// let config = SessionConfig::new()
///     .with_cookie_age(age)
///     .with_only_codec(DjangoCodec::json());
/// let sessions = Sessions::with_config(store, config);
/// let mut session = sessions.load(Some("eyJhIjoxfQ:1r31eq:wrong")).await?; // tampered: no session
/// assert!(session.is_empty());
/// session.insert("a", 1)?;
/// session.save().await?;
/// let cookie = session.key().unwrap().as_str().to_owned(); // what Django's middleware reads
/// assert!(cookie.starts_with("eyJhIjoxfQ:"));
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SignedCookieStore {
    signer: Signer,
    max_age: i64,
}

impl SignedCookieStore {
    /// With Django's `SECRET_KEY`, `SECRET_KEY_FALLBACKS` and `SESSION_COOKIE_AGE` (whole
    /// seconds).
    pub fn new<'a>(
        secret: &[u8],
        fallbacks: impl IntoIterator<Item = &'a [u8]>,
        cookie_age: Duration,
    ) -> Self {
        Self {
            signer: Signer::new(SIGNED_COOKIES_SALT, secret, fallbacks),
            max_age: i64::try_from(cookie_age.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// The cookie value for `json` (a session dict as Django's serializer writes it), signed
    /// at `now`.
    pub fn sign_at(&self, json: &[u8], now: UnixTime) -> String {
        self.signer.dumps_at(json, true, now)
    }

    /// The session JSON inside a cookie value and the last second it is valid, or why it is
    /// refused (tampered, signed with another key or salt, older than the cookie age).
    pub fn open_at(&self, value: &str, now: UnixTime) -> Result<(Vec<u8>, UnixTime), Refused> {
        let (json, signed_at) = self.signer.loads_at(value, Some(self.max_age), now)?;
        Ok((json, signed_at.add_secs(self.max_age)))
    }
}

impl Sealer for SignedCookieStore {
    fn name(&self) -> &'static str {
        "django-signed-cookies"
    }

    fn max_sealed_len(&self) -> usize {
        MAX_COOKIE_VALUE
    }

    /// The session JSON signed at `now`; the client holds the state, so the last response
    /// wins, as with Django. `expires_at` is not sealed: Django's cookie is valid for the cookie
    /// age after it was signed, whatever the session's own expiry.
    fn seal_record(&self, record: &[u8], _expires_at: UnixTime, now: UnixTime) -> Result<String> {
        let value = self.sign_at(record, now);
        if value.len() > MAX_COOKIE_VALUE {
            return Err(
                Error::new(ErrorKind::TooLarge, "django").with_detail(format!(
                    "the signed session cookie would be {} bytes, over the {MAX_COOKIE_VALUE} a \
                 browser keeps; store less in the session or use a server-side engine",
                    value.len()
                )),
            );
        }
        Ok(value)
    }

    fn open_sealed(&self, value: &str, now: UnixTime) -> Option<(Vec<u8>, UnixTime)> {
        match self.open_at(value, now) {
            Ok(opened) => Some(opened),
            Err(reason) => {
                tracing::debug!(
                    target: "sessionkit::django",
                    ?reason,
                    len = value.len(),
                    "Django session cookie refused; starting a new session"
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"django_tests_secret_key";
    const T: UnixTime = UnixTime::from_secs(1_700_000_000);

    #[test]
    fn valid_for_exactly_the_cookie_age() {
        let store = SignedCookieStore::new(SECRET, [], Duration::from_secs(100));
        let value = store.sign_at(br#"{"a":1}"#, T);
        assert_eq!(
            store.open_at(&value, T.add_secs(100)),
            Ok((br#"{"a":1}"#.to_vec(), T.add_secs(100)))
        );
        assert_eq!(
            store.open_at(&value, T.add_secs(101)),
            Err(Refused::Expired)
        );
        let other_salt = Signer::new("another salt", SECRET, []).dumps_at(b"{}", true, T);
        assert_eq!(store.open_at(&other_salt, T), Err(Refused::BadSignature));
    }
}
