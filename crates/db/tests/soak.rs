//! Soak: 32 tasks run request cycles (load, change one value, save, through `Sessions`) for
//! 10 s against one PostgreSQL store; each task checks that every load returns exactly what it
//! last saved for its own sessions: no lost, stale or foreign session. `SESSIONKIT_POSTGRES_URL`
//! or a throwaway server; `SESSIONKIT_SOAK_SECS` changes the duration (bounded to 1..=300 s).
#![cfg(feature = "postgres")]

mod common;

use sessionkit_core::SessionStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_tasks_never_lose_or_mix_sessions() {
    let db = common::postgres_store().await;
    let duration = common::soak_duration();
    let cycles =
        sessionkit_conformance::soak::run(db.store.clone(), common::SOAK_TASKS, duration).await;
    eprintln!(
        "soak: {} tasks, {cycles} cycles in {duration:?} ({:.0} cycles/s)",
        common::SOAK_TASKS,
        cycles as f64 / duration.as_secs_f64()
    );
    assert!(cycles > 0);
    // Every task logged its sessions out at the end: nothing live is left behind.
    assert_eq!(db.store.clear_expired().await.unwrap(), 0);
}
