//! [`MemcachedStore`]: the `SessionStore` over memcached's meta protocol.

use std::fmt;
use std::sync::Arc;

use memcache::exp::{AsyncMetaClient, Meta, MutationStatus};
use sessionkit_core::{
    async_trait, Capabilities, Error, Expected, Housekeeping, KeyFormat, Loaded, Result,
    SessionKey, SessionStore, StoreStats, Stored, UnixTime, Version,
};

use crate::admin;
use crate::config::MemcachedConfig;
use crate::error::{from_client, UnexpectedReply};
use crate::router::StableRendezvous;
use crate::BACKEND;

/// The longest TTL memcached takes as a number of seconds (30 days); larger values are read as
/// an absolute Unix time.
pub const MAX_RELATIVE_TTL: u64 = 2_592_000;

/// The expiry to send memcached for a record that must stop being served at `expires_at`,
/// computed at `now`: `None` when the record is already expired (nothing may be stored),
/// otherwise the number of seconds left when that is at most 30 days, else `expires_at` itself
/// as an absolute Unix time (memcached's rule: a relative TTL above 30 days would be read as a
/// date in January 1970, and the record would expire at once).
///
/// Absolute times are clamped to `i32::MAX` (January 2038), the largest value memcached's meta
/// protocol parses.
///
/// ```
/// use sessionkit_core::UnixTime;
/// use sessionkit_memcached::memcached_exptime;
///
/// let now = UnixTime::from_secs(1_800_000_000);
/// assert_eq!(memcached_exptime(now.add_secs(3600), now), Some(3600));
/// assert_eq!(memcached_exptime(now.add_secs(2_592_000), now), Some(2_592_000));
/// // 60 days: sent as the absolute expiry time.
/// assert_eq!(memcached_exptime(now.add_secs(5_184_000), now), Some(1_805_184_000));
/// assert_eq!(memcached_exptime(now, now), None);
/// ```
pub fn memcached_exptime(expires_at: UnixTime, now: UnixTime) -> Option<u32> {
    let ttl = expires_at.ttl_at(now)?;
    if ttl <= MAX_RELATIVE_TTL {
        // At most 2,592,000: always fits.
        return Some(u32::try_from(ttl).unwrap_or(u32::MAX));
    }
    let absolute = expires_at
        .as_secs()
        .clamp(MAX_RELATIVE_TTL as i64 + 1, i64::from(i32::MAX));
    Some(u32::try_from(absolute).unwrap_or(i32::MAX as u32))
}

/// Session storage in one memcached server or spread over several.
///
/// Built by [`connect`](Self::connect) from a [`MemcachedConfig`]. Cheap to share: wrap it in an
/// `Arc` or hand it to [`Sessions`](sessionkit_core::Sessions), which does.
///
/// | operation | meta command | outcome |
/// |---|---|---|
/// | `load` | `mg KEY v` | the bytes, or `None` on a miss |
/// | `create` | `ms KEY ME T…` (add) | `NS` → [`ErrorKind::Collision`] |
/// | `update` | `ms KEY MR T…` (replace) | `NS` → [`ErrorKind::Vanished`]: a deleted session is never resurrected |
/// | `touch` | `mg KEY T…` | `EN` → [`ErrorKind::Vanished`] |
/// | `delete` | `md KEY` | a miss is not an error |
/// | `exists` | `mg KEY` | hit or miss |
/// | `clear_expired` | — | `Ok(0)`: memcached expires items itself |
///
/// A record whose `expires_at` has already passed is never stored: `create` stores nothing,
/// `update` and `touch` delete the record.
#[derive(Clone)]
pub struct MemcachedStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: AsyncMetaClient,
    config: MemcachedConfig,
    servers: Vec<String>,
}

impl fmt::Debug for MemcachedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemcachedStore")
            .field("servers", &self.inner.servers)
            .field("prefix", &self.inner.config.prefix())
            .finish_non_exhaustive()
    }
}

impl MemcachedStore {
    /// Checks `config`, resolves the server names and checks that at least one server answers.
    /// With several servers, one that is down now fails only the requests routed to it (as
    /// [`ErrorKind::Unavailable`]) until it is back, and the store needs no rebuilding.
    ///
    /// Fails with [`ErrorKind::Config`] for an invalid setting and
    /// [`ErrorKind::Unavailable`] when a server name does not resolve or no server answers.
    pub async fn connect(config: MemcachedConfig) -> Result<Self> {
        let servers = config.validate()?;
        let max = config.max_connections();
        let client = AsyncMetaClient::builder()
            .router(StableRendezvous)
            .connect_timeout(Some(config.connect_timeout()))
            .io_timeout(Some(config.response_timeout()))
            .max_connections(Some(max))
            .max_idle(max)
            .max_idle_age(config.idle_timeout())
            .connect_multiple_async(servers.iter().cloned())
            .await
            .map_err(from_client)?;
        let store = Self {
            inner: Arc::new(Inner {
                client,
                config,
                servers,
            }),
        };
        store.verify().await?;
        Ok(store)
    }

    /// At least one server answers (the start-up rule every back end follows: `connect` fails
    /// if it can reach no server; with several servers, those down fail only the requests
    /// routed to them until they are back).
    async fn verify(&self) -> Result<()> {
        let limit = self.config().connect_timeout() + self.config().response_timeout();
        let mut last = None;
        for server in self.servers() {
            match admin::stats(server, limit).await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::config(BACKEND, "no memcached server given")))
    }

    /// The configuration the store was built with.
    pub fn config(&self) -> &MemcachedConfig {
        &self.inner.config
    }

    /// The servers, as `HOST:PORT`, in configuration order.
    pub fn servers(&self) -> &[String] {
        &self.inner.servers
    }

    /// The server (`HOST:PORT`) that holds the session under `key`.
    pub fn server_for(&self, key: &SessionKey) -> &str {
        let wire = self.wire_key(key);
        &self.inner.servers[StableRendezvous::pick(wire.as_bytes(), &self.inner.servers)]
    }

    /// The memcache crate's meta-protocol client the store uses (shared connection pools): for
    /// diagnostics or other data in the same servers. Keys written through it bypass the prefix.
    pub fn client(&self) -> &AsyncMetaClient {
        &self.inner.client
    }

    /// The memcached key of a session: prefix + key.
    pub fn wire_key(&self, key: &SessionKey) -> String {
        let prefix = self.inner.config.prefix();
        let mut wire = String::with_capacity(prefix.len() + key.as_str().len());
        wire.push_str(prefix);
        wire.push_str(key.as_str());
        wire
    }

    /// Deletes `wire`: `Ok(true)` if it was there.
    async fn remove(&self, wire: &str) -> Result<bool> {
        let reply = self
            .inner
            .client
            .delete(wire)
            .send()
            .await
            .map_err(from_client)?;
        match reply.status {
            MutationStatus::Applied => Ok(true),
            MutationStatus::NotFound => Ok(false),
            _ => Err(Error::backend(BACKEND, UnexpectedReply("md"))),
        }
    }
}

/// The version of a reply that was asked for its CAS token (a server that sends none is not
/// one this store can compare and set on).
fn cas_version(cas: Option<u64>, command: &'static str) -> Result<Version> {
    cas.map(Version::new)
        .ok_or_else(|| Error::backend(BACKEND, UnexpectedReply(command)))
}

#[async_trait]
impl SessionStore for MemcachedStore {
    fn key_format(&self) -> KeyFormat {
        KeyFormat::Random
    }

    /// Versions are memcached's CAS tokens (`mg … c`, `ms … C<token>`); records up to the
    /// configured item size.
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_compare_and_set(true)
            .with_max_record_bytes(self.inner.config.max_item_size())
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>> {
        let wire = self.wire_key(key);
        let reply = self
            .inner
            .client
            .get(&wire)
            .meta(Meta::NONE.cas().ttl())
            .send()
            .await
            .map_err(from_client)?;
        if !reply.hit() || reply.is_stale() {
            return Ok(None);
        }
        let version = cas_version(reply.item.cas, "mg")?;
        let expires_at = match reply.item.ttl {
            // The remaining whole seconds, as memcached counts them.
            Some(ttl) if ttl >= 0 => UnixTime::now().add_secs(ttl),
            // This store never writes an item without a TTL; another writer may have.
            Some(_) => UnixTime::from_secs(i64::MAX),
            None => return Err(Error::backend(BACKEND, UnexpectedReply("mg"))),
        };
        Ok(reply
            .value
            .map(|record| Loaded::new(record, version, expires_at)))
    }

    async fn create(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
    ) -> Result<Stored> {
        let wire = self.wire_key(key);
        let Some(exptime) = memcached_exptime(expires_at, UnixTime::now()) else {
            // Already expired: storing it could only make it servable.
            return Ok(Stored::untracked(key.clone()));
        };
        let reply = self
            .inner
            .client
            .set(&wire, record)
            .client_flags(self.inner.config.client_flags())
            .ttl_raw(exptime)
            .add()
            .return_cas()
            .send()
            .await
            .map_err(from_client)?;
        match reply.status {
            MutationStatus::Applied => Ok(Stored::new(
                key.clone(),
                cas_version(reply.cas, "ms (add)")?,
            )),
            MutationStatus::AlreadyExists => Err(Error::collision(BACKEND)),
            _ => Err(Error::backend(BACKEND, UnexpectedReply("ms (add)"))),
        }
    }

    async fn update(
        &self,
        key: &SessionKey,
        record: &[u8],
        expires_at: UnixTime,
        expected: Expected,
    ) -> Result<Stored> {
        let wire = self.wire_key(key);
        let Some(exptime) = memcached_exptime(expires_at, UnixTime::now()) else {
            // Already expired: the record must go, and a missing one is still vanished.
            return if self.remove(&wire).await? {
                Ok(Stored::untracked(key.clone()))
            } else {
                Err(Error::vanished(BACKEND))
            };
        };
        let mut request = self
            .inner
            .client
            .set(&wire, record)
            .client_flags(self.inner.config.client_flags())
            .ttl_raw(exptime)
            .replace()
            .return_cas();
        if let Expected::Version(version) = expected {
            request = request.compare_cas(version.get());
        }
        let reply = request.send().await.map_err(from_client)?;
        match reply.status {
            MutationStatus::Applied => Ok(Stored::new(
                key.clone(),
                cas_version(reply.cas, "ms (replace)")?,
            )),
            MutationStatus::NotFound => Err(Error::vanished(BACKEND)),
            MutationStatus::CasMismatch => Err(Error::conflict(BACKEND)),
            _ => Err(Error::backend(BACKEND, UnexpectedReply("ms (replace)"))),
        }
    }

    async fn touch(&self, key: &SessionKey, expires_at: UnixTime) -> Result<()> {
        let wire = self.wire_key(key);
        let Some(exptime) = memcached_exptime(expires_at, UnixTime::now()) else {
            return if self.remove(&wire).await? {
                Ok(())
            } else {
                Err(Error::vanished(BACKEND))
            };
        };
        let reply = self
            .inner
            .client
            .get(&wire)
            .without_value()
            .touch_raw(exptime)
            .send()
            .await
            .map_err(from_client)?;
        if reply.hit() {
            Ok(())
        } else {
            Err(Error::vanished(BACKEND))
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        let wire = self.wire_key(key);
        self.remove(&wire).await.map(drop)
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool> {
        let wire = self.wire_key(key);
        let reply = self
            .inner
            .client
            .get(&wire)
            .without_value()
            .send()
            .await
            .map_err(from_client)?;
        Ok(reply.hit() && !reply.is_stale())
    }

    async fn clear_expired(&self) -> Result<u64> {
        Ok(0)
    }

    fn housekeeping(&self) -> Housekeeping {
        Housekeeping::ServerExpires
    }

    /// `stats` of every server, summed (items, bytes, limit, evictions); the version of the
    /// first. A server that does not answer fails the call.
    async fn stats(&self) -> Result<StoreStats> {
        let limit = self.config().connect_timeout() + self.config().response_timeout();
        let mut stats = StoreStats::new(BACKEND);
        stats.housekeeping = Some(Housekeeping::ServerExpires);
        let (mut items, mut bytes, mut max, mut evictions) = (0, 0, 0, 0);
        for server in self.servers() {
            let s = admin::stats(server, limit).await?;
            let n = |name: &str| s.get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            items += n("curr_items");
            bytes += n("bytes");
            max += n("limit_maxbytes");
            evictions += n("evictions");
            if stats.server_version.is_none() {
                stats.server_version = s.get("version").map(|v| format!("memcached {v}"));
            }
        }
        (stats.items, stats.memory_bytes) = (Some(items), Some(bytes));
        (stats.memory_limit_bytes, stats.evictions) = (Some(max), Some(evictions));
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exptime_rule() {
        let now = UnixTime::from_secs(1_800_000_000);
        assert_eq!(memcached_exptime(now.add_secs(-1), now), None);
        assert_eq!(memcached_exptime(now, now), None);
        assert_eq!(memcached_exptime(now.add_secs(1), now), Some(1));
        assert_eq!(
            memcached_exptime(now.add_secs(2_592_000), now),
            Some(2_592_000)
        );
        assert_eq!(
            memcached_exptime(now.add_secs(2_592_001), now),
            Some(1_802_592_001)
        );
        // Beyond what memcached parses: clamped, never wrapped.
        assert_eq!(
            memcached_exptime(UnixTime::from_secs(i64::MAX), now),
            Some(i32::MAX as u32)
        );
        // A clock before the epoch: an absolute time in 1970 would be read as relative, so it
        // is kept above the 30-day line (memcached then treats it as already past).
        let broken = UnixTime::from_secs(-10_000_000);
        assert_eq!(
            memcached_exptime(UnixTime::from_secs(100), broken),
            Some(2_592_001)
        );
    }
}
