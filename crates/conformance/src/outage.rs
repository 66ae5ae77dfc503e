//! The back-end-independent half of a fault test: a server killed while many tasks run request
//! cycles. The back end's own test builds the store on a throwaway server, calls
//! [`KillUnderLoad::run`] with a closure that kills that server, then restarts it and checks
//! that the same store serves again (what recovery means differs per back end: redis comes
//! back empty, a database keeps its rows).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sessionkit_core::{ErrorKind, Result, Sessions};

/// One request cycle: load the session under `key`, bump its counter `n`, save it. Returns the
/// counter saved.
pub async fn cycle(sessions: &Sessions, key: &str) -> Result<u64> {
    let mut s = sessions.load(Some(key)).await?;
    let n: u64 = s.get("n")?.unwrap_or(0) + 1;
    s.insert("n", n)?;
    s.save().await?;
    Ok(n)
}

/// Runs `fut`, panicking if it is still pending after `hang` (a call past every configured
/// timeout is a hang).
pub async fn bounded<T>(what: &str, hang: Duration, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(hang, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} hung for {hang:?}, beyond every configured timeout"),
    }
}

/// How a server is killed under load.
#[derive(Debug, Clone, Copy)]
pub struct KillUnderLoad {
    /// Concurrent tasks, one session each.
    pub tasks: usize,
    /// How long the tasks run against the live server before the kill.
    pub warm_up: Duration,
    /// How long they keep running against the dead server.
    pub down_for: Duration,
    /// How long a task waits after a failed call before the next (failures return at once).
    pub retry_pause: Duration,
    /// A single cycle pending longer than this is a hang and fails the test.
    pub hang: Duration,
}

/// What happened while the server was killed.
#[derive(Debug, Clone)]
pub struct Killed {
    /// The tasks' session keys (saved before the kill), for the back end's recovery checks.
    pub keys: Vec<String>,
    /// Cycles that succeeded (all before the kill).
    pub cycles_before_kill: u64,
    /// Cycles started after the kill (all failed).
    pub errors_after_kill: u64,
}

impl KillUnderLoad {
    /// Saves one session per task, runs request cycles in every task, calls `kill` after
    /// [`warm_up`](Self::warm_up), keeps the tasks running for [`down_for`](Self::down_for),
    /// then stops them.
    ///
    /// Panics (failing the test) if a cycle failed while the server was up, a cycle started
    /// after the kill succeeded, a call failed with anything but `Unavailable`/`Timeout`, a
    /// cycle hung, a task panicked, no cycle completed before the kill, or some task saw no
    /// failure after it. Needs a multi-thread tokio runtime.
    pub async fn run(&self, sessions: &Sessions, kill: impl FnOnce()) -> Killed {
        let mut keys = Vec::with_capacity(self.tasks);
        for i in 0..self.tasks {
            let mut s = sessions.create();
            s.insert("task", i).expect("a number is a value");
            s.save().await.expect("save before the kill");
            keys.push(s.key().expect("saved").as_str().to_owned());
        }

        // Set just before the kill (calls may fail from then on) and just after it (calls
        // started from then on must fail).
        let killing = Arc::new(AtomicBool::new(false));
        let killed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicU64::new(0));
        let before = Arc::new(AtomicU64::new(0));
        let this = *self;
        let tasks: Vec<_> = keys
            .iter()
            .cloned()
            .map(|key| {
                let (sessions, killing, killed, stop, errors, before) = (
                    sessions.clone(),
                    killing.clone(),
                    killed.clone(),
                    stop.clone(),
                    errors.clone(),
                    before.clone(),
                );
                tokio::spawn(async move {
                    // Bounded: at most 100,000 cycles, and the caller stops us within seconds.
                    for _ in 0..100_000 {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let after_kill = killed.load(Ordering::SeqCst);
                        match bounded("a request cycle", this.hang, cycle(&sessions, &key)).await {
                            Ok(_) => {
                                assert!(!after_kill, "a request started after the kill succeeded");
                                before.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => {
                                assert!(
                                    matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
                                    "unexpected error kind: {e:?}"
                                );
                                if after_kill {
                                    errors.fetch_add(1, Ordering::SeqCst);
                                } else if !killing.load(Ordering::SeqCst) {
                                    panic!("a request failed while the server was up: {e:?}");
                                }
                            }
                        }
                        if after_kill {
                            tokio::time::sleep(this.retry_pause).await;
                        }
                    }
                })
            })
            .collect();

        tokio::time::sleep(self.warm_up).await;
        killing.store(true, Ordering::SeqCst);
        kill();
        killed.store(true, Ordering::SeqCst);
        tokio::time::sleep(self.down_for).await;
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.expect("a request task panicked");
        }
        let outcome = Killed {
            keys,
            cycles_before_kill: before.load(Ordering::SeqCst),
            errors_after_kill: errors.load(Ordering::SeqCst),
        };
        assert!(
            outcome.cycles_before_kill > 0,
            "no cycle completed before the kill"
        );
        assert!(
            outcome.errors_after_kill >= self.tasks as u64,
            "every task saw its calls fail while the server was down ({} failures)",
            outcome.errors_after_kill
        );
        outcome
    }
}
