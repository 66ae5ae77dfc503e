//! The contract every back end implements.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{Housekeeping, KeyFormat, Result, SessionKey, StoreStats, UnixTime};

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
/// | [`update`](SessionStore::update) | `save(must_create=False)` | write only if present, else [`Error::vanished`](crate::Error::vanished) — never resurrect |
/// | [`load`](SessionStore::load) | `load()` | never return an expired record, never create one |
///
/// `Arc<dyn SessionStore>` is a `SessionStore` too.
#[async_trait]
pub trait SessionStore: std::fmt::Debug + Send + Sync + 'static {
    /// How the keys (the values clients hold) of this store look. Server-side stores return
    /// [`KeyFormat::Random`].
    fn key_format(&self) -> KeyFormat;

    /// The stored bytes under `key`, or `None` if there is no record or it has expired.
    async fn load(&self, key: &SessionKey) -> Result<Option<Vec<u8>>>;

    /// Stores `record` under `key` only if no live record has that key, atomically.
    ///
    /// Returns the value the client must hold: `key` itself for server-side stores, the signed
    /// record for the cookie store. A taken key is [`Error::collision`](crate::Error::collision).
    async fn create(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<SessionKey>;

    /// Replaces the record under `key` only if one is live, atomically.
    ///
    /// Returns the value the client must hold from now on. A missing record (deleted or expired
    /// since it was loaded) is [`Error::vanished`](crate::Error::vanished).
    async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<SessionKey>;

    /// Moves the expiry of the live record under `key` without rewriting it (rolling sessions).
    /// A missing record is [`Error::vanished`](crate::Error::vanished).
    async fn touch(&self, key: &SessionKey, expires_at: UnixTime) -> Result<()>;

    /// Deletes the record under `key`; deleting a missing record is not an error.
    async fn delete(&self, key: &SessionKey) -> Result<()>;

    /// Whether a live record exists under `key`.
    async fn exists(&self, key: &SessionKey) -> Result<bool>;

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
    async fn load(&self, key: &SessionKey) -> Result<Option<Vec<u8>>> {
        (**self).load(key).await
    }
    async fn create(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<SessionKey> {
        (**self).create(key, record, expires_at).await
    }
    async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<SessionKey> {
        (**self).update(key, record, expires_at).await
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
