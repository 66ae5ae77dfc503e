//! The one error type of the testkit.

use std::fmt;
use std::io;
use std::time::Duration;

/// Why a throwaway server could not be provided, killed or restarted.
///
/// The messages are written for whoever reads a CI log: they say what is missing and how to get
/// it (for example `memcached not found: apt-get install memcached`).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A program the server needs is not installed (not on `PATH`, nor in the usual sbin and
    /// `/usr/lib/postgresql/*/bin` directories).
    MissingBinary {
        /// The program looked for, e.g. `redis-server`.
        binary: &'static str,
        /// The Debian package that provides it, e.g. `redis-server`.
        package: &'static str,
    },
    /// We run as root and the server refuses to; the unprivileged account to run it as does not
    /// exist.
    MissingUser {
        /// The account looked for, e.g. `postgres`.
        user: &'static str,
        /// The Debian package that creates it.
        package: &'static str,
    },
    /// An I/O operation of the testkit itself failed (temp dir, log file, spawning).
    Io {
        /// What the testkit was doing.
        action: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A helper command (`initdb`, `redis-cli --cluster create`, ...) failed.
    CommandFailed {
        /// The command line, for the log.
        command: String,
        /// How it ended (`exit status: 1`, `timed out after 30s`, ...).
        status: String,
        /// The last lines it printed.
        output: String,
    },
    /// The server process exited on its own while we waited for it.
    Exited {
        /// Which server (`redis`, `postgres`, ...).
        server: &'static str,
        /// Its exit status.
        status: String,
        /// The last lines of its log.
        log_tail: String,
    },
    /// The server is running but did not answer its protocol-level ping in time.
    NotReady {
        /// Which server.
        server: &'static str,
        /// How long we waited.
        waited: Duration,
        /// What the last ping attempt said.
        last_error: String,
        /// The last lines of its log.
        log_tail: String,
    },
    /// A ping or query sent to a running server failed.
    Unreachable {
        /// Which server.
        server: &'static str,
        /// Its address.
        address: String,
        /// What went wrong.
        detail: String,
    },
    /// A node index passed to `kill_node`/`restart_node` does not exist.
    NoSuchNode {
        /// The index asked for.
        index: usize,
        /// How many nodes there are.
        nodes: usize,
    },
}

impl Error {
    /// True when a required program is not installed (the caller may choose to skip).
    pub fn is_missing_binary(&self) -> bool {
        matches!(
            self,
            Error::MissingBinary { .. } | Error::MissingUser { .. }
        )
    }

    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            action: action.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MissingBinary { binary, package } => {
                write!(f, "{binary} not found: apt-get install {package}")
            }
            Error::MissingUser { user, package } => write!(
                f,
                "running as root and the user `{user}` to run the server as does not exist: \
                 apt-get install {package}"
            ),
            Error::Io { action, .. } => write!(f, "could not {action}"),
            Error::CommandFailed {
                command,
                status,
                output,
            } => write!(
                f,
                "`{command}` failed ({status}); its output ends with:\n{output}"
            ),
            Error::Exited {
                server,
                status,
                log_tail,
            } => write!(
                f,
                "{server} exited while starting ({status}); its log ends with:\n{log_tail}"
            ),
            Error::NotReady {
                server,
                waited,
                last_error,
                log_tail,
            } => write!(
                f,
                "{server} did not answer within {}s (last attempt: {last_error}); \
                 its log ends with:\n{log_tail}",
                waited.as_secs()
            ),
            Error::Unreachable {
                server,
                address,
                detail,
            } => write!(f, "{server} at {address} did not answer: {detail}"),
            Error::NoSuchNode { index, nodes } => {
                write!(f, "no node {index}: there are {nodes} nodes")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The testkit's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
