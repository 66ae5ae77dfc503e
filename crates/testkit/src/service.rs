//! Services named by kind: an address from the environment when one is set, else a throwaway
//! server.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::error::Result;
use crate::{
    mariadb, memcached, postgres, redis, MariadbServer, MemcachedServers, PostgresServer,
    RedisCluster, RedisServer, ThrowawayServer,
};

/// A kind of server a test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// One redis server: `SESSIONKIT_REDIS_URL`.
    Redis,
    /// A redis cluster (three masters when thrown away): `SESSIONKIT_REDIS_CLUSTER_URLS`.
    RedisCluster,
    /// `nodes` independent memcached servers: `SESSIONKIT_MEMCACHED_URLS`.
    Memcached {
        /// How many servers to start when none are given in the environment.
        nodes: usize,
    },
    /// PostgreSQL: `SESSIONKIT_POSTGRES_URL`.
    Postgres,
    /// MySQL, provided by MariaDB when thrown away: `SESSIONKIT_MYSQL_URL`.
    Mysql,
}

impl Service {
    /// The environment variable holding this service's address(es); lists are comma-separated.
    pub const fn env_var(self) -> &'static str {
        match self {
            Service::Redis => "SESSIONKIT_REDIS_URL",
            Service::RedisCluster => "SESSIONKIT_REDIS_CLUSTER_URLS",
            Service::Memcached { .. } => "SESSIONKIT_MEMCACHED_URLS",
            Service::Postgres => "SESSIONKIT_POSTGRES_URL",
            Service::Mysql => "SESSIONKIT_MYSQL_URL",
        }
    }

    /// Checks that everything needed to start a throwaway server of this kind is installed,
    /// without starting one.
    pub fn check_installed(self) -> Result<()> {
        match self {
            Service::Redis => redis::check_single(),
            Service::RedisCluster => redis::check_cluster(),
            Service::Memcached { .. } => memcached::check(),
            Service::Postgres => postgres::check(),
            Service::Mysql => mariadb::check(),
        }
    }

    /// Starts a throwaway server of this kind.
    pub fn start(self) -> Result<Box<dyn ThrowawayServer>> {
        Ok(match self {
            Service::Redis => Box::new(RedisServer::start()?),
            Service::RedisCluster => Box::new(RedisCluster::start()?),
            Service::Memcached { nodes } => Box::new(MemcachedServers::start(nodes)?),
            Service::Postgres => Box::new(PostgresServer::start()?),
            Service::Mysql => Box::new(MariadbServer::start()?),
        })
    }

    /// The address(es) in [`Service::env_var`] when it is set and not empty (read at run time),
    /// else a throwaway server.
    ///
    /// An address from the environment wins even when it names fewer memcached servers than
    /// `nodes`. Tests that kill servers must not use this: they start their own.
    pub fn from_env_or_start(self) -> Result<Provided> {
        self.from_value_or_start(std::env::var(self.env_var()).ok().as_deref())
    }

    /// [`Service::from_env_or_start`], shared by everything in this process that holds the
    /// returned handle at the same time: a throwaway server starts once for all the tests of a
    /// binary that run concurrently and stops when the last of them drops its handle. Blocks
    /// while a server starts (call it from `spawn_blocking` in async code).
    ///
    /// Tests that kill or pause a server must not use this: they start their own.
    pub fn shared(self) -> Result<Arc<Mutex<Provided>>> {
        type Slots = Mutex<HashMap<Service, Weak<Mutex<Provided>>>>;
        static SLOTS: OnceLock<Slots> = OnceLock::new();
        let slots = SLOTS.get_or_init(Slots::default);
        // Held while a server starts, so that concurrent callers wait for it rather than start
        // one each.
        let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(provided) = slots.get(&self).and_then(Weak::upgrade) {
            return Ok(provided);
        }
        let provided = Arc::new(Mutex::new(self.from_env_or_start()?));
        slots.insert(self, Arc::downgrade(&provided));
        Ok(provided)
    }

    /// [`Service::shared`] for a test: a failure panics with what went wrong and the variable
    /// that names a running server instead. Blocks while a server starts.
    pub fn shared_for_test(self) -> Arc<Mutex<Provided>> {
        self.shared().unwrap_or_else(|e| {
            panic!(
                "no {self} server for the tests: {e}\n(set {} to use a running one)",
                self.env_var()
            )
        })
    }

    /// Like [`Service::from_env_or_start`], with the variable's value passed in.
    pub fn from_value_or_start(self, value: Option<&str>) -> Result<Provided> {
        let urls: Vec<String> = value
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect();
        if !urls.is_empty() {
            return Ok(Provided {
                service: self,
                urls,
                server: None,
            });
        }
        let server = self.start()?;
        Ok(Provided {
            service: self,
            urls: server.urls(),
            server: Some(server),
        })
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Service::Redis => f.write_str("redis"),
            Service::RedisCluster => f.write_str("redis-cluster"),
            Service::Memcached { nodes: 1 } => f.write_str("memcached"),
            Service::Memcached { nodes } => write!(f, "memcached x{nodes}"),
            Service::Postgres => f.write_str("postgres"),
            Service::Mysql => f.write_str("mysql"),
        }
    }
}

/// A service's address(es), and the throwaway server behind them when we started one (it stops
/// when this is dropped).
#[derive(Debug)]
pub struct Provided {
    service: Service,
    urls: Vec<String>,
    server: Option<Box<dyn ThrowawayServer>>,
}

impl Provided {
    /// Which service this is.
    pub fn service(&self) -> Service {
        self.service
    }

    /// Every address (never empty).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The first address.
    pub fn url(&self) -> &str {
        &self.urls[0]
    }

    /// The variable and value to hand a child process (`SESSIONKIT_..._URL(S)`, comma-joined).
    pub fn env(&self) -> (&'static str, String) {
        (self.service.env_var(), self.urls.join(","))
    }

    /// True when we started the server (it was not given in the environment).
    pub fn is_throwaway(&self) -> bool {
        self.server.is_some()
    }

    /// The throwaway server, when we started one.
    pub fn server(&self) -> Option<&dyn ThrowawayServer> {
        self.server.as_deref()
    }

    /// The throwaway server, when we started one.
    pub fn server_mut(&mut self) -> Option<&mut (dyn ThrowawayServer + 'static)> {
        self.server.as_deref_mut()
    }
}
