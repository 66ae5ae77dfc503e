//! Choosing a back end by configuration, as Django's `SESSION_ENGINE`: one table of drivers,
//! each owning its schemes and its cargo feature; every back end reads its own URL
//! (`XConfig::from_url`) by the shared rules of [`ConfigUrl`](crate::ConfigUrl).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{quote_short, Error, Migration, Result, SessionConfig, SessionStore, Sessions};

/// The environment variable [`connect_from_env`] and the `sessionkit` command read.
pub const URL_ENV: &str = "SESSIONKIT_URL";

type Opening = Pin<Box<dyn Future<Output = Result<Arc<dyn SessionStore>>> + Send>>;
type Migrating = Pin<Box<dyn Future<Output = Result<Migration>> + Send>>;

/// One back end the facade can open.
struct Driver {
    /// The back end's name, as in errors and in the docs.
    name: &'static str,
    /// The URL schemes it answers to (the first is the canonical one).
    schemes: &'static [&'static str],
    /// The cargo feature of `sessionkit` that compiles it in.
    feature: &'static str,
    /// Opens the store; `None` when the feature is off.
    open: Option<fn(String, SessionConfig) -> Opening>,
    /// Creates or upgrades its schema; `None` for back ends without one.
    migrate: Option<fn(String) -> Migrating>,
}

/// `Some(f)` where `f` is `|url, config| body` if `feature` is on, else `None`.
macro_rules! opener {
    ($feature:literal, |$url:ident, $config:ident| $body:expr) => {{
        #[cfg(feature = $feature)]
        let f = {
            fn open($url: String, $config: SessionConfig) -> Opening {
                Box::pin(async move { $body })
            }
            Some(open as fn(String, SessionConfig) -> Opening)
        };
        #[cfg(not(feature = $feature))]
        let f = None;
        f
    }};
}

/// `Some(f)` where `f` is `|url| body` if `feature` is on, else `None`.
macro_rules! migrator {
    ($feature:literal, |$url:ident| $body:expr) => {{
        #[cfg(feature = $feature)]
        let f = {
            fn migrate($url: String) -> Migrating {
                Box::pin(async move { $body })
            }
            Some(migrate as fn(String) -> Migrating)
        };
        #[cfg(not(feature = $feature))]
        let f = None;
        f
    }};
}

#[cfg(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite"))]
async fn db_store(url: &str) -> Result<crate::db::DbStore> {
    crate::db::DbConfig::from_url(url)?.connect().await
}

const DRIVERS: &[Driver] = &[
    Driver {
        name: "locmem",
        schemes: &["locmem"],
        feature: "locmem",
        open: opener!("locmem", |url, _config| {
            let config = crate::locmem::LocMemConfig::from_url(&url)?;
            Ok(Arc::new(crate::locmem::LocMemStore::new(config)) as Arc<dyn SessionStore>)
        }),
        migrate: None,
    },
    Driver {
        name: "redis",
        schemes: &[
            "redis",
            "rediss",
            "redis+unix",
            "redis+cluster",
            "rediss+cluster",
        ],
        feature: "redis",
        open: opener!("redis", |url, _config| {
            let store = crate::redis::RedisConfig::from_url(&url)?.connect().await?;
            Ok(Arc::new(store) as Arc<dyn SessionStore>)
        }),
        migrate: None,
    },
    Driver {
        name: "memcached",
        schemes: &["memcached", "memcache"],
        feature: "memcached",
        open: opener!("memcached", |url, _config| {
            let config = crate::memcached::MemcachedConfig::from_url(&url)?;
            let store = crate::memcached::MemcachedStore::connect(config).await?;
            Ok(Arc::new(store) as Arc<dyn SessionStore>)
        }),
        migrate: None,
    },
    Driver {
        name: "cookie",
        schemes: &["cookie"],
        feature: "cookie",
        open: opener!("cookie", |url, config| {
            let max_age = std::time::Duration::from_secs(config.cookie_age().unsigned_abs());
            let cookie = crate::cookie::CookieConfig::from_url(&url, max_age)?;
            Ok(Arc::new(crate::cookie::CookieStore::new(cookie)?) as Arc<dyn SessionStore>)
        }),
        migrate: None,
    },
    Driver {
        name: "postgres",
        schemes: &["postgres", "postgresql"],
        feature: "db-postgres",
        open: opener!("db-postgres", |url, _config| {
            Ok(Arc::new(db_store(&url).await?) as Arc<dyn SessionStore>)
        }),
        migrate: migrator!("db-postgres", |url| db_store(&url).await?.migrate().await),
    },
    Driver {
        name: "mysql",
        schemes: &["mysql", "mariadb"],
        feature: "db-mysql",
        open: opener!("db-mysql", |url, _config| {
            Ok(Arc::new(db_store(&url).await?) as Arc<dyn SessionStore>)
        }),
        migrate: migrator!("db-mysql", |url| db_store(&url).await?.migrate().await),
    },
    Driver {
        name: "sqlite",
        schemes: &["sqlite"],
        feature: "db-sqlite",
        open: opener!("db-sqlite", |url, _config| {
            Ok(Arc::new(db_store(&url).await?) as Arc<dyn SessionStore>)
        }),
        migrate: migrator!("db-sqlite", |url| db_store(&url).await?.migrate().await),
    },
    Driver {
        name: "cached-db",
        schemes: &["cached-db"],
        feature: "cached-db",
        open: opener!("cached-db", |url, config| {
            let parts = crate::cached_db::CachedDbUrl::parse(&url)?;
            let db_driver = driver(&parts.db)?;
            if db_driver.migrate.is_none() && !is_database(db_driver) {
                return Err(Error::config(
                    "cached-db",
                    format!(
                        "db= names a {} URL, not a database: use postgres://, mysql:// or sqlite://",
                        db_driver.name
                    ),
                ));
            }
            if driver(&parts.cache)?.name == "cookie" {
                return Err(Error::config(
                    "cached-db",
                    "cache= cannot be a cookie:// URL: use locmem://, redis:// or memcached://",
                ));
            }
            let cache = Box::pin(open_store(&parts.cache, &config)).await?;
            let db = Box::pin(open_store(&parts.db, &config)).await?;
            let store = crate::cached_db::CachedDbStore::with_options(cache, db, parts.options)?;
            Ok(Arc::new(store) as Arc<dyn SessionStore>)
        }),
        migrate: migrator!("cached-db", |url| {
            let parts = crate::cached_db::CachedDbUrl::parse(&url)?;
            Box::pin(self::migrate(&parts.db)).await
        }),
    },
];

/// Whether `d` is one of the database drivers (with or without its feature).
#[cfg(feature = "cached-db")]
fn is_database(d: &Driver) -> bool {
    matches!(d.name, "postgres" | "mysql" | "sqlite")
}

/// The driver of `url`'s scheme, or a [`Config`](crate::ErrorKind::Config) error that says
/// what is wrong: not a URL, an unknown scheme, a back end whose feature is off.
fn driver(url: &str) -> Result<&'static Driver> {
    let Some((scheme, _)) = url.split_once("://") else {
        return Err(Error::config(
            "sessionkit",
            format!(
                "{} is not a URL of the form scheme://... (set {URL_ENV} or pass a URL)",
                quote_short(url)
            ),
        ));
    };
    let lower = scheme.to_ascii_lowercase();
    let Some(d) = DRIVERS.iter().find(|d| d.schemes.contains(&lower.as_str())) else {
        let known: Vec<&str> = DRIVERS
            .iter()
            .flat_map(|d| d.schemes.iter().copied())
            .collect();
        return Err(Error::config(
            "sessionkit",
            format!(
                "unknown session back end {}; known schemes: {}",
                quote_short(scheme),
                known.join(", ")
            ),
        ));
    };
    if d.open.is_none() {
        return Err(Error::config(
            "sessionkit",
            format!(
                "the {} back end is not compiled in; enable the `{}` feature of sessionkit",
                d.name, d.feature
            ),
        ));
    }
    Ok(d)
}

/// Opens the back end named by `url` with Django's default session settings.
///
/// The scheme picks the back end; each needs its cargo feature, and every setting of the back
/// end is a query parameter of its URL (the tables are in each back end's docs page and in
/// its `XConfig::from_url`):
///
/// | URL | back end | feature |
/// |---|---|---|
/// | `locmem://[?max_entries=N&max_bytes=N&shards=N]` | in-process memory | `locmem` |
/// | `redis://[user:pass@]host:port[/db][?key_prefix=..&connect_timeout=..&response_timeout=..&protocol=resp3]`, `rediss://...`, `redis+unix:///path` | one redis server | `redis` (`redis-tls` for `rediss`) |
/// | `redis+cluster://host:port,host:port,...[?...]` | a Redis Cluster, from any of its nodes | `redis` |
/// | `memcached://host:port[,host:port...][?prefix=..&response_timeout=..&...]` (alias `memcache://`) | memcached, keys spread over the servers | `memcached` |
/// | `cookie://?secret_env=VAR[&fallback_env=VAR,VAR][&protection=signed\|encrypted][&...]` | signed or encrypted cookies; the secret is read from the named environment variable (never from the URL); the maximum age defaults to the configured cookie age | `cookie` |
/// | `postgres://...[?table=..&pool_size=..&connect_timeout=..&statement_timeout=..&sslmode=..]` | PostgreSQL (run [`migrate`] once first) | `db-postgres` |
/// | `mysql://...` (alias `mariadb://`) | MySQL or MariaDB, same parameters | `db-mysql` |
/// | `sqlite://PATH[?mode=ro\|rw\|rwc&...]` | an SQLite file, same parameters | `db-sqlite` |
/// | `cached-db://?cache=CACHE_URL&db=DB_URL[&cache_ttl=..&...]` | a cache (any URL above but cookie) in front of a database; write `&` inside the nested URLs as `%26` | `cached-db` and a `db-*` feature |
/// | any redis, memcached (one server), database or `cached-db://` URL, or `cookie://`, with `format=django[&key_prefix=..&version=..&secret_key_env=VAR&secret_key_fallbacks_env=VAR]` | the sessions of a running Django on the same servers, in Django's own format (its `cache`, `db`, `cached_db` or `signed_cookies` engine; `SECRET_KEY` from `DJANGO_SECRET_KEY` unless `secret_key_env` names another variable); see `docs/django.md` | `django` and the back end's |
///
/// An unknown scheme or parameter, a back end whose feature is off, a value out of range or
/// credentials the server refuses is a [`Config`](crate::ErrorKind::Config) error that says
/// which. A server that cannot be reached is
/// [`Unavailable`](crate::ErrorKind::Unavailable): every back end's `connect` fails when it
/// can reach none of its servers (retry it, with a back-off, while they come up).
pub async fn connect(url: &str) -> Result<Sessions> {
    connect_with(url, SessionConfig::default()).await
}

/// Opens the back end named by `url` (see [`connect`]) with `config`.
pub async fn connect_with(url: &str, config: SessionConfig) -> Result<Sessions> {
    #[cfg(feature = "django")]
    if let Some(django) = crate::django_url::DjangoUrl::split(url)? {
        let (store, config) = django.open(config).await?;
        return Ok(Sessions::from_arc(store, config));
    }
    let store = open_store(url, &config).await?;
    Ok(Sessions::from_arc(store, config))
}

/// Refuses a `format=` URL where it cannot be honoured: without the `django` feature, or
/// where only a store (no codec) is returned.
fn refuse_format(url: &str, why: &str) -> Result<()> {
    let asks = url
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|p| p.starts_with("format=")));
    if asks {
        return Err(Error::config("sessionkit", why.to_owned()));
    }
    Ok(())
}

/// Opens the back end named by the environment variable `SESSIONKIT_URL` ([`URL_ENV`]), as
/// tools read `DATABASE_URL`, with Django's default session settings.
pub async fn connect_from_env() -> Result<Sessions> {
    connect(&url_from_env()?).await
}

/// The value of `SESSIONKIT_URL`, or a [`Config`](crate::ErrorKind::Config) error saying it is
/// not set.
pub fn url_from_env() -> Result<String> {
    std::env::var(URL_ENV).map_err(|_| {
        Error::config(
            "sessionkit",
            format!(
                "{URL_ENV} is not set (or not UTF-8): set it to the session back end's URL, \
                 e.g. {URL_ENV}=redis://127.0.0.1:6379/0"
            ),
        )
    })
}

/// Opens the store named by `url` (see [`connect`]) without wrapping it in [`Sessions`]: for
/// composing stores yourself. `config` supplies what a store needs from the session settings
/// (the cookie store's maximum age).
pub async fn open_store(url: &str, config: &SessionConfig) -> Result<Arc<dyn SessionStore>> {
    refuse_format(
        url,
        if cfg!(feature = "django") {
            "a format=django URL opens a store and its codec together: use connect or \
             connect_with (open_store would hand out the store without Django's codec)"
        } else {
            "format=django needs the `django` feature of sessionkit"
        },
    )?;
    let d = driver(url)?;
    let open = d.open.expect("driver() returns enabled drivers only");
    open(url.to_owned(), config.clone()).await
}

/// Creates or upgrades the session table of the database that `url` names (a database URL, or
/// the `db=` part of a `cached-db://` URL): Django's `manage.py migrate`. Idempotent; safe to
/// run at every start. For back ends without a schema it checks the URL as [`connect`] would
/// and returns [`Migration::NotNeeded`].
pub async fn migrate(url: &str) -> Result<Migration> {
    #[cfg(feature = "django")]
    if let Some(django) = crate::django_url::DjangoUrl::split(url)? {
        return django.migrate().await;
    }
    let d = driver(url)?;
    match d.migrate {
        Some(migrate) => migrate(url.to_owned()).await,
        None => {
            open_store(url, &SessionConfig::default()).await?;
            Ok(Migration::NotNeeded)
        }
    }
}

/// The name of the back end `url` names (`redis`, `postgres`, ...), if its scheme is known and
/// its feature compiled in.
pub fn backend_name(url: &str) -> Result<&'static str> {
    driver(url).map(|d| d.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_belongs_to_one_driver() {
        let mut seen = std::collections::HashSet::new();
        for d in DRIVERS {
            for s in d.schemes {
                assert!(seen.insert(*s), "{s} is claimed twice");
            }
        }
    }

    #[tokio::test]
    async fn bad_urls_are_config_errors() {
        for url in [
            "",
            "locmem",
            "nosuch://x",
            "locmem://?max_entries=lots",
            "locmem://?colour=blue",
        ] {
            let err = connect(url).await.unwrap_err();
            assert!(err.is_config(), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn disabled_back_ends_say_which_feature() {
        for d in DRIVERS.iter().filter(|d| d.open.is_none()) {
            let url = format!("{}://x", d.schemes[0]);
            let err = connect(&url).await.unwrap_err();
            assert!(
                err.is_config() && err.to_string().contains(d.feature),
                "{url}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn locmem_url_with_parameters() {
        let sessions = connect("LOCMEM://?max_entries=1000&max_bytes=1048576&shards=4")
            .await
            .unwrap();
        let mut s = sessions.create();
        s.insert("a", 1).unwrap();
        s.save().await.unwrap();
        let again = sessions
            .load(Some(s.key().unwrap().as_str()))
            .await
            .unwrap();
        assert_eq!(again.get::<i32>("a").unwrap(), Some(1));
    }
}
