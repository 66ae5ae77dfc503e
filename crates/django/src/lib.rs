//! Django's session wire formats, so a Rust service shares sessions with a running Django
//! (the OpenStack Dashboard, say): what Django's `db` and `cached_db` engines keep in
//! `django_session.session_data`, what its `signed_cookies` engine puts in the cookie, the JSON
//! its serializer writes byte for byte, `_session_expiry`, and who is logged in.
//!
//! - [`signing`]: `django.core.signing` for HMAC-SHA256 — `Signer`, `TimestampSigner`,
//!   `dumps`/`loads` with `compress=True`, base62, `SECRET_KEY_FALLBACKS`.
//! - [`json`]: Django's `JSONSerializer`: compact, `\uXXXX` for every non-ASCII character,
//!   Python's float `repr`, read back as latin-1.
//! - [`session`]: a session dict ⇄ sessionkit's values and [`Expiry`](sessionkit_core::Expiry),
//!   and `SessionBase.encode`/`decode`.
//! - [`auth`]: `_auth_user_id` and the `_auth_user_hash` check Django makes on every request.
//!
//! Every format is tested against the values Django 5.2 writes (its own test vectors, time
//! fixed at 1700000000 and `SECRET_KEY = "django_tests_secret_key"`).
//!
//! ```
//! use sessionkit_core::{Data, Expiry, UnixTime};
//! use sessionkit_django::session::SessionData;
//!
//! let format = SessionData::new(b"django_tests_secret_key", []);
//! let data: Data = [("a test key", serde_json::json!("a test value"))].into_iter().collect();
//! let session_data = format.encode_at(&data, Expiry::Default, UnixTime::from_secs(1_700_000_000));
//! // What Django 5.2 writes for the same session at the same time:
//! assert_eq!(
//!     session_data,
//!     "eyJhIHRlc3Qga2V5IjoiYSB0ZXN0IHZhbHVlIn0:1r31eq:z3T5kuYwaLspnAAUpfRWpbinC-rn6c6P1Qf9PsCyZ2s"
//! );
//! let (back, expiry) = format.decode(&session_data).unwrap();
//! assert_eq!(back, data);
//! assert_eq!(expiry, Expiry::Default);
//! ```

pub mod auth;
mod codec;
mod cookie;
mod copies;
pub mod json;
mod pickle;
pub mod session;
mod settings;
pub mod signing;

pub use codec::DjangoCodec;
pub use cookie::{SignedCookieStore, MAX_COOKIE_VALUE};
pub use copies::DjangoCopies;
pub use settings::{DjangoSettings, Engine, SECRET_KEY_ENV, SECRET_KEY_FALLBACKS_ENV};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
