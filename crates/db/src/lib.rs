//! PostgreSQL, MySQL/MariaDB and SQLite session storage for
//! [sessionkit](https://github.com/sessionkit/sessionkit), with Django's `django.contrib.sessions` semantics:
//! the `db` session engine, made atomic.
//!
//! Most applications use the `sessionkit` facade with its `db-postgres`, `db-mysql` or
//! `db-sqlite` feature, which re-exports this crate.
//!
//! - One table (default `sessionkit_session`): `session_key` (primary key, `VARCHAR(40)` as
//!   Django's), `session_data` (binary), `expire_date` (Unix seconds, indexed). Created by
//!   [`DbStore::migrate`], the equivalent of Django's `manage.py migrate`: embedded, idempotent,
//!   safe to run from several processes at once.
//! - One statement and one round trip per operation; creates never overwrite (a plain `INSERT`
//!   whose unique violation is the collision), updates never resurrect (an `UPDATE` of a live
//!   row whose row count reveals a vanished session), expired rows are never served.
//! - [`DbStore::clear_expired`](sessionkit_core::SessionStore::clear_expired) deletes in batches
//!   of [`CLEAR_BATCH_SIZE`] rows, never in one huge transaction;
//!   [`Sessions::clear_expired_every`](sessionkit_core::Sessions::clear_expired_every) runs it
//!   on a timer.
//! - diesel over an r2d2 pool; every blocking call runs under `tokio::task::spawn_blocking`,
//!   never on an async worker thread. Pool size, connect and statement timeouts are
//!   configurable; a database that is down fails requests with
//!   [`Error::is_unavailable`](sessionkit_core::Error::is_unavailable) instead of hanging them,
//!   and the same store serves again once it is back.
//! - Keys, data and times are always bound as parameters; the only name ever written into SQL
//!   is the table's, validated and quoted.
//!
//! Features: `sqlite` (default; SQLite compiled in, no server or system library needed),
//! `postgres` (libpq), `mysql` (MySQL and MariaDB, libmysqlclient or MariaDB Connector/C).
//!
//! ```no_run
//! use sessionkit_core::Sessions;
//! use sessionkit_db::DbConfig;
//!
//! # async fn demo() -> sessionkit_core::Result<()> {
//! let store = DbConfig::new("sqlite:///var/lib/myapp/sessions.sqlite3").connect().await?;
//! store.migrate().await?; // creates the table once; a no-op afterwards
//!
//! let sessions = Sessions::new(store);
//! let _cleaner = sessions.clear_expired_every(std::time::Duration::from_secs(3_600));
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
//! See [`DbConfig`] for the URLs and settings and [`DbStore`] for the statements behind each
//! operation; `docs/db.md` in the repository covers setup per database, the schema, clearing
//! expired sessions and failure behaviour.
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::fmt;
use std::time::Duration;

mod config;
mod dialect;
mod error;
mod migrate;
mod pool;
mod sql;
mod store;

pub use config::{DbConfig, URL_PARAMETERS};
pub use store::DbStore;

/// The diesel crate this store is built on, so you can use the same version (for your own
/// queries, or to inspect the errors kept as sources).
pub use diesel;

/// The table sessions are stored in unless configured otherwise (Django's is `django_session`).
pub const DEFAULT_TABLE: &str = "sessionkit_session";

/// The table that records which migrations have been applied to which session table.
pub const MIGRATIONS_TABLE: &str = "sessionkit_migrations";

/// How many connections the pool holds at most unless configured otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// How long to wait for a connection (from the pool, or a new one) unless configured otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one statement may run unless configured otherwise.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many expired rows one `DELETE` of `clear_expired` removes at most.
pub const CLEAR_BATCH_SIZE: u32 = 1_000;

/// Which table layout a [`DbStore`] reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Schema {
    /// sessionkit's own table (created by [`DbStore::migrate`]): `session_data` binary,
    /// `expire_date` Unix seconds, and `session_version` for compare-and-set.
    #[default]
    Sessionkit,
    /// Django's `django_session` table, as Django's own `manage.py migrate` creates it
    /// (`session_data` text, `expire_date` a UTC datetime, no version column), so a Rust
    /// service shares sessions with a running Django (with `sessionkit-django`'s signed codec).
    /// sessionkit never creates or alters that table, and cannot compare and set on it: a save
    /// replaces the row, as Django's does.
    Django,
}

/// The table a [`Schema::Django`] store uses unless configured otherwise.
pub const DJANGO_TABLE: &str = "django_session";

/// The database a [`DbStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// PostgreSQL (feature `postgres`).
    Postgres,
    /// MySQL or MariaDB (feature `mysql`).
    Mysql,
    /// SQLite (feature `sqlite`).
    Sqlite,
}

impl Backend {
    /// The cargo feature of this crate that supports this database.
    pub const fn feature(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
            Backend::Sqlite => "sqlite",
        }
    }

    /// Whether this build of the crate supports this database (its feature is on).
    pub const fn is_enabled(self) -> bool {
        match self {
            Backend::Postgres => cfg!(feature = "postgres"),
            Backend::Mysql => cfg!(feature = "mysql"),
            Backend::Sqlite => cfg!(feature = "sqlite"),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
            Backend::Sqlite => "sqlite",
        })
    }
}

#[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
compile_error!(
    "sessionkit-db needs at least one database feature: `postgres`, `mysql` or `sqlite`"
);
