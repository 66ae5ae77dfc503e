//! Cached database session storage for [sessionkit](https://github.com/sessionkit/sessionkit): any cache
//! store (in-process memory, redis, memcached) in front of any database store, as Django's
//! `cached_db` session engine — with the database as the truth.
//!
//! Most applications use the `sessionkit` facade with its `cached-db` feature, which re-exports
//! this crate.
//!
//! - Loads read the cache and fall back to the database, copying what they find into the cache
//!   (never over a newer copy).
//! - Creates and updates write the database first, then the cache (write-through); a failed
//!   database write leaves the cache alone and is returned.
//! - Deletes (logouts) remove the session from both, the cache even when the database failed.
//! - A cache that is down or failing never fails a request and never leaves a copy that the
//!   database contradicts: the copy is invalidated, or the key is remembered and served from the
//!   database until it can be; after a few errors in a row the cache is skipped for a moment.
//!
//! ```
//! use sessionkit_cached_db::CachedDbStore;
//! use sessionkit_core::Sessions;
//! use sessionkit_locmem::LocMemStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> sessionkit_core::Result<()> {
//! // In production the second store is a `sessionkit_db::DbStore` (see examples/cached_db_quickstart.rs).
//! let store = CachedDbStore::try_new(LocMemStore::default(), LocMemStore::default())?;
//! let sessions = Sessions::new(store.clone());
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
//! See [`CachedDbStore`] for what each operation does, [`CachedDbOptions`] for the settings,
//! and `docs/cached-db.md` in the repository for what several application processes see.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod copy;
mod health;
mod options;
mod store;

pub use copy::{CopyFormat, Enveloped};
pub use options::{
    CachedDbOptions, CachedDbUrl, DEFAULT_BYPASS_AFTER_ERRORS, DEFAULT_BYPASS_FOR,
    DEFAULT_CACHE_TIMEOUT, DEFAULT_DELETE_RECHECK, DEFAULT_MAX_SUSPECT_KEYS, URL_PARAMETERS,
};
pub use store::{CacheStatus, CachedDbStore};

/// The back end's name in errors.
pub(crate) const BACKEND: &str = "cached-db";
