//! The soak every server-backed back end runs: many tasks doing request cycles for a while, each
//! checking that every load returns exactly what it last saved for its own sessions.

use std::time::{Duration, Instant};

use sessionkit_core::{SessionStore, Sessions};

use crate::behaviours::dashboard_payload;

/// Sessions each task owns and cycles through.
const SESSIONS_PER_TASK: usize = 4;
/// A hard cap on cycles per task, whatever the clock says.
const MAX_CYCLES: u64 = 5_000_000;

/// How long a soak runs: `SESSIONKIT_SOAK_SECS` (1–300) or 10 s.
pub fn duration() -> Duration {
    let secs = std::env::var("SESSIONKIT_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(10)
        .clamp(1, 300);
    Duration::from_secs(secs)
}

/// Runs `tasks` concurrent tasks of request cycles (load, check, change one value, save) through
/// [`Sessions`] for `run`, and returns how many cycles completed.
///
/// Each task owns a few sessions carrying the 1.5 KB dashboard payload, its name and a counter.
/// Every load must return its own session (not lost, not another task's) holding exactly the
/// counter it last saved and the unchanged payload; anything else panics with the task and
/// session. At the end each task logs its sessions out. Needs a multi-thread tokio runtime.
pub async fn run(store: impl SessionStore, tasks: usize, run: Duration) -> u64 {
    let sessions = Sessions::new(store);
    let deadline = Instant::now() + run;
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let sessions = sessions.clone();
            tokio::spawn(async move { task_cycles(sessions, task, deadline).await })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.await.expect("a soak task panicked");
    }
    total
}

async fn task_cycles(sessions: Sessions, task: usize, deadline: Instant) -> u64 {
    let payload = dashboard_payload();
    // (cookie, the counter this task last saved in it)
    let mut own = Vec::with_capacity(SESSIONS_PER_TASK);
    for slot in 0..SESSIONS_PER_TASK {
        let mut s = sessions.create();
        for (k, v) in &payload {
            s.insert_value(k, v.clone());
        }
        s.insert("owner", format!("{task}/{slot}")).unwrap();
        s.insert("counter", 0u64).unwrap();
        s.save().await.expect("initial save");
        own.push((s.key().expect("saved").as_str().to_owned(), 0u64));
    }
    let mut cycles = 0u64;
    while cycles < MAX_CYCLES && Instant::now() < deadline {
        let slot = (cycles as usize) % SESSIONS_PER_TASK;
        let (cookie, last) = &mut own[slot];
        let mut s = sessions.load(Some(cookie)).await.expect("load");
        assert_eq!(
            s.key().map(|k| k.as_str()),
            Some(cookie.as_str()),
            "task {task}: session {slot} was lost"
        );
        assert_eq!(
            s.get::<String>("owner").unwrap().as_deref(),
            Some(format!("{task}/{slot}").as_str()),
            "task {task}: a foreign session was served"
        );
        assert_eq!(
            s.get::<u64>("counter").unwrap(),
            Some(*last),
            "task {task}: session {slot} does not hold what was last saved"
        );
        for (k, v) in &payload {
            assert_eq!(s.get_value(k), Some(v), "task {task}: {k} changed");
        }
        *last += 1;
        s.insert("counter", *last).unwrap();
        s.save().await.expect("save");
        // The cookie store hands out a new value on every save.
        *cookie = s.key().expect("saved").as_str().to_owned();
        cycles += 1;
    }
    for (cookie, _) in own {
        let mut s = sessions.load(Some(&cookie)).await.expect("final load");
        s.flush().await.expect("flush");
    }
    cycles
}
