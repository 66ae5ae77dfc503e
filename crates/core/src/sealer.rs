//! [`Sealer`]: client-side stores, whose sessions travel in the cookie and which keep nothing
//! on the server.

use async_trait::async_trait;

use crate::{
    Error, ErrorKind, Expected, Housekeeping, KeyFormat, Loaded, Result, SessionKey, SessionStore,
    StoreStats, Stored, UnixTime,
};

/// A client-side store: the record travels in the cookie itself, sealed (signed or encrypted)
/// with the time it stops being valid, and the server keeps nothing.
///
/// Implement this, not [`SessionStore`]: every `Sealer` is a [`SessionStore`] that fills the
/// contract the one way a store without server-side state can, so a client-side back end is
/// only its sealing. Through that store:
///
/// | method | does |
/// |---|---|
/// | [`create`](SessionStore::create), [`update`](SessionStore::update) | [`seal_record`](Self::seal_record) now; the key the client holds from then on is the sealed value (nothing can collide, vanish or conflict: `expected` cannot be checked, since every request may present an older cookie, so the last response wins, as with Django) |
/// | [`load`](SessionStore::load) | [`open_sealed`](Self::open_sealed) now, at [`Version::UNTRACKED`](crate::Version::UNTRACKED) |
/// | [`delete`](SessionStore::delete) | nothing: a cookie cannot be revoked ([`Session::flush`](crate::Session::flush) drops the key so the cookie is deleted; a copy stays valid until it expires) |
/// | [`touch`](SessionStore::touch) | nothing: [`Session::touch`](crate::Session::touch) saves client-side sessions, which seals a new value with the new expiry |
/// | [`exists`](SessionStore::exists) | `false`, as Django's `signed_cookies` |
/// | [`clear_expired`](SessionStore::clear_expired) | `0`: there is nothing to clear ([`Housekeeping::ClientSide`]) |
///
/// Its keys are [`KeyFormat::Token`]s of at most [`max_sealed_len`](Self::max_sealed_len)
/// bytes; it declares no compare-and-set.
///
/// ```
/// use sessionkit_core::{Result, Sealer, SessionConfig, Sessions, UnixTime};
///
/// /// A toy that "seals" by writing hex — no secret, so never use it for real sessions.
/// #[derive(Debug)]
/// struct Hex;
///
/// impl Sealer for Hex {
///     fn name(&self) -> &'static str { "hex" }
///     fn max_sealed_len(&self) -> usize { 4000 }
///     fn seal_record(&self, record: &[u8], expires_at: UnixTime, _now: UnixTime) -> Result<String> {
///         let hex: String = record.iter().map(|b| format!("{b:02x}")).collect();
///         Ok(format!("{}.{hex}", expires_at.as_secs()))
///     }
///     fn open_sealed(&self, value: &str, now: UnixTime) -> Option<(Vec<u8>, UnixTime)> {
///         let (secs, hex) = value.split_once('.')?;
///         let expires_at = UnixTime::from_secs(secs.parse().ok()?);
///         if expires_at < now || hex.len() % 2 != 0 {
///             return None;
///         }
///         let bytes = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok());
///         Some((bytes.collect::<Option<Vec<u8>>>()?, expires_at))
///     }
/// }
///
/// # async fn demo() -> Result<()> {
/// let sessions = Sessions::new(Hex);
/// let mut session = sessions.load(None).await?;
/// session.insert("user", "alice")?;
/// session.save().await?;
/// let cookie = session.key().unwrap().as_str().to_owned(); // the whole session
/// let again = sessions.load(Some(&cookie)).await?;
/// assert_eq!(again.get::<String>("user")?.as_deref(), Some("alice"));
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
pub trait Sealer: std::fmt::Debug + Send + Sync + 'static {
    /// The back end's name, as [`StoreStats::backend`] and errors report it.
    fn name(&self) -> &'static str;

    /// The longest value [`open_sealed`](Self::open_sealed) accepts: longer cookie values are
    /// no session without being read.
    fn max_sealed_len(&self) -> usize;

    /// `record` sealed into a cookie value at `now`, valid until `expires_at` (or until the
    /// sealer's own maximum age runs out, if that comes first). A value too long for a cookie
    /// is an [`ErrorKind::TooLarge`] error.
    fn seal_record(&self, record: &[u8], expires_at: UnixTime, now: UnixTime) -> Result<String>;

    /// The record inside `value` and the last second it is live, or `None` for anything
    /// forged, tampered, truncated, expired or sealed with another key (the sealer logs why at
    /// debug level). Never panics, whatever `value` holds.
    fn open_sealed(&self, value: &str, now: UnixTime) -> Option<(Vec<u8>, UnixTime)>;
}

/// A newly sealed value as the key the client holds from now on.
fn issue<S: Sealer>(sealer: &S, record: &[u8], expires_at: UnixTime) -> Result<Stored> {
    let value = sealer.seal_record(record, expires_at, UnixTime::now())?;
    let key = SessionKey::parse_owned(value, sealer.key_format()).ok_or_else(|| {
        Error::new(ErrorKind::Encode, sealer.name())
            .with_detail("a sealed value does not match the store's key format")
    })?;
    Ok(Stored::untracked(key))
}

#[async_trait]
impl<S: Sealer> SessionStore for S {
    fn key_format(&self) -> KeyFormat {
        KeyFormat::Token {
            max_len: self.max_sealed_len(),
        }
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
        Ok(self
            .open_sealed(key.as_str(), UnixTime::now())
            .map(|(record, expires_at)| Loaded::untracked(record, expires_at)))
    }

    async fn create(
        &self,
        _key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<Stored> {
        issue(self, record, expires_at)
    }

    async fn update(
        &self,
        _key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        _expected: Expected,
    ) -> Result<Stored> {
        issue(self, record, expires_at)
    }

    async fn touch(&self, _key: &SessionKey, _expires_at: UnixTime) -> Result<()> {
        Ok(())
    }

    async fn delete(&self, _key: &SessionKey) -> Result<()> {
        Ok(())
    }

    async fn exists(&self, _key: &SessionKey) -> Result<bool> {
        Ok(false)
    }

    async fn clear_expired(&self) -> Result<u64> {
        Ok(0)
    }

    fn housekeeping(&self) -> Housekeeping {
        Housekeeping::ClientSide
    }

    async fn stats(&self) -> Result<StoreStats> {
        let mut stats = StoreStats::new(self.name());
        stats.housekeeping = Some(Housekeeping::ClientSide);
        Ok(stats)
    }
}
