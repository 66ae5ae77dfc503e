#![doc = include_str!("../README.md")]

mod django;
mod error;
mod mariadb;
mod memcached;
mod names;
mod postgres;
mod process;
mod redis;
mod service;
mod watchdog;
mod wire;

use std::fmt;
use std::path::Path;

pub use django::{django_python, DJANGO_CLIENTS, DJANGO_PYTHON_ENV, DJANGO_VERSION};
pub use error::{Error, Result};
pub use mariadb::MariadbServer;
pub use memcached::MemcachedServers;
pub use names::{unique_name, SqliteFile};
pub use postgres::PostgresServer;
pub use process::{find_program, TempDir};
pub use redis::{RedisCluster, RedisServer, CLUSTER_MASTERS};
pub use service::{Provided, Service};
pub use watchdog::WATCHDOG_ARG0;
pub use wire::{memcached_command, redis_command, RedisReply};

/// What every throwaway server handle can do.
///
/// A handle owns its processes and its temp dir: dropping it stops the processes (politely,
/// then SIGKILL) and removes the dir.
pub trait ThrowawayServer: fmt::Debug + Send {
    /// `redis`, `redis-cluster`, `memcached`, `postgres` or `mariadb`.
    fn kind(&self) -> &'static str;

    /// The URL(s) clients connect to (one per node for clusters and memcached).
    fn urls(&self) -> Vec<String>;

    /// The temp dir holding the server's data, sockets and logs.
    fn dir(&self) -> &Path;

    /// One protocol-level ping of every node (redis `PING` / `CLUSTER INFO`, memcached
    /// `version`, `pg_isready`, `mariadb-admin ping`); no waiting, no retry.
    fn ping(&self) -> Result<()>;

    /// SIGKILLs every process of the server (a crash, for recovery tests).
    fn kill(&mut self) -> Result<()>;

    /// Starts the server again on the same port(s) and data dir (killing it first if it is
    /// still running) and waits until it answers.
    fn restart(&mut self) -> Result<()>;

    /// Freezes every process of the server (SIGSTOP): connections stay open and nothing
    /// answers — a hung server, for timeout tests. Dropping the server thaws it first.
    fn pause(&mut self) -> Result<()>;

    /// Thaws a [paused](ThrowawayServer::pause) server (SIGCONT).
    fn resume(&mut self) -> Result<()>;
}
