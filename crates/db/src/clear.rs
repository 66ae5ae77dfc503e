//! [`ClearExpiredTask`]: `clear_expired` on a timer.

use std::time::Duration;

use sessionkit_core::SessionStore;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::store::DbStore;

/// The shortest period [`DbStore::clear_expired_every`] runs at.
const MIN_PERIOD: Duration = Duration::from_secs(1);

/// A running [`DbStore::clear_expired_every`] task. Dropping it (or calling
/// [`stop`](Self::stop)) stops the task; a batch already running on the database finishes.
#[derive(Debug)]
#[must_use = "the task stops when this handle is dropped"]
pub struct ClearExpiredTask {
    handle: JoinHandle<()>,
}

impl ClearExpiredTask {
    pub(crate) fn spawn(store: DbStore, period: Duration) -> Self {
        let period = period.max(MIN_PERIOD);
        let handle = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match store.clear_expired().await {
                    Ok(0) => tracing::debug!(
                        table = store.table(),
                        "sessionkit-db: no expired sessions to clear"
                    ),
                    Ok(removed) => tracing::info!(
                        table = store.table(),
                        removed,
                        "sessionkit-db: cleared expired sessions"
                    ),
                    Err(e) => tracing::warn!(
                        table = store.table(),
                        error = %e,
                        source = ?std::error::Error::source(&e).map(ToString::to_string),
                        "sessionkit-db: clearing expired sessions failed; retrying at the next tick"
                    ),
                }
            }
        });
        Self { handle }
    }

    /// Stops the task.
    pub fn stop(self) {
        // Drop does it.
    }

    /// Whether the task has stopped (it only stops when told to, or when its runtime shuts
    /// down).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl Drop for ClearExpiredTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}
