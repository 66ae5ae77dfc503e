//! Session storage for Rust web services, with the semantics of Django's sessions framework
//! (`django.contrib.sessions`) and a choice of back ends.
//!
//! Depend on this crate, turn on the feature of each back end you may use, and pick one at run
//! time with [`connect`] — as a Django operator switches `SESSION_ENGINE` — or build a back
//! end's store directly.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> sessionkit::Result<()> {
//! let sessions = sessionkit::connect("locmem://").await?;
//!
//! // Request 1: log in.
//! let mut session = sessions.load(None).await?;
//! session.insert("user_id", 42)?;
//! session.cycle_key().await?; // new key at login: no session fixation
//! session.save().await?;
//! let cookie = session.key().expect("stored").as_str().to_owned();
//!
//! // Request 2: the client sends the cookie back.
//! let session = sessions.load(Some(&cookie)).await?;
//! assert_eq!(session.get::<u32>("user_id")?, Some(42));
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | back end | module | [`connect`] URL |
//! |---|---|---|---|
//! | `locmem` (default) | in-process memory, bounded, sharded | [`locmem`] | `locmem://[?max_entries=N&max_bytes=N&shards=N]` |
//! | `redis` | redis, one server or a Redis Cluster | [`redis`] | `redis://[user:pass@]host:port/db`, `redis+cluster://host:port,host:port,...` |
//! | `redis-tls` | `rediss://` for the above, via rustls | [`redis`] | `rediss://...` |
//! | `memcached` (alias `memcache`) | memcached, one or several servers (rendezvous hashing) | [`memcached`] | `memcached://host:port[,host:port...]` |
//! | `cookie` | signed (HMAC-SHA256) or encrypted (AES-256-GCM) cookies, key rotation | [`cookie`] | `cookie://?secret_env=VAR[&fallback_env=VAR][&protection=encrypted]` |
//! | `db-postgres` | PostgreSQL (diesel + r2d2; links libpq) | [`db`] | `postgres://user@host/dbname` |
//! | `db-mysql` | MySQL or MariaDB (links libmysqlclient / libmariadb) | [`db`] | `mysql://user@host/dbname` |
//! | `db-sqlite` | an SQLite file (SQLite compiled in) | [`db`] | `sqlite://PATH` |
//! | `cached-db` | a cache (locmem, redis, memcached) in front of a database; needs a `db-*` feature | [`cached_db`] | `cached-db://?cache=CACHE_URL&db=DB_URL` |
//! | `http` | Django's `SessionMiddleware`, framework-neutral | [`http`] | |
//! | `tower` | the middleware as a tower `Layer` (axum, hyper) | [`tower`] | |
//! | `axum` | the axum extractor `tower::Session` | [`tower`] | |
//! | `tower-sessions` | any server-side back end as a tower-sessions 0.14 store (for axum-login) | [`tower`] | |
//! | `actix` | the middleware for actix-web | [`actix`] | |
//! | `full` | every back end and adapter above | | |
//!
//! A database needs its table before the first request: run [`migrate`] with the same URL once
//! per deployment (or at every start — it is idempotent), as Django's `manage.py migrate`.
//!
//! # What you get from the core
//!
//! [`Session`] (typed values, Django's `accessed`/`modified` flags, expiry, `save`, `flush`,
//! `cycle_key`, `touch`), [`Sessions`] (a store plus its [`SessionConfig`]), the
//! [`SessionStore`] trait for writing your own back end, [`SessionKey`], the record [`Codec`]s
//! and the one [`Error`] type. See the `docs/` folder of the repository for choosing a back end.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub use sessionkit_core::*;

/// The redis back end: [`RedisStore`](redis::RedisStore), standalone or Redis Cluster; the
/// `redis` client crate is re-exported as `sessionkit::redis::redis`.
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis {
    pub use sessionkit_redis::*;
}

/// The memcached back end: [`MemcachedStore`](memcached::MemcachedStore); the `memcache` client
/// crate is re-exported as `sessionkit::memcached::memcache`.
#[cfg(feature = "memcached")]
#[cfg_attr(docsrs, doc(cfg(feature = "memcached")))]
pub mod memcached {
    pub use sessionkit_memcached::*;
}

/// The old name of [`memcached`], kept so that code written for it still builds.
#[cfg(feature = "memcached")]
#[doc(hidden)]
pub use memcached as memcache;

/// The signed (optionally encrypted) cookie back end: [`CookieStore`](cookie::CookieStore).
#[cfg(feature = "cookie")]
#[cfg_attr(docsrs, doc(cfg(feature = "cookie")))]
pub mod cookie {
    pub use sessionkit_cookie::*;
}

/// The in-process back end: [`LocMemStore`](locmem::LocMemStore).
#[cfg(feature = "locmem")]
#[cfg_attr(docsrs, doc(cfg(feature = "locmem")))]
pub mod locmem {
    pub use sessionkit_locmem::*;
}

/// The database back end (PostgreSQL, MySQL/MariaDB, SQLite): [`DbStore`](db::DbStore).
#[cfg(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite")))
)]
pub mod db {
    pub use sessionkit_db::*;
}

/// The cached database back end: [`CachedDbStore`](cached_db::CachedDbStore), a cache in front
/// of a database.
#[cfg(feature = "cached-db")]
#[cfg_attr(docsrs, doc(cfg(feature = "cached-db")))]
pub mod cached_db {
    pub use sessionkit_cached_db::*;
}

/// Django's `SessionMiddleware`, framework-neutral ([`CookieSettings`](http::CookieSettings),
/// the response decision, [`RequestSession`](http::RequestSession)).
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http {
    pub use sessionkit_http::*;

    /// Opens the store of a deployment's one configuration URL and reads its cookie settings
    /// from the same URL: the `cookie_*` and `save_every_request` parameters
    /// ([`CookieSettings::split_url`]) are the middleware's, the rest the store's
    /// ([`connect`](crate::connect)).
    ///
    /// ```no_run
    /// # async fn demo() -> sessionkit::Result<()> {
    /// let (sessions, cookie) = sessionkit::http::connect(
    ///     "redis://cache.internal:6379/2?key_prefix=app:&cookie_secure=true&cookie_samesite=strict",
    /// )
    /// .await?;
    /// # let _ = (sessions, cookie); Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> crate::Result<(crate::Sessions, CookieSettings)> {
        let (store_url, settings) = CookieSettings::split_url(url)?;
        Ok((crate::connect(&store_url).await?, settings))
    }

    /// [`connect`] with the URL in `SESSIONKIT_URL`.
    pub async fn connect_from_env() -> crate::Result<(crate::Sessions, CookieSettings)> {
        connect(&crate::url_from_env()?).await
    }
}

/// The middleware as a tower layer: [`SessionLayer`](tower::SessionLayer); with the `axum`
/// feature, the extractor `Session`.
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower {
    pub use sessionkit_tower::*;
}

/// The middleware for actix-web: [`SessionMiddleware`](actix::SessionMiddleware) and the
/// `Session` extractor.
#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix {
    pub use sessionkit_actix::*;
}

/// Sharing a running Django's sessions (`?format=django` URLs, and the pieces to build such
/// stores yourself): [`DjangoSettings`](django::DjangoSettings), [`DjangoCodec`](django::DjangoCodec),
/// [`SignedCookieStore`](django::SignedCookieStore), [`DjangoCopies`](django::DjangoCopies).
#[cfg(feature = "django")]
#[cfg_attr(docsrs, doc(cfg(feature = "django")))]
pub mod django {
    pub use crate::django_url::DJANGO_URL_PARAMETERS;
    pub use sessionkit_django::*;
}
#[cfg(feature = "django")]
mod django_url;

mod connect;
pub use connect::{
    backend_name, connect, connect_from_env, connect_with, migrate, open_store, url_from_env,
    URL_ENV,
};

/// The Rust in the repository's README, docs/ and the crate READMEs that no crate compiles
/// itself (locmem's, cookie's and django's compile theirs), run as doctests with every back end compiled
/// in (the `facade-full` matrix cell), so the documentation cannot drift from the code. The
/// snippets that name servers are `no_run`: they must compile, not connect.
#[cfg(all(doctest, feature = "full"))]
mod doc_snippets {
    macro_rules! doc_file {
        ($name:ident, $path:literal) => {
            #[doc = include_str!($path)]
            struct $name;
        };
    }
    doc_file!(FacadeReadme, "../README.md");
    doc_file!(RepositoryReadme, "../../../README.md");
    doc_file!(CoreReadme, "../../core/README.md");
    doc_file!(RedisReadme, "../../redis/README.md");
    doc_file!(MemcachedReadme, "../../memcached/README.md");
    doc_file!(DbReadme, "../../db/README.md");
    doc_file!(CachedDbReadme, "../../cached-db/README.md");
    doc_file!(SessionsGuide, "../../../docs/sessions.md");
    doc_file!(RedisGuide, "../../../docs/redis.md");
    doc_file!(MemcachedGuide, "../../../docs/memcached.md");
    doc_file!(CookieGuide, "../../../docs/cookie.md");
    doc_file!(DbGuide, "../../../docs/db.md");
    doc_file!(CachedDbGuide, "../../../docs/cached-db.md");
    doc_file!(HttpGuide, "../../../docs/http.md");
    doc_file!(DjangoGuide, "../../../docs/django.md");
}
