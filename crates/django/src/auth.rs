//! Who is logged in, as `django.contrib.auth` keeps it in the session: `_auth_user_id`,
//! `_auth_user_backend` and `_auth_user_hash` (an HMAC of the user's password hash, so that a
//! password change logs out every other session).

use ring::hmac;
use sessionkit_core::Data;

/// `_auth_user_id`: the user's primary key, as a string.
pub const USER_ID: &str = "_auth_user_id";
/// `_auth_user_backend`: the dotted path of the authentication backend.
pub const USER_BACKEND: &str = "_auth_user_backend";
/// `_auth_user_hash`: `get_session_auth_hash()` when the user logged in.
pub const USER_HASH: &str = "_auth_user_hash";
/// The key salt of `AbstractBaseUser.get_session_auth_hash`.
pub const AUTH_HASH_SALT: &str =
    "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash";

/// The user a Django session says is logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    /// `_auth_user_id` (Django stores the primary key as a string).
    pub user_id: String,
    /// `_auth_user_backend`.
    pub backend: String,
    /// `_auth_user_hash`, hex.
    pub hash: String,
}

impl LoggedIn {
    /// The login recorded in `data`, if it holds all three keys as strings.
    pub fn from_data(data: &Data) -> Option<Self> {
        let text = |key: &str| data.get(key)?.as_str().map(str::to_owned);
        Some(Self {
            user_id: text(USER_ID)?,
            backend: text(USER_BACKEND)?,
            hash: text(USER_HASH)?,
        })
    }

    /// Whether the session's hash is the one `password` (the user's stored password hash, as
    /// in Django's `user.password`) gives with `secret` or one of `fallbacks` — what
    /// `django.contrib.auth.get_user` checks on every request (compared in constant time).
    /// `false` means the password changed since this login: treat the session as logged out.
    pub fn hash_matches<'a>(
        &self,
        password: &str,
        secret: &[u8],
        fallbacks: impl IntoIterator<Item = &'a [u8]>,
    ) -> bool {
        let Some(tag) = decode_hex(&self.hash) else {
            return false;
        };
        let matches = |secret: &[u8]| hmac::verify(&key(secret), password.as_bytes(), &tag).is_ok();
        matches(secret) || fallbacks.into_iter().any(matches)
    }
}

/// `get_session_auth_hash()` for a user whose stored password hash is `password`: what a Rust
/// service writes as `_auth_user_hash` when it logs a user in.
pub fn session_auth_hash(password: &str, secret: &[u8]) -> String {
    hmac::sign(&key(secret), password.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn key(secret: &[u8]) -> hmac::Key {
    crate::signing::salted_key(AUTH_HASH_SALT.as_bytes(), secret)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const PASSWORD: &str = "pbkdf2_sha256$870000$salt$hash";
    /// Computed independently with Python's hashlib and hmac (Django's `salted_hmac`).
    const HASH: &str = "586ff4feba90de7b3a3d30ab458792e32e1f5050ed0ac562fe7f7018c535c498";

    #[test]
    fn reads_the_login_and_checks_its_hash() {
        assert_eq!(
            session_auth_hash(PASSWORD, b"django_tests_secret_key"),
            HASH
        );
        let data: Data = [
            (USER_ID, json!("42")),
            (
                USER_BACKEND,
                json!("django.contrib.auth.backends.ModelBackend"),
            ),
            (USER_HASH, json!(HASH)),
        ]
        .into_iter()
        .collect();
        let login = LoggedIn::from_data(&data).unwrap();
        assert_eq!(login.user_id, "42");
        assert!(login.hash_matches(PASSWORD, b"django_tests_secret_key", []));
        assert!(!login.hash_matches(
            "pbkdf2_sha256$870000$salt$other",
            b"django_tests_secret_key",
            []
        ));
        assert!(!login.hash_matches(PASSWORD, b"rotated", []));
        assert!(login.hash_matches(PASSWORD, b"rotated", [&b"django_tests_secret_key"[..]]));
        let tampered = LoggedIn {
            hash: "zz".into(),
            ..login
        };
        assert!(!tampered.hash_matches(PASSWORD, b"django_tests_secret_key", []));
        assert_eq!(LoggedIn::from_data(&Data::new()), None);
    }
}
