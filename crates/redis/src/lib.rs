//! Redis and Redis Cluster session storage for [sessionkit](https://github.com/sessionkit/sessionkit),
//! with Django's `django.contrib.sessions` semantics.
//!
//! Most applications use the `sessionkit` facade with its `redis` feature, which re-exports
//! this crate.
//!
//! - One multiplexed connection per store (per master in a cluster), shared by every request
//!   and replaced by itself when the server restarts: no pool, no connection per request.
//! - One command and one round trip per operation; creates never overwrite (`SET NX`),
//!   updates never resurrect (`SET XX`), expiry is the key's TTL.
//! - Connect and response timeouts, and an operation timeout over both, so a dead or hung
//!   server fails a request with [`Error::is_unavailable`](sessionkit_core::Error::is_unavailable)
//!   or [`Error::is_timeout`](sessionkit_core::Error::is_timeout) instead of hanging it.
//! - Redis 6.0 or newer, standalone or cluster (feature `cluster`, on by default), plain or
//!   TLS (feature `tls-rustls`).
//!
//! ```no_run
//! use sessionkit_core::Sessions;
//! use sessionkit_redis::RedisStore;
//!
//! # async fn demo() -> sessionkit_core::Result<()> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379/0").await?;
//! let sessions = Sessions::new(store);
//!
//! let mut session = sessions.create();
//! session.insert("user_id", 42)?;
//! session.save().await?;
//! let cookie = session.key().expect("saved").as_str().to_owned();
//!
//! let again = sessions.load(Some(&cookie)).await?;
//! assert_eq!(again.get::<u32>("user_id")?, Some(42));
//! # Ok(()) }
//! ```
//!
//! See [`RedisStore`] for the commands behind each operation and [`RedisConfig`] for the
//! settings; `docs/redis.md` in the repository covers failure behaviour and sizing.
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::time::Duration;

mod config;
mod error;
mod store;

pub use config::{RedisConfig, URL_PARAMETERS};
pub use store::{RedisStore, MAX_TTL_SECS};

/// The redis client crate this store is built on, so you can build connections (and pick
/// features) with the same version.
pub use redis;

/// The key prefix used unless configured otherwise: sessions are stored as
/// `sessionkit:<key>`, as Django's cache session back end stores them under
/// `django.contrib.sessions.cache<key>`.
pub const DEFAULT_KEY_PREFIX: &str = "sessionkit:";

/// How long one connection attempt may take unless configured otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long to wait for a reply unless configured otherwise.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
