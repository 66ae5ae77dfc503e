//! Helpers shared by this crate's integration tests: where the server is, and a unique key
//! prefix per store so tests never see each other's sessions.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use std::time::Duration;

use sessionkit_conformance::Guarded;
use sessionkit_redis::{RedisConfig, RedisStore};
use sessionkit_testkit::{Provided, Service};

/// A key prefix no other store of this run (or of another run against the same server) uses.
pub fn unique_prefix(tag: &str) -> String {
    format!("{}:", sessionkit_testkit::unique_name(tag))
}

/// The server address(es) for `service`: the environment's (`SESSIONKIT_REDIS_URL`,
/// `SESSIONKIT_REDIS_CLUSTER_URLS`), else a throwaway server shared by the tests of this binary
/// that run at the same time (it stops when the last of them drops its handle).
pub async fn server(service: Service) -> Arc<Mutex<Provided>> {
    tokio::task::spawn_blocking(move || service.shared_for_test())
        .await
        .expect("server start task")
}

/// The URLs of a provided service.
pub fn urls(provided: &Mutex<Provided>) -> Vec<String> {
    provided
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .urls()
        .to_vec()
}

/// The store under test, unchanged, kept together with its (possibly throwaway) server.
pub type WithServer = Guarded<RedisStore, Arc<Mutex<Provided>>>;

/// A standalone-server store with a fresh prefix.
pub async fn single_store() -> WithServer {
    let server = server(Service::Redis).await;
    let url = urls(&server).remove(0);
    let store = RedisConfig::new(url)
        .with_key_prefix(unique_prefix("single"))
        .connect()
        .await
        .expect("connect to redis");
    Guarded::new(store, server)
}

/// A cluster store with a fresh prefix.
#[cfg(feature = "cluster")]
pub async fn cluster_store() -> WithServer {
    let server = server(Service::RedisCluster).await;
    let store = RedisConfig::cluster(urls(&server))
        .with_key_prefix(unique_prefix("cluster"))
        .connect()
        .await
        .expect("connect to the redis cluster");
    Guarded::new(store, server)
}

pub const SOAK_TASKS: usize = 32;

pub fn soak_duration() -> Duration {
    sessionkit_conformance::soak::duration()
}

/// Runs the shared soak against `store` and returns the number of completed cycles.
pub async fn soak(store: RedisStore, duration: Duration) -> u64 {
    sessionkit_conformance::soak::run(store, SOAK_TASKS, duration).await
}
