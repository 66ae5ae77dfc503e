//! [`DjangoSettings`]: the settings of a Django deployment that decide where and how its
//! sessions are kept, and what each sessionkit store needs from them.

use std::fmt;
use std::time::Duration;

use sessionkit_cached_db::CachedDbOptions;
use sessionkit_core::{Error, ErrorKind, Result, SessionConfig, DEFAULT_COOKIE_AGE};

use crate::session::{cache_key_prefix, SessionData, CACHED_DB_KEY_PREFIX, CACHE_KEY_PREFIX};
use crate::{DjangoCodec, DjangoCopies, SignedCookieStore};

/// The environment variable [`DjangoSettings::from_env`] reads Django's `SECRET_KEY` from.
pub const SECRET_KEY_ENV: &str = "DJANGO_SECRET_KEY";

/// The environment variable [`DjangoSettings::from_env`] reads Django's `SECRET_KEY_FALLBACKS`
/// from: the keys separated by commas (Django's generated keys hold no comma).
pub const SECRET_KEY_FALLBACKS_ENV: &str = "DJANGO_SECRET_KEY_FALLBACKS";

/// Django's session engines a sessionkit store can share (`SESSION_ENGINE`'s last part).
///
/// Django's `cache` engine on `LocMemCache` keeps sessions inside each Django process: nothing
/// outside can read them, so there is nothing to share (move Django to redis or memcached
/// first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `cache` on redis (`RedisCache`) or memcached (`PyMemcacheCache`): the dict pickled.
    Cache,
    /// `db`: the `django_session` table.
    Db,
    /// `cached_db`: the table, with the dict pickled in the cache.
    CachedDb,
    /// `signed_cookies`: the session in the cookie.
    SignedCookies,
}

/// What sessionkit needs to know of a Django deployment to share its sessions — the settings
/// of the same names in its `settings.py`: `SECRET_KEY` and `SECRET_KEY_FALLBACKS`, the session
/// cache's `KEY_PREFIX` and `VERSION`, and `SESSION_COOKIE_AGE` — and what each store needs from
/// them.
///
/// ```
/// use sessionkit_django::{DjangoSettings, Engine};
///
/// let django = DjangoSettings::new("the Django SECRET_KEY").with_key_prefix("horizon");
/// assert_eq!(django.cache_key_prefix(Engine::Cache), "horizon:1:django.contrib.sessions.cache");
/// // The session settings of a store sharing Django's `db` engine: its codec and cookie age.
/// let config = django.session_config(Engine::Db);
/// assert_eq!(config.cookie_age(), 1_209_600);
/// ```
#[derive(Clone)]
pub struct DjangoSettings {
    secret: Vec<u8>,
    fallbacks: Vec<Vec<u8>>,
    key_prefix: String,
    version: i64,
    cookie_age: Duration,
}

impl fmt::Debug for DjangoSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DjangoSettings")
            .field("secret", &"<redacted>")
            .field("fallbacks", &self.fallbacks.len())
            .field("key_prefix", &self.key_prefix)
            .field("version", &self.version)
            .field("cookie_age", &self.cookie_age)
            .finish()
    }
}

impl DjangoSettings {
    /// Django's `SECRET_KEY`, with Django's defaults for the rest: no fallbacks,
    /// `KEY_PREFIX = ""`, `VERSION = 1`, `SESSION_COOKIE_AGE` two weeks.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: secret.into(),
            fallbacks: Vec::new(),
            key_prefix: String::new(),
            version: 1,
            cookie_age: DEFAULT_COOKIE_AGE,
        }
    }

    /// `SECRET_KEY` from [`SECRET_KEY_ENV`] and `SECRET_KEY_FALLBACKS` from
    /// [`SECRET_KEY_FALLBACKS_ENV`] (comma-separated, optional); the rest at Django's defaults.
    pub fn from_env() -> Result<Self> {
        Self::from_env_named(SECRET_KEY_ENV, SECRET_KEY_FALLBACKS_ENV)
    }

    /// `SECRET_KEY` from the environment variable `secret_var`, `SECRET_KEY_FALLBACKS` from
    /// `fallbacks_var` (comma-separated, optional). A missing or empty key is a
    /// [`Config`](ErrorKind::Config) error naming the variable.
    pub fn from_env_named(secret_var: &str, fallbacks_var: &str) -> Result<Self> {
        let secret = std::env::var(secret_var).unwrap_or_default();
        if secret.is_empty() {
            return Err(Error::new(ErrorKind::Config, "django").with_detail(format!(
                "{secret_var} is not set: set it to the SECRET_KEY of the Django deployment \
                 whose sessions are shared (the key itself never goes into a URL)"
            )));
        }
        let fallbacks = std::env::var(fallbacks_var).unwrap_or_default();
        Ok(Self::new(secret).with_fallbacks(
            fallbacks
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| k.as_bytes().to_vec()),
        ))
    }

    /// `SECRET_KEY_FALLBACKS`: older keys whose signatures are still accepted.
    #[must_use]
    pub fn with_fallbacks(mut self, keys: impl IntoIterator<Item = Vec<u8>>) -> Self {
        self.fallbacks = keys.into_iter().collect();
        self
    }

    /// The session cache's `KEY_PREFIX` (default `""`).
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The session cache's `VERSION` (default 1).
    #[must_use]
    pub fn with_version(mut self, version: i64) -> Self {
        self.version = version;
        self
    }

    /// `SESSION_COOKIE_AGE` (default two weeks): the signed cookies' maximum age and the
    /// lifetime of sessions without an expiry of their own.
    #[must_use]
    pub fn with_cookie_age(mut self, age: Duration) -> Self {
        self.cookie_age = age;
        self
    }

    /// `SESSION_COOKIE_AGE`.
    pub fn cookie_age(&self) -> Duration {
        self.cookie_age
    }

    /// `SessionBase.encode`/`decode` with these keys.
    pub fn session_data(&self) -> SessionData {
        SessionData::new(&self.secret, self.fallbacks.iter().map(Vec::as_slice))
    }

    /// The prefix a cache store puts before the session key to hit Django's key for `engine`
    /// (`<KEY_PREFIX>:<VERSION>:django.contrib.sessions.cache`, or `...cached_db`).
    pub fn cache_key_prefix(&self, engine: Engine) -> String {
        let engine_prefix = match engine {
            Engine::CachedDb => CACHED_DB_KEY_PREFIX,
            _ => CACHE_KEY_PREFIX,
        };
        cache_key_prefix(&self.key_prefix, self.version, engine_prefix)
    }

    /// The codec of a store sharing `engine`: what its records are.
    pub fn codec(&self, engine: Engine) -> DjangoCodec {
        match engine {
            Engine::Cache => DjangoCodec::pickle(),
            Engine::Db | Engine::CachedDb => DjangoCodec::signed(self.session_data()),
            Engine::SignedCookies => DjangoCodec::json(),
        }
    }

    /// The session settings of a store sharing `engine`: its codec alone
    /// ([`SessionConfig::with_only_codec`]) and `SESSION_COOKIE_AGE`.
    pub fn session_config(&self, engine: Engine) -> SessionConfig {
        self.apply(SessionConfig::new(), engine)
    }

    /// `config` with the codec of `engine` and `SESSION_COOKIE_AGE`.
    pub fn apply(&self, config: SessionConfig, engine: Engine) -> SessionConfig {
        config
            .with_cookie_age(self.cookie_age)
            .with_only_codec(self.codec(engine))
    }

    /// Django's `signed_cookies` engine as a store.
    pub fn signed_cookie_store(&self) -> SignedCookieStore {
        SignedCookieStore::new(
            &self.secret,
            self.fallbacks.iter().map(Vec::as_slice),
            self.cookie_age,
        )
    }

    /// `options` with Django's `cached_db` copies ([`DjangoCopies`]).
    pub fn cached_db_options(&self, options: CachedDbOptions) -> CachedDbOptions {
        options.with_copy_format(DjangoCopies::new(self.session_data()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_key_prefix_and_version() {
        let s = DjangoSettings::new("k")
            .with_key_prefix("p")
            .with_version(3);
        assert_eq!(
            s.cache_key_prefix(Engine::Cache),
            "p:3:django.contrib.sessions.cache"
        );
        assert_eq!(
            s.cache_key_prefix(Engine::CachedDb),
            "p:3:django.contrib.sessions.cached_db"
        );
        assert!(format!("{s:?}").contains("<redacted>"));
    }

    #[test]
    fn the_secret_comes_from_the_environment_or_the_error_names_the_variable() {
        let err = DjangoSettings::from_env_named("SESSIONKIT_TEST_NO_SUCH_VAR", "X").unwrap_err();
        assert!(err.is_config());
        assert!(
            err.to_string().contains("SESSIONKIT_TEST_NO_SUCH_VAR"),
            "{err}"
        );
    }
}
