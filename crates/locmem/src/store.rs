//! [`LocMemStore`]: the shards, the trait implementation and the operator's view.

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use sessionkit_core::{
    async_trait, Capabilities, Error, ErrorKind, Expected, Housekeeping, KeyFormat, Loaded, Result,
    SessionKey, SessionStore, StoreStats, Stored, UnixTime, Version,
};

use crate::config::{LocMemConfig, ENTRY_OVERHEAD};
use crate::shard::{Key, Limits, Refused, Replacement, Shard, Written};

use crate::BACKEND;

/// How many expired entries `clear_expired` removes per lock of a shard before letting others in.
const CLEAR_BATCH: usize = 1024;

/// Sessions in the memory of this process, shared by all its threads and tasks.
///
/// Cloning is cheap and gives another handle to the same sessions. The store is split into
/// shards, each behind its own lock, held for a hash-table lookup and a copy of the record
/// (an update rewrites the stored buffer in place when the record still fits it, so the usual
/// request allocates nothing but the copy it loads). Expired records
/// are never served, and are removed as reads meet them, a few at a time by every write, and
/// all at once by [`clear_expired`](SessionStore::clear_expired). The store is bounded in
/// entries and bytes; see the [crate documentation](crate#eviction) for what happens when it
/// is full.
///
/// ```
/// use sessionkit_core::{SessionKey, SessionStore, UnixTime};
/// use sessionkit_locmem::LocMemStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> sessionkit_core::Result<()> {
/// let store = LocMemStore::default();
/// let key = SessionKey::generate();
/// let created = store.create(&key, b"record", UnixTime::now().add_secs(60)).await?;
/// let loaded = store.load(&key).await?.expect("stored");
/// assert_eq!(loaded.record, b"record");
/// assert_eq!(loaded.version, created.version);
/// assert_eq!(store.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LocMemStore {
    inner: Arc<Inner>,
}

/// A shard on its own cache lines, so that neighbouring locks do not contend for one line.
#[repr(align(128))]
struct Padded(Mutex<Shard>);

struct Inner {
    shards: Box<[Padded]>,
    /// `shards.len() - 1` (shard counts are powers of two).
    mask: usize,
    hasher: RandomState,
    limits: Limits,
    config: LocMemConfig,
    evicted: AtomicU64,
    unreported: AtomicU64,
    /// Second of the last eviction warning (one per second at most).
    last_warning: AtomicI64,
}

impl Default for LocMemStore {
    /// A store with [`LocMemConfig::default`].
    fn default() -> Self {
        Self::new(LocMemConfig::default())
    }
}

impl fmt::Debug for LocMemStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocMemStore")
            .field("config", &self.inner.config)
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

impl LocMemStore {
    /// An empty store with `config`.
    pub fn new(config: LocMemConfig) -> Self {
        let count = config.effective_shards();
        let hasher = RandomState::new();
        let shards = (0..count)
            .map(|_| Padded(Mutex::new(Shard::new(hasher.clone()))))
            .collect();
        Self {
            inner: Arc::new(Inner {
                shards,
                mask: count - 1,
                hasher,
                limits: Limits {
                    max_entries: (config.max_entries() / count).max(1),
                    max_bytes: config.max_bytes() / count,
                },
                config,
                evicted: AtomicU64::new(0),
                unreported: AtomicU64::new(0),
                last_warning: AtomicI64::new(i64::MIN),
            }),
        }
    }

    /// The configuration the store was made with.
    pub fn config(&self) -> &LocMemConfig {
        &self.inner.config
    }

    /// The number of shards in use (see [`LocMemConfig::effective_shards`]).
    pub fn shards(&self) -> usize {
        self.inner.shards.len()
    }

    /// The most sessions one shard holds: `max_entries / shards`.
    pub fn max_entries_per_shard(&self) -> usize {
        self.inner.limits.max_entries
    }

    /// The longest record accepted: a shard's byte budget (`max_bytes / shards`) less
    /// [`ENTRY_OVERHEAD`]: the store's declared
    /// [`max_record_bytes`](sessionkit_core::Capabilities::max_record_bytes), so longer ones are
    /// refused with [`ErrorKind::TooLarge`] before they reach it.
    pub fn max_record_bytes(&self) -> usize {
        self.inner.limits.max_bytes.saturating_sub(ENTRY_OVERHEAD)
    }

    /// How many sessions are stored, counting expired ones not yet removed. Takes each shard's
    /// lock in turn, so the figure is approximate while others write.
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no session is stored (expired ones not yet removed count as stored).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The memory charged for the stored sessions: their records' buffers plus
    /// [`ENTRY_OVERHEAD`] each (see [`LocMemConfig`]); compare with [`LocMemConfig::max_bytes`]. Approximate, as
    /// [`len`](Self::len).
    pub fn bytes(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).bytes()).sum()
    }

    /// How many live sessions have been evicted to make room since the store was made. Anything
    /// but zero means the bounds are too small for the traffic.
    pub fn evicted(&self) -> u64 {
        self.inner.evicted.load(Ordering::Relaxed)
    }

    /// The key's bytes, its hash, and its shard.
    fn locate<'a>(&self, key: &'a SessionKey) -> Option<(&'a Key, u64, &Padded)> {
        let key: &Key = key.as_str().as_bytes().try_into().ok()?;
        let hash = self.inner.hasher.hash_one(key);
        // The hash table uses the low bits (bucket) and the top seven (tag): pick the shard
        // from bits in between so that a shard's keys still spread over its table.
        let shard = &self.inner.shards[(hash >> 40) as usize & self.inner.mask];
        Some((key, hash, shard))
    }

    /// [`locate`](Self::locate) for a write. Keys reach the store checked
    /// ([`CheckedStore`](sessionkit_core::CheckedStore)); one that bypassed the check and
    /// cannot be a key of this store is refused rather than stored.
    fn locate_for_write<'a>(&self, key: &'a SessionKey) -> Result<(&'a Key, u64, &Padded)> {
        self.locate(key)
            .ok_or_else(|| Error::new(ErrorKind::Invalid, BACKEND))
    }

    /// Counts evictions and warns about them, at most once a second.
    /// Acts on what a write did (outside the lock); returns the version it wrote.
    fn report(&self, written: Written, now: UnixTime) -> Version {
        drop(written.old);
        if written.evicted == 0 {
            return written.version;
        }
        let inner = &self.inner;
        let total = inner.evicted.fetch_add(written.evicted, Ordering::Relaxed) + written.evicted;
        inner
            .unreported
            .fetch_add(written.evicted, Ordering::Relaxed);
        let last = inner.last_warning.load(Ordering::Relaxed);
        if now.as_secs() > last
            && inner
                .last_warning
                .compare_exchange(last, now.as_secs(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let evicted = inner.unreported.swap(0, Ordering::Relaxed);
            tracing::warn!(
                target: "sessionkit::locmem",
                evicted,
                evicted_total = total,
                max_entries = inner.config.max_entries(),
                max_bytes = inner.config.max_bytes(),
                "locmem session store full: evicted {evicted} live sessions (those closest to \
                 expiry) to make room; their users are logged out. Raise max_entries/max_bytes"
            );
        }
        written.version
    }
}

fn lock(shard: &Padded) -> MutexGuard<'_, Shard> {
    // The code run under a shard's lock does not panic (running out of memory aborts), so a
    // poisoned lock cannot hide a half-done change: carry on rather than panic.
    shard.0.lock().unwrap_or_else(PoisonError::into_inner)
}

fn refused(r: Refused) -> Error {
    match r {
        Refused::Collision => Error::collision(BACKEND),
        Refused::Vanished => Error::vanished(BACKEND),
        Refused::Conflict => Error::conflict(BACKEND),
    }
}

#[async_trait]
impl SessionStore for LocMemStore {
    fn key_format(&self) -> KeyFormat {
        KeyFormat::Random
    }

    /// Compare-and-set in the shard; records up to a shard's byte budget.
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_compare_and_set(true)
            .with_max_record_bytes(self.max_record_bytes())
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
        let Some((key, hash, shard)) = self.locate(key) else {
            return Ok(None);
        };
        let now = UnixTime::now();
        let data = lock(shard).get(hash, key, now);
        Ok(data)
    }

    async fn create(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<Stored> {
        let (k, hash, shard) = self.locate_for_write(key)?;
        let data = record.to_vec();
        let now = UnixTime::now();
        let result = lock(shard).create(hash, k, data, expires_at, now, self.inner.limits);
        let version = self.report(result.map_err(refused)?, now);
        Ok(Stored::new(key.clone(), version))
    }

    async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        expected: Expected,
    ) -> Result<Stored> {
        let (k, hash, shard) = self.locate_for_write(key)?;
        let now = UnixTime::now();
        let new = Replacement {
            record,
            expires_at,
            expected,
        };
        let result = lock(shard).update(hash, k, new, now, self.inner.limits);
        let version = self.report(result.map_err(refused)?, now);
        Ok(Stored::new(key.clone(), version))
    }

    async fn touch(&self, key: &SessionKey, expires_at: UnixTime) -> Result<()> {
        let Some((key, hash, shard)) = self.locate(key) else {
            return Err(Error::vanished(BACKEND));
        };
        let now = UnixTime::now();
        let result = lock(shard).touch(hash, key, expires_at, now);
        self.report(result.map_err(refused)?, now);
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        if let Some((key, hash, shard)) = self.locate(key) {
            let old = lock(shard).delete(hash, key);
            drop(old);
        }
        Ok(())
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool> {
        let Some((key, hash, shard)) = self.locate(key) else {
            return Ok(false);
        };
        let now = UnixTime::now();
        Ok(lock(shard).contains(hash, key, now))
    }

    /// Removes every expired session, one shard at a time and at most 1024 per lock, yielding
    /// to the runtime in between, so readers and writers are never held up for long.
    fn housekeeping(&self) -> Housekeeping {
        Housekeeping::InProcess
    }

    async fn stats(&self) -> Result<StoreStats> {
        let mut stats = StoreStats::new(BACKEND);
        stats.housekeeping = Some(Housekeeping::InProcess);
        stats.items = Some(self.len() as u64);
        stats.memory_bytes = Some(self.bytes() as u64);
        stats.memory_limit_bytes = Some(self.config().max_bytes() as u64);
        stats.evictions = Some(self.evicted());
        Ok(stats)
    }

    async fn clear_expired(&self) -> Result<u64> {
        let now = UnixTime::now();
        let mut total = 0u64;
        for shard in self.inner.shards.iter() {
            loop {
                let purged = {
                    let mut shard = lock(shard);
                    let purged = shard.purge_expired(now, CLEAR_BATCH);
                    if purged < CLEAR_BATCH {
                        shard.shrink_if_sparse();
                    }
                    purged
                };
                total += purged as u64;
                YieldNow(false).await;
                if purged < CLEAR_BATCH {
                    break;
                }
            }
        }
        Ok(total)
    }
}

/// Lets the executor run other tasks once (any executor: it only wakes itself).
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
