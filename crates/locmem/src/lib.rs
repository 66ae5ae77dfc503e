//! Sessions kept in the memory of the current process: the fastest
//! [sessionkit](https://github.com/sessionkit/sessionkit) back end, and the one to use in tests, in
//! development, and for single-process services that can afford to log everybody out on a
//! restart. Most applications depend on the `sessionkit` facade (feature `locmem`) instead of
//! this crate.
//!
//! ```
//! use sessionkit_core::Sessions;
//! use sessionkit_locmem::{LocMemConfig, LocMemStore};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> sessionkit_core::Result<()> {
//! let store = LocMemStore::new(LocMemConfig::new().with_max_entries(100_000));
//! let sessions = Sessions::new(store.clone());
//!
//! let mut session = sessions.create();
//! session.insert("user_id", 42)?;
//! session.save().await?;
//! let cookie = session.key().expect("saved").as_str().to_owned();
//!
//! let session = sessions.load(Some(&cookie)).await?;
//! assert_eq!(session.get::<u32>("user_id")?, Some(42));
//! assert_eq!(store.len(), 1);
//! # Ok(()) }
//! ```
//!
//! # What it is not
//!
//! Sessions live in one process: several processes or machines behind a load balancer do not
//! see each other's sessions (use redis, memcached or a database there), and a restart logs
//! everybody out.
//!
//! # Expiry
//!
//! A record is never served once its expiry has passed (`expires_at <= now`, to the second).
//! Expired records are removed without ever scanning the store: a read that meets one removes
//! it, every write first removes up to 8 expired records of its shard (taken from the front of
//! the shard's expiry index, so the cost is proportional to what is removed), and
//! [`clear_expired`](sessionkit_core::SessionStore::clear_expired) removes the rest one shard
//! at a time, 1024 records per lock. Calling `clear_expired` is optional.
//!
//! A save that moves a session's expiry later (the usual sliding expiry) does no index work:
//! the session's node stays where it was, a lower bound of its expiry, and is moved only when
//! it reaches the front of the index (at most as many moves per write as removals, 8). So the
//! cost of a save does not grow with the number of sessions held (`docs/benchmarks.md`,
//! "scale").
//!
//! # Eviction
//!
//! The store is bounded by [`LocMemConfig::with_max_entries`] (default 1,000,000 sessions) and
//! [`LocMemConfig::with_max_bytes`] (default 256 MiB: record bytes plus [`ENTRY_OVERHEAD`] per
//! session). Both are split evenly over the shards (32 by default); as keys are random, shards
//! fill evenly and the first eviction comes within a few percent of the configured bound.
//!
//! When a write would take its shard over a bound, the shard removes entries in this order
//! until the write fits, and no further:
//!
//! 1. expired sessions — so no live session is evicted while the shard holds an expired one;
//! 2. then the live sessions that expire soonest, one at a time. With the usual sliding expiry
//!    (every save moves the expiry to "now + cookie age"), these are the sessions saved least
//!    recently: users who have been away longest. A session saved a minute ago is evicted
//!    only after every session of its shard saved before it.
//!
//! The session being written is never evicted for its own sake. Each eviction of a live
//! session logs that user out; the store counts them ([`LocMemStore::evicted`]) and logs a
//! `tracing` warning (at most one a second) saying how many went.
//!
//! Django's `LocMemCache` does differently: with its defaults (`MAX_ENTRIES` 300,
//! `CULL_FREQUENCY` 3), when the 300th entry arrives it deletes a third of all entries at once
//! — 100 sessions, live or not, every time the cache fills again — so users are logged out in
//! batches at what looks like random. Here a full store removes one session for each new one,
//! choosing those nearest their end anyway, and says so in the logs.
//!
//! # Sizing
//!
//! A session lives until it expires (Django's default cookie age is two weeks) or the user
//! logs out, so size `max_entries` for the sessions *created* in one cookie age, not for the
//! users online at once. Size `max_bytes` as `max_entries × (typical record + ENTRY_OVERHEAD)`;
//! a record is refused with [`ErrorKind::TooLarge`](sessionkit_core::ErrorKind::TooLarge) if it
//! exceeds one shard's byte budget ([`LocMemStore::max_record_bytes`], 8 MiB by default).
//! Watch [`LocMemStore::len`], [`LocMemStore::bytes`] and [`LocMemStore::evicted`]: anything
//! evicted means the store is too small for the traffic.
//!
//! Stores with fewer than `1024 × shards` entries get fewer shards (down to one), so that a
//! small bound is not cut into shards too small to fill evenly.

mod config;
mod shard;
mod store;

pub use config::{LocMemConfig, ENTRY_OVERHEAD, MAX_SHARDS, MIN_ENTRIES_PER_SHARD, URL_PARAMETERS};
pub use store::LocMemStore;

/// The back end's name in errors.
pub(crate) const BACKEND: &str = "locmem";

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
