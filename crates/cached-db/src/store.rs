//! [`CachedDbStore`]: a cache store in front of a database store, the database being the truth.

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use sessionkit_core::{
    async_trait, Capabilities, Error, Expected, Housekeeping, KeyFormat, Loaded, Result,
    SessionKey, SessionStore, StoreStats, Stored, UnixTime, Version,
};

use crate::health::Health;
use crate::options::CachedDbOptions;

/// The back-end name errors of this crate carry.
use crate::BACKEND;

/// Per-key lock stripes (a power of two).
const STRIPES: usize = 1024;

/// Suspect keys one background pass re-invalidates before looking again.
const DRAIN_BATCH: usize = 64;

/// Sessions in a database (`D`, the truth) with a cache (`C`) in front: Django's `cached_db`
/// engine, made safe.
///
/// | operation | database | cache |
/// |---|---|---|
/// | `load` | on a cache miss or cache error | read first; a database hit is copied in with `create` (never overwrites a newer copy) |
/// | `create` | `create` first; a collision is returned, the cache untouched | then `create` (write-through) |
/// | `update` | `update` first; an error is returned, the cache untouched (a vanished record or a timed-out write also drops the cache copy) | then `update`, or `create` if the cache has no copy |
/// | `touch` | `touch` first | then `touch` |
/// | `delete` | `delete`; its error is returned | always deleted, even if the database failed, and again after [`delete_recheck`](CachedDbOptions::delete_recheck) |
/// | `exists` | only the database (the truth; not on the request path) | — |
/// | `clear_expired` | its count is returned | also asked to clear (in-process caches need it), result ignored |
///
/// **A cache that fails never fails a request.** Every cache error is logged and the request
/// is served by the database. When the cache cannot take a write that the database took, the
/// key's cache copy is deleted; if that fails too, the key is remembered as *suspect* and its
/// loads go to the database until an invalidation succeeds (retried on the key's next access
/// and in the background as soon as the cache answers again). After a few consecutive cache
/// errors the cache is skipped altogether for a short window, then probed by one request (see
/// [`CachedDbOptions::bypass_after`]).
///
/// Within one store (and its clones), each database call and the cache call that follows it
/// run under a per-key lock (1,024 stripes), so the cache sees one session's writes, deletes and
/// refills in the order the database took them: concurrent requests of one process never leave
/// an older copy in the cache. Cache hits take no lock.
///
/// **Coherence between processes** holds when every process uses the same shared cache (redis,
/// memcached); an in-process cache ([`sessionkit-locmem`](https://github.com/sessionkit/sessionkit/tree/main/crates/locmem))
/// is *not* coherent across processes. `docs/cached-db.md` describes exactly what each setup
/// sees.
///
/// Both stores must be server-side stores ([`KeyFormat::Random`]); use
/// [`try_new`](Self::try_new) to have a wrong pairing (a cookie store on either side) rejected
/// when the store is built. Cloning is cheap and shares both stores and the cache's health.
///
/// ```
/// use sessionkit_cached_db::CachedDbStore;
/// use sessionkit_core::{SessionKey, SessionStore, UnixTime};
/// use sessionkit_locmem::LocMemStore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> sessionkit_core::Result<()> {
/// // Two in-process stores stand in for a cache and a database here.
/// let store = CachedDbStore::try_new(LocMemStore::default(), LocMemStore::default())?;
/// let key = SessionKey::generate();
/// store.create(&key, b"record", UnixTime::now().add_secs(60)).await?;
/// assert_eq!(store.cache().len(), 1);
/// assert_eq!(store.db().len(), 1);
/// # Ok(()) }
/// ```
pub struct CachedDbStore<C, D> {
    inner: Arc<Inner<C, D>>,
}

struct Inner<C, D> {
    cache: C,
    db: D,
    options: CachedDbOptions,
    health: Health,
    /// Why every call fails, when the two stores cannot be paired.
    misconfigured: Option<String>,
    /// A background pass over the suspect keys is running.
    draining: AtomicBool,
    /// Striped per-key locks: a database call and the cache call that follows it happen
    /// under the key's stripe, so that within this process the cache sees the writes (and
    /// refills) of one session in the order the database took them.
    stripes: Box<[tokio::sync::Mutex<()>]>,
    hasher: RandomState,
}

impl<C, D> Clone for CachedDbStore<C, D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

/// What a [`CachedDbStore`] currently thinks of its cache (see [`CachedDbStore::cache_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStatus {
    /// The cache is skipped after consecutive errors (until the window passes and a probe
    /// succeeds).
    pub bypassing: bool,
    /// Cache calls that failed in a row (0 once one succeeds).
    pub consecutive_errors: u32,
    /// Failed cache calls since the store was built.
    pub errors_total: u64,
    /// Keys whose cache copy may be stale; their loads go to the database.
    pub suspect_keys: usize,
    /// Loads skip the cache until this time because more keys became suspect than
    /// [`max_suspect_keys`](CachedDbOptions::max_suspect_keys) allows.
    pub untrusted_until: Option<UnixTime>,
}

impl CacheStatus {
    /// True when the cache is used normally: no bypass, no suspect key, reads trusted.
    pub fn is_healthy(&self) -> bool {
        !self.bypassing && self.suspect_keys == 0 && self.untrusted_until.is_none()
    }
}

fn pairing_problem(cache: KeyFormat, db: KeyFormat) -> Option<String> {
    let side = match (cache, db) {
        (KeyFormat::Random, KeyFormat::Random) => return None,
        (KeyFormat::Random, _) => "the database store",
        (_, KeyFormat::Random) => "the cache store",
        _ => "both stores",
    };
    Some(format!(
        "{side} of a cached database store must keep sessions on the server (KeyFormat::Random); \
         a cookie store cannot be a cache or a database: use it on its own instead"
    ))
}

impl<C: SessionStore, D: SessionStore> CachedDbStore<C, D> {
    /// `cache` in front of `db`, with the default [`CachedDbOptions`].
    ///
    /// Never fails: if either store is not a server-side store (a cookie store), every call
    /// of the returned store fails with [`Error::is_config`] saying so. Use
    /// [`try_new`](Self::try_new) to find out when building it.
    pub fn new(cache: C, db: D) -> Self {
        Self::build(cache, db, CachedDbOptions::default())
    }

    /// `cache` in front of `db`, with the default [`CachedDbOptions`]; a cookie store on
    /// either side is a [`Error::is_config`] error.
    pub fn try_new(cache: C, db: D) -> Result<Self> {
        Self::with_options(cache, db, CachedDbOptions::default())
    }

    /// `cache` in front of `db` with `options`; a cookie store on either side is a
    /// [`Error::is_config`] error.
    pub fn with_options(cache: C, db: D, options: CachedDbOptions) -> Result<Self> {
        let store = Self::build(cache, db, options);
        match &store.inner.misconfigured {
            Some(problem) => Err(Error::config(BACKEND, problem.clone())),
            None => Ok(store),
        }
    }

    fn build(cache: C, db: D, options: CachedDbOptions) -> Self {
        let misconfigured = pairing_problem(cache.key_format(), db.key_format());
        let health = Health::new(
            options.bypass_after_errors,
            options.bypass_for,
            options.max_suspect_keys,
        );
        Self {
            inner: Arc::new(Inner {
                cache,
                db,
                options,
                health,
                misconfigured,
                draining: AtomicBool::new(false),
                stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
                hasher: RandomState::new(),
            }),
        }
    }

    /// The cache store.
    pub fn cache(&self) -> &C {
        &self.inner.cache
    }

    /// The database store.
    pub fn db(&self) -> &D {
        &self.inner.db
    }

    /// The settings the store was built with.
    pub fn options(&self) -> &CachedDbOptions {
        &self.inner.options
    }

    /// What the store currently thinks of its cache: for health checks and metrics.
    pub fn cache_status(&self) -> CacheStatus {
        let h = &self.inner.health;
        CacheStatus {
            bypassing: h.bypassing(),
            consecutive_errors: h.consecutive_errors(),
            errors_total: h.errors_total(),
            suspect_keys: h.suspect_count(),
            untrusted_until: h.untrusted_until(),
        }
    }

    /// Locks `key`'s stripe (see `Inner::stripes`).
    async fn lock_key(&self, key: &SessionKey) -> tokio::sync::MutexGuard<'_, ()> {
        let hash = self.inner.hasher.hash_one(key.as_str());
        // Truncating the hash is fine: any bits pick a stripe.
        let index = (hash as usize) & (STRIPES - 1);
        self.inner.stripes[index].lock().await
    }

    /// Runs one cache call within [`cache_timeout`](CachedDbOptions::cache_timeout). The
    /// call is polled once before a timer is armed, so an in-process cache that answers at once
    /// costs no timer (and a network cache's timer lives in a box of its own, keeping the
    /// futures of every operation small).
    async fn bounded<T, F>(&self, mut call: F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Unpin,
    {
        let Some(limit) = self.inner.options.cache_timeout else {
            return call.await;
        };
        let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut call).poll(cx))).await;
        if let Poll::Ready(answer) = first {
            return answer;
        }
        Box::pin(tokio::time::timeout(limit, call))
            .await
            .unwrap_or_else(|_| {
                Err(Error::timeout(BACKEND).with_detail(format!(
                    "a cache call took longer than cache_timeout ({limit:?})"
                )))
            })
    }

    /// Trusts cache reads again after too many suspect keys made the store stop reading the
    /// cache (see [`CachedDbOptions::max_suspect_keys`]). Call it only once no stale copy can
    /// be left: after flushing the cache (`FLUSHDB`, `flush_all`) or restarting it empty.
    pub fn trust_cache_again(&self) {
        self.inner.health.trust_again();
    }

    fn check(&self) -> Result<()> {
        match &self.inner.misconfigured {
            Some(problem) => Err(Error::config(BACKEND, problem.clone())),
            None => Ok(()),
        }
    }

    /// The expiry a cache entry gets for a record expiring at `expires_at`: the earlier of it
    /// and now + `cache_ttl`. `None` if that has passed (nothing may be cached then).
    fn cache_expiry(&self, expires_at: UnixTime) -> Option<UnixTime> {
        let now = UnixTime::now();
        let capped = match self.inner.options.cache_ttl {
            Some(ttl) => {
                let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX).max(1);
                let cap = now.add_secs(secs);
                if cap.as_secs() < expires_at.as_secs() {
                    cap
                } else {
                    expires_at
                }
            }
            None => expires_at,
        };
        capped.ttl_at(now).map(|_| capped)
    }

    /// Deletes `key`'s cache copy; if that fails, remembers the key as suspect. Clears the
    /// marking of `generation` (seen before the cache calls began) when it succeeds.
    async fn invalidate(&self, key: &SessionKey, generation: Option<u64>, hint: Option<UnixTime>) {
        let h = &self.inner.health;
        match self.bounded(self.inner.cache.delete(key)).await {
            Ok(()) => {
                h.on_success();
                if let Some(g) = generation {
                    h.clear_suspect(key, g);
                }
                self.drain_soon();
            }
            Err(e) => {
                h.on_error(&e, "delete");
                h.mark_suspect(key, hint);
            }
        }
    }

    /// After the database took a write of `record` at `version`: puts both in the cache (as
    /// one [`CopyFormat`](crate::CopyFormat) copy — by default a [`Loaded::envelope`], so a
    /// cache hit knows the database's version), or invalidates.
    async fn write_through(
        &self,
        key: &SessionKey,
        record: &[u8],
        version: Version,
        expires_at: UnixTime,
        first: Step,
    ) {
        let h = &self.inner.health;
        if !h.cache_allowed() {
            // A new session has no copy to be stale; an updated one may have.
            if first == Step::Update {
                h.mark_suspect(key, Some(expires_at));
            }
            return;
        }
        let generation = h.suspect(key);
        let Some(cache_exp) = self.cache_expiry(expires_at) else {
            // Already expired (or capped to nothing): no copy may be served.
            return self.invalidate(key, generation, Some(expires_at)).await;
        };
        // create → taken: overwrite it; update → absent: create it; and if a copy appears
        // between our update and create, overwrite it (it can only be older: a refill read the
        // database before our write). An update that then finds nothing saw a newer delete.
        let steps: &[Step] = match first {
            Step::Create => &[Step::Create, Step::Update],
            Step::Update => &[Step::Update, Step::Create, Step::Update],
        };
        let value = match self
            .inner
            .options
            .copies
            .make_copy(record, version, expires_at)
        {
            Ok(value) => value,
            Err(e) => {
                h.on_error(&e, "copy");
                return self.invalidate(key, generation, Some(expires_at)).await;
            }
        };
        let cache = &self.inner.cache;
        for step in steps {
            let result = match step {
                Step::Create => self
                    .bounded(cache.create(key, &value, cache_exp))
                    .await
                    .map(drop),
                Step::Update => self
                    .bounded(cache.update(key, &value, cache_exp, Expected::Any))
                    .await
                    .map(drop),
            };
            match result {
                Ok(()) => {
                    h.on_success();
                    h.note_cache_expiry(cache_exp);
                    if let Some(g) = generation {
                        h.clear_suspect(key, g);
                    }
                    self.drain_soon();
                    return;
                }
                Err(e)
                    if (*step == Step::Create && e.is_collision())
                        || (*step == Step::Update && e.is_vanished()) =>
                {
                    h.on_success();
                }
                Err(e) => {
                    h.on_error(&e, step.name());
                    return self.invalidate(key, generation, Some(expires_at)).await;
                }
            }
        }
        // The last answer was "no copy": nothing stale is left.
        if let Some(g) = generation {
            h.clear_suspect(key, g);
        }
    }

    /// After a database hit on a cache miss: copies the record into the cache unless a copy
    /// is already there (a write-through copy is newer than what we read).
    async fn refill(&self, key: &SessionKey, found: &Loaded) {
        let h = &self.inner.health;
        if h.suspect(key).is_some() {
            return;
        }
        let Some(cache_exp) = self.cache_expiry(found.expires_at) else {
            return;
        };
        let copies = &self.inner.options.copies;
        let Ok(value) = copies.make_copy(&found.record, found.version, found.expires_at) else {
            return;
        };
        match self
            .bounded(self.inner.cache.create(key, &value, cache_exp))
            .await
        {
            Ok(_) => {
                h.on_success();
                h.note_cache_expiry(cache_exp);
            }
            Err(e) if e.is_collision() || e.is_too_large() => h.on_success(),
            Err(e) => {
                h.on_error(&e, "create");
                self.invalidate(key, None, Some(found.expires_at)).await;
            }
        }
    }

    /// Brings the cache in line after a database delete (or a write that may have happened).
    async fn drop_cache_copy(&self, key: &SessionKey) {
        let h = &self.inner.health;
        if h.cache_allowed() {
            let generation = h.suspect(key);
            self.invalidate(key, generation, None).await;
        } else {
            h.mark_suspect(key, None);
        }
    }

    /// A load the cache could not answer: the database, then a refill of the cache, under the
    /// key's lock so a write of this process cannot land between them. A `suspect` key's copy
    /// is deleted first; if that fails the database answers alone.
    async fn load_from_db(&self, key: &SessionKey, suspect: bool) -> Result<Option<Loaded>> {
        let h = &self.inner.health;
        let _guard = self.lock_key(key).await;
        let refill = match (suspect, h.suspect(key)) {
            (true, Some(generation)) => {
                self.invalidate(key, Some(generation), None).await;
                h.suspect(key).is_none()
            }
            _ => true,
        };
        let found = self.inner.db.load(key).await?;
        if refill {
            if let Some(loaded) = &found {
                self.refill(key, loaded).await;
            }
        }
        Ok(found)
    }

    /// Deletes `key`'s cache copy again after the configured delay, in the background.
    fn recheck_delete(&self, key: &SessionKey) {
        let Some(delay) = self.inner.options.delete_recheck else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.clone();
        let key = key.clone();
        runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            store.drop_cache_copy(&key).await;
        });
    }

    /// When the cache answers and keys are suspect, re-invalidates them in the background
    /// (one pass at a time), so that other processes sharing the cache stop seeing stale copies
    /// without waiting for this process to access those keys again.
    fn drain_soon(&self) {
        let h = &self.inner.health;
        if h.suspect_count() == 0 {
            return;
        }
        if self.inner.draining.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.inner.draining.store(false, Ordering::Release);
            return;
        };
        let store = self.clone();
        runtime.spawn(async move {
            store.drain().await;
            store.inner.draining.store(false, Ordering::Release);
        });
    }

    async fn drain(&self) {
        let h = &self.inner.health;
        loop {
            let batch = h.some_suspects(DRAIN_BATCH);
            if batch.is_empty() || !h.cache_allowed() {
                return;
            }
            for (key, generation) in batch {
                match self.bounded(self.inner.cache.delete(&key)).await {
                    Ok(()) => {
                        h.on_success();
                        h.clear_suspect(&key, generation);
                    }
                    Err(e) => {
                        h.on_error(&e, "delete");
                        return;
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Create,
    Update,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Create => "create",
            Step::Update => "update",
        }
    }
}

impl<C: fmt::Debug, D: fmt::Debug> fmt::Debug for CachedDbStore<C, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.inner.health;
        f.debug_struct("CachedDbStore")
            .field("cache", &self.inner.cache)
            .field("db", &self.inner.db)
            .field("options", &self.inner.options)
            .field("bypassing", &h.bypassing())
            .field("suspect_keys", &h.suspect_count())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<C: SessionStore, D: SessionStore> SessionStore for CachedDbStore<C, D> {
    /// The database's format (both sides are [`KeyFormat::Random`] in a working pairing).
    fn key_format(&self) -> KeyFormat {
        self.inner.db.key_format()
    }

    /// The database's: it decides every compare-and-set; the cache keeps the version the
    /// database gave each copy.
    fn capabilities(&self) -> Capabilities {
        self.inner.db.capabilities()
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
        self.check()?;
        let h = &self.inner.health;
        if h.reads_trusted() && h.cache_allowed() {
            if h.suspect(key).is_some() {
                return Box::pin(self.load_from_db(key, true)).await;
            }
            match self.bounded(self.inner.cache.load(key)).await {
                Ok(Some(copy)) => {
                    h.on_success();
                    self.drain_soon();
                    let capped = self.inner.options.cache_ttl.is_some();
                    match self.inner.options.copies.serve_copy(copy, capped) {
                        Ok(served) => return Ok(Some(served)),
                        Err(e) => {
                            // Not a copy this store can serve (another program's): the
                            // database answers, and the copy is left to its writer.
                            tracing::warn!(
                                target: "sessionkit::cached_db",
                                key = ?key,
                                error = %e,
                                "unreadable cache copy; loading from the database"
                            );
                            return Box::pin(self.load_from_db(key, false)).await;
                        }
                    }
                }
                Ok(None) => {
                    h.on_success();
                    // Boxed: the hit path's future stays small.
                    return Box::pin(self.load_from_db(key, false)).await;
                }
                Err(e) => h.on_error(&e, "load"),
            }
        }
        // The cache is failing, skipped or not trusted: the database alone, no refill.
        self.inner.db.load(key).await
    }

    async fn create(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<Stored> {
        self.check()?;
        let _guard = self.lock_key(key).await;
        let stored = self.inner.db.create(key, record, expires_at).await?;
        self.write_through(key, record, stored.version, expires_at, Step::Create)
            .await;
        Ok(stored)
    }

    async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        expected: Expected,
    ) -> Result<Stored> {
        self.check()?;
        let _guard = self.lock_key(key).await;
        match self
            .inner
            .db
            .update(key, record, expires_at, expected)
            .await
        {
            Ok(stored) => {
                self.write_through(key, record, stored.version, expires_at, Step::Update)
                    .await;
                Ok(stored)
            }
            Err(e) => {
                // Vanished: the record is gone, so must any cached copy be. Timed out: the
                // write may have happened, so the cached copy may be stale. Conflict: the copy
                // this request loaded was older than the database (a write of another process
                // whose write-through has not landed, or failed): the merge must reload from
                // the database. Other failures (refused, rejected) did not write anything: the
                // cache keeps its copy.
                if e.is_vanished() || e.is_timeout() || e.is_conflict() {
                    self.drop_cache_copy(key).await;
                }
                Err(e)
            }
        }
    }

    async fn touch(&self, key: &SessionKey, expires_at: UnixTime) -> Result<()> {
        self.check()?;
        let _guard = self.lock_key(key).await;
        if let Err(e) = self.inner.db.touch(key, expires_at).await {
            if e.is_vanished() || e.is_timeout() {
                self.drop_cache_copy(key).await;
            }
            return Err(e);
        }
        let h = &self.inner.health;
        if !h.cache_allowed() {
            h.mark_suspect(key, Some(expires_at));
            return Ok(());
        }
        let generation = h.suspect(key);
        let capped = self.inner.options.cache_ttl.is_some();
        let cache_exp = match (generation, self.cache_expiry(expires_at)) {
            (None, Some(exp)) if !capped => exp,
            // A suspect copy must go rather than live longer; so must one whose expiry passed,
            // and one whose envelope records an expiry other than its own (`cache_ttl`).
            (generation, _) => {
                self.invalidate(key, generation, Some(expires_at)).await;
                return Ok(());
            }
        };
        match self.bounded(self.inner.cache.touch(key, cache_exp)).await {
            Ok(()) => {
                h.on_success();
                h.note_cache_expiry(cache_exp);
                self.drain_soon();
            }
            Err(e) if e.is_vanished() => h.on_success(),
            Err(e) => {
                h.on_error(&e, "touch");
                self.invalidate(key, None, Some(expires_at)).await;
            }
        }
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        self.check()?;
        let guard = self.lock_key(key).await;
        let result = self.inner.db.delete(key).await;
        // Whatever the database said: a logout must not leave a cached session behind.
        self.drop_cache_copy(key).await;
        drop(guard);
        self.recheck_delete(key);
        result
    }

    /// Asks the database only: it is the truth, and `exists` is not on the request path.
    async fn exists(&self, key: &SessionKey) -> Result<bool> {
        self.check()?;
        self.inner.db.exists(key).await
    }

    /// The database's count. The cache is asked to clear too (an in-process cache needs it;
    /// redis and memcached expire entries by themselves); its answer is ignored.
    /// The database's stats, under the name `cached-db`.
    async fn stats(&self) -> Result<StoreStats> {
        let mut stats = self.inner.db.stats().await?;
        stats.backend = BACKEND;
        Ok(stats)
    }

    fn housekeeping(&self) -> Housekeeping {
        self.inner.db.housekeeping()
    }

    /// One batch of the database's, then the cache's own clearing as for `clear_expired`.
    async fn clear_expired_batch(&self, max: u64) -> Result<u64> {
        self.check()?;
        let cleared = self.inner.db.clear_expired_batch(max).await?;
        if cleared < max && self.inner.health.cache_allowed() {
            let h = &self.inner.health;
            match self.bounded(self.inner.cache.clear_expired()).await {
                Ok(_) => h.on_success(),
                Err(e) => h.on_error(&e, "clear_expired"),
            }
        }
        Ok(cleared)
    }

    async fn clear_expired(&self) -> Result<u64> {
        self.check()?;
        let cleared = self.inner.db.clear_expired().await?;
        let h = &self.inner.health;
        if h.cache_allowed() {
            match self.bounded(self.inner.cache.clear_expired()).await {
                Ok(_) => h.on_success(),
                Err(e) => h.on_error(&e, "clear_expired"),
            }
        }
        Ok(cleared)
    }
}
