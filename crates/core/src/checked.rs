//! [`CheckedStore`]: the rules every store relies on, enforced once, in front of every store
//! that [`Sessions`](crate::Sessions) uses.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    Capabilities, Clock, Error, ErrorKind, Expected, Housekeeping, KeyFormat, Loaded, Result,
    SessionKey, SessionStore, StoreStats, Stored, UnixTime, MAX_RECORD_BYTES,
};

/// A store behind the checks every store relies on (OpenDAL's "complete layer"): what reaches
/// the store inside is
///
/// - a key of the store's [`KeyFormat`] (a key made for another store is refused:
///   [`ErrorKind::Invalid`]);
/// - for `create`, `update` and `touch`, an `expires_at` still in the future by the session
///   layer's [`Clock`] (a time that has passed is refused: [`ErrorKind::Invalid`]; a session
///   that should end is deleted, as [`Session::save`](crate::Session::save) does);
/// - a record of at most [`MAX_RECORD_BYTES`] and at most the store's own
///   [`max_record_bytes`](Capabilities::max_record_bytes) ([`ErrorKind::TooLarge`], before any
///   round trip).
///
/// [`Sessions`](crate::Sessions) always puts its store behind one, and
/// [`Sessions::store`](crate::Sessions::store) hands it out, so code that calls a store
/// directly through its `Sessions` gets the same guarantees. A refused call never reaches the
/// store: nothing is sent, nothing is stored.
///
/// The store's [`key_format`](SessionStore::key_format) and
/// [`capabilities`](SessionStore::capabilities) are read once, when the layer is made: a store
/// must not change them afterwards.
#[derive(Debug)]
pub struct CheckedStore {
    inner: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    key_format: KeyFormat,
    capabilities: Capabilities,
    max_record_bytes: usize,
}

impl CheckedStore {
    /// `inner` behind the checks, with expiry judged by `clock`.
    pub fn new(inner: Arc<dyn SessionStore>, clock: Arc<dyn Clock>) -> Self {
        let key_format = inner.key_format();
        let capabilities = inner.capabilities();
        let max_record_bytes = capabilities
            .max_record_bytes
            .map_or(MAX_RECORD_BYTES, |max| max.min(MAX_RECORD_BYTES));
        Self {
            inner,
            clock,
            key_format,
            capabilities,
            max_record_bytes,
        }
    }

    /// The store's key format (read once).
    pub fn key_format(&self) -> KeyFormat {
        self.key_format
    }

    /// The store's capabilities (read once).
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// The store inside, unchecked.
    pub fn inner(&self) -> &Arc<dyn SessionStore> {
        &self.inner
    }

    /// The longest record this store accepts: the store's own maximum, at most
    /// [`MAX_RECORD_BYTES`].
    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    /// The time the checks use.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    fn check_key(&self, key: &SessionKey) -> Result<()> {
        if key.follows(self.key_format) {
            return Ok(());
        }
        Err(Error::new(ErrorKind::Invalid, "core").with_detail(format!(
            "a {}-character key that is not of this store's format ({:?}); keys come from \
             Sessions::load or SessionKey::parse with the store's key_format()",
            key.as_str().len(),
            self.key_format
        )))
    }

    fn check_expiry(&self, expires_at: UnixTime) -> Result<()> {
        let now = self.clock.now();
        if expires_at.ttl_at(now).is_some() {
            return Ok(());
        }
        Err(Error::new(ErrorKind::Invalid, "core").with_detail(format!(
            "expires_at {} is not after now ({}); a session that has ended is deleted, not \
             written (Session::save does this)",
            expires_at.as_secs(),
            now.as_secs()
        )))
    }

    fn check_size(&self, record: &[u8]) -> Result<()> {
        if record.len() <= self.max_record_bytes {
            return Ok(());
        }
        Err(Error::new(ErrorKind::TooLarge, "core").with_detail(format!(
            "a record of {} bytes; this store accepts at most {} bytes",
            record.len(),
            self.max_record_bytes
        )))
    }

    /// [`SessionStore::load`], checked.
    pub async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
        self.check_key(key)?;
        self.inner.load(key).await
    }

    /// [`SessionStore::create`], checked.
    pub async fn create(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<Stored> {
        self.check_key(key)?;
        self.check_size(record)?;
        self.check_expiry(expires_at)?;
        self.inner.create(key, record, expires_at).await
    }

    /// [`SessionStore::update`], checked. `expected` is passed on as it is to a store that
    /// compares and sets, and as [`Expected::Any`] to one that cannot.
    pub async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        expected: Expected,
    ) -> Result<Stored> {
        self.check_key(key)?;
        self.check_size(record)?;
        self.check_expiry(expires_at)?;
        let expected = if self.capabilities.compare_and_set {
            expected
        } else {
            Expected::Any
        };
        self.inner.update(key, record, expires_at, expected).await
    }

    /// [`SessionStore::touch`], checked.
    pub async fn touch(&self, key: &SessionKey, expires_at: UnixTime) -> Result<()> {
        self.check_key(key)?;
        self.check_expiry(expires_at)?;
        self.inner.touch(key, expires_at).await
    }

    /// [`SessionStore::delete`], checked.
    pub async fn delete(&self, key: &SessionKey) -> Result<()> {
        self.check_key(key)?;
        self.inner.delete(key).await
    }

    /// [`SessionStore::exists`], checked.
    pub async fn exists(&self, key: &SessionKey) -> Result<bool> {
        self.check_key(key)?;
        self.inner.exists(key).await
    }

    /// [`SessionStore::clear_expired`] (nothing to check).
    pub async fn clear_expired(&self) -> Result<u64> {
        self.inner.clear_expired().await
    }

    /// [`SessionStore::clear_expired_batch`] (nothing to check).
    pub async fn clear_expired_batch(&self, max: u64) -> Result<u64> {
        self.inner.clear_expired_batch(max).await
    }

    /// [`SessionStore::housekeeping`].
    pub fn housekeeping(&self) -> Housekeeping {
        self.inner.housekeeping()
    }

    /// [`SessionStore::stats`].
    pub async fn stats(&self) -> Result<StoreStats> {
        self.inner.stats().await
    }
}

#[async_trait]
impl SessionStore for CheckedStore {
    fn key_format(&self) -> KeyFormat {
        CheckedStore::key_format(self)
    }
    fn capabilities(&self) -> Capabilities {
        CheckedStore::capabilities(self)
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
        CheckedStore::load(self, key).await
    }
    async fn create(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<Stored> {
        CheckedStore::create(self, key, record, expires_at).await
    }
    async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        expected: Expected,
    ) -> Result<Stored> {
        CheckedStore::update(self, key, record, expires_at, expected).await
    }
    async fn touch(&self, key: &SessionKey, expires_at: UnixTime) -> Result<()> {
        CheckedStore::touch(self, key, expires_at).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<()> {
        CheckedStore::delete(self, key).await
    }
    async fn exists(&self, key: &SessionKey) -> Result<bool> {
        CheckedStore::exists(self, key).await
    }
    async fn clear_expired(&self) -> Result<u64> {
        CheckedStore::clear_expired(self).await
    }
    async fn clear_expired_batch(&self, max: u64) -> Result<u64> {
        CheckedStore::clear_expired_batch(self, max).await
    }
    fn housekeeping(&self) -> Housekeeping {
        CheckedStore::housekeeping(self)
    }
    async fn stats(&self) -> Result<StoreStats> {
        CheckedStore::stats(self).await
    }
}
