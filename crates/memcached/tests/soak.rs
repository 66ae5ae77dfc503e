//! Soak: 32 tasks × 10 s of request cycles (load, change one value, save) through `Sessions`,
//! each task checking that every load returns exactly what it last saved for its own sessions.
//! Runs against every server in `SESSIONKIT_MEMCACHED_URLS`, or one throwaway server.

mod common;

use std::time::Duration;

use sessionkit_memcached::{MemcachedConfig, MemcachedStore};

const TASKS: usize = 32;
const RUN: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_tasks_for_ten_seconds_lose_nothing() {
    let servers = common::servers(1).await;
    let store = MemcachedStore::connect(
        MemcachedConfig::new(servers.urls()).with_prefix(common::unique_prefix("soak")),
    )
    .await
    .unwrap();
    let total = sessionkit_conformance::soak::run(store, TASKS, RUN).await;
    assert!(total > 0);
    println!(
        "soak: {total} request cycles in {} s over {TASKS} tasks ({} per second)",
        RUN.as_secs(),
        total / RUN.as_secs()
    );
}
