//! [`ClearExpiredTask`]: Django's `clearsessions` on a timer, inside the application, for any
//! store.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::{Housekeeping, SessionStore};

/// The shortest period a [`ClearExpiredTask`] runs at.
pub const MIN_CLEAR_PERIOD: Duration = Duration::from_secs(1);

/// A running [`Sessions::clear_expired_every`](crate::Sessions::clear_expired_every) task.
/// Dropping it (or calling [`stop`](Self::stop)) stops the task; a batch already running on the
/// server finishes.
#[derive(Debug)]
#[must_use = "the task stops when this handle is dropped"]
pub struct ClearExpiredTask {
    handle: JoinHandle<()>,
}

impl ClearExpiredTask {
    /// Runs `store.clear_expired()` now and then every `period` (at least
    /// [`MIN_CLEAR_PERIOD`]) on a tokio task; see
    /// [`Sessions::clear_expired_every`](crate::Sessions::clear_expired_every).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    pub fn spawn(store: Arc<dyn SessionStore>, period: Duration) -> Self {
        let period = period.max(MIN_CLEAR_PERIOD);
        let housekeeping = store.housekeeping();
        let handle = tokio::spawn(async move {
            if matches!(
                housekeeping,
                Housekeeping::ServerExpires | Housekeeping::ClientSide
            ) {
                tracing::debug!(
                    advice = housekeeping.advice(),
                    "sessionkit: periodic clear_expired not needed; the task ends"
                );
                return;
            }
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match store.clear_expired().await {
                    Ok(0) => tracing::debug!("sessionkit: no expired sessions to clear"),
                    Ok(removed) => {
                        tracing::info!(removed, "sessionkit: cleared expired sessions");
                    }
                    Err(e) => tracing::warn!(
                        error = %e,
                        source = ?std::error::Error::source(&e).map(ToString::to_string),
                        "sessionkit: clearing expired sessions failed; retrying at the next tick"
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

    /// Whether the task has ended: at once for a store with nothing to clear (its server
    /// expires records, or the sessions live in cookies), otherwise only when stopped or when
    /// its runtime shuts down.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl Drop for ClearExpiredTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}
