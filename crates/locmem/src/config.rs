//! [`LocMemConfig`]: shard count and bounds.

use sessionkit_core::{ConfigUrl, Error, Result};

/// The largest shard count accepted; larger requests are lowered to it.
pub const MAX_SHARDS: usize = 4096;

/// Shards are halved (down to one) until each one holds at least this many entries, so that a
/// small store is not split into shards too small to fill evenly (see [`LocMemConfig::with_max_entries`]).
pub const MIN_ENTRIES_PER_SHARD: usize = 1024;

/// What one stored session is charged against [`LocMemConfig::with_max_bytes`] on top of its
/// record: the key, the expiry, the hash-table slot, the expiry-index node and the record's
/// allocation header. Measured on 64-bit Linux with a counting allocator: 157 to 204 bytes
/// requested per session depending on how full the hash tables are, plus the allocator's own
/// header.
pub const ENTRY_OVERHEAD: usize = 192;

/// The query parameters of a `locmem://` URL.
pub const URL_PARAMETERS: [&str; 3] = ["max_entries", "max_bytes", "shards"];

/// The smallest byte budget per shard a `locmem://` URL may give.
const MIN_BYTES_PER_SHARD: usize = 4096;

/// Settings of a [`LocMemStore`](crate::LocMemStore): how many shards and how large it may grow.
///
/// ```
/// use sessionkit_locmem::{LocMemConfig, LocMemStore};
///
/// let store = LocMemStore::new(
///     LocMemConfig::new()
///         .with_max_entries(200_000)
///         .with_max_bytes(128 * 1024 * 1024),
/// );
/// assert_eq!(store.config().max_entries(), 200_000);
/// ```
///
/// # How the bounds are applied
///
/// Both bounds are split evenly across the shards: a shard holds at most
/// `max_entries / shards` entries and `max_bytes / shards` bytes, each entry costing its
/// record's buffer plus [`ENTRY_OVERHEAD`]. The buffer is the record's length, or a little
/// more after an update rewrote it in place with a shorter record (at most half the record
/// plus 64 bytes more). Keys are random, so shards fill evenly and the
/// whole store reaches its bounds together, within a few percent. One record larger than a
/// shard's byte budget is refused with [`ErrorKind::TooLarge`](sessionkit_core::ErrorKind::TooLarge).
/// What happens when a shard is full is described in the [crate documentation](crate#eviction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocMemConfig {
    shards: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl Default for LocMemConfig {
    fn default() -> Self {
        Self {
            shards: 32,
            max_entries: 1_000_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

impl LocMemConfig {
    /// The defaults: 32 shards, at most 1,000,000 sessions and 256 MiB.
    pub fn new() -> Self {
        Self::default()
    }

    /// The settings in a `locmem://` URL, read by the shared rules of
    /// [`ConfigUrl`]: `locmem://[?max_entries=N][&max_bytes=N][&shards=N]`, each at least 1,
    /// and at least 4096 bytes per shard. A host, path, unknown or repeated parameter is a
    /// [`Config`](sessionkit_core::ErrorKind::Config) error.
    ///
    /// ```
    /// use sessionkit_locmem::LocMemConfig;
    /// let config = LocMemConfig::from_url("locmem://?max_entries=5000&shards=4")?;
    /// assert_eq!((config.max_entries(), config.shards()), (5000, 4));
    /// assert!(LocMemConfig::from_url("locmem://?max_bytes=0").is_err());
    /// # Ok::<(), sessionkit_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let mut url = ConfigUrl::parse(crate::BACKEND, url)?;
        url.require_scheme(&["locmem"])?;
        url.refuse_host()?;
        url.refuse_path()?;
        let mut config = Self::default();
        if let Some(n) = url.take_count("max_entries")? {
            config = config.with_max_entries(n);
        }
        if let Some(n) = url.take_count("max_bytes")? {
            config = config.with_max_bytes(n);
        }
        if let Some(n) = url.take_count("shards")? {
            config = config.with_shards(n);
        }
        url.finish(&URL_PARAMETERS)?;
        let per_shard = config.max_bytes / config.effective_shards();
        if per_shard < MIN_BYTES_PER_SHARD {
            return Err(Error::config(
                crate::BACKEND,
                format!(
                    "max_bytes={} leaves {per_shard} bytes to each of the {} shards, too few for \
                     one session: give at least {} bytes per shard",
                    config.max_bytes,
                    config.effective_shards(),
                    MIN_BYTES_PER_SHARD
                ),
            ));
        }
        Ok(config)
    }

    /// How many independently locked shards the store has (default 32).
    ///
    /// Rounded up to a power of two and kept between 1 and [`MAX_SHARDS`]. The store may use
    /// fewer: shards are halved until each holds at least [`MIN_ENTRIES_PER_SHARD`] entries
    /// (so `with_max_entries(300)` gives one shard). More shards than the number of threads
    /// that touch sessions at once buys nothing.
    #[must_use]
    pub fn with_shards(mut self, shards: usize) -> Self {
        self.shards = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        self
    }

    /// The most sessions the store keeps (default 1,000,000; at least 1).
    ///
    /// Size it for every session created within one cookie age (two weeks by default), not for
    /// the users online at once: a session lives until it expires or is deleted.
    #[must_use]
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries.max(1);
        self
    }

    /// The most memory the stored sessions may take (default 256 MiB): the records' buffers
    /// plus [`ENTRY_OVERHEAD`] per session.
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The shard count asked for (after rounding; see [`with_shards`](Self::with_shards)).
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The most sessions kept.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The most bytes used.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The shard count actually used: the requested one, halved while a shard would hold fewer
    /// than [`MIN_ENTRIES_PER_SHARD`] entries.
    pub fn effective_shards(&self) -> usize {
        let mut shards = self.shards.clamp(1, MAX_SHARDS).next_power_of_two();
        while shards > 1 && self.max_entries / shards < MIN_ENTRIES_PER_SHARD {
            shards /= 2;
        }
        shards
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_rounded_and_clamped() {
        assert_eq!(LocMemConfig::new().with_shards(0).shards(), 1);
        assert_eq!(LocMemConfig::new().with_shards(3).shards(), 4);
        assert_eq!(LocMemConfig::new().with_shards(32).shards(), 32);
        assert_eq!(
            LocMemConfig::new().with_shards(usize::MAX).shards(),
            MAX_SHARDS
        );
    }

    #[test]
    fn small_stores_get_fewer_shards() {
        assert_eq!(LocMemConfig::new().effective_shards(), 32);
        let c = LocMemConfig::new().with_max_entries(300);
        assert_eq!(c.effective_shards(), 1);
        let c = LocMemConfig::new().with_max_entries(10_000);
        assert_eq!(c.effective_shards(), 8);
        let c = LocMemConfig::new()
            .with_max_entries(usize::MAX)
            .with_shards(MAX_SHARDS);
        assert_eq!(c.effective_shards(), MAX_SHARDS);
        assert_eq!(LocMemConfig::new().with_max_entries(0).max_entries(), 1);
    }
}
