//! Choosing a back end by configuration, as Django's `SESSION_ENGINE`.

use std::sync::Arc;

use crate::{Error, Result, SessionConfig, SessionStore, Sessions};

/// Opens the back end named by `url` with Django's default session settings.
///
/// The scheme picks the back end; each needs its cargo feature:
///
/// | URL | back end | feature |
/// |---|---|---|
/// | `locmem://` (query: `max_entries`, `max_bytes`, `shards`) | in-process memory | `locmem` |
/// | `redis://[user:pass@]host:port[/db]`, `rediss://...` | one redis server (default timeouts and key prefix) | `redis` (`redis-tls` for `rediss`) |
/// | `redis+cluster://host:port,host:port,...` | a Redis Cluster, from any of its nodes | `redis` |
/// | `memcache://host:port[,host:port...]` | memcached, keys spread over the servers | `memcache` |
/// | `cookie://?secret_env=VAR[&fallback_env=VAR...][&protection=signed\|encrypted]` | signed or encrypted cookies; the secret is read from the named environment variable (never from the URL), the maximum age is the configured cookie age | `cookie` |
/// | `postgres://...`, `postgresql://...` | PostgreSQL, table `sessionkit_session` (run [`migrate`] once first) | `db-postgres` |
/// | `mysql://...` | MySQL or MariaDB, same table | `db-mysql` |
/// | `sqlite://PATH` | an SQLite file, same table | `db-sqlite` |
/// | `cached-db://?cache=CACHE_URL&db=DB_URL` | a cache (any URL above but cookie) in front of a database (a database URL); write `&` inside the nested URLs as `%26` | `cached-db` and a `db-*` feature |
///
/// An unknown scheme, a back end whose feature is off, or a bad parameter is a
/// [`Config`](crate::ErrorKind::Config) error that says which.
pub async fn connect(url: &str) -> Result<Sessions> {
    connect_with(url, SessionConfig::default()).await
}

/// Opens the back end named by `url` (see [`connect`]) with `config`.
pub async fn connect_with(url: &str, config: SessionConfig) -> Result<Sessions> {
    let store = open_store(url, &config).await?;
    Ok(Sessions::from_arc(store, config))
}

/// Opens the store named by `url` (see [`connect`]) without wrapping it in [`Sessions`]: for
/// composing stores yourself. `config` supplies what a store needs from the session settings
/// (the cookie store's maximum age).
pub async fn open_store(url: &str, config: &SessionConfig) -> Result<Arc<dyn SessionStore>> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        Error::config(
            "sessionkit",
            format!("{url:?} is not a URL of the form scheme://..."),
        )
    })?;
    match scheme {
        "locmem" => locmem(rest),
        "redis" | "rediss" => redis(url, None).await,
        "redis+cluster" => redis(url, Some(rest)).await,
        "memcache" => memcache(rest).await,
        "cookie" => cookie(rest, config),
        "postgres" | "postgresql" | "mysql" | "sqlite" => db(url).await,
        "cached-db" => Box::pin(cached_db(rest, config)).await,
        other => Err(Error::config(
            "sessionkit",
            format!(
                "unknown session back end {other:?}; known: locmem, redis, rediss, \
                 redis+cluster, memcache, cookie, postgres, postgresql, mysql, sqlite, cached-db"
            ),
        )),
    }
}

/// Creates or upgrades the session table of the database that `url` names (a database URL, or
/// the `db=` part of a `cached-db://` URL): Django's `manage.py migrate`. Idempotent; safe to
/// run at every start. For back ends without a schema it does nothing.
pub async fn migrate(url: &str) -> Result<()> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", ""));
    match scheme {
        "postgres" | "postgresql" | "mysql" | "sqlite" => migrate_db(url).await,
        "cached-db" => {
            let (_, db_url) = cached_db_parts(rest)?;
            Box::pin(migrate(&db_url)).await
        }
        _ => {
            // Fails exactly as connect would for an unknown or disabled back end.
            open_store(url, &SessionConfig::default()).await.map(drop)
        }
    }
}

/// `key=value` pairs of a URL's query.
fn query_pairs(rest: &str) -> impl Iterator<Item = (&str, &str)> {
    rest.split_once('?')
        .map_or("", |(_, q)| q)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

#[cfg(feature = "locmem")]
fn parse_number(backend: &'static str, name: &str, value: &str) -> Result<usize> {
    value
        .parse()
        .map_err(|_| Error::config(backend, format!("{name}={value:?} is not a whole number")))
}

#[cfg(feature = "locmem")]
fn locmem(rest: &str) -> Result<Arc<dyn SessionStore>> {
    use crate::locmem::{LocMemConfig, LocMemStore};
    let mut c = LocMemConfig::default();
    for (name, value) in query_pairs(rest) {
        c = match name {
            "max_entries" => c.with_max_entries(parse_number("locmem", name, value)?),
            "max_bytes" => c.with_max_bytes(parse_number("locmem", name, value)?),
            "shards" => c.with_shards(parse_number("locmem", name, value)?),
            other => {
                return Err(Error::config(
                    "locmem",
                    format!("unknown parameter {other:?}; known: max_entries, max_bytes, shards"),
                ))
            }
        };
    }
    Ok(Arc::new(LocMemStore::new(c)))
}

#[cfg(not(feature = "locmem"))]
fn locmem(_: &str) -> Result<Arc<dyn SessionStore>> {
    Err(Error::config(
        "sessionkit",
        "the locmem back end is not compiled in; enable the `locmem` feature of sessionkit",
    ))
}

#[cfg(feature = "redis")]
async fn redis(url: &str, cluster: Option<&str>) -> Result<Arc<dyn SessionStore>> {
    use crate::redis::RedisConfig;
    let redis = match cluster {
        Some(nodes) => RedisConfig::cluster(
            nodes
                .split(',')
                .filter(|n| !n.is_empty())
                .map(|n| format!("redis://{n}")),
        ),
        None => RedisConfig::new(url),
    };
    Ok(Arc::new(redis.connect().await?))
}

#[cfg(not(feature = "redis"))]
async fn redis(_: &str, _: Option<&str>) -> Result<Arc<dyn SessionStore>> {
    Err(Error::config(
        "sessionkit",
        "the redis back end is not compiled in; enable the `redis` feature of sessionkit",
    ))
}

#[cfg(feature = "memcache")]
async fn memcache(servers: &str) -> Result<Arc<dyn SessionStore>> {
    use crate::memcache::{MemcacheConfig, MemcacheStore};
    let store = MemcacheStore::connect(MemcacheConfig::from_list(servers)).await?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "memcache"))]
async fn memcache(_: &str) -> Result<Arc<dyn SessionStore>> {
    Err(Error::config(
        "sessionkit",
        "the memcache back end is not compiled in; enable the `memcache` feature of sessionkit",
    ))
}

#[cfg(feature = "cookie")]
fn cookie(rest: &str, config: &SessionConfig) -> Result<Arc<dyn SessionStore>> {
    use crate::cookie::{CookieConfig, CookieStore, Protection};
    let secret_of = |var: &str| {
        std::env::var(var).map_err(|_| {
            Error::config(
                "cookie",
                format!("the environment variable {var:?} named by the URL is not set"),
            )
        })
    };
    let (mut secret, mut fallbacks, mut protection) = (None, Vec::new(), Protection::Signed);
    for (name, value) in query_pairs(rest) {
        match name {
            "secret_env" => secret = Some(secret_of(value)?),
            "fallback_env" => fallbacks.push(secret_of(value)?),
            "protection" => {
                protection = match value {
                    "signed" => Protection::Signed,
                    "encrypted" => Protection::Encrypted,
                    other => {
                        return Err(Error::config(
                            "cookie",
                            format!("protection={other:?}; known: signed, encrypted"),
                        ))
                    }
                }
            }
            other => {
                return Err(Error::config(
                    "cookie",
                    format!(
                        "unknown parameter {other:?}; known: secret_env, fallback_env, protection"
                    ),
                ))
            }
        }
    }
    let secret = secret.ok_or_else(|| {
        Error::config(
            "cookie",
            "cookie:// needs secret_env=VAR naming the variable that holds the secret",
        )
    })?;
    let max_age = std::time::Duration::from_secs(config.cookie_age().unsigned_abs());
    let mut c = CookieConfig::new(secret)
        .with_protection(protection)
        .with_max_age(max_age);
    for f in fallbacks {
        c = c.with_fallback_secret(f);
    }
    Ok(Arc::new(CookieStore::new(c)?))
}

#[cfg(not(feature = "cookie"))]
fn cookie(_: &str, _: &SessionConfig) -> Result<Arc<dyn SessionStore>> {
    Err(Error::config(
        "sessionkit",
        "the cookie back end is not compiled in; enable the `cookie` feature of sessionkit",
    ))
}

/// The feature a database URL needs, if it is not compiled in.
fn missing_db_feature(url: &str) -> Option<&'static str> {
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    match scheme {
        "postgres" | "postgresql" if !cfg!(feature = "db-postgres") => Some("db-postgres"),
        "mysql" if !cfg!(feature = "db-mysql") => Some("db-mysql"),
        "sqlite" if !cfg!(feature = "db-sqlite") => Some("db-sqlite"),
        _ => None,
    }
}

fn db_feature_error(feature: &str) -> Error {
    Error::config(
        "sessionkit",
        format!("this database back end is not compiled in; enable the `{feature}` feature of sessionkit"),
    )
}

#[cfg(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite"))]
async fn db_store(url: &str) -> Result<crate::db::DbStore> {
    if let Some(feature) = missing_db_feature(url) {
        return Err(db_feature_error(feature));
    }
    crate::db::DbConfig::new(url).connect().await
}

#[cfg(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite"))]
async fn db(url: &str) -> Result<Arc<dyn SessionStore>> {
    Ok(Arc::new(db_store(url).await?))
}

#[cfg(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite"))]
async fn migrate_db(url: &str) -> Result<()> {
    db_store(url).await?.migrate().await
}

#[cfg(not(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite")))]
async fn db(url: &str) -> Result<Arc<dyn SessionStore>> {
    Err(db_feature_error(
        missing_db_feature(url).unwrap_or("db-sqlite"),
    ))
}

#[cfg(not(any(feature = "db-postgres", feature = "db-mysql", feature = "db-sqlite")))]
async fn migrate_db(url: &str) -> Result<()> {
    db(url).await.map(drop)
}

/// The `cache=` and `db=` URLs of a `cached-db://` URL, percent-decoded.
fn cached_db_parts(rest: &str) -> Result<(String, String)> {
    let (mut cache, mut db) = (None, None);
    for (name, value) in query_pairs(rest) {
        let value = percent_decode(value).ok_or_else(|| {
            Error::config(
                "cached-db",
                format!("{name}= holds a bad %-escape; write & as %26 and % as %25"),
            )
        })?;
        match name {
            "cache" => cache = Some(value),
            "db" => db = Some(value),
            other => {
                return Err(Error::config(
                    "cached-db",
                    format!(
                        "unknown parameter {other:?}; known: cache, db (write & inside them as %26)"
                    ),
                ))
            }
        }
    }
    match (cache, db) {
        (Some(cache), Some(db)) => Ok((cache, db)),
        _ => Err(Error::config(
            "cached-db",
            "cached-db:// needs both cache=CACHE_URL and db=DATABASE_URL",
        )),
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(feature = "cached-db")]
async fn cached_db(rest: &str, config: &SessionConfig) -> Result<Arc<dyn SessionStore>> {
    let (cache_url, db_url) = cached_db_parts(rest)?;
    let db_scheme = db_url.split_once("://").map_or("", |(s, _)| s);
    if !matches!(db_scheme, "postgres" | "postgresql" | "mysql" | "sqlite") {
        return Err(Error::config(
            "cached-db",
            format!(
                "db={db_scheme:?}:// is not a database; use postgres://, mysql:// or sqlite://"
            ),
        ));
    }
    let cache = open_store(&cache_url, config).await?;
    let db = open_store(&db_url, config).await?;
    Ok(Arc::new(crate::cached_db::CachedDbStore::try_new(
        cache, db,
    )?))
}

#[cfg(not(feature = "cached-db"))]
async fn cached_db(_: &str, _: &SessionConfig) -> Result<Arc<dyn SessionStore>> {
    Err(Error::config(
        "sessionkit",
        "the cached-db back end is not compiled in; enable the `cached-db` feature of sessionkit",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%26b%3D%25").as_deref(), Some("a&b=%"));
        assert_eq!(
            percent_decode("plain://x/y").as_deref(),
            Some("plain://x/y")
        );
        for bad in ["%", "%2", "%zz", "%ff", "%e2%82"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn cached_db_url_parts() {
        let (cache, db) =
            cached_db_parts("?cache=redis://h:6379/0&db=postgres://u@h/app%3Fsslmode%3Drequire%26connect_timeout%3D5")
                .unwrap();
        assert_eq!(cache, "redis://h:6379/0");
        assert_eq!(db, "postgres://u@h/app?sslmode=require&connect_timeout=5");
    }

    #[tokio::test]
    async fn disabled_back_ends_say_which_feature() {
        for (url, feature) in [
            ("postgres://u@h/db", "db-postgres"),
            ("mysql://u@h/db", "db-mysql"),
            ("sqlite:///tmp/x.sqlite3", "db-sqlite"),
            (
                "cached-db://?cache=locmem://&db=sqlite:///tmp/x",
                "cached-db",
            ),
        ] {
            let enabled = match feature {
                "db-postgres" => cfg!(feature = "db-postgres"),
                "db-mysql" => cfg!(feature = "db-mysql"),
                "db-sqlite" => cfg!(feature = "db-sqlite"),
                _ => cfg!(feature = "cached-db"),
            };
            if enabled {
                continue;
            }
            let err = connect(url).await.unwrap_err();
            assert!(
                err.is_config() && err.to_string().contains(feature),
                "{url}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn locmem_url_with_parameters() {
        let sessions = connect("locmem://?max_entries=1000&max_bytes=1048576&shards=4")
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
