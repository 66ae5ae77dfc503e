//! The contract every back end implements.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use crate::{Housekeeping, KeyFormat, Result, SessionKey, StoreStats, UnixTime};

/// The version of a stored record: it changes on every write, so an update can require that
/// nobody wrote since the record was loaded. Opaque to callers (a counter, a server's CAS
/// token); compared only for equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Version(u64);

impl Version {
    /// The version of every record in a store that does not track versions (and of records
    /// written before their store did); the default.
    pub const UNTRACKED: Version = Version(0);

    /// A version from the store's own number (a counter, a CAS token).
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The store's number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// A version no other write has used, for a store that names versions itself rather than
    /// counting them where the record lives (redis): a process-wide counter from a random start,
    /// so versions from different processes do not meet either. Never
    /// [`UNTRACKED`](Self::UNTRACKED).
    pub fn fresh() -> Self {
        static NEXT: OnceLock<AtomicU64> = OnceLock::new();
        let next = NEXT.get_or_init(|| {
            let mut seed = [0u8; 8];
            // As for keys: without the OS generator no secure session can be made at all.
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
                .expect("the operating system's random number generator failed");
            AtomicU64::new(u64::from_le_bytes(seed))
        });
        Self(next.fetch_add(1, Ordering::Relaxed)).next()
    }

    /// The version a counter-based store writes next (wrapping past `u64::MAX` to 1, never to
    /// [`UNTRACKED`](Self::UNTRACKED)).
    pub const fn next(self) -> Self {
        match self.0.wrapping_add(1) {
            0 => Self(1),
            n => Self(n),
        }
    }
}

/// What [`SessionStore::update`] requires of the stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Any live record is replaced (the last write wins).
    Any,
    /// Only a live record of this version is replaced; another version is a conflict.
    Version(Version),
}

/// What [`SessionStore::load`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The stored bytes, as [`create`](SessionStore::create)/[`update`](SessionStore::update)
    /// received them.
    pub record: Vec<u8>,
    /// Their version.
    pub version: Version,
    /// When the store stops serving them unless they are written or touched again, as the
    /// last `create`, `update` or `touch` set it (to the second; memcached, which reports the
    /// remaining seconds, may be one second early).
    pub expires_at: UnixTime,
}

/// A value read back from an [`envelope`](Loaded::envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// The envelope held the version and the expiry.
    Whole(Loaded),
    /// A value written before its store kept expiries in the envelope (a bare record, written
    /// before versions, is at [`Version::UNTRACKED`]): the store must find the expiry itself.
    WithoutExpiry {
        /// The record.
        record: Vec<u8>,
        /// Its version.
        version: Version,
    },
}

impl Opened {
    /// The record, whatever the envelope said about it.
    pub fn into_record(self) -> Vec<u8> {
        match self {
            Opened::Whole(loaded) => loaded.record,
            Opened::WithoutExpiry { record, .. } => record,
        }
    }
}

impl Loaded {
    /// Bytes of `version` that expire at `expires_at`.
    pub fn new(record: Vec<u8>, version: Version, expires_at: UnixTime) -> Self {
        Self {
            record,
            version,
            expires_at,
        }
    }

    /// Bytes from a store that does not track versions.
    pub fn untracked(record: Vec<u8>, expires_at: UnixTime) -> Self {
        Self::new(record, Version::UNTRACKED, expires_at)
    }

    /// `record`, its `version` and its expiry as one value, for a store that keeps them in one
    /// place (a redis string, a cache copy): [`ENVELOPE_MARKER`], the version as 8 big-endian
    /// bytes, `expires_at` as 8 big-endian bytes (at most 2⁵⁶ − 1 seconds, some two billion
    /// years: its first byte is always 0), then the record.
    pub fn envelope(version: Version, expires_at: UnixTime, record: &[u8]) -> Vec<u8> {
        let mut value = Vec::with_capacity(ENVELOPE_LEN + record.len());
        value.extend_from_slice(&Self::envelope_header(version, expires_at));
        value.extend_from_slice(record);
        value
    }

    /// The [`envelope`](Self::envelope)'s first [`ENVELOPE_LEN`] bytes, for a store that writes
    /// them and the record into its own buffer without building the value first.
    pub fn envelope_header(version: Version, expires_at: UnixTime) -> [u8; ENVELOPE_LEN] {
        let mut header = [ENVELOPE_MARKER; ENVELOPE_LEN];
        header[1..VERSIONED_LEN].copy_from_slice(&version.get().to_be_bytes());
        header[VERSIONED_LEN..].copy_from_slice(&Self::envelope_expiry(expires_at));
        header
    }

    /// The 8 bytes of the [`envelope`](Self::envelope) that hold `expires_at` (bytes 9 to 16),
    /// for a store that moves the expiry in place.
    pub fn envelope_expiry(expires_at: UnixTime) -> [u8; 8] {
        let secs = expires_at.as_secs().clamp(0, MAX_ENVELOPE_EXPIRY);
        secs.to_be_bytes()
    }

    /// What a value [`envelope`](Self::envelope) made holds. Also reads what earlier versions
    /// wrote: the version-only envelope (marker and version, then the record, whose first byte
    /// is a codec's format byte, never 0) and a bare record (no codec's format byte is
    /// [`ENVELOPE_MARKER`]), at [`Version::UNTRACKED`]; neither says when it expires.
    pub fn from_envelope(mut value: Vec<u8>) -> Opened {
        if value.len() < VERSIONED_LEN || value[0] != ENVELOPE_MARKER {
            return Opened::WithoutExpiry {
                record: value,
                version: Version::UNTRACKED,
            };
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&value[1..VERSIONED_LEN]);
        let version = Version::new(u64::from_be_bytes(word));
        if value.len() < ENVELOPE_LEN || value[VERSIONED_LEN] != 0 {
            value.drain(..VERSIONED_LEN);
            return Opened::WithoutExpiry {
                record: value,
                version,
            };
        }
        word.copy_from_slice(&value[VERSIONED_LEN..ENVELOPE_LEN]);
        let expires_at = UnixTime::from_secs(i64::from_be_bytes(word));
        value.drain(..ENVELOPE_LEN);
        Opened::Whole(Self::new(value, version, expires_at))
    }
}

/// The first byte of a [`Loaded::envelope`]: no record starts with it.
pub const ENVELOPE_MARKER: u8 = 0x00;
/// The length of a [`Loaded::envelope`]'s header: the marker, 8 bytes of version, 8 of expiry.
pub const ENVELOPE_LEN: usize = 17;
/// The marker and the version: the envelope of versions before expiries were kept in it.
const VERSIONED_LEN: usize = 9;
/// The latest expiry an envelope holds (its first byte stays 0, which tells it from the
/// version-only envelope).
const MAX_ENVELOPE_EXPIRY: i64 = (1 << 56) - 1;

/// What a successful [`create`](SessionStore::create) or [`update`](SessionStore::update)
/// returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The value the client must hold from now on.
    pub key: SessionKey,
    /// The version now stored.
    pub version: Version,
}

impl Stored {
    /// `key` now holds `version`.
    pub fn new(key: SessionKey, version: Version) -> Self {
        Self { key, version }
    }

    /// `key` in a store that does not track versions.
    pub fn untracked(key: SessionKey) -> Self {
        Self::new(key, Version::UNTRACKED)
    }
}

/// What a store can do beyond the contract's minimum, declared by the store (so callers and the
/// conformance suite need not guess from its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`update`](SessionStore::update) honours [`Expected::Version`] atomically, and versions
    /// change on every write.
    pub compare_and_set: bool,
    /// The longest record the store accepts, if it has a limit of its own below
    /// [`MAX_RECORD_BYTES`](crate::MAX_RECORD_BYTES) (memcached's item size, locmem's share of
    /// its byte bound). Longer records are refused before they reach the store
    /// ([`CheckedStore`](crate::CheckedStore)), so the store need not check.
    pub max_record_bytes: Option<usize>,
}

impl Capabilities {
    /// Nothing beyond the minimum.
    pub const fn new() -> Self {
        Self {
            compare_and_set: false,
            max_record_bytes: None,
        }
    }

    /// With a maximum record size of its own.
    #[must_use]
    pub const fn with_max_record_bytes(mut self, max: usize) -> Self {
        self.max_record_bytes = Some(max);
        self
    }

    /// With or without compare-and-set.
    #[must_use]
    pub const fn with_compare_and_set(mut self, yes: bool) -> Self {
        self.compare_and_set = yes;
        self
    }
}

/// Session storage: what a back end (in-process memory, memcached, redis, a database, a cached
/// database, signed cookies) must do. Most code uses [`Session`](crate::Session) instead, which
/// encodes records, draws keys, retries collisions and applies expiry on top of this.
///
/// Records arrive already encoded (see [`Codecs`](crate::Codecs)) together with the time the
/// server must stop serving them, so a store only moves bytes and enforces expiry. Keys arrive
/// already validated against [`key_format`](SessionStore::key_format): hostile keys never reach a
/// store.
///
/// The methods mirror Django's `SessionBase` contract, made atomic:
///
/// | method | Django | must |
/// |---|---|---|
/// | [`create`](SessionStore::create) | `save(must_create=True)` | insert only if absent, else [`Error::collision`](crate::Error::collision) — never overwrite |
/// | [`update`](SessionStore::update) | `save(must_create=False)` | write only if present, else [`Error::vanished`](crate::Error::vanished) — never resurrect; with [`Expected::Version`], only if the stored version is still that one, else [`Error::conflict`](crate::Error::conflict) — never lose another request's write |
/// | [`load`](SessionStore::load) | `load()` | never return an expired record, never create one |
///
/// Every stored record has a [`Version`]: `load` returns it, `create` and `update` return the
/// new one. A store whose [`capabilities`](SessionStore::capabilities) say
/// [`compare_and_set`](Capabilities::compare_and_set) compares and sets in one atomic step (one
/// round trip); a store that cannot (cookies: the client holds the state) says so, returns
/// [`Version::UNTRACKED`] and takes every update as [`Expected::Any`].
///
/// # What a store can rely on
///
/// Through [`Sessions`](crate::Sessions) (how every application and middleware uses a store),
/// which always puts the store behind a [`CheckedStore`](crate::CheckedStore):
///
/// - every key matches [`key_format`](SessionStore::key_format) — malformed or hostile values
///   clients present, and keys made for another store, never reach the store;
/// - `create`, `update` and `touch` are never handed an `expires_at` that had already passed
///   when the call was made (`Session` deletes such a session instead). The store still
///   compares with its own clock: a second can tick between the check and the store's own
///   arithmetic, and then the record must simply not be served;
/// - every record is at most [`MAX_RECORD_BYTES`](crate::MAX_RECORD_BYTES) and at most the
///   store's declared [`max_record_bytes`](Capabilities::max_record_bytes), and its values
///   nest at most [`MAX_DEPTH`](crate::MAX_DEPTH) levels;
/// - `update` carries [`Expected::Version`] with a version this store returned only if the
///   store declares [`compare_and_set`](Capabilities::compare_and_set) and the application
///   did not choose [`ConflictPolicy::Overwrite`](crate::ConflictPolicy); otherwise
///   [`Expected::Any`].
///
/// # A complete store
///
/// In-process, behind one mutex — what every back end does, in the smallest form: expiry
/// enforced on every read, insert-if-absent, replace-if-present, compare-and-set, versions that
/// change on every write. (`sessionkit-locmem` is the production version of this.)
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
///
/// use sessionkit_core::{
///     async_trait, Capabilities, Error, Expected, KeyFormat, Loaded, Result, SessionKey,
///     SessionStore, Sessions, Stored, UnixTime, Version,
/// };
///
/// #[derive(Debug, Default)]
/// struct MapStore {
///     // key → (record, expires_at, version); `last` is the last version handed out.
///     map: Mutex<(HashMap<SessionKey, (Vec<u8>, UnixTime, Version)>, Version)>,
/// }
///
/// fn live(expires_at: UnixTime) -> bool {
///     expires_at.ttl_at(UnixTime::now()).is_some()
/// }
///
/// #[async_trait]
/// impl SessionStore for MapStore {
///     fn key_format(&self) -> KeyFormat {
///         KeyFormat::Random
///     }
///     fn capabilities(&self) -> Capabilities {
///         Capabilities::new().with_compare_and_set(true)
///     }
///     async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
///         let (map, _) = &*self.map.lock().unwrap();
///         Ok(map
///             .get(key)
///             .filter(|(_, exp, _)| live(*exp))
///             .map(|(record, exp, v)| Loaded::new(record.clone(), *v, *exp)))
///     }
///     async fn create(&self, key: &SessionKey, record: &[u8], exp: UnixTime) -> Result<Stored> {
///         let (map, last) = &mut *self.map.lock().unwrap();
///         if map.get(key).is_some_and(|(_, e, _)| live(*e)) {
///             return Err(Error::collision("map")); // never overwrite
///         }
///         *last = last.next();
///         map.insert(key.clone(), (record.to_vec(), exp, *last));
///         Ok(Stored::new(key.clone(), *last))
///     }
///     async fn update(
///         &self,
///         key: &SessionKey,
///         record: &[u8],
///         exp: UnixTime,
///         expected: Expected,
///     ) -> Result<Stored> {
///         let (map, last) = &mut *self.map.lock().unwrap();
///         let Some(entry) = map.get_mut(key).filter(|(_, e, _)| live(*e)) else {
///             return Err(Error::vanished("map")); // never resurrect
///         };
///         if matches!(expected, Expected::Version(v) if v != entry.2) {
///             return Err(Error::conflict("map")); // never lose another request's write
///         }
///         *last = last.next();
///         *entry = (record.to_vec(), exp, *last);
///         Ok(Stored::new(key.clone(), *last))
///     }
///     async fn touch(&self, key: &SessionKey, exp: UnixTime) -> Result<()> {
///         let (map, _) = &mut *self.map.lock().unwrap();
///         match map.get_mut(key).filter(|(_, e, _)| live(*e)) {
///             Some(entry) => Ok(entry.1 = exp),
///             None => Err(Error::vanished("map")),
///         }
///     }
///     async fn delete(&self, key: &SessionKey) -> Result<()> {
///         self.map.lock().unwrap().0.remove(key);
///         Ok(())
///     }
///     async fn clear_expired(&self) -> Result<u64> {
///         let (map, _) = &mut *self.map.lock().unwrap();
///         let before = map.len();
///         map.retain(|_, (_, e, _)| live(*e));
///         Ok((before - map.len()) as u64)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<()> {
/// let sessions = Sessions::new(MapStore::default());
/// let mut login = sessions.create();
/// login.insert("user", "42")?;
/// login.save().await?;
/// let cookie = login.key().unwrap().as_str().to_owned();
///
/// // Two requests load the same version and change different keys: both changes survive.
/// let mut page = sessions.load(Some(&cookie)).await?;
/// let mut xhr = sessions.load(Some(&cookie)).await?;
/// page.insert("page", 1)?;
/// xhr.insert("xhr", 2)?;
/// page.save().await?;
/// xhr.save().await?; // a conflict, merged: reloaded, `xhr` re-applied, saved
/// let now = sessions.load(Some(&cookie)).await?;
/// assert_eq!(now.get::<u32>("page")?, Some(1));
/// assert_eq!(now.get::<u32>("xhr")?, Some(2));
/// # Ok(()) }
/// ```
///
/// The conformance suite (`sessionkit-conformance`, one line: `suite!(async { MyStore::new() })`)
/// runs every behaviour of the contract against a store.
///
/// `Arc<dyn SessionStore>` is a `SessionStore` too.
#[async_trait]
pub trait SessionStore: std::fmt::Debug + Send + Sync + 'static {
    /// How the keys (the values clients hold) of this store look. Server-side stores return
    /// [`KeyFormat::Random`].
    fn key_format(&self) -> KeyFormat;

    /// What the store can do beyond the contract's minimum (default: no compare-and-set).
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// The stored bytes under `key` and their version, or `None` if there is no record or it
    /// has expired.
    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>>;

    /// Stores `record` under `key` only if no live record has that key, atomically.
    ///
    /// Returns the value the client must hold (`key` itself for server-side stores, the signed
    /// record for the cookie store) and the record's version. A taken key is
    /// [`Error::collision`](crate::Error::collision).
    async fn create(&self, key: &SessionKey, record: &[u8], expires_at: UnixTime)
        -> Result<Stored>;

    /// Replaces the record under `key` only if one is live and, for [`Expected::Version`], only
    /// if its version is still that one — atomically: the comparison and the write are one
    /// step, so two requests that loaded the same version cannot both succeed.
    ///
    /// Returns the value the client must hold from now on and the new version. A missing record
    /// (deleted or expired since it was loaded) is [`Error::vanished`](crate::Error::vanished);
    /// a live record of another version is [`Error::conflict`](crate::Error::conflict), and
    /// nothing is written.
    async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        expected: Expected,
    ) -> Result<Stored>;

    /// Moves the expiry of the live record under `key` without rewriting it (rolling sessions).
    /// A missing record is [`Error::vanished`](crate::Error::vanished).
    async fn touch(&self, key: &SessionKey, expires_at: UnixTime) -> Result<()>;

    /// Deletes the record under `key`; deleting a missing record is not an error.
    async fn delete(&self, key: &SessionKey) -> Result<()>;

    /// Whether a live record exists under `key`. The default loads it; a store with a cheaper
    /// question (redis `EXISTS`, a `COUNT`) answers that instead.
    async fn exists(&self, key: &SessionKey) -> Result<bool> {
        Ok(self.load(key).await?.is_some())
    }

    /// Removes expired records and returns how many were removed. Stores whose server expires
    /// records by itself (redis, memcached) return `Ok(0)`.
    async fn clear_expired(&self) -> Result<u64>;

    /// Removes at most about `max` expired records in one bounded step and returns how many
    /// were removed; fewer than `max` means none are left. For an operator's command that
    /// shows progress and can be stopped between steps. The default runs
    /// [`clear_expired`](Self::clear_expired) whole.
    async fn clear_expired_batch(&self, max: u64) -> Result<u64> {
        let _ = max;
        self.clear_expired().await
    }

    /// Who removes expired records (default [`Housekeeping::ClearExpired`]: an operator should
    /// schedule `clear_expired`).
    fn housekeeping(&self) -> Housekeeping {
        Housekeeping::ClearExpired
    }

    /// What the store can tell cheaply about itself (see [`StoreStats`]); the default knows
    /// only the housekeeping. Never a scan of every record.
    async fn stats(&self) -> Result<StoreStats> {
        let mut stats = StoreStats::new("custom");
        stats.housekeeping = Some(self.housekeeping());
        Ok(stats)
    }
}

#[async_trait]
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    fn key_format(&self) -> KeyFormat {
        (**self).key_format()
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
        (**self).load(key).await
    }
    async fn create(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<Stored> {
        (**self).create(key, record, expires_at).await
    }
    async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        expected: Expected,
    ) -> Result<Stored> {
        (**self).update(key, record, expires_at, expected).await
    }
    async fn touch(&self, key: &SessionKey, expires_at: UnixTime) -> Result<()> {
        (**self).touch(key, expires_at).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<()> {
        (**self).delete(key).await
    }
    async fn exists(&self, key: &SessionKey) -> Result<bool> {
        (**self).exists(key).await
    }
    async fn clear_expired(&self) -> Result<u64> {
        (**self).clear_expired().await
    }
    async fn clear_expired_batch(&self, max: u64) -> Result<u64> {
        (**self).clear_expired_batch(max).await
    }
    fn housekeeping(&self) -> Housekeeping {
        (**self).housekeeping()
    }
    async fn stats(&self) -> Result<StoreStats> {
        (**self).stats().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_earlier_values_are_read() {
        let v = Version::new(0x0102_0304_0506_0708);
        let t = UnixTime::from_secs(0x0a0b_0c0d);
        let value = Loaded::envelope(v, t, b"\x01rec");
        assert_eq!(
            &value[..17],
            b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x00\x0a\x0b\x0c\x0d"
        );
        assert_eq!(
            Loaded::from_envelope(value),
            Opened::Whole(Loaded::new(b"\x01rec".to_vec(), v, t))
        );
        // The version-only envelope (record right after the version).
        let mut old = b"\x00\x01\x02\x03\x04\x05\x06\x07\x08".to_vec();
        old.extend_from_slice(b"{\"a\":1} and more than eight bytes");
        assert_eq!(
            Loaded::from_envelope(old),
            Opened::WithoutExpiry {
                record: b"{\"a\":1} and more than eight bytes".to_vec(),
                version: v
            }
        );
        for bare in [b"\x01rec".to_vec(), vec![0; 5]] {
            assert_eq!(
                Loaded::from_envelope(bare.clone()),
                Opened::WithoutExpiry {
                    record: bare,
                    version: Version::UNTRACKED
                }
            );
        }
        // Expiries out of range are clamped, never misread as the old layout.
        for (t, kept) in [(i64::MAX, (1i64 << 56) - 1), (-5, 0)] {
            match Loaded::from_envelope(Loaded::envelope(v, UnixTime::from_secs(t), b"\x01")) {
                Opened::Whole(l) => assert_eq!(l.expires_at.as_secs(), kept),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn fresh_versions_differ_and_are_tracked() {
        let a = Version::fresh();
        let b = Version::fresh();
        assert_ne!(a, b);
        assert_ne!(a, Version::UNTRACKED);
        assert_eq!(Version::new(u64::MAX).next(), Version::new(1));
    }
}
