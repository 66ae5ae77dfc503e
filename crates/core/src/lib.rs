//! The core of [sessionkit](https://github.com/sessionkit/sessionkit): Django's session semantics for Rust
//! web services.
//!
//! Most applications depend on the `sessionkit` facade instead, which re-exports this crate and
//! the back end chosen by cargo feature.
//!
//! - [`Session`]: typed values, `accessed`/`modified` tracking, expiry, [`save`](Session::save),
//!   [`flush`](Session::flush) (logout), [`cycle_key`](Session::cycle_key) (login).
//! - [`Sessions`]: a store plus its [`SessionConfig`]; makes one `Session` per request.
//! - [`SessionStore`]: the async trait each server-side back end implements; [`Sealer`], what a
//!   client-side one (the session in the cookie) implements instead.
//! - [`SessionKey`]: 32 random characters of `[a-z0-9]`, and the check applied to what clients
//!   present.
//! - [`Codec`]: how records become bytes ([`BincodeCodec`] by default, [`JsonCodec`] readable).
//! - [`Error`]: the one error type.
//!
//! ```
//! use sessionkit_core::{Expiry, Sessions};
//! # async fn demo(store: impl sessionkit_core::SessionStore) -> sessionkit_core::Result<()> {
//! let sessions = Sessions::new(store);
//! let mut session = sessions.create();
//! session.insert("user_id", 42)?;
//! session.set_expiry(Expiry::AfterInactivity(3600));
//! session.save().await?;
//! let cookie = session.key().expect("saved").as_str().to_owned();
//!
//! let again = sessions.load(Some(&cookie)).await?;
//! assert_eq!(again.get::<u32>("user_id")?, Some(42));
//! # Ok(()) }
//! ```

mod checked;
mod clear;
mod clock;
mod data;
mod error;
mod expiry;
mod finite;
mod info;
mod key;
mod record;
mod sealer;
mod session;
mod store;
mod time;
mod url;
mod wire;

pub use checked::CheckedStore;
pub use clear::{ClearExpiredTask, MIN_CLEAR_PERIOD};
pub use clock::{Clock, ManualClock, SystemClock};
pub use data::Data;
pub use error::{BoxError, Error, ErrorKind, Result};
pub use expiry::Expiry;
pub use info::{Housekeeping, Migration, StoreStats};
pub use key::{KeyFormat, SessionKey, KEY_ALPHABET, KEY_LEN};
pub use record::{BincodeCodec, Codec, Codecs, JsonCodec, Record, RecordRef};
pub use sealer::Sealer;
pub use session::{ConflictPolicy, Session, SessionConfig, Sessions, DEFAULT_COOKIE_AGE};
pub use store::{
    Capabilities, Expected, Loaded, Opened, SessionStore, Stored, Version, ENVELOPE_LEN,
    ENVELOPE_MARKER,
};
pub use time::UnixTime;
pub use url::{percent_decode, percent_encode, quote_short, ConfigUrl};
pub use wire::{MAX_DEPTH, MAX_RECORD_BYTES};

/// Re-exported so stores and callers use the same versions.
pub use async_trait::async_trait;
pub use serde_json::{self, Value};
