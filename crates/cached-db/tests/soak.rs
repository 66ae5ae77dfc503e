//! Soak: 32 tasks run request cycles (load, change one value, save, through `Sessions`) for
//! 10 s against a cached database store, redis in front of PostgreSQL; each task checks that
//! every load returns exactly what it last saved for its own sessions: no lost, stale or foreign
//! session. `SESSIONKIT_REDIS_URL` / `SESSIONKIT_POSTGRES_URL` or throwaway servers;
//! `SESSIONKIT_SOAK_SECS` changes the duration (bounded to 1..=300 s).

mod common;

use sessionkit_cached_db::CachedDbOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_tasks_never_lose_or_mix_sessions() {
    let store = common::store_with(
        common::Cache::Redis,
        common::Db::Postgres,
        16,
        CachedDbOptions::new(),
    )
    .await;
    let duration = sessionkit_conformance::soak::duration();
    let cycles =
        sessionkit_conformance::soak::run(store.store.clone(), common::SOAK_TASKS, duration).await;
    let status = store.store.cache_status();
    eprintln!(
        "soak (redis -> postgres): {} tasks, {cycles} cycles in {duration:?} ({:.0} cycles/s); \
         cache: {status:?}",
        common::SOAK_TASKS,
        cycles as f64 / duration.as_secs_f64()
    );
    assert!(cycles > 0);
    assert_eq!(status.errors_total, 0, "the cache never failed: {status:?}");
}
