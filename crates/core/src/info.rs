//! What a store can tell an operator about itself: [`StoreStats`], [`Housekeeping`],
//! [`Migration`].

use std::fmt;

/// Who removes expired sessions from a store, which decides what `clear_expired` is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Housekeeping {
    /// The server drops expired records by itself (redis and memcached TTLs):
    /// `clear_expired` has nothing to do.
    ServerExpires,
    /// Expired records stay until `clear_expired` removes them (a database): schedule it, as
    /// Django's `clearsessions`.
    ClearExpired,
    /// The records live in this process's memory, which removes them as it goes; another
    /// process (a command run by an operator) cannot see them.
    InProcess,
    /// The session lives in the client (a cookie): nothing is stored.
    ClientSide,
}

impl Housekeeping {
    /// Whether a `clear_expired` run from outside the application (cron, an operator's
    /// command) does useful work.
    pub fn needs_clearing(self) -> bool {
        self == Self::ClearExpired
    }

    /// A sentence for an operator: what to do about expired sessions.
    pub fn advice(self) -> &'static str {
        match self {
            Self::ServerExpires => {
                "the server expires sessions by itself: nothing to clear, nothing to schedule"
            }
            Self::ClearExpired => {
                "expired sessions stay until cleared: run `sessionkit clear-expired` periodically \
                 (cron), as Django's clearsessions"
            }
            Self::InProcess => {
                "sessions live in the application's own memory, which expires them: another \
                 process cannot see or clear them"
            }
            Self::ClientSide => "sessions live in the client's cookies: nothing is stored",
        }
    }
}

/// What a store can tell cheaply about itself, for `sessionkit stats` and monitoring. Every
/// figure is optional: a back end fills in what its server reports without a scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// The back end's name (`redis`, `postgres`, ...).
    pub backend: &'static str,
    /// The server's name and version as it reports them (`redis 7.0.15`, `PostgreSQL 15.8`).
    pub server_version: Option<String>,
    /// Sessions not yet expired (a database counts them; a cache cannot tell them apart from
    /// other keys cheaply).
    pub live_sessions: Option<u64>,
    /// Expired sessions still stored, waiting for `clear_expired`.
    pub expired_sessions: Option<u64>,
    /// Items the server holds (all of them, not only sessions: redis `DBSIZE`, memcached
    /// `curr_items`).
    pub items: Option<u64>,
    /// Memory the server uses, in bytes (redis `used_memory`, memcached `bytes`, the locmem
    /// store's own count).
    pub memory_bytes: Option<u64>,
    /// Memory the server may use, in bytes (redis `maxmemory` when set, memcached
    /// `limit_maxbytes`).
    pub memory_limit_bytes: Option<u64>,
    /// Items the server evicted to make room (redis `evicted_keys`, memcached `evictions`,
    /// locmem's count): anything above zero means sessions were lost early.
    pub evictions: Option<u64>,
    /// Who removes expired sessions.
    pub housekeeping: Option<Housekeeping>,
}

impl StoreStats {
    /// Stats of `backend` with nothing known yet.
    pub fn new(backend: &'static str) -> Self {
        Self {
            backend,
            ..Self::default()
        }
    }
}

/// What a migration run did to a store's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Migration {
    /// The back end has no schema: nothing to do.
    NotNeeded,
    /// The table did not exist and was created, at this schema version.
    Created {
        /// The schema version now.
        version: i64,
    },
    /// The table existed at an older version and was upgraded.
    Upgraded {
        /// The schema version before.
        from: i64,
        /// The schema version now.
        to: i64,
    },
    /// The table was already at the newest version known.
    Current {
        /// The schema version.
        version: i64,
    },
    /// The table belongs to another program, which made it and migrates it (Django's
    /// `django_session`, made by Django's own `migrate`): it is there, and was left as it is.
    Foreign,
}

impl fmt::Display for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotNeeded => f.write_str("nothing to migrate: this back end has no schema"),
            Self::Created { version } => write!(f, "created the session table (version {version})"),
            Self::Upgraded { from, to } => {
                write!(f, "upgraded the session table from version {from} to {to}")
            }
            Self::Current { version } => {
                write!(
                    f,
                    "already current: the session table is at version {version}"
                )
            }
            Self::Foreign => f.write_str(
                "the session table is there; it belongs to another program (Django's own \
                 migrate makes and changes it), so it was left as it is",
            ),
        }
    }
}
