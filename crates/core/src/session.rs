//! [`Session`]: Django's `SessionBase` in Rust, and [`Sessions`], the handle that makes them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::{
    CheckedStore, ClearExpiredTask, Clock, Codec, Codecs, Data, Error, ErrorKind, Expected, Expiry,
    Record, RecordRef, Result, SessionKey, SessionStore, SystemClock, UnixTime, Version,
};

/// How many freshly drawn keys a create tries before giving up. With 165-bit keys a single
/// honest collision is already astronomically unlikely; repeated ones mean a broken store.
const CREATE_ATTEMPTS: usize = 10;

/// How many times [`ConflictPolicy::Merge`] reloads and re-applies before it reports the
/// conflict. Each round is lost only to a write that landed between its load and its update,
/// one writer wins every round, and the rounds back off (see [`back_off`]). Within a process
/// the saves of one session take turns (`Inner::turns`), so a round is lost at most once to
/// the same process; running out means other processes saved the session for seconds.
const MERGE_ATTEMPTS: usize = 256;

/// The longest pause between two merge attempts.
const MAX_BACK_OFF_MS: u64 = 16;

/// Before the `lost`-th merge: nothing the first time (most conflicts are one other request);
/// then a random pause of up to 1, 2, 4 … [`MAX_BACK_OFF_MS`] ms, so that requests racing on
/// one session spread out instead of conflicting in lockstep.
async fn back_off(lost: u32) {
    if lost < 2 {
        return;
    }
    let cap = (1u64 << (lost - 2).min(6)).min(MAX_BACK_OFF_MS) * 1_000;
    // splitmix64 of a never-repeating counter: jitter, not secrecy.
    let mut z = Version::fresh().get().wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    tokio::time::sleep(Duration::from_micros(z % cap)).await;
}

/// What [`Session::save`] does when another request saved the session since this one loaded
/// it (on a store with [`compare_and_set`](crate::Capabilities::compare_and_set); a store
/// without it cannot tell, and every save there is [`Overwrite`](Self::Overwrite)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConflictPolicy {
    /// Reload the stored session, re-apply only this request's own changes and save again
    /// (bounded). Per key: a key this request set or removed takes this request's value or
    /// absence; every other key keeps what the other request stored. Whole-session changes
    /// ([`clear`](Session::clear), [`set_modified`](Session::set_modified)) replace the
    /// session with this request's; the expiry is this request's if it set one. So two
    /// requests changing different keys both survive, and two changing one key end with one
    /// of their values — never a torn value, never a resurrected session. It is per key, not a
    /// transaction: a request that reads `a` and writes `b` from it is not re-run. The pauses
    /// between rounds use tokio's timer (a runtime built with `enable_all` or `enable_time`).
    #[default]
    Merge,
    /// Report the conflict ([`Error::is_conflict`]) and write nothing: the application retries
    /// the request or answers 409.
    Fail,
    /// Replace whatever is stored (the last write wins, as Django and every other session
    /// library do).
    Overwrite,
}

/// Django's `SESSION_COOKIE_AGE` default: two weeks.
pub const DEFAULT_COOKIE_AGE: Duration = Duration::from_secs(1_209_600);

/// Session settings shared by every session of a [`Sessions`] handle.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    cookie_age: i64,
    expire_at_browser_close: bool,
    codecs: Codecs,
    conflict_policy: ConflictPolicy,
    clock: Arc<dyn Clock>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            cookie_age: DEFAULT_COOKIE_AGE.as_secs() as i64,
            expire_at_browser_close: false,
            codecs: Codecs::default(),
            conflict_policy: ConflictPolicy::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl SessionConfig {
    /// Django's defaults: a two-week cookie age, cookies that outlive the browser, the bincode
    /// codec.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a session lives after its last save unless it sets its own expiry (Django's
    /// `SESSION_COOKIE_AGE`). Whole seconds; at least one.
    #[must_use]
    pub fn with_cookie_age(mut self, age: Duration) -> Self {
        self.cookie_age = i64::try_from(age.as_secs()).unwrap_or(i64::MAX).max(1);
        self
    }

    /// Whether sessions without their own expiry end when the browser closes (Django's
    /// `SESSION_EXPIRE_AT_BROWSER_CLOSE`). The server still keeps them for the cookie age.
    #[must_use]
    pub fn with_expire_at_browser_close(mut self, yes: bool) -> Self {
        self.expire_at_browser_close = yes;
        self
    }

    /// The codec new records are written with. Records written by either built-in codec (and
    /// by this one) stay readable, so switching codec logs nobody out.
    #[must_use]
    pub fn with_codec(mut self, codec: impl Codec) -> Self {
        self.codecs = Codecs::new(Arc::new(codec));
        self
    }

    /// Writes and reads with `codec` alone ([`Codecs::only`]): for a store that shares its
    /// records with another program in that program's format (Django's, with
    /// `sessionkit-django`), where every record is in that format and no other may be tried.
    #[must_use]
    pub fn with_only_codec(mut self, codec: impl Codec) -> Self {
        self.codecs = Codecs::only(Arc::new(codec));
        self
    }

    /// What a save does when another request saved the session first (default
    /// [`ConflictPolicy::Merge`]).
    #[must_use]
    pub fn with_conflict_policy(mut self, policy: ConflictPolicy) -> Self {
        self.conflict_policy = policy;
        self
    }

    /// Where the session layer reads the time (default [`SystemClock`]): give a
    /// [`ManualClock`](crate::ManualClock) to test expiry rules to the second without sleeping.
    ///
    /// ```
    /// use sessionkit_core::{Clock, Expiry, ManualClock, SessionConfig, Sessions};
    /// # async fn demo(store: impl sessionkit_core::SessionStore) -> sessionkit_core::Result<()> {
    /// let clock = ManualClock::starting_now();
    /// let sessions = Sessions::with_config(store, SessionConfig::new().with_clock(clock.clone()));
    /// let mut session = sessions.create();
    /// session.set_expiry(Expiry::At(clock.now().add_secs(60)));
    /// clock.advance(59);
    /// assert_eq!(session.expiry_age(), 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The conflict policy.
    pub fn conflict_policy(&self) -> ConflictPolicy {
        self.conflict_policy
    }

    /// The cookie age in seconds.
    pub fn cookie_age(&self) -> i64 {
        self.cookie_age
    }

    /// Whether default sessions end at browser close.
    pub fn expire_at_browser_close(&self) -> bool {
        self.expire_at_browser_close
    }

    /// The codecs records are written and read with.
    pub fn codecs(&self) -> &Codecs {
        &self.codecs
    }
}

/// A store and its settings: the handle an application keeps (cheap to clone) and makes
/// [`Session`]s from, one per request.
///
/// ```
/// # use std::sync::Arc;
/// # use sessionkit_core::{Sessions, SessionStore};
/// # async fn handler(sessions: Sessions, cookie: Option<&str>) -> sessionkit_core::Result<()> {
/// let mut session = sessions.load(cookie).await?;
/// let visits: u64 = session.get("visits")?.unwrap_or(0);
/// session.insert("visits", visits + 1)?;
/// session.save().await?;
/// let set_cookie = session.key().map(|k| k.as_str().to_owned());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<CheckedStore>,
    config: SessionConfig,
    /// Turns for saving a session with [`ConflictPolicy::Merge`], one per stripe of keys: the
    /// requests of this process that save one session take turns (first come, first served),
    /// so none of them loses the race to the others more than once.
    turns: Box<[tokio::sync::Mutex<()>]>,
}

/// How many stripes of keys [`Inner::turns`] has: two sessions share a stripe (and so take
/// turns with each other's saves) with a chance of one in this.
const TURN_STRIPES: usize = 1024;

impl Sessions {
    /// Sessions in `store` with Django's default settings.
    pub fn new(store: impl SessionStore) -> Self {
        Self::with_config(store, SessionConfig::default())
    }

    /// Sessions in `store` with `config`.
    pub fn with_config(store: impl SessionStore, config: SessionConfig) -> Self {
        Self::from_arc(Arc::new(store), config)
    }

    /// Sessions in a store that is already shared.
    pub fn from_arc(store: Arc<dyn SessionStore>, config: SessionConfig) -> Self {
        let store = Arc::new(CheckedStore::new(store, config.clock.clone()));
        let turns = (0..TURN_STRIPES)
            .map(|_| tokio::sync::Mutex::new(()))
            .collect();
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                turns,
            }),
        }
    }

    /// The store, behind the checks every store relies on ([`CheckedStore`]): a call refused
    /// there never reaches it. [`CheckedStore::inner`] is the store itself.
    pub fn store(&self) -> &Arc<CheckedStore> {
        &self.inner.store
    }

    /// The time by the configured [`Clock`].
    pub fn now(&self) -> UnixTime {
        self.inner.config.clock.now()
    }

    /// The checked store, for calls that must not go through a second boxed future.
    fn checked(&self) -> &CheckedStore {
        &self.inner.store
    }

    /// The turn to save `key` (see [`Inner::turns`]).
    fn turn(&self, key: &SessionKey) -> &tokio::sync::Mutex<()> {
        // Keys are random or sealed: their last bytes spread over the stripes well enough.
        let spread = key.as_str().bytes().rev().take(8).fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        &self.inner.turns[spread % self.inner.turns.len()]
    }

    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.inner.config
    }

    /// Runs the store's [`clear_expired`](SessionStore::clear_expired) now and then every
    /// `period` on a tokio task — Django's `clearsessions`, scheduled inside the application,
    /// for any store (whatever `sessionkit::connect` gave). Logs what it removed
    /// (`tracing` at `debug`, `info` when it removed something) and its errors (at `warn`),
    /// which never stop it. A `period` under [`MIN_CLEAR_PERIOD`](crate::MIN_CLEAR_PERIOD) is
    /// taken as that; a run that overlaps the next tick delays it rather than piling up.
    /// Several processes may each run one: a database store's batches do not conflict.
    ///
    /// For a store with nothing to clear ([`Housekeeping::ServerExpires`](crate::Housekeeping),
    /// [`ClientSide`](crate::Housekeeping::ClientSide)) the task ends at once without touching
    /// the store. The task stops when the returned handle is dropped or
    /// [`stop`](ClearExpiredTask::stop)ped.
    ///
    /// ```
    /// # async fn demo(sessions: sessionkit_core::Sessions) {
    /// let _cleaner = sessions.clear_expired_every(std::time::Duration::from_secs(3_600));
    /// // ... serve; dropping `_cleaner` stops it.
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    pub fn clear_expired_every(&self, period: Duration) -> ClearExpiredTask {
        ClearExpiredTask::spawn(self.inner.store.inner().clone(), period)
    }

    /// A new, empty session with no key (nothing is stored until it holds something and is
    /// saved).
    pub fn create(&self) -> Session {
        Session::empty(self.clone(), None)
    }

    /// The session the client presented, if any.
    ///
    /// `presented` is the cookie value. A value that breaks the store's key rules (too short,
    /// too long, wrong characters, control characters) gives a new empty session without any
    /// round trip to the server. An unknown or expired key, or stored bytes that do not decode
    /// (logged as a warning), give a new empty session too: loading never creates anything.
    /// Only a failing store is an error.
    pub async fn load(&self, presented: Option<&str>) -> Result<Session> {
        let Some(raw) = presented else {
            return Ok(self.create());
        };
        let Some(key) = SessionKey::parse(raw, self.checked().key_format()) else {
            tracing::debug!(
                len = raw.len(),
                "malformed session key presented; starting a new session"
            );
            return Ok(self.create());
        };
        let Some(loaded) = self.checked().load(&key).await? else {
            return Ok(self.create());
        };
        let (version, expires_at) = (loaded.version, loaded.expires_at);
        let Some(record) = self.decode(&key, loaded.record) else {
            return Ok(self.create());
        };
        // A server-side store enforces expiry itself (and `touch` moves it there without
        // rewriting the record); a store that keeps sessions in the client can only rely on the
        // expiry it reports from inside the value (the record's own `expires_at` may not be
        // known: a foreign format such as Django's does not keep one).
        // Inclusive there, as the cookie's max age (Django's `signing.loads(max_age=)`): a
        // session exactly its cookie age old is still valid.
        let server_side = self.checked().key_format().is_server_side();
        if !server_side && expires_at.secs_after(self.now()) < 0 {
            return Ok(self.create());
        }
        let mut session = Session::empty(self.clone(), Some(key));
        session.data = record.data;
        session.expiry = record.expiry;
        session.version = version;
        Ok(session)
    }

    /// The record in `bytes` stored under `key`, or `None` (logged as a security warning) if
    /// they do not decode: corrupted, or written by something else.
    fn decode(&self, key: &SessionKey, bytes: Vec<u8>) -> Option<Record> {
        match self.inner.config.codecs.decode_owned(bytes) {
            Ok(record) => Some(record),
            Err(err) => {
                tracing::warn!(
                    target: "sessionkit::security",
                    key = ?key,
                    error = %err,
                    cause = err.source_message().as_deref().unwrap_or(""),
                    "session data corrupted; treating it as no session"
                );
                None
            }
        }
    }
}

impl Error {
    fn source_message(&self) -> Option<String> {
        std::error::Error::source(self).map(ToString::to_string)
    }
}

/// One client's session: typed values, Django's `accessed`/`modified` flags, expiry, and the
/// operations that persist it.
///
/// Values are stored as JSON values (`serde_json::Value`), so anything `Serialize` goes in and
/// any `DeserializeOwned` type comes out. Reads set [`is_accessed`](Session::is_accessed);
/// changes set [`is_modified`](Session::is_modified), exactly as Django's `SessionBase`.
/// Mutating a value you got out does not change the session: insert it again.
#[derive(Debug)]
pub struct Session {
    sessions: Sessions,
    key: Option<SessionKey>,
    data: Data,
    expiry: Expiry,
    accessed: AtomicBool,
    modified: bool,
    /// The stored record's version this session was loaded with or last saved as.
    version: Version,
    /// What this session changed since then, for [`ConflictPolicy::Merge`].
    changes: Changes,
}

/// The changes a session made since it was loaded or last saved: which keys it set or
/// removed, whether it replaced the whole session, whether it set its expiry.
#[derive(Debug, Default)]
struct Changes {
    keys: Vec<String>,
    whole: bool,
    expiry: bool,
}

impl Changes {
    fn key(&mut self, key: &str) {
        if !self.whole && !self.keys.iter().any(|k| k == key) {
            self.keys.push(key.to_owned());
        }
    }

    fn whole(&mut self) {
        self.whole = true;
        self.keys.clear();
    }
}

impl Session {
    fn empty(sessions: Sessions, key: Option<SessionKey>) -> Self {
        Self {
            sessions,
            key,
            data: Data::new(),
            expiry: Expiry::Default,
            accessed: AtomicBool::new(false),
            modified: false,
            version: Version::UNTRACKED,
            changes: Changes::default(),
        }
    }

    fn touch_access(&self) {
        self.accessed.store(true, Ordering::Relaxed);
    }

    /// Notes that this request set or removed `key`, for a merge on a conflict. A session not
    /// stored yet has nothing to merge with (its first save creates the record and starts the
    /// list afresh), so it keeps no list and a new session's inserts allocate nothing for it.
    fn record_change(&mut self, key: &str) {
        if self.key.is_some() {
            self.changes.key(key);
        }
    }

    /// The key the client must hold (put it in the cookie), or `None` if the session is not
    /// stored. It changes on [`cycle_key`](Session::cycle_key) and [`flush`](Session::flush),
    /// and (for the cookie store, whose key is the signed record) on every save.
    pub fn key(&self) -> Option<&SessionKey> {
        self.key.as_ref()
    }

    /// The value under `key` as a `T`; `Ok(None)` if absent. A stored value of another shape is
    /// an [`ErrorKind::Value`] error.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get_value(key).map(from_value).transpose()
    }

    /// The raw value under `key`.
    pub fn get_value(&self, key: &str) -> Option<&Value> {
        self.touch_access();
        self.data.get(key)
    }

    /// Stores `value` under `key`. A value that cannot be stored as JSON is an
    /// [`ErrorKind::Value`] error and changes nothing — among them a NaN or infinite float,
    /// which `serde_json` would otherwise store as `null`.
    pub fn insert<T: Serialize>(&mut self, key: &str, value: T) -> Result<()> {
        crate::finite::check(&value)
            .map_err(|e| Error::new(ErrorKind::Value, "core").with_source(e))?;
        let value = serde_json::to_value(&value)
            .map_err(|e| Error::new(ErrorKind::Value, "core").with_source(e))?;
        self.touch_access();
        self.modified = true;
        self.record_change(key);
        self.data.set(key, value);
        Ok(())
    }

    /// Stores a raw value under `key`, returning the previous one.
    pub fn insert_value(&mut self, key: &str, value: Value) -> Option<Value> {
        self.touch_access();
        self.modified = true;
        self.record_change(key);
        self.data.insert(key.to_owned(), value)
    }

    /// Removes and returns the raw value under `key`. Marks the session modified only if the key
    /// was present (Django's `pop`).
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.touch_access();
        let old = self.data.remove(key);
        if old.is_some() {
            self.modified = true;
            self.record_change(key);
        }
        old
    }

    /// Removes the value under `key` and returns it as a `T` (Django's `pop`).
    pub fn take<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>> {
        self.remove(key).as_ref().map(from_value).transpose()
    }

    /// The value under `key`, inserting `default` first if absent (Django's `setdefault`).
    pub fn get_or_insert<T: Serialize + DeserializeOwned>(
        &mut self,
        key: &str,
        default: T,
    ) -> Result<T> {
        if let Some(v) = self.get(key)? {
            return Ok(v);
        }
        self.insert(key, &default)?;
        Ok(default)
    }

    /// Inserts every pair (Django's `update`); marks the session modified even if `values` is
    /// empty, as Django does.
    pub fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, values: I) {
        self.touch_access();
        self.modified = true;
        for (key, value) in values {
            self.changes.key(&key);
            self.data.insert(key, value);
        }
    }

    /// Whether a value is stored under `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.touch_access();
        self.data.contains_key(key)
    }

    /// The keys, in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.touch_access();
        self.data.keys()
    }

    /// The key–value pairs, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.touch_access();
        self.data.iter()
    }

    /// How many values are stored.
    pub fn len(&self) -> usize {
        self.touch_access();
        self.data.len()
    }

    /// Whether no values are stored. (Django's `is_empty()`, which also asks "has no key", is
    /// `session.key().is_none() && session.is_empty()`.)
    pub fn is_empty(&self) -> bool {
        self.touch_access();
        self.data.is_empty()
    }

    /// Removes every value (the key stays).
    pub fn clear(&mut self) {
        self.touch_access();
        self.modified = true;
        self.changes.whole();
        self.data.clear();
    }

    /// Whether the session was read or changed (a response that depends on it needs
    /// `Vary: Cookie`).
    pub fn is_accessed(&self) -> bool {
        self.accessed.load(Ordering::Relaxed)
    }

    /// Whether the session was changed since it was loaded.
    pub fn is_modified(&self) -> bool {
        self.modified
    }

    /// Marks the session modified, e.g. after changing a value in place elsewhere. Which value
    /// is unknown, so on a conflict [`ConflictPolicy::Merge`] saves this whole session.
    pub fn set_modified(&mut self) {
        self.modified = true;
        self.changes.whole();
    }

    /// Clears both flags (for middleware that has acted on them).
    pub fn reset_flags(&mut self) {
        self.accessed.store(false, Ordering::Relaxed);
        self.modified = false;
    }

    /// Sets this session's own expiry. Setting [`Expiry::Default`] on a session that has no
    /// expiry of its own changes nothing; anything else marks it modified.
    pub fn set_expiry(&mut self, expiry: Expiry) {
        self.touch_access();
        if !(expiry == Expiry::Default && self.expiry == Expiry::Default) {
            self.modified = true;
            self.changes.expiry = true;
        }
        self.expiry = expiry;
    }

    /// This session's own expiry setting.
    pub fn expiry(&self) -> Expiry {
        self.touch_access();
        self.expiry
    }

    /// Seconds the session lives if saved now (Django's `get_expiry_age()`).
    pub fn expiry_age(&self) -> i64 {
        self.expiry_age_at(self.sessions.now())
    }

    /// Seconds the session lives if saved at `now` (Django's `get_expiry_age(modification=)`);
    /// negative when a fixed expiry has passed.
    pub fn expiry_age_at(&self, now: UnixTime) -> i64 {
        self.touch_access();
        match self.expiry {
            Expiry::Default | Expiry::AtBrowserClose => self.sessions.config().cookie_age,
            Expiry::AfterInactivity(secs) => secs,
            Expiry::At(t) => t.secs_after(now),
        }
    }

    /// When the session expires if saved now (Django's `get_expiry_date()`).
    pub fn expiry_date(&self) -> SystemTime {
        self.expiry_date_at(self.sessions.now()).to_system_time()
    }

    /// When the session expires if saved at `now`.
    pub fn expiry_date_at(&self, now: UnixTime) -> UnixTime {
        match self.expiry {
            Expiry::At(t) => {
                self.touch_access();
                t
            }
            _ => now.add_secs(self.expiry_age_at(now)),
        }
    }

    /// Whether the cookie should end with the browser session (no `Max-Age`): the session's own
    /// choice if it made one, else the configuration.
    pub fn expire_at_browser_close(&self) -> bool {
        self.touch_access();
        match self.expiry {
            Expiry::Default => self.sessions.config().expire_at_browser_close,
            Expiry::AtBrowserClose => true,
            Expiry::AfterInactivity(_) | Expiry::At(_) => false,
        }
    }

    /// Persists the session.
    ///
    /// - No key yet: stores it under a freshly drawn key, never overwriting another session (a
    ///   taken key is retried with a new one). A new session that holds nothing is not stored
    ///   at all (Django's CVE-2015-5963 lesson), and keeps no key.
    /// - A key: replaces the stored record. If it vanished meanwhile (a logout in a concurrent
    ///   request) this fails with [`Error::is_vanished`] and nothing is resurrected: answer
    ///   400, as Django's `SessionInterrupted`.
    /// - Already expired (a fixed expiry in the past, a negative age): the record is deleted
    ///   instead and the key dropped.
    pub async fn save(&mut self) -> Result<()> {
        let now = self.sessions.now();
        let expires_at = self.expiry_date_at(now);
        if expires_at.ttl_at(now).is_none() {
            if let Some(key) = self.key.take() {
                self.sessions.checked().delete(&key).await?;
            }
            return Ok(());
        }
        if self.key.is_none() && self.data.is_empty() && self.expiry == Expiry::Default {
            return Ok(());
        }
        let bytes = self.encode(expires_at)?;
        match self.key.clone() {
            Some(key) => self.update_record(&key, bytes, now).await,
            None => self.create_record(&bytes, expires_at).await,
        }
    }

    /// Writes the session over its stored record, as the conflict policy says.
    async fn update_record(
        &mut self,
        key: &SessionKey,
        bytes: Vec<u8>,
        now: UnixTime,
    ) -> Result<()> {
        let sessions = self.sessions.clone();
        let store = sessions.checked();
        let policy = self.sessions.config().conflict_policy;
        let (mut bytes, mut expires_at) = (bytes, self.expiry_date_at(now));
        // Other requests of this process saving this session wait until this one is done, so
        // a merge here can lose only to requests of other processes.
        let _turn = match policy {
            ConflictPolicy::Merge if store.capabilities().compare_and_set => {
                Some(sessions.turn(key).lock().await)
            }
            _ => None,
        };
        let mut lost = 0u32;
        for _ in 0..MERGE_ATTEMPTS {
            // Passed on as `Any` to a store without compare-and-set (the checked store).
            let expected = if policy != ConflictPolicy::Overwrite {
                Expected::Version(self.version)
            } else {
                Expected::Any
            };
            match store.update(key, &bytes, expires_at, expected).await {
                Ok(stored) => {
                    self.key = Some(stored.key);
                    self.version = stored.version;
                    self.changes = Changes::default();
                    return Ok(());
                }
                Err(e) if e.is_conflict() && policy == ConflictPolicy::Merge => {
                    lost += 1;
                    back_off(lost).await;
                    self.merge_stored(key).await?;
                    expires_at = self.expiry_date_at(now);
                    if expires_at.ttl_at(now).is_none() {
                        // The merged expiry (the other request's) has passed: as `save` does.
                        self.key = None;
                        return store.delete(key).await;
                    }
                    bytes = self.encode(expires_at)?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::conflict("core").with_detail(format!(
            "{MERGE_ATTEMPTS} merges in a row lost the race to other requests saving this session"
        )))
    }

    /// [`ConflictPolicy::Merge`]: the stored session with this session's own changes applied
    /// on top becomes this session, at the stored version.
    async fn merge_stored(&mut self, key: &SessionKey) -> Result<()> {
        let store = self.sessions.checked();
        let Some(loaded) = store.load(key).await? else {
            return Err(Error::vanished("core"));
        };
        self.version = loaded.version;
        let Some(theirs) = self.sessions.decode(key, loaded.record) else {
            // Nothing of theirs to keep: this session replaces it.
            return Ok(());
        };
        if !self.changes.whole {
            let mut data = theirs.data;
            for k in &self.changes.keys {
                match self.data.get(k) {
                    Some(value) => data.set(k, value.clone()),
                    None => {
                        data.remove(k);
                    }
                }
            }
            self.data = data;
        }
        if !self.changes.expiry {
            self.expiry = theirs.expiry;
        }
        Ok(())
    }

    fn encode(&self, expires_at: UnixTime) -> Result<Vec<u8>> {
        self.sessions.config().codecs.encode(RecordRef {
            expires_at,
            expiry: self.expiry,
            data: &self.data,
        })
    }

    async fn create_record(&mut self, bytes: &[u8], expires_at: UnixTime) -> Result<()> {
        let store = self.sessions.checked();
        for _ in 0..CREATE_ATTEMPTS {
            let key = SessionKey::generate();
            match store.create(&key, bytes, expires_at).await {
                Ok(stored) => {
                    self.key = Some(stored.key);
                    self.version = stored.version;
                    self.changes = Changes::default();
                    self.modified = true;
                    return Ok(());
                }
                Err(e) if e.is_collision() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::collision("core").with_detail(format!(
            "{CREATE_ATTEMPTS} fresh keys in a row were reported taken"
        )))
    }

    /// Moves the expiry forward without rewriting the record (rolling sessions, Django's
    /// `SESSION_SAVE_EVERY_REQUEST` without the write). Does nothing for a session with no key.
    /// A store that keeps sessions in the client (cookies) re-saves instead.
    pub async fn touch(&mut self) -> Result<()> {
        let Some(key) = &self.key else {
            return Ok(());
        };
        if !self.sessions.checked().key_format().is_server_side() {
            return self.save().await;
        }
        let now = self.sessions.now();
        let expires_at = self.expiry_date_at(now);
        if expires_at.ttl_at(now).is_none() {
            return self.save().await;
        }
        self.sessions.checked().touch(key, expires_at).await
    }

    /// Deletes the stored record (the key stays, so a later save reports it vanished). Does
    /// nothing for a session with no key.
    pub async fn delete(&mut self) -> Result<()> {
        self.touch_access();
        match &self.key {
            Some(key) => self.sessions.checked().delete(key).await,
            None => Ok(()),
        }
    }

    /// Logout: removes every value, deletes the stored record and drops the key. Nothing new is
    /// stored (Django's CVE-2015-5964 lesson); the middleware should delete the cookie.
    pub async fn flush(&mut self) -> Result<()> {
        self.clear();
        self.expiry = Expiry::Default;
        if let Some(key) = self.key.take() {
            self.sessions.checked().delete(&key).await?;
        }
        Ok(())
    }

    /// Login protection against session fixation: stores the same values under a new key and
    /// deletes the old record. The new key must be sent to the client.
    pub async fn cycle_key(&mut self) -> Result<()> {
        self.touch_access();
        let old = self.key.take();
        let now = self.sessions.now();
        let expires_at = self.expiry_date_at(now);
        if expires_at.ttl_at(now).is_some() {
            let bytes = self.encode(expires_at)?;
            self.create_record(&bytes, expires_at).await?;
        }
        if let Some(old) = old {
            self.sessions.checked().delete(&old).await?;
        }
        Ok(())
    }

    /// The session as a [`Record`] that would be stored if saved at `now`.
    pub fn to_record(&self, now: UnixTime) -> Record {
        Record {
            expires_at: self.expiry_date_at(now),
            expiry: self.expiry,
            data: self.data.clone(),
        }
    }
}

fn from_value<T: DeserializeOwned>(v: &Value) -> Result<T> {
    T::deserialize(v).map_err(|e| Error::new(ErrorKind::Value, "core").with_source(e))
}
