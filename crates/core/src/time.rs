//! Wall-clock time as whole Unix seconds, the resolution every back end stores.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time as whole seconds since the Unix epoch (negative before it).
///
/// Session expiry has one-second resolution, as Django's and as the TTLs of redis and
/// memcached. Arithmetic saturates instead of overflowing, so hostile or absurd expiry values
/// cannot panic.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(i64);

impl UnixTime {
    /// The current time (rounded down to the second).
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// The time `secs` seconds after the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        UnixTime(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> i64 {
        self.0
    }

    /// Converts a `SystemTime`, rounding down to the second; times before the epoch (a broken
    /// clock) become negative seconds rather than an error.
    pub fn from_system_time(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => UnixTime(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            Err(e) => {
                let d = e.duration();
                let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                // Round towards the past, as for positive times.
                let secs = if d.subsec_nanos() > 0 {
                    secs.saturating_add(1)
                } else {
                    secs
                };
                UnixTime(secs.saturating_neg())
            }
        }
    }

    /// As a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_secs(self.0.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(self.0.unsigned_abs())
        }
    }

    /// This time moved by `secs` seconds (saturating).
    #[must_use]
    pub const fn add_secs(self, secs: i64) -> Self {
        UnixTime(self.0.saturating_add(secs))
    }

    /// Whole seconds from `now` until this time; zero or negative once it has passed.
    pub const fn secs_after(self, now: UnixTime) -> i64 {
        self.0.saturating_sub(now.0)
    }

    /// The time to live at `now` for a back end with second-resolution TTLs: `None` when this
    /// time is not strictly in the future (the record is already expired and must not be
    /// served), otherwise at least one second.
    pub fn ttl_at(self, now: UnixTime) -> Option<u64> {
        let left = self.secs_after(now);
        (left > 0).then(|| left.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_saturates() {
        let t = UnixTime::from_secs(1_700_000_000);
        assert_eq!(UnixTime::from_system_time(t.to_system_time()), t);
        let before = UnixTime::from_secs(-5);
        assert_eq!(UnixTime::from_system_time(before.to_system_time()), before);
        assert_eq!(
            UnixTime::from_secs(i64::MAX).add_secs(10).as_secs(),
            i64::MAX
        );
        assert_eq!(
            UnixTime::from_secs(i64::MIN).secs_after(UnixTime::from_secs(10)),
            i64::MIN
        );
    }

    #[test]
    fn ttl_boundaries() {
        let now = UnixTime::from_secs(100);
        assert_eq!(UnixTime::from_secs(100).ttl_at(now), None);
        assert_eq!(UnixTime::from_secs(99).ttl_at(now), None);
        assert_eq!(UnixTime::from_secs(101).ttl_at(now), Some(1));
        assert_eq!(
            UnixTime::from_secs(i64::MAX).ttl_at(UnixTime::from_secs(i64::MIN)),
            Some(i64::MAX as u64)
        );
    }

    #[test]
    fn sub_second_before_epoch_rounds_down() {
        let t = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(UnixTime::from_system_time(t).as_secs(), -2);
    }
}
