//! Sessions that travel in the cookie, for [sessionkit](https://github.com/sessionkit/sessionkit) (Django's
//! `django.contrib.sessions` semantics for Rust web services): Django's `signed_cookies` back
//! end, plus encryption, key rotation, server-enforced expiry and a size check.
//!
//! Most applications use the `sessionkit` facade with its `cookie` feature instead of this
//! crate directly.
//!
//! The whole session record — its values, its own expiry setting, the time it was issued and
//! the time it expires — is sealed into the cookie value with HMAC-SHA256 ([`Protection::Signed`],
//! readable by the client but not changeable) or AES-256-GCM ([`Protection::Encrypted`], neither
//! readable nor changeable). Nothing is stored on the server, so there is nothing to run,
//! share or clean up, at the price of a replay window: a copied cookie stays valid until it
//! expires, whatever the server does (see below).
//!
//! ```
//! use sessionkit_core::{Expiry, Sessions};
//! use sessionkit_cookie::{CookieConfig, CookieStore, Protection};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> sessionkit_core::Result<()> {
//! // In production the secret comes from your secret store: 32 random bytes at least.
//! let store = CookieStore::new(
//!     CookieConfig::new("kP3v9QeJ2xR7mZ0tL5nW8yB4cF6hA1sD")
//!         .with_protection(Protection::Encrypted),
//! )?;
//! let sessions = Sessions::new(store);
//!
//! // A request that logs a user in.
//! let mut session = sessions.create();
//! session.insert("user_id", 42)?;
//! session.set_expiry(Expiry::AfterInactivity(3600));
//! session.save().await?;
//! // The session itself is the cookie value: send it in `Set-Cookie` after every save.
//! let cookie = session.key().expect("saved").as_str().to_owned();
//! assert!(cookie.starts_with("e1."));
//!
//! // A later request presenting the cookie.
//! let session = sessions.load(Some(&cookie)).await?;
//! assert_eq!(session.get::<u32>("user_id")?, Some(42));
//!
//! // A tampered cookie is no session.
//! let mut forged = cookie.clone();
//! forged.replace_range(10..11, if &cookie[10..11] == "A" { "B" } else { "A" });
//! assert!(sessions.load(Some(&forged)).await?.is_empty());
//! # Ok(()) }
//! ```
//!
//! # Security model
//!
//! - **Integrity.** A value is accepted only if its HMAC-SHA256 (or AES-GCM tag) verifies, in
//!   constant time, under a key derived from the secret. Tampered, truncated, forged or
//!   garbage values, values of another salt or format, and over-long values all load as "no
//!   session", never as an error and never with a panic.
//! - **Keys.** Secrets must be at least [`MIN_SECRET_LEN`] bytes. Each is turned into one key
//!   per purpose with HKDF-SHA256 and the [salt](CookieConfig::with_salt), so the secret signs
//!   nothing but session cookies. [Fallback secrets](CookieConfig::with_fallback_secret) verify
//!   but never sign: rotate without logging anyone out.
//! - **Expiry, enforced by the server.** Every value carries its issue time and the session's
//!   own expiry, both under the signature. A value is refused once it is older than the
//!   [maximum age](CookieConfig::with_max_age) (at exactly the maximum age it is still valid,
//!   one second later it is not) or once the session's own expiry
//!   ([`Session::set_expiry`](sessionkit_core::Session::set_expiry)) has passed — unlike
//!   Django, which only enforces its global cookie age (ticket #27775).
//! - **Replay window.** The server keeps nothing, so it cannot revoke a value: `flush()` at
//!   logout deletes the browser's cookie, but a copy taken earlier stays valid until it
//!   expires. Keep the maximum age (or the sessions' own expiry) short if that matters, store
//!   revocable state (a per-user "sessions valid after" time) server-side, or use a server-side
//!   back end.
//! - **Confidentiality.** Signed values are only base64: the client can read everything in
//!   the session. Use [`Protection::Encrypted`] when it must not.
//! - **Size.** A save whose cookie (name, `=`, value and the
//!   [attribute budget](CookieConfig::with_attribute_budget)) would exceed 4,096 bytes fails
//!   with [`ErrorKind::TooLarge`](sessionkit_core::ErrorKind::TooLarge) naming both figures,
//!   instead of producing a cookie the browser would silently drop.
//!
//! The value format, the rotation procedure and the size budget are described in the
//! repository's `docs/cookie.md`.

mod config;
mod keys;
mod seal;
mod store;

#[cfg(test)]
mod tests;

pub use config::{
    Compression, CookieConfig, Protection, BROWSER_COOKIE_LIMIT, DEFAULT_ATTRIBUTE_BUDGET,
    DEFAULT_COOKIE_NAME, DEFAULT_MAX_DECOMPRESSED, DEFAULT_SALT, MIN_SECRET_LEN, URL_PARAMETERS,
};
pub use store::CookieStore;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
