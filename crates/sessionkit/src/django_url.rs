//! `?format=django`: any server URL (and `cookie://`) opened as a store that shares a running
//! Django's sessions, with Django's settings named as Django names them.

use std::sync::Arc;
use std::time::Duration;

use crate::{quote_short, Error, Migration, Result, SessionConfig, SessionStore};

/// The parameters a `format=django` URL may carry besides the back end's own.
pub const DJANGO_URL_PARAMETERS: [&str; 5] = [
    "format",
    "key_prefix",
    "version",
    "secret_key_env",
    "secret_key_fallbacks_env",
];

/// A URL with `format=django`: the back end's own URL (the Django parameters taken out) and
/// Django's settings.
#[derive(Debug)]
pub(crate) struct DjangoUrl {
    /// The URL without the Django parameters.
    pub(crate) url: String,
    key_prefix: String,
    version: i64,
    secret_key_env: String,
    secret_key_fallbacks_env: String,
}

/// A URL's part before `?` and its top-level query parameters (nested URLs, as in
/// `cached-db://`, are percent-encoded, so their `&` are not split).
pub(crate) fn query_params(url: &str) -> (&str, Vec<(&str, &str)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url, Vec::new());
    };
    let params = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    (base, params)
}

impl DjangoUrl {
    /// `Some` if `url`'s query says `format=django` (then `key_prefix`, `version`,
    /// `secret_key_env`, `secret_key_fallbacks_env` are Django's and taken out); `None` for any
    /// other URL, which is left to its back end. Another `format` is a config error.
    pub(crate) fn split(url: &str) -> Result<Option<Self>> {
        let (base, params) = query_params(url);
        match params.iter().find(|(k, _)| *k == "format") {
            None => return Ok(None),
            Some((_, "django")) => {}
            Some((_, other)) => {
                return Err(Error::config(
                    "sessionkit",
                    format!(
                        "format={} is not a known format: the only one is format=django",
                        quote_short(other)
                    ),
                ))
            }
        }
        let mut parsed = Self {
            url: String::new(),
            key_prefix: String::new(),
            version: 1,
            secret_key_env: sessionkit_django::SECRET_KEY_ENV.to_owned(),
            secret_key_fallbacks_env: sessionkit_django::SECRET_KEY_FALLBACKS_ENV.to_owned(),
        };
        let mut rest = Vec::new();
        for (k, v) in params {
            let decoded = || {
                crate::percent_decode(v).ok_or_else(|| {
                    Error::config("sessionkit", format!("{k}= is not valid percent-encoding"))
                })
            };
            match k {
                "format" => {}
                "key_prefix" => parsed.key_prefix = decoded()?,
                "version" => {
                    parsed.version = v.parse().map_err(|_| {
                        Error::config(
                            "sessionkit",
                            format!("version={} is not an integer", quote_short(v)),
                        )
                    })?;
                }
                "secret_key_env" => parsed.secret_key_env = decoded()?,
                "secret_key_fallbacks_env" => parsed.secret_key_fallbacks_env = decoded()?,
                _ => rest.push(format!("{k}={v}")),
            }
        }
        parsed.url = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        Ok(Some(parsed))
    }

    fn settings(&self, config: &SessionConfig) -> Result<sessionkit_django::DjangoSettings> {
        let age = Duration::from_secs(config.cookie_age().unsigned_abs());
        Ok(sessionkit_django::DjangoSettings::from_env_named(
            &self.secret_key_env,
            &self.secret_key_fallbacks_env,
        )?
        .with_key_prefix(self.key_prefix.clone())
        .with_version(self.version)
        .with_cookie_age(age))
    }

    /// Opens the store and the session settings that share Django's sessions.
    pub(crate) async fn open(
        &self,
        config: SessionConfig,
    ) -> Result<(Arc<dyn SessionStore>, SessionConfig)> {
        use sessionkit_django::Engine;
        let django = self.settings(&config)?;
        let name = crate::backend_name(&self.url)?;
        let (store, engine): (Arc<dyn SessionStore>, Engine) = match name {
            "cookie" => {
                if self.url != "cookie://" {
                    return Err(Error::config(
                        "sessionkit",
                        "cookie://?format=django takes no cookie parameters: Django's \
                         signed_cookies engine signs with SECRET_KEY (secret_key_env names its \
                         variable) and SESSION_COOKIE_AGE",
                    ));
                }
                (
                    Arc::new(django.signed_cookie_store()),
                    Engine::SignedCookies,
                )
            }
            "cached-db" => (self.cached_db(&django).await?, Engine::CachedDb),
            "postgres" | "mysql" | "sqlite" => (db_store(&self.url).await?, Engine::Db),
            _ => (
                cache_store(&self.url, &django, Engine::Cache).await?,
                Engine::Cache,
            ),
        };
        Ok((store, django.apply(config, engine)))
    }

    #[cfg(feature = "cached-db")]
    async fn cached_db(
        &self,
        django: &sessionkit_django::DjangoSettings,
    ) -> Result<Arc<dyn SessionStore>> {
        let parts = crate::cached_db::CachedDbUrl::parse(&self.url)?;
        let cache = cache_store(&parts.cache, django, sessionkit_django::Engine::CachedDb).await?;
        let db = db_store(&parts.db).await?;
        let options = django.cached_db_options(parts.options);
        let store = crate::cached_db::CachedDbStore::with_options(cache, db, options)?;
        Ok(Arc::new(store))
    }

    #[cfg(not(feature = "cached-db"))]
    async fn cached_db(
        &self,
        _django: &sessionkit_django::DjangoSettings,
    ) -> Result<Arc<dyn SessionStore>> {
        // `backend_name` refuses cached-db:// without its feature first, naming it.
        Err(Error::config(
            "sessionkit",
            "enable the `cached-db` feature of sessionkit",
        ))
    }

    /// `migrate` for a `format=django` URL: Django's table is Django's to create, so this
    /// checks that it exists (database URLs, and the `db=` of a `cached-db://` URL).
    pub(crate) async fn migrate(&self) -> Result<Migration> {
        let db_url = match crate::backend_name(&self.url)? {
            "postgres" | "mysql" | "sqlite" => self.url.clone(),
            #[cfg(feature = "cached-db")]
            "cached-db" => crate::cached_db::CachedDbUrl::parse(&self.url)?.db,
            _ => return Ok(Migration::NotNeeded),
        };
        db_migrate(&db_url).await
    }
}

/// A cache store (redis, memcached) keeping Django's pickled dicts under Django's keys for
/// `engine` (`cache`, or the cache half of `cached_db`).
#[cfg_attr(
    not(any(feature = "redis", feature = "memcached")),
    allow(unused_variables)
)]
async fn cache_store(
    url: &str,
    django: &sessionkit_django::DjangoSettings,
    engine: sessionkit_django::Engine,
) -> Result<Arc<dyn SessionStore>> {
    match crate::backend_name(url)? {
        #[cfg(feature = "redis")]
        "redis" => {
            let store = crate::redis::RedisConfig::from_url(url)?
                .with_key_prefix(django.cache_key_prefix(engine))
                .connect()
                .await?
                .with_plain_values(true);
            Ok(Arc::new(store))
        }
        #[cfg(feature = "memcached")]
        "memcached" => {
            let config = crate::memcached::MemcachedConfig::from_url(url)?;
            if config.servers().len() > 1 {
                return Err(Error::config(
                    "sessionkit",
                    "format=django shares one memcached server: Django's client spreads keys \
                     over several servers its own way, so with more than one a session would \
                     be looked for on the wrong server",
                ));
            }
            let store = crate::memcached::MemcachedStore::connect(
                config
                    .with_prefix(django.cache_key_prefix(engine))
                    .with_client_flags(1),
            )
            .await?;
            Ok(Arc::new(store))
        }
        "locmem" => Err(Error::config(
            "sessionkit",
            "locmem://?format=django cannot share anything: Django's LocMemCache keeps sessions \
             inside each Django process. Move Django's sessions to redis, memcached, a \
             database, cached_db or signed cookies, and point this URL at the same place",
        )),
        other => Err(Error::config(
            "sessionkit",
            format!("format=django is not supported for {other} URLs"),
        )),
    }
}

/// A database store on Django's `django_session` table.
#[cfg(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite"))]
async fn db_store(url: &str) -> Result<Arc<dyn SessionStore>> {
    let store = crate::db::DbConfig::from_url(url)?
        .with_schema(crate::db::Schema::Django)
        .connect()
        .await?;
    Ok(Arc::new(store))
}

#[cfg(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite"))]
async fn db_migrate(url: &str) -> Result<Migration> {
    crate::db::DbConfig::from_url(url)?
        .with_schema(crate::db::Schema::Django)
        .connect()
        .await?
        .migrate()
        .await
}

/// The error of a database URL in a build without database features (`backend_name` refuses
/// such URLs first, naming the feature).
#[cfg(not(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite")))]
fn no_database() -> Error {
    Error::config(
        "sessionkit",
        "no database back end is compiled in; enable a db-* feature",
    )
}

#[cfg(not(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite")))]
async fn db_store(_url: &str) -> Result<Arc<dyn SessionStore>> {
    Err(no_database())
}

#[cfg(not(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite")))]
async fn db_migrate(_url: &str) -> Result<Migration> {
    Err(no_database())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_parameters_are_taken_out_and_the_rest_left() {
        assert!(DjangoUrl::split("redis://h:6379/0?key_prefix=a:")
            .unwrap()
            .is_none());
        let d = DjangoUrl::split(
            "redis://h:6379/0?format=django&key_prefix=horizon&version=2&response_timeout=1s",
        )
        .unwrap()
        .unwrap();
        assert_eq!(d.url, "redis://h:6379/0?response_timeout=1s");
        assert_eq!((d.key_prefix.as_str(), d.version), ("horizon", 2));
        assert_eq!(d.secret_key_env, "DJANGO_SECRET_KEY");
        let d = DjangoUrl::split("cookie://?format=django&secret_key_env=APP_KEY")
            .unwrap()
            .unwrap();
        assert_eq!(
            (d.url.as_str(), d.secret_key_env.as_str()),
            ("cookie://", "APP_KEY")
        );
        for bad in [
            "redis://h?format=pickle",
            "redis://h?format=django&version=x",
        ] {
            assert!(DjangoUrl::split(bad).unwrap_err().is_config(), "{bad}");
        }
    }
}
