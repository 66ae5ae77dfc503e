//! Shared by the integration tests: servers from `SESSIONKIT_MEMCACHED_URLS` or throwaway ones,
//! and stores with a prefix of their own.
#![allow(dead_code, unreachable_pub)]

use sessionkit_conformance::Guarded;
use sessionkit_memcached::{MemcachedConfig, MemcachedStore};
use sessionkit_testkit::{MemcachedServers, Provided, Service};

/// Where the tests find servers (comma-separated `memcached://HOST:PORT`).
pub const ENV: &str = "SESSIONKIT_MEMCACHED_URLS";

/// A key prefix no other test (or earlier run) uses.
pub fn unique_prefix(tag: &str) -> String {
    format!("{}:", sessionkit_testkit::unique_name(tag))
}

/// `nodes` servers: the first `nodes` of `SESSIONKIT_MEMCACHED_URLS` (which must list that
/// many), or throwaway ones when it is unset.
pub async fn servers(nodes: usize) -> Provided {
    let provided =
        tokio::task::spawn_blocking(move || Service::Memcached { nodes }.from_env_or_start())
            .await
            .expect("testkit task")
            .unwrap_or_else(|e| panic!("no memcached for the tests: {e}"));
    assert!(
        provided.urls().len() >= nodes,
        "{ENV} lists {} server(s); this test needs {nodes}",
        provided.urls().len()
    );
    provided
}

/// Throwaway servers of this test's own (for tests that kill them or need a known count).
pub async fn own_servers(nodes: usize) -> MemcachedServers {
    tokio::task::spawn_blocking(move || MemcachedServers::start(nodes))
        .await
        .expect("testkit task")
        .unwrap_or_else(|e| panic!("could not start memcached: {e}"))
}

/// A store on the first `nodes` servers with a fresh prefix, kept together with the servers it
/// needs (so throwaway servers live exactly as long as the store).
pub type TestStore = Guarded<MemcachedStore, Provided>;

pub async fn store(nodes: usize) -> TestStore {
    store_with(nodes, |c| c).await
}

pub async fn store_with(
    nodes: usize,
    tweak: impl FnOnce(MemcachedConfig) -> MemcachedConfig,
) -> TestStore {
    let servers = servers(nodes).await;
    let config =
        tweak(MemcachedConfig::new(&servers.urls()[..nodes]).with_prefix(unique_prefix("t")));
    let store = MemcachedStore::connect(config).await.expect("connect");
    Guarded::new(store, servers)
}
