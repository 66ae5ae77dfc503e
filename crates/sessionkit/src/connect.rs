//! Choosing a back end by configuration, as Django's `SESSION_ENGINE`.

use crate::{Error, Result, SessionConfig, Sessions};

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
///
/// An unknown scheme, a back end whose feature is off, or a bad parameter is a
/// [`Config`](crate::ErrorKind::Config) error that says which.
pub async fn connect(url: &str) -> Result<Sessions> {
    connect_with(url, SessionConfig::default()).await
}

/// Opens the back end named by `url` (see [`connect`]) with `config`.
pub async fn connect_with(url: &str, config: SessionConfig) -> Result<Sessions> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        Error::config(
            "sessionkit",
            format!("{url:?} is not a URL of the form scheme://..."),
        )
    })?;
    match scheme {
        "locmem" => locmem(rest, config),
        "redis" | "rediss" => redis(url, None, config).await,
        "redis+cluster" => redis(url, Some(rest), config).await,
        "memcache" => memcache(rest, config).await,
        "cookie" => cookie(rest, config),
        other => Err(Error::config(
            "sessionkit",
            format!(
                "unknown session back end {other:?}; known: locmem, redis, rediss, redis+cluster, memcache, cookie"
            ),
        )),
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

fn parse_number(backend: &'static str, name: &str, value: &str) -> Result<usize> {
    value
        .parse()
        .map_err(|_| Error::config(backend, format!("{name}={value:?} is not a whole number")))
}

#[cfg(feature = "locmem")]
fn locmem(rest: &str, config: SessionConfig) -> Result<Sessions> {
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
    Ok(Sessions::with_config(LocMemStore::new(c), config))
}

#[cfg(not(feature = "locmem"))]
fn locmem(_: &str, _: SessionConfig) -> Result<Sessions> {
    Err(Error::config(
        "sessionkit",
        "the locmem back end is not compiled in; enable the `locmem` feature of sessionkit",
    ))
}

#[cfg(feature = "redis")]
async fn redis(url: &str, cluster: Option<&str>, config: SessionConfig) -> Result<Sessions> {
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
    Ok(Sessions::with_config(redis.connect().await?, config))
}

#[cfg(not(feature = "redis"))]
async fn redis(_: &str, _: Option<&str>, _: SessionConfig) -> Result<Sessions> {
    Err(Error::config(
        "sessionkit",
        "the redis back end is not compiled in; enable the `redis` feature of sessionkit",
    ))
}

#[cfg(feature = "memcache")]
async fn memcache(servers: &str, config: SessionConfig) -> Result<Sessions> {
    use crate::memcache::{MemcacheConfig, MemcacheStore};
    let store = MemcacheStore::connect(MemcacheConfig::from_list(servers)).await?;
    Ok(Sessions::with_config(store, config))
}

#[cfg(not(feature = "memcache"))]
async fn memcache(_: &str, _: SessionConfig) -> Result<Sessions> {
    Err(Error::config(
        "sessionkit",
        "the memcache back end is not compiled in; enable the `memcache` feature of sessionkit",
    ))
}

#[cfg(feature = "cookie")]
fn cookie(rest: &str, config: SessionConfig) -> Result<Sessions> {
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
    Ok(Sessions::with_config(CookieStore::new(c)?, config))
}

#[cfg(not(feature = "cookie"))]
fn cookie(_: &str, _: SessionConfig) -> Result<Sessions> {
    Err(Error::config(
        "sessionkit",
        "the cookie back end is not compiled in; enable the `cookie` feature of sessionkit",
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
