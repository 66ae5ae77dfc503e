//! [`CopyFormat`]: how the cache holds its copy of a database record.

use std::fmt;

use sessionkit_core::{Loaded, Opened, Result, UnixTime, Version};

/// How a [`CachedDbStore`](crate::CachedDbStore)'s cache holds its copy of a database record.
///
/// The default, [`Enveloped`], keeps the record behind a [`Loaded::envelope`], so a cache hit
/// knows the database's version and the record's expiry. Another format exists for a cache
/// shared with another program that reads and writes the copies too: Django's `cached_db`
/// engine keeps the session dict pickled in the cache and signed in the database
/// (`sessionkit-django`'s `DjangoCopies`).
pub trait CopyFormat: fmt::Debug + Send + Sync + 'static {
    /// The cache value for the database's `record`, stored at `version` and expiring at
    /// `expires_at`.
    fn make_copy(&self, record: &[u8], version: Version, expires_at: UnixTime) -> Result<Vec<u8>>;

    /// What a cache hit serves, from the cache's answer (`copy.expires_at` is the copy's own
    /// expiry in the cache). `capped`: copies may expire before their record (`cache_ttl` is
    /// set), so the copy's expiry is not the record's. An error is a cache miss: the database
    /// answers.
    fn serve_copy(&self, copy: Loaded, capped: bool) -> Result<Loaded>;
}

/// The default [`CopyFormat`]: the record behind a version envelope (`0x00`, version, expiry,
/// record).
#[derive(Debug, Clone, Copy, Default)]
pub struct Enveloped;

impl CopyFormat for Enveloped {
    fn make_copy(&self, record: &[u8], version: Version, expires_at: UnixTime) -> Result<Vec<u8>> {
        Ok(Loaded::envelope(version, expires_at, record))
    }

    /// The record and the database's version from the envelope, and the record's expiry:
    /// without `cache_ttl` a copy expires with its record (writes, refills and touches give it
    /// the record's expiry), so the copy's own expiry is the record's; with it, the expiry the
    /// envelope recorded (a touch then drops the copy rather than leave that stale). A copy
    /// written before expiries were kept in the envelope has only its own.
    fn serve_copy(&self, copy: Loaded, capped: bool) -> Result<Loaded> {
        Ok(match Loaded::from_envelope(copy.record) {
            Opened::Whole(mut loaded) => {
                if !capped {
                    loaded.expires_at = copy.expires_at;
                }
                loaded
            }
            Opened::WithoutExpiry { record, version } => {
                Loaded::new(record, version, copy.expires_at)
            }
        })
    }
}
