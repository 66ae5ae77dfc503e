//! [`CachedDbOptions`]: the few knobs of the cached database store.

use std::sync::Arc;
use std::time::Duration;

use sessionkit_core::{ConfigUrl, Error, Result};

use crate::copy::{CopyFormat, Enveloped};
use crate::BACKEND;

/// How many keys whose cache copy may be stale are remembered unless configured otherwise.
pub const DEFAULT_MAX_SUSPECT_KEYS: usize = 100_000;

/// Consecutive cache errors after which the cache is bypassed, unless configured otherwise.
pub const DEFAULT_BYPASS_AFTER_ERRORS: u32 = 5;

/// How long the cache is bypassed after [`DEFAULT_BYPASS_AFTER_ERRORS`] consecutive errors
/// before one request probes it again, unless configured otherwise.
pub const DEFAULT_BYPASS_FOR: Duration = Duration::from_secs(2);

/// The longest one cache call may take unless configured otherwise.
pub const DEFAULT_CACHE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long after a delete the cache copy is deleted a second time, unless configured otherwise.
pub const DEFAULT_DELETE_RECHECK: Duration = Duration::from_secs(1);

/// The query parameters of a `cached-db://` URL besides `cache` and `db`.
pub const URL_PARAMETERS: [&str; 6] = [
    "max_suspect_keys",
    "bypass_after_errors",
    "bypass_for",
    "cache_ttl",
    "delete_recheck",
    "cache_timeout",
];

/// A `cached-db://` URL read by the shared rules of [`ConfigUrl`]: the cache's URL, the
/// database's URL and the options. Opening the two stores is the caller's (the `sessionkit`
/// facade's) part.
#[derive(Debug, Clone)]
pub struct CachedDbUrl {
    /// The cache's URL (percent-decoded).
    pub cache: String,
    /// The database's URL (percent-decoded).
    pub db: String,
    /// The options the URL sets, defaults for the rest.
    pub options: CachedDbOptions,
}

impl CachedDbUrl {
    /// Reads `cached-db://?cache=CACHE_URL&db=DB_URL[&max_suspect_keys=N][&bypass_after_errors=N]
    /// [&bypass_for=D][&cache_ttl=D][&delete_recheck=D|off][&cache_timeout=D|off]`. Write `&`
    /// inside the nested URLs as `%26` (and `%` as `%25`); durations as `500ms`, `2s`. A host,
    /// a path, an unknown or repeated parameter is a
    /// [`Config`](sessionkit_core::ErrorKind::Config) error naming it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionkit_cached_db::CachedDbUrl;
    /// let url = CachedDbUrl::parse("cached-db://?cache=redis://h/0&db=postgres://u@h/app%3Fsslmode%3Drequire&cache_ttl=60s")?;
    /// assert_eq!(url.db, "postgres://u@h/app?sslmode=require");
    /// assert_eq!(url.options.cache_ttl(), Some(Duration::from_secs(60)));
    /// # Ok::<(), sessionkit_core::Error>(())
    /// ```
    pub fn parse(url: &str) -> Result<Self> {
        let mut u = ConfigUrl::parse(BACKEND, url)?;
        u.require_scheme(&["cached-db"])?;
        u.refuse_host()?;
        u.refuse_path()?;
        let (Some(cache), Some(db)) = (u.take("cache"), u.take("db")) else {
            return Err(Error::config(
                BACKEND,
                "cached-db:// needs both cache=CACHE_URL and db=DATABASE_URL (write & inside them as %26)",
            ));
        };
        let mut options = CachedDbOptions::new();
        if let Some(n) = u.take_count("max_suspect_keys")? {
            options = options.with_max_suspect_keys(n);
        }
        let errors = u.take_count("bypass_after_errors")?;
        let window = u.take_duration("bypass_for")?;
        if errors.is_some() || window.is_some() {
            options = options.with_bypass_after(
                errors.unwrap_or(DEFAULT_BYPASS_AFTER_ERRORS),
                window.unwrap_or(DEFAULT_BYPASS_FOR),
            );
        }
        if let Some(d) = u.take_duration("cache_ttl")? {
            options = options.with_cache_ttl(Some(d));
        }
        if let Some(d) = take_optional_duration(&mut u, "delete_recheck")? {
            options = options.with_delete_recheck(d);
        }
        if let Some(d) = take_optional_duration(&mut u, "cache_timeout")? {
            options = options.with_cache_timeout(d);
        }
        let known: Vec<&str> = ["cache", "db"].into_iter().chain(URL_PARAMETERS).collect();
        u.finish(&known)?;
        Ok(Self { cache, db, options })
    }
}

/// A duration, or `off` for `None`.
fn take_optional_duration(u: &mut ConfigUrl, name: &str) -> Result<Option<Option<Duration>>> {
    if u.clone().take(name).as_deref() == Some("off") {
        u.take(name);
        return Ok(Some(None));
    }
    Ok(u.take_duration(name)?.map(Some))
}

/// Settings of a [`CachedDbStore`](crate::CachedDbStore). The defaults suit most services;
/// each setting says when to change it.
///
/// ```
/// use std::time::Duration;
/// use sessionkit_cached_db::CachedDbOptions;
///
/// let options = CachedDbOptions::new()
///     .with_cache_ttl(Some(Duration::from_secs(60))) // entries live at most a minute in the cache
///     .with_bypass_after(3, Duration::from_secs(5));
/// assert_eq!(options.cache_ttl(), Some(Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone)]
pub struct CachedDbOptions {
    pub(crate) max_suspect_keys: usize,
    pub(crate) bypass_after_errors: u32,
    pub(crate) bypass_for: Duration,
    pub(crate) cache_ttl: Option<Duration>,
    pub(crate) delete_recheck: Option<Duration>,
    pub(crate) cache_timeout: Option<Duration>,
    pub(crate) copies: Arc<dyn CopyFormat>,
}

impl Default for CachedDbOptions {
    fn default() -> Self {
        Self {
            max_suspect_keys: DEFAULT_MAX_SUSPECT_KEYS,
            bypass_after_errors: DEFAULT_BYPASS_AFTER_ERRORS,
            bypass_for: DEFAULT_BYPASS_FOR,
            cache_ttl: None,
            delete_recheck: Some(DEFAULT_DELETE_RECHECK),
            cache_timeout: Some(DEFAULT_CACHE_TIMEOUT),
            copies: Arc::new(Enveloped),
        }
    }
}

impl CachedDbOptions {
    /// The defaults: 100,000 suspect keys, bypass for 2 s after 5 consecutive cache errors,
    /// cache entries live as long as the session, deletes re-checked after 1 s, cache calls
    /// bounded to 1 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// How the cache holds its copies (default [`Enveloped`]): give another [`CopyFormat`] to
    /// share the cache with another program's copies — `sessionkit-django`'s `DjangoCopies`
    /// for Django's `cached_db` engine (leave [`cache_ttl`](Self::with_cache_ttl) unset then:
    /// Django's copies live as long as their session).
    #[must_use]
    pub fn with_copy_format(mut self, copies: impl CopyFormat) -> Self {
        self.copies = Arc::new(copies);
        self
    }

    /// How the cache holds its copies.
    pub fn copy_format(&self) -> &dyn CopyFormat {
        &*self.copies
    }

    /// How many keys whose cache copy may be stale (their database write succeeded but the
    /// cache could be neither updated nor invalidated) this process remembers; their loads go
    /// to the database until an invalidation succeeds. Default 100,000 (about 10 MB at most).
    ///
    /// When more keys than this become suspect, the store can no longer tell which cache
    /// entries to distrust, so it stops reading the cache altogether until every entry it may
    /// have left stale has expired (logged as an error). Raise it if a long cache outage under
    /// heavy write traffic could touch more distinct sessions than this. Zero is treated as 1.
    #[must_use]
    pub fn with_max_suspect_keys(mut self, keys: usize) -> Self {
        self.max_suspect_keys = keys.max(1);
        self
    }

    /// After `errors` consecutive failed cache calls, skip the cache (database only, writes
    /// remembered as suspect keys) for `window`, then let one request probe it; a success ends
    /// the bypass. Default: 5 errors, 2 s. This keeps a dead or hung cache from adding its
    /// timeout to every request. `errors` of zero is treated as 1; a zero window disables the
    /// bypass (every request tries the cache).
    #[must_use]
    pub fn with_bypass_after(mut self, errors: u32, window: Duration) -> Self {
        self.bypass_after_errors = errors.max(1);
        self.bypass_for = window;
        self
    }

    /// The longest a session stays in the cache (`None`, the default: as long as the session
    /// itself). Every cache write uses the earlier of the session's expiry and now + `ttl`
    /// (whole seconds, at least 1).
    ///
    /// Set it when something other than this store can delete or change sessions in the
    /// database (an admin script, another service using the database store directly), or when
    /// the cache is in-process memory and the service runs more than one process: a cached
    /// copy is then served for at most `ttl` after the database changed.
    #[must_use]
    pub fn with_cache_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// A delete (logout) removes the cache copy at once and, unless `None`, a second time
    /// after this delay (default 1 s), so a request that read the session just before the
    /// logout and writes its copy back into the cache just after cannot keep the logged-out
    /// session alive. Make it longer than your slowest request.
    #[must_use]
    pub fn with_delete_recheck(mut self, delay: Option<Duration>) -> Self {
        self.delete_recheck = delay;
        self
    }

    /// The longest one cache call may take (default 1 s; `None`: only the cache store's own
    /// timeouts). A call that takes longer counts as a cache error and the request goes on with
    /// the database, so a hung cache never holds a request for long. Keep it above the cache
    /// store's own timeouts, which are the ones that should normally trip.
    #[must_use]
    pub fn with_cache_timeout(mut self, limit: Option<Duration>) -> Self {
        self.cache_timeout = limit;
        self
    }

    /// The configured [`max_suspect_keys`](Self::with_max_suspect_keys).
    pub fn max_suspect_keys(&self) -> usize {
        self.max_suspect_keys
    }

    /// The configured [`bypass_after`](Self::with_bypass_after) errors and window.
    pub fn bypass_after(&self) -> (u32, Duration) {
        (self.bypass_after_errors, self.bypass_for)
    }

    /// The configured [`cache_ttl`](Self::with_cache_ttl).
    pub fn cache_ttl(&self) -> Option<Duration> {
        self.cache_ttl
    }

    /// The configured [`cache_timeout`](Self::with_cache_timeout).
    pub fn cache_timeout(&self) -> Option<Duration> {
        self.cache_timeout
    }

    /// The configured [`delete_recheck`](Self::with_delete_recheck) delay.
    pub fn delete_recheck(&self) -> Option<Duration> {
        self.delete_recheck
    }
}
