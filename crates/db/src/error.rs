//! How diesel and r2d2 errors become [`sessionkit_core::Error`]s, and which errors mean the
//! connection must be thrown away.

use diesel::result::{ConnectionError, DatabaseErrorKind, Error as DieselError};
use sessionkit_core::{Error, ErrorKind};

use crate::Backend;

/// The back-end name of errors raised before the database is known (a bad URL).
pub(crate) const CONFIG: &str = "db";

/// The back-end name every error about `backend` carries.
pub(crate) const fn name(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "postgres",
        Backend::Mysql => "mysql",
        Backend::Sqlite => "sqlite",
    }
}

/// Whether `e` is the unique violation a duplicate primary key raises: a create's collision.
pub(crate) fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Messages (PostgreSQL, MySQL, MariaDB, SQLite; English, as servers send them by default)
/// that mean a statement ran out of time.
const TIMEOUT: &[&str] = &[
    "statement timeout",                         // PostgreSQL 57014
    "lock timeout",                              // PostgreSQL 55P03 (lock_timeout)
    "max_statement_time exceeded",               // MariaDB 1969
    "maximum statement execution time exceeded", // MySQL 3024
    "lock wait timeout exceeded",                // MySQL/MariaDB 1205
    "query execution was interrupted",           // MySQL/MariaDB 1317
    "database is locked",                        // SQLite SQLITE_BUSY after busy_timeout
    "database table is locked",                  // SQLite SQLITE_LOCKED
    "timeout expired",                           // libpq connect_timeout
    "timed out",
];

/// Messages that mean the connection or the server is gone (or not accepting work).
const UNAVAILABLE: &[&str] = &[
    "server closed the connection", // libpq
    "terminating connection",       // PostgreSQL shutting down / admin kill
    "no connection to the server",  // libpq after a broken connection
    "could not connect",            // libpq
    "connection to server",         // libpq: connection to server at ... failed
    "connection refused",
    "connection reset",
    "broken pipe",
    "the database system is", // PostgreSQL starting up / shutting down / in recovery
    "too many clients",       // PostgreSQL max_connections
    "too many connections",   // MySQL 1040
    "gone away",              // MySQL 2006
    "lost connection",        // MySQL 2013
    "can't connect",          // MySQL 2002/2003
    "server shutdown in progress", // MySQL 1053
    "connection was killed",  // MySQL 1927
    "disk i/o error",         // SQLite: the file went away or the disk failed
];

/// Messages that mean the configuration (or the schema it expects) is wrong.
const CONFIG_PATTERNS: &[(&str, &str)] = &[
    (
        "password authentication failed",
        "the server refused the credentials: fix the user and password in the URL",
    ),
    (
        "authentication failed",
        "the server refused the credentials: fix the user and password in the URL",
    ),
    (
        "access denied",
        "the server refused the credentials or the database: fix the URL or grant access",
    ),
    (
        "no pg_hba.conf entry",
        "the server does not accept this user/host/database: fix pg_hba.conf or the URL",
    ),
    (
        "unknown database",
        "the database in the URL does not exist: create it first",
    ),
    (
        "unable to open database file",
        "cannot open the SQLite file: check that its directory exists and is writable",
    ),
    (
        "permission denied",
        "the database user lacks a privilege on the session table: grant it",
    ),
    (
        "command denied",
        "the database user lacks a privilege on the session table: grant it",
    ),
    (
        "readonly database",
        "the SQLite file is read-only: make it (and its directory) writable",
    ),
    (
        "read-only database",
        "the SQLite file is read-only: make it (and its directory) writable",
    ),
];

/// Messages that mean the table is missing.
const NO_TABLE: &[&str] = &["no such table", "doesn't exist"];

/// Messages that mean a record is larger than the database accepts.
const TOO_LARGE: &[&str] = &["max_allowed_packet", "string or blob too big", "too large"];

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// The message of a database error, lowercased for matching.
fn message(e: &DieselError) -> String {
    match e {
        DieselError::DatabaseError(_, info) => info.message().to_ascii_lowercase(),
        other => other.to_string().to_ascii_lowercase(),
    }
}

/// Maps an error of a statement run by the store on `table`.
///
/// - no answer in time (statement timeout, lock wait timeout, SQLite busy) → `Timeout`;
/// - a closed or broken connection, a server shutting down or refusing clients, a read-only
///   server (a failover in progress) → `Unavailable`;
/// - a missing table → `Config` ("run migrate()"), rejected privileges → `Config`;
/// - a record above the server's packet or blob limit → `TooLarge`;
/// - anything else → `Backend`.
///
/// The diesel error is always kept as the source, never folded into the message.
pub(crate) fn query(backend: Backend, table: &str, e: DieselError) -> Error {
    let name = name(backend);
    let msg = message(&e);
    let kind = match &e {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::ReadOnlyTransaction,
            _,
        ) => ErrorKind::Unavailable,
        DieselError::DatabaseError(_, _) if contains_any(&msg, TIMEOUT) => ErrorKind::Timeout,
        DieselError::DatabaseError(_, _) if contains_any(&msg, UNAVAILABLE) => {
            ErrorKind::Unavailable
        }
        DieselError::DatabaseError(_, _)
            if contains_any(&msg, NO_TABLE)
                || (msg.contains("relation") && msg.contains("does not exist")) =>
        {
            return Error::config(
                name,
                format!(
                    "table {table} does not exist: create it once with `sessionkit migrate URL` \
                     (or DbStore::migrate() / sessionkit::migrate)"
                ),
            )
            .with_source(e);
        }
        DieselError::DatabaseError(_, _) if msg.contains("session_version") => {
            return Error::config(
                name,
                format!(
                    "table {table} lacks the record version column of this sessionkit-db: \
                     upgrade it once with `sessionkit migrate URL` (or DbStore::migrate() / \
                     sessionkit::migrate); existing sessions stay valid"
                ),
            )
            .with_source(e);
        }
        DieselError::DatabaseError(_, _) => {
            if let Some((_, detail)) = CONFIG_PATTERNS.iter().find(|(p, _)| msg.contains(p)) {
                return Error::config(name, *detail).with_source(e);
            }
            if contains_any(&msg, TOO_LARGE) {
                ErrorKind::TooLarge
            } else {
                ErrorKind::Backend
            }
        }
        _ => ErrorKind::Backend,
    };
    Error::new(kind, name).with_source(e)
}

/// Maps a failure to open a connection.
pub(crate) fn connect(backend: Backend, e: ConnectionError) -> Error {
    let name = name(backend);
    // libpq echoes the connection string, password included: never keep it.
    let e = match e {
        ConnectionError::BadConnection(msg) => ConnectionError::BadConnection(scrub(&msg)),
        ConnectionError::InvalidConnectionUrl(msg) => {
            ConnectionError::InvalidConnectionUrl(scrub(&msg))
        }
        other => other,
    };
    match e {
        ConnectionError::InvalidCString(_) | ConnectionError::InvalidConnectionUrl(_) => {
            Error::config(name, "invalid database URL: check its syntax").with_source(e)
        }
        ConnectionError::CouldntSetupConfiguration(inner) => {
            // The connection opened but its session settings failed.
            query(backend, "", inner)
        }
        ConnectionError::BadConnection(ref msg) => {
            let msg = msg.to_ascii_lowercase();
            if let Some((_, detail)) = CONFIG_PATTERNS.iter().find(|(p, _)| msg.contains(p)) {
                Error::config(name, *detail).with_source(e)
            } else if msg.contains("does not exist") {
                // libpq: role "x" / database "x" does not exist.
                Error::config(
                    name,
                    "the user or database in the URL does not exist: create it or fix the URL",
                )
                .with_source(e)
            } else if contains_any(&msg, TIMEOUT) {
                Error::timeout(name).with_source(e)
            } else {
                Error::unavailable(name, e)
            }
        }
        other => Error::unavailable(name, other),
    }
}

/// `text` with every `scheme://user:password@` reduced to `scheme://***@` and every
/// `password=...` to `password=***`: driver messages may quote the connection string.
pub(crate) fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '/' | '?'))
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    let lower = out.to_ascii_lowercase();
    let mut scrubbed = String::with_capacity(out.len());
    let mut last = 0;
    let mut from = 0;
    while let Some(i) = lower[from..].find("password=").map(|i| from + i) {
        let start = i + "password=".len();
        let end = out[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '&' | '"' | '\''))
            .map_or(out.len(), |j| start + j);
        scrubbed.push_str(&out[last..start]);
        scrubbed.push_str("***");
        last = end;
        from = end;
    }
    scrubbed.push_str(&out[last..]);
    scrubbed
}

/// Whether a connection that raised an error of `kind` must be discarded rather than returned
/// to the pool. Errors the server answered properly (a collision, a timeout, a missing table, a
/// rejected privilege, an oversized record) leave the connection usable; anything else — a
/// broken connection above all, but also an error we cannot classify — discards it, so a pool
/// never keeps handing out dead connections after a database restart.
pub(crate) fn discards_connection(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::Collision | ErrorKind::Timeout | ErrorKind::Config | ErrorKind::TooLarge
    )
}

/// A blocking task that panicked or was cancelled (the runtime shutting down).
pub(crate) fn join(backend: Backend, e: tokio::task::JoinError) -> Error {
    if e.is_cancelled() {
        Error::unavailable(name(backend), e)
            .with_detail("the runtime is shutting down; the database call was cancelled")
    } else {
        Error::backend(name(backend), e)
            .with_detail("a database call panicked in its blocking thread; this is a bug")
    }
}

/// The operation did not finish within connect + statement timeout (a hung server or network).
pub(crate) fn deadline(backend: Backend, elapsed: tokio::time::error::Elapsed) -> Error {
    Error::timeout(name(backend))
        .with_source(elapsed)
        .with_detail("no answer within the connect + statement timeouts")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(kind: DatabaseErrorKind, msg: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(msg.to_owned()))
    }

    #[test]
    fn classifies_by_kind_and_message() {
        let k = |e| query(Backend::Postgres, "\"t\"", e).kind();
        assert_eq!(
            k(db_error(
                DatabaseErrorKind::Unknown,
                "canceling statement due to statement timeout"
            )),
            ErrorKind::Timeout
        );
        assert_eq!(
            k(db_error(DatabaseErrorKind::ClosedConnection, "whatever")),
            ErrorKind::Unavailable
        );
        assert_eq!(
            k(db_error(
                DatabaseErrorKind::Unknown,
                "Lost connection to server during query"
            )),
            ErrorKind::Unavailable
        );
        assert_eq!(
            k(db_error(
                DatabaseErrorKind::Unknown,
                "relation \"t\" does not exist"
            )),
            ErrorKind::Config
        );
        assert_eq!(
            k(db_error(
                DatabaseErrorKind::Unknown,
                "Table 'test.t' doesn't exist"
            )),
            ErrorKind::Config
        );
        assert_eq!(
            k(db_error(DatabaseErrorKind::Unknown, "something odd")),
            ErrorKind::Backend
        );
        assert_eq!(k(DieselError::NotFound), ErrorKind::Backend);
    }

    #[test]
    fn connect_errors() {
        let e = connect(
            Backend::Postgres,
            ConnectionError::BadConnection(
                "connection to server at \"127.0.0.1\", port 1 failed: Connection refused".into(),
            ),
        );
        assert!(e.is_unavailable(), "{e:?}");
        let e = connect(
            Backend::Postgres,
            ConnectionError::BadConnection(
                "FATAL:  password authentication failed for user \"x\"".into(),
            ),
        );
        assert!(e.is_config(), "{e:?}");
        let e = connect(
            Backend::Mysql,
            ConnectionError::BadConnection("Unknown database 'nope'".into()),
        );
        assert!(e.is_config(), "{e:?}");
    }

    #[test]
    fn passwords_are_scrubbed_from_driver_messages() {
        let msg = "missing \"=\" after \"postgres://u:hunter2@[bad\" in connection info string \
                   host=x password=hunter2 user=u; mysql://root:hunter2@h/x";
        let clean = scrub(msg);
        assert!(!clean.contains("hunter2"), "{clean}");
        assert!(
            clean.contains("postgres://***@[bad") && clean.contains("password=*** user=u"),
            "{clean}"
        );
        assert_eq!(scrub("no secrets http://h/x"), "no secrets http://h/x");
        let err = connect(
            Backend::Postgres,
            ConnectionError::BadConnection(msg.into()),
        );
        let shown = format!("{err:?} {}", std::error::Error::source(&err).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn source_is_kept_and_not_in_display() {
        let err = query(
            Backend::Mysql,
            "`t`",
            db_error(DatabaseErrorKind::Unknown, "boom 42"),
        );
        assert!(!err.to_string().contains("boom 42"));
        let source = std::error::Error::source(&err).expect("source kept");
        assert!(source.to_string().contains("boom 42"));
    }

    #[test]
    fn which_errors_discard_the_connection() {
        assert!(discards_connection(ErrorKind::Unavailable));
        assert!(discards_connection(ErrorKind::Backend));
        assert!(!discards_connection(ErrorKind::Collision));
        assert!(!discards_connection(ErrorKind::Timeout));
    }
}
