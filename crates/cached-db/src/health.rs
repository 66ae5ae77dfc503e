//! What the store knows about its cache: whether to skip it for a while after errors, and which
//! keys' cache copies may be stale.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sessionkit_core::{Error, ErrorKind, SessionKey, UnixTime};

/// "Trusted": no overflow has happened.
const TRUSTED: i64 = i64::MIN;

/// Keys whose cache copy may contradict the database, each with the generation of its last
/// marking, so that an invalidation that started before a newer marking does not clear it.
#[derive(Debug, Default)]
struct Suspects {
    keys: HashMap<SessionKey, u64>,
    next_generation: u64,
}

#[derive(Debug)]
pub(crate) struct Health {
    epoch: Instant,
    threshold: u32,
    window: Duration,
    consecutive: AtomicU32,
    /// Nanoseconds after `epoch` until which the cache is skipped; 0 = not skipped.
    bypass_until: AtomicU64,
    max_suspects: usize,
    suspects: Mutex<Suspects>,
    /// `suspects.keys.len()`, readable without the lock (the hot path only reads this).
    suspect_count: AtomicUsize,
    /// Unix seconds until which loads skip the cache because suspect keys were forgotten.
    untrusted_until: AtomicI64,
    /// The latest expiry this process gave a cache entry.
    max_cache_expiry: AtomicI64,
    errors_total: AtomicU64,
}

fn lock(m: &Mutex<Suspects>) -> MutexGuard<'_, Suspects> {
    // The map stays consistent whatever panicked while holding it: every change is one call.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a cache error says something about the cache's health. Collisions and vanished
/// records are answers; a record too large for the cache is the record's fault.
fn counts_against_health(e: &Error) -> bool {
    !matches!(
        e.kind(),
        ErrorKind::Collision | ErrorKind::Vanished | ErrorKind::TooLarge
    )
}

impl Health {
    pub(crate) fn new(threshold: u32, window: Duration, max_suspects: usize) -> Self {
        Self {
            epoch: Instant::now(),
            threshold,
            window,
            consecutive: AtomicU32::new(0),
            bypass_until: AtomicU64::new(0),
            max_suspects,
            suspects: Mutex::new(Suspects::default()),
            suspect_count: AtomicUsize::new(0),
            untrusted_until: AtomicI64::new(TRUSTED),
            max_cache_expiry: AtomicI64::new(TRUSTED),
            errors_total: AtomicU64::new(0),
        }
    }

    fn now_nanos(&self) -> u64 {
        // +1 so that "now" is never the 0 that means "not bypassing".
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Whether this call may use the cache. While a bypass window runs the answer is no; once
    /// it has passed, exactly one caller is let through as the probe (the window is extended
    /// for the others until the probe's answer ends or renews it).
    pub(crate) fn cache_allowed(&self) -> bool {
        let until = self.bypass_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now_nanos();
        if now < until {
            return false;
        }
        let next = now.saturating_add(nanos(self.window));
        self.bypass_until
            .compare_exchange(until, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the cache is being skipped right now (no probe is claimed).
    pub(crate) fn bypassing(&self) -> bool {
        let until = self.bypass_until.load(Ordering::Acquire);
        until != 0 && self.now_nanos() < until
    }

    /// Whether loads may read the cache (false after suspect keys were forgotten, until every
    /// entry that may be stale has expired).
    pub(crate) fn reads_trusted(&self) -> bool {
        let until = self.untrusted_until.load(Ordering::Acquire);
        until == TRUSTED || UnixTime::now().as_secs() >= until
    }

    /// Unix time until which loads skip the cache, if they do.
    pub(crate) fn untrusted_until(&self) -> Option<UnixTime> {
        let until = self.untrusted_until.load(Ordering::Acquire);
        (until != TRUSTED && UnixTime::now().as_secs() < until).then(|| UnixTime::from_secs(until))
    }

    /// The cache answered.
    pub(crate) fn on_success(&self) {
        if self.consecutive.load(Ordering::Relaxed) != 0 {
            self.consecutive.store(0, Ordering::Relaxed);
        }
        if self.bypass_until.load(Ordering::Relaxed) != 0
            && self.bypass_until.swap(0, Ordering::AcqRel) != 0
        {
            tracing::info!(
                target: "sessionkit::cached_db",
                "the session cache answers again; using it again"
            );
        }
    }

    /// A cache call failed with `e`.
    pub(crate) fn on_error(&self, e: &Error, op: &'static str) {
        if !counts_against_health(e) {
            return;
        }
        self.errors_total.fetch_add(1, Ordering::Relaxed);
        let n = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(
            target: "sessionkit::cached_db",
            op, error = %e, consecutive = n,
            "session cache call failed; served from the database"
        );
        if n >= self.threshold && !self.window.is_zero() {
            let until = self.now_nanos().saturating_add(nanos(self.window));
            if self.bypass_until.swap(until, Ordering::AcqRel) == 0 {
                tracing::warn!(
                    target: "sessionkit::cached_db",
                    error = %e, consecutive = n, window = ?self.window,
                    "session cache failing: using the database only, probing the cache again \
                     after the window; check the cache server"
                );
            }
        }
    }

    pub(crate) fn consecutive_errors(&self) -> u32 {
        self.consecutive.load(Ordering::Relaxed)
    }

    pub(crate) fn errors_total(&self) -> u64 {
        self.errors_total.load(Ordering::Relaxed)
    }

    /// Records that the cache was given an entry expiring at `expires_at`.
    pub(crate) fn note_cache_expiry(&self, expires_at: UnixTime) {
        let secs = expires_at.as_secs();
        if self.max_cache_expiry.load(Ordering::Relaxed) < secs {
            self.max_cache_expiry.fetch_max(secs, Ordering::Relaxed);
        }
    }

    pub(crate) fn suspect_count(&self) -> usize {
        self.suspect_count.load(Ordering::Acquire)
    }

    /// The generation of `key`'s marking, if its cache copy may be stale.
    pub(crate) fn suspect(&self, key: &SessionKey) -> Option<u64> {
        if self.suspect_count() == 0 {
            return None;
        }
        lock(&self.suspects).keys.get(key).copied()
    }

    /// Remembers that `key`'s cache copy may be stale (its database record was written or
    /// deleted, and the cache could not be brought in line). `expires_at` is the database
    /// record's expiry, when there is one.
    pub(crate) fn mark_suspect(&self, key: &SessionKey, expires_at: Option<UnixTime>) {
        let mut s = lock(&self.suspects);
        if s.keys.len() >= self.max_suspects && !s.keys.contains_key(key) {
            drop(s);
            self.forget(expires_at);
            return;
        }
        let generation = s.next_generation;
        s.next_generation += 1;
        s.keys.insert(key.clone(), generation);
        self.suspect_count.store(s.keys.len(), Ordering::Release);
    }

    /// The suspect set is full: stop trusting cache reads until every entry this process may
    /// have left stale has expired.
    fn forget(&self, expires_at: Option<UnixTime>) {
        let latest = self
            .max_cache_expiry
            .load(Ordering::Relaxed)
            .max(expires_at.map_or(TRUSTED, UnixTime::as_secs))
            // At least a moment from now, even if nothing was ever cached.
            .max(UnixTime::now().as_secs() + 1);
        let before = self.untrusted_until.fetch_max(latest, Ordering::AcqRel);
        if before == TRUSTED || before < UnixTime::now().as_secs() {
            tracing::error!(
                target: "sessionkit::cached_db",
                max_suspect_keys = self.max_suspects,
                until = latest,
                "too many sessions whose cache copy may be stale to remember them all: loads \
                 skip the cache (database only) until every such copy has expired; raise \
                 max_suspect_keys, and check the cache server"
            );
        }
    }

    /// Ends the distrust that follows an overflow.
    pub(crate) fn trust_again(&self) {
        if self.untrusted_until.swap(TRUSTED, Ordering::AcqRel) != TRUSTED {
            tracing::info!(
                target: "sessionkit::cached_db",
                "session cache trusted again by the operator"
            );
        }
    }

    /// Clears `key`'s marking if it is still the one of `generation`.
    pub(crate) fn clear_suspect(&self, key: &SessionKey, generation: u64) {
        let mut s = lock(&self.suspects);
        if s.keys.get(key) == Some(&generation) {
            s.keys.remove(key);
            self.suspect_count.store(s.keys.len(), Ordering::Release);
        }
    }

    /// Up to `n` suspect keys with their generations.
    pub(crate) fn some_suspects(&self, n: usize) -> Vec<(SessionKey, u64)> {
        if self.suspect_count() == 0 {
            return Vec::new();
        }
        lock(&self.suspects)
            .keys
            .iter()
            .take(n)
            .map(|(k, g)| (k.clone(), *g))
            .collect()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bypass_starts_after_threshold_and_one_probe_passes() {
        let h = Health::new(3, Duration::from_millis(50), 10);
        let err = Error::unavailable("redis", std::io::Error::other("down"));
        h.on_error(&err, "load");
        h.on_error(&err, "load");
        assert!(h.cache_allowed());
        h.on_error(&err, "load");
        assert!(!h.cache_allowed(), "bypassing after 3 errors");
        std::thread::sleep(Duration::from_millis(60));
        assert!(h.cache_allowed(), "the first call after the window probes");
        assert!(!h.cache_allowed(), "only one probe at a time");
        h.on_success();
        assert!(h.cache_allowed());
        assert_eq!(h.consecutive_errors(), 0);
    }

    #[test]
    fn answers_do_not_count_as_errors() {
        let h = Health::new(1, Duration::from_secs(60), 10);
        h.on_error(&Error::collision("redis"), "create");
        h.on_error(&Error::vanished("redis"), "update");
        assert!(h.cache_allowed());
        assert_eq!(h.errors_total(), 0);
    }

    #[test]
    fn suspects_clear_only_at_their_generation() {
        let h = Health::new(1, Duration::from_secs(1), 10);
        let k = SessionKey::generate();
        assert_eq!(h.suspect(&k), None);
        h.mark_suspect(&k, None);
        let g = h.suspect(&k).unwrap();
        h.mark_suspect(&k, None);
        h.clear_suspect(&k, g);
        assert!(
            h.suspect(&k).is_some(),
            "a newer marking survives an older clear"
        );
        let g2 = h.suspect(&k).unwrap();
        h.clear_suspect(&k, g2);
        assert_eq!(h.suspect(&k), None);
        assert_eq!(h.suspect_count(), 0);
    }

    #[test]
    fn overflow_distrusts_reads_until_cached_entries_expire() {
        let h = Health::new(1, Duration::from_secs(1), 2);
        h.note_cache_expiry(UnixTime::now().add_secs(100));
        for _ in 0..2 {
            h.mark_suspect(&SessionKey::generate(), None);
        }
        assert!(h.reads_trusted());
        h.mark_suspect(&SessionKey::generate(), Some(UnixTime::now().add_secs(5)));
        assert!(!h.reads_trusted());
        let until = h.untrusted_until().unwrap();
        assert!(until.as_secs() >= UnixTime::now().add_secs(99).as_secs());
        h.trust_again();
        assert!(h.reads_trusted());
    }
}
