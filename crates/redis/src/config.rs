//! [`RedisConfig`]: where the server is, how keys are named, how long to wait.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sessionkit_core::{percent_encode, quote_short, ConfigUrl, Error, Result};

use crate::error::{self, BACKEND};
use crate::store::{Connection, Limit, RedisStore};
use crate::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEY_PREFIX, DEFAULT_RESPONSE_TIMEOUT};

/// Cluster calls may take this many times the connect + response timeouts (see `connect`).
#[cfg(feature = "cluster")]
const CLUSTER_LIMIT_FACTOR: u32 = 3;

/// The query parameters of a redis URL.
pub const URL_PARAMETERS: [&str; 5] = [
    "db",
    "protocol",
    "key_prefix",
    "connect_timeout",
    "response_timeout",
];

#[derive(Clone)]
enum Target {
    Single(String),
    #[cfg(feature = "cluster")]
    Cluster(Vec<String>),
}

/// How to reach redis and how to use it: the server URL (or cluster nodes), the key prefix,
/// and the timeouts that keep a dead or hung server from hanging a request.
///
/// ```no_run
/// # async fn demo() -> sessionkit_core::Result<()> {
/// use std::time::Duration;
/// use sessionkit_redis::RedisConfig;
///
/// let store = RedisConfig::new("redis://:secret@127.0.0.1:6379/2")
///     .with_key_prefix("myapp:session:")
///     .with_connect_timeout(Duration::from_millis(500))
///     .with_response_timeout(Duration::from_millis(250))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
///
/// `Debug` hides the password of every URL.
#[derive(Clone)]
pub struct RedisConfig {
    target: Target,
    key_prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    #[cfg(feature = "tls-rustls")]
    tls: Option<redis::TlsCertificates>,
}

impl RedisConfig {
    /// A standalone server (or a proxy in front of several) at `url`:
    /// `redis://[[user]:password@]host[:port][/db]`, `rediss://...` for TLS (needs the
    /// `tls-rustls` feature), or `redis+unix:///path/to/socket[?db=N]`. Append
    /// `?protocol=resp3` to use RESP3, with which the connection notices a server restart by
    /// itself instead of on the next request.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_target(Target::Single(url.into()))
    }

    /// A Redis Cluster reached through any of `nodes` (URLs as for [`new`](Self::new); one
    /// reachable master is enough, the others are discovered). Every session key hashes to
    /// its own slot, so sessions spread over all masters.
    #[cfg(feature = "cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
    pub fn cluster<I>(nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self::with_target(Target::Cluster(nodes.into_iter().map(Into::into).collect()))
    }

    /// Every setting from one URL, read by the shared rules of [`ConfigUrl`]:
    ///
    /// - `redis://[[user]:password@]host[:port][/db]`, `rediss://...` (TLS, feature
    ///   `tls-rustls`), `redis+unix:///path/to/socket`;
    /// - `redis+cluster://[[user]:password@]host:port,host:port,...` (`rediss+cluster://` for
    ///   TLS): a Redis Cluster reached through any of the nodes (feature `cluster`);
    ///
    /// with the query parameters `db` (the database index, instead of the path; not in a
    /// cluster), `protocol` (`resp2` or `resp3`), `key_prefix`, `connect_timeout` and
    /// `response_timeout` (durations: `500ms`, `2s`). An unknown or repeated parameter, a zero
    /// timeout, a database given twice or not a number is a
    /// [`Config`](sessionkit_core::ErrorKind::Config) error naming it; a database index the
    /// server does not have and rejected credentials are found by [`connect`](Self::connect).
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionkit_redis::RedisConfig;
    /// let config = RedisConfig::from_url("redis://:s3cret@10.0.0.5:6379/2?key_prefix=app:&response_timeout=250ms")?;
    /// assert_eq!(config.key_prefix(), "app:");
    /// assert_eq!(config.response_timeout(), Duration::from_millis(250));
    /// assert!(!format!("{config:?}").contains("s3cret"));
    /// assert!(RedisConfig::from_url("redis://h/?db=5&colour=blue").is_err());
    /// # Ok::<(), sessionkit_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let mut url = ConfigUrl::parse(BACKEND, url)?;
        let scheme = url.scheme().to_owned();
        let db = url.take_parsed::<u16>("db", "a database index (0, 1, ...)")?;
        let protocol = url.take_choice("protocol", &["resp2", "resp3"])?;
        let key_prefix = url.take("key_prefix");
        let connect_timeout = url.take_duration("connect_timeout")?;
        let response_timeout = url.take_duration("response_timeout")?;
        url.finish(&URL_PARAMETERS)?;
        let path_db = match (scheme.as_str(), url.path()) {
            ("redis+unix", _) | (_, "") => None,
            (_, p) => Some(p.trim_end_matches('/').parse::<u16>().map_err(|_| {
                Error::config(
                    BACKEND,
                    format!(
                        "the path /{} is not a database index (0, 1, ...)",
                        quote_short(p).trim_matches('"')
                    ),
                )
            })?),
        };
        let db = match (db, path_db) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    BACKEND,
                    "the database is given twice, as the path and as ?db=: give it once",
                ))
            }
            (a, b) => a.or(b),
        };
        let mut query = Vec::new();
        if let Some(p) = protocol {
            query.push(format!("protocol={p}"));
        }
        let auth = match (url.user(), url.password()) {
            (None, None) => String::new(),
            (user, password) => format!(
                "{}{}@",
                percent_encode(user.unwrap_or("")),
                password.map_or(String::new(), |p| format!(":{}", percent_encode(p)))
            ),
        };
        let node = |scheme: &str, host: &str, db: Option<u16>| {
            let mut u = format!("{scheme}://{auth}{host}");
            if let Some(db) = db {
                u.push_str(&format!("/{db}"));
            }
            if !query.is_empty() {
                u.push('?');
                u.push_str(&query.join("&"));
            }
            u
        };
        let mut config = match scheme.as_str() {
            "redis" | "rediss" => {
                if url.host().is_empty() || url.host().contains(',') {
                    return Err(Error::config(
                        BACKEND,
                        format!(
                            "{scheme}:// takes one host[:port]; for several nodes of a cluster \
                             write redis+cluster://host:port,host:port"
                        ),
                    ));
                }
                Self::new(node(&scheme, url.host(), db))
            }
            "redis+unix" => {
                url.refuse_credentials()?;
                if !url.host().is_empty() || url.path().is_empty() {
                    return Err(Error::config(
                        BACKEND,
                        "write a unix socket as redis+unix:///path/to/socket",
                    ));
                }
                if let Some(db) = db {
                    query.insert(0, format!("db={db}"));
                }
                let mut u = format!("redis+unix:///{}", url.path());
                if !query.is_empty() {
                    u.push('?');
                    u.push_str(&query.join("&"));
                }
                Self::new(u)
            }
            #[cfg(feature = "cluster")]
            "redis+cluster" | "rediss+cluster" => {
                if db.is_some_and(|db| db != 0) {
                    return Err(Error::config(
                        BACKEND,
                        "a Redis Cluster has only database 0: remove the database index",
                    ));
                }
                let plain = scheme.trim_end_matches("+cluster");
                let nodes: Vec<String> = url.hosts().iter().map(|h| node(plain, h, None)).collect();
                if nodes.is_empty() {
                    return Err(Error::config(
                        BACKEND,
                        "no cluster node: write redis+cluster://host:port,host:port",
                    ));
                }
                Self::cluster(nodes)
            }
            other => {
                return Err(Error::config(
                    BACKEND,
                    format!(
                        "{}:// is not a redis URL; use redis://, rediss://, redis+unix://{}",
                        quote_short(other).trim_matches('"'),
                        if cfg!(feature = "cluster") {
                            ", redis+cluster://"
                        } else {
                            ""
                        }
                    ),
                ))
            }
        };
        if let Some(prefix) = key_prefix {
            config = config.with_key_prefix(prefix);
        }
        if let Some(d) = connect_timeout {
            config = config.with_connect_timeout(d);
        }
        if let Some(d) = response_timeout {
            config = config.with_response_timeout(d);
        }
        Ok(config)
    }

    fn with_target(target: Target) -> Self {
        Self {
            target,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            #[cfg(feature = "tls-rustls")]
            tls: None,
        }
    }

    /// For `rediss://` URLs: the CA certificate(s) to trust instead of the system's roots (a
    /// private CA), and a client certificate and key for mutual TLS, all PEM. Without this the
    /// system's root certificates are used and no client certificate is sent.
    ///
    /// ```no_run
    /// # async fn demo() -> sessionkit_core::Result<()> {
    /// use sessionkit_redis::{redis::TlsCertificates, RedisConfig};
    /// let ca = std::fs::read("/etc/redis/ca.pem").expect("CA file");
    /// let store = RedisConfig::new("rediss://redis.internal:6380/0")
    ///     .with_tls_certificates(TlsCertificates { client_tls: None, root_cert: Some(ca) })
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls-rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls-rustls")))]
    #[must_use]
    pub fn with_tls_certificates(mut self, certificates: redis::TlsCertificates) -> Self {
        self.tls = Some(certificates);
        self
    }

    /// The prefix put in front of every session key (default `sessionkit:`, so a session is
    /// stored as `sessionkit:<32 characters>`). Give each application sharing a server its own.
    /// In a cluster, keep `{` and `}` out of it: a hash tag would put every session in one
    /// slot, on one master.
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How long one attempt to open a connection may take (default 1 s).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for the reply to a command once it is sent (default 1 s). A server
    /// slower than this fails the operation with [`Error::is_timeout`]; the connection stays
    /// up and later replies are matched to their requests.
    #[must_use]
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The response timeout.
    pub fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// The longest any one operation may take, whatever happens (a reconnect in progress
    /// included): the connect timeout plus the response timeout.
    pub fn operation_timeout(&self) -> Duration {
        self.connect_timeout.saturating_add(self.response_timeout)
    }

    /// Opens the connection (one attempt, within the connect timeout) and returns the store.
    ///
    /// Errors: a malformed URL, a `rediss://` URL without the `tls-rustls` feature, or zero
    /// timeouts are [`Error::is_config`]; an unreachable server is
    /// [`Error::is_unavailable`]; rejected credentials are [`Error::is_config`].
    pub async fn connect(self) -> Result<RedisStore> {
        if self.connect_timeout.is_zero() || self.response_timeout.is_zero() {
            return Err(Error::config(
                BACKEND,
                "connect_timeout and response_timeout must be greater than zero",
            ));
        }
        let limit = self.operation_timeout();
        let connecting = self.open();
        let conn = tokio::time::timeout(limit, connecting)
            .await
            .map_err(error::deadline)??;
        // A standalone connection manager's own timeouts bound every call, so no timer of ours
        // is armed on the hot path. The cluster client's do not while it refreshes its slot map
        // after a master dies (a call was seen pending for minutes), so cluster calls get a
        // timer — three times the sum, because that refresh takes several round trips and a
        // timer that cancels it every time would keep the store from ever recovering.
        let limit = match self.target {
            Target::Single(_) => Limit::Connection(limit),
            #[cfg(feature = "cluster")]
            Target::Cluster(_) => Limit::Timer(limit * CLUSTER_LIMIT_FACTOR),
        };
        let store = RedisStore::new(conn, &self.key_prefix, limit);
        store.verify().await?;
        Ok(store)
    }

    async fn open(&self) -> Result<Connection> {
        match &self.target {
            Target::Single(url) => {
                let client = self.client(url).map_err(invalid_url)?;
                // One connection attempt per reconnect: a request never waits through a chain
                // of back-off retries. While the server is down each request fails fast and
                // starts the next attempt; the first one after the server is back succeeds.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(self.response_timeout))
                    .set_number_of_retries(0);
                let manager = ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(error::map)?;
                Ok(Connection::Single(manager))
            }
            #[cfg(feature = "cluster")]
            Target::Cluster(nodes) => {
                if nodes.is_empty() {
                    return Err(Error::config(BACKEND, "no cluster node URL given"));
                }
                let builder =
                    redis::cluster::ClusterClient::builder(nodes.iter().map(String::as_str))
                        .connection_timeout(self.connect_timeout)
                        .response_timeout(self.response_timeout)
                        .overall_response_timeout(Some(self.operation_timeout()));
                #[cfg(feature = "tls-rustls")]
                let builder = match &self.tls {
                    Some(certs) => builder.certs(certs.clone()),
                    None => builder,
                };
                let client = builder.build().map_err(invalid_url)?;
                let conn = client.get_async_connection().await.map_err(error::map)?;
                Ok(Connection::Cluster(conn))
            }
        }
    }
}

impl RedisConfig {
    fn client(&self, url: &str) -> redis::RedisResult<redis::Client> {
        #[cfg(feature = "tls-rustls")]
        if let Some(certs) = &self.tls {
            return redis::Client::build_with_tls(url, certs.clone());
        }
        redis::Client::open(url)
    }
}

fn invalid_url(e: redis::RedisError) -> Error {
    // The URL itself is not repeated: it may hold a password.
    Error::config(
        BACKEND,
        "invalid redis URL (or a rediss:// URL without the `tls-rustls` feature)",
    )
    .with_source(e)
}

/// `scheme://user:password@host/...` with everything before the `@` hidden.
fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &url[start + at + 1..]),
        None => url.to_owned(),
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RedisConfig");
        match &self.target {
            Target::Single(url) => d.field("url", &redact(url)),
            #[cfg(feature = "cluster")]
            Target::Cluster(nodes) => d.field(
                "cluster",
                &nodes.iter().map(|n| redact(n)).collect::<Vec<_>>(),
            ),
        };
        d.field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout);
        #[cfg(feature = "tls-rustls")]
        d.field("tls_certificates", &self.tls.is_some());
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_passwords() {
        let cfg = RedisConfig::new("redis://user:hunter2@127.0.0.1:6379/3");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redis://***@127.0.0.1:6379/3"), "{shown}");
        assert_eq!(redact("redis://127.0.0.1/0"), "redis://127.0.0.1/0");
        assert_eq!(redact("redis://:p@ss@h:1?x=@"), "redis://***@h:1?x=@");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[tokio::test]
    async fn bad_settings_are_config_errors() {
        let err = RedisConfig::new("http://example")
            .connect()
            .await
            .expect_err("not a redis URL");
        assert!(err.is_config(), "{err:?}");
        let err = RedisConfig::new("redis://127.0.0.1:1")
            .with_response_timeout(Duration::ZERO)
            .connect()
            .await
            .expect_err("zero timeout");
        assert!(err.is_config(), "{err:?}");
    }

    #[cfg(not(feature = "tls-rustls"))]
    #[tokio::test]
    async fn rediss_without_the_tls_feature_is_a_config_error() {
        let err = RedisConfig::new("rediss://127.0.0.1:1/")
            .connect()
            .await
            .expect_err("TLS is not compiled in");
        assert!(err.is_config(), "{err:?}");
    }

    #[tokio::test]
    async fn nothing_listening_is_unavailable() {
        // Port 1 on loopback: nothing listens there, the kernel refuses at once.
        let err = RedisConfig::new("redis://127.0.0.1:1")
            .connect()
            .await
            .expect_err("nothing listens on port 1");
        assert!(err.is_unavailable(), "{err:?}");
    }
}
