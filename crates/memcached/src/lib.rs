//! memcached session storage for [sessionkit](https://github.com/sessionkit/sessionkit): Django's
//! `django.contrib.sessions.backends.cache` on memcached, made atomic.
//!
//! Most applications use the `sessionkit` facade with its `memcached` feature, which re-exports
//! this crate.
//!
//! ```no_run
//! use sessionkit_core::Sessions;
//! use sessionkit_memcached::{MemcachedConfig, MemcachedStore};
//!
//! # async fn demo() -> sessionkit_core::Result<()> {
//! let store = MemcachedStore::connect(MemcachedConfig::new(["memcached://127.0.0.1:11211"])).await?;
//! let sessions = Sessions::new(store);
//!
//! let mut session = sessions.create();
//! session.insert("user_id", 42)?;
//! session.save().await?; // `add`: never overwrites another session
//! let cookie = session.key().expect("saved").as_str().to_owned();
//!
//! let mut again = sessions.load(Some(&cookie)).await?;
//! assert_eq!(again.get::<u32>("user_id")?, Some(42));
//! again.insert("theme", "dark")?;
//! again.save().await?; // `replace`: fails as vanished if the user logged out meanwhile
//! # Ok(()) }
//! ```
//!
//! # What is stored
//!
//! One memcached item per session, under the key [`DEFAULT_PREFIX`] (`sessionkit:`) followed by
//! the 32-character session key, like Django's `django.contrib.sessions.cache` prefix. Change
//! it with [`MemcachedConfig::with_prefix`]; with the key it must fit memcached's 250-byte key
//! limit (checked when connecting: [`ErrorKind::Config`](sessionkit_core::ErrorKind::Config)).
//!
//! The item's memcached expiry is the session's expiry. memcached reads an expiry above 30 days
//! (2,592,000 s) as an absolute Unix time, so longer lifetimes are sent as the expiry date
//! itself ([`memcached_exptime`]); a record that is already expired is never stored. The
//! servers' clocks must therefore be right (NTP) when sessions live longer than 30 days.
//! memcached's clock ticks in whole seconds: an item given `n` seconds lives between `n - 1`
//! and `n` seconds, so a session ends up to a second early and is never served more than about
//! a second late.
//!
//! memcached is a cache: a full server evicts least-recently-used items, sessions included, and
//! a restarted server has lost everything. Give it enough memory for every live session, or
//! put a database behind it with `sessionkit-cached-db`.
//!
//! # Several servers
//!
//! [`MemcachedConfig::new`] takes a list of servers. Each key lives on exactly one server,
//! chosen by rendezvous hashing over the server names ([`StableRendezvous`]): adding a fourth
//! server to three moves about a quarter of the sessions (those users are logged out), removing
//! one loses only its own sessions, and the order of the list does not matter. The hash is
//! fixed forever, so every application server computes the same placement; list the servers
//! with the same spelling everywhere. A down server fails the requests routed to it; keys are
//! not moved to the others (that would resurrect stale copies when it comes back).
//!
//! # Failures
//!
//! - A server that cannot be reached (refused, reset, closed mid-request) gives
//!   [`ErrorKind::Unavailable`](sessionkit_core::ErrorKind::Unavailable).
//! - Connecting takes at most the connect timeout and each request's answer at most the
//!   response timeout (1 s each by default), so a hung server fails requests with
//!   [`ErrorKind::Timeout`](sessionkit_core::ErrorKind::Timeout) instead of hanging them.
//! - A record larger than the item size limit (1 MiB, memcached's default `-I`) gives
//!   [`ErrorKind::TooLarge`](sessionkit_core::ErrorKind::TooLarge), never a silent drop.
//! - The store keeps no broken state: connections that failed are closed, pooled connections
//!   are checked before reuse, and the same store serves requests again as soon as the server
//!   is back.
//!
//! # Which memcache client, and why
//!
//! The [`memcache`] crate (re-exported here) has two clients. This store uses the experimental
//! meta-protocol client, [`memcache::exp::AsyncMetaClient`], because:
//!
//! - **It is async.** The classic `memcache::Client` blocks, so every call would have to go
//!   through `tokio::task::spawn_blocking` (a blocking call must never run on an async worker
//!   thread). Measured on the project's 2-core machine with 32 concurrent tasks doing get + set
//!   on a local memcached: about 61,000 request cycles per second with the async meta client,
//!   about 8,000 with the classic client through `spawn_blocking`.
//! - **Its answers are honest.** Create must be a real `add` whose "already exists" answer is
//!   honoured. The meta protocol answers `NS` (not stored), which the client reports. The
//!   classic client over the ASCII protocol turns `NOT_STORED` into `Ok(())`, so a colliding
//!   create would look like success while storing nothing; over the binary protocol it is
//!   reported, but memcached upstream deprecates that protocol.
//! - **It has what sessions need:** `add` and `replace` as conditional stores, `touch` as a meta
//!   get with a new TTL, connect and response timeouts, per-server connection pools that drop
//!   broken connections and redial, and pluggable routing (given [`StableRendezvous`] here).
//!
//! The price is an API the memcache crate marks experimental, so the workspace pins its version
//! and this store is the only code that touches it. Only plain TCP is supported (no TLS, UDP,
//! unix sockets or SASL); the meta protocol needs memcached 1.6 or later.

mod admin;
mod config;
mod error;
mod router;
mod store;

pub use config::{
    MemcachedConfig, DEFAULT_MAX_ITEM_SIZE, DEFAULT_PORT, DEFAULT_PREFIX, MAX_KEY_LEN,
    URL_PARAMETERS,
};
pub use router::StableRendezvous;
pub use store::{memcached_exptime, MemcachedStore, MAX_RELATIVE_TTL};

/// The memcache client crate this store is built on, so your own clients use the same version.
pub use memcache;

/// The name this back end gives in errors ([`Error::backend_name`](sessionkit_core::Error::backend_name)).
pub const BACKEND: &str = "memcached";
