//! [`Clock`]: where the session layer reads the time, so that expiry can be tested to the
//! second without sleeping.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::UnixTime;

/// The time the session layer works with: when a session saved now expires, whether a fixed
/// expiry has passed, whether a client-side record is still live. [`SystemClock`] by default;
/// [`ManualClock`] in tests. Set with
/// [`SessionConfig::with_clock`](crate::SessionConfig::with_clock).
///
/// Stores whose server keeps time (redis and memcached TTLs, the database's `expire_date`
/// compared with the server's `now`) expire records by the server's clock; a manual clock
/// governs what the session layer decides, and what a store that compares against the caller's
/// time (locmem, cookies) is asked to keep.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current time, in whole seconds.
    fn now(&self) -> UnixTime;
}

/// The operating system's clock ([`UnixTime::now`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime::now()
    }
}

/// A clock that stands still until told to move: for tests of expiry rules. Clones share the
/// time.
///
/// ```
/// use sessionkit_core::{Clock, ManualClock, UnixTime};
///
/// let clock = ManualClock::new(UnixTime::from_secs(1_700_000_000));
/// let shared = clock.clone();
/// clock.advance(59);
/// assert_eq!(shared.now(), UnixTime::from_secs(1_700_000_059));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: UnixTime) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(start.as_secs())),
        }
    }

    /// A clock showing the system's time now (and then standing still).
    pub fn starting_now() -> Self {
        Self::new(UnixTime::now())
    }

    /// Shows `time` from now on.
    pub fn set(&self, time: UnixTime) {
        self.now.store(time.as_secs(), Ordering::SeqCst);
    }

    /// Moves the time by `secs` seconds (negative: back).
    pub fn advance(&self, secs: i64) {
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(secs))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime::from_secs(self.now.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_saturates() {
        let clock = ManualClock::new(UnixTime::from_secs(10));
        assert_eq!(clock.now(), UnixTime::from_secs(10));
        clock.advance(-20);
        assert_eq!(clock.now(), UnixTime::from_secs(-10));
        clock.set(UnixTime::from_secs(i64::MAX - 1));
        clock.advance(5);
        assert_eq!(clock.now(), UnixTime::from_secs(i64::MAX));
        let system = SystemClock.now().as_secs();
        assert!((system - UnixTime::now().as_secs()).abs() <= 1);
    }
}
