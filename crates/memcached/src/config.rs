//! [`MemcachedConfig`]: servers, key prefix, timeouts, pool and item size.

use std::time::Duration;

use sessionkit_core::{ConfigUrl, Error, Result, KEY_LEN};

use crate::BACKEND;

/// The key prefix used unless [`MemcachedConfig::with_prefix`] says otherwise. It namespaces the
/// sessions in a memcached shared with other data, as Django's `django.contrib.sessions.cache`
/// prefix does.
pub const DEFAULT_PREFIX: &str = "sessionkit:";

/// memcached's longest key, in bytes (prefix included).
pub const MAX_KEY_LEN: usize = 250;

/// memcached's default largest item (`-I 1m`): records larger than this are refused with
/// [`ErrorKind::TooLarge`](sessionkit_core::ErrorKind::TooLarge) before anything is sent.
pub const DEFAULT_MAX_ITEM_SIZE: usize = 1024 * 1024;

/// memcached's port when a server is named without one.
pub const DEFAULT_PORT: u16 = 11211;

/// The query parameters of a `memcached://` URL.
pub const URL_PARAMETERS: [&str; 6] = [
    "prefix",
    "connect_timeout",
    "response_timeout",
    "max_connections",
    "idle_timeout",
    "max_item_size",
];

/// Settings of a [`MemcachedStore`](crate::MemcachedStore).
///
/// ```
/// use std::time::Duration;
/// use sessionkit_memcached::MemcachedConfig;
///
/// let config = MemcachedConfig::new(["memcached://10.0.0.1:11211", "10.0.0.2:11211"])
///     .with_prefix("myapp:sessions:")
///     .with_response_timeout(Duration::from_millis(250));
/// assert_eq!(config.servers().len(), 2);
/// assert_eq!(config.prefix(), "myapp:sessions:");
/// ```
///
/// Nothing is checked until [`MemcachedStore::connect`](crate::MemcachedStore::connect), which
/// reports every invalid setting as [`ErrorKind::Config`](sessionkit_core::ErrorKind::Config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemcachedConfig {
    servers: Vec<String>,
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    max_connections: usize,
    idle_timeout: Duration,
    max_item_size: usize,
    client_flags: u32,
}

impl MemcachedConfig {
    /// The servers to spread sessions over, each `memcached://HOST:PORT`, `HOST:PORT` or `HOST`
    /// (port 11211), with every other setting at its default.
    ///
    /// List the same servers, spelled the same way, on every application server: a key's server
    /// is chosen from the key and the server names (see the [crate docs](crate#several-servers)).
    /// The order does not matter.
    pub fn new<I, S>(servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            servers: servers
                .into_iter()
                .map(|s| s.as_ref().trim().to_owned())
                .collect(),
            prefix: DEFAULT_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            max_connections: 64,
            idle_timeout: Duration::from_secs(90),
            max_item_size: DEFAULT_MAX_ITEM_SIZE,
            client_flags: 0,
        }
    }

    /// The settings in a `memcached://` URL, read by the shared rules of [`ConfigUrl`]:
    /// `memcached://HOST[:PORT][,HOST[:PORT]...][?prefix=P][&connect_timeout=D]
    /// [&response_timeout=D][&max_connections=N][&idle_timeout=D][&max_item_size=BYTES]`
    /// (`memcache://` is accepted as an alias). A user, path, unknown or repeated parameter, a
    /// zero count or duration is a [`Config`](sessionkit_core::ErrorKind::Config) error.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionkit_memcached::MemcachedConfig;
    /// let config = MemcachedConfig::from_url("memcached://10.0.0.1,10.0.0.2:11300?prefix=app:&response_timeout=250ms")?;
    /// assert_eq!(config.servers(), ["10.0.0.1:11211", "10.0.0.2:11300"]);
    /// assert_eq!(config.response_timeout(), Duration::from_millis(250));
    /// # Ok::<(), sessionkit_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let mut url = ConfigUrl::parse(BACKEND, url)?;
        url.require_scheme(&["memcached", "memcache"])?;
        url.refuse_credentials()?;
        url.refuse_path()?;
        let servers = url
            .hosts()
            .into_iter()
            .map(parse_server)
            .collect::<Result<Vec<_>>>()?;
        if servers.is_empty() {
            return Err(Error::config(
                BACKEND,
                "no server in the URL: write memcached://HOST:PORT[,HOST:PORT...]",
            ));
        }
        let mut config = Self::new(servers);
        if let Some(prefix) = url.take("prefix") {
            config = config.with_prefix(prefix);
        }
        if let Some(d) = url.take_duration("connect_timeout")? {
            config = config.with_connect_timeout(d);
        }
        if let Some(d) = url.take_duration("response_timeout")? {
            config = config.with_response_timeout(d);
        }
        if let Some(n) = url.take_count("max_connections")? {
            config = config.with_max_connections(n);
        }
        if let Some(d) = url.take_duration("idle_timeout")? {
            config = config.with_idle_timeout(d);
        }
        if let Some(n) = url.take_count("max_item_size")? {
            config = config.with_max_item_size(n);
        }
        url.finish(&URL_PARAMETERS)?;
        config.validate()?;
        Ok(config)
    }

    /// Servers from one comma-separated list, as in an environment variable:
    /// `memcached://10.0.0.1:11211,memcached://10.0.0.2:11211`. Empty entries are ignored.
    pub fn from_list(list: &str) -> Self {
        Self::new(list.split(',').map(str::trim).filter(|s| !s.is_empty()))
    }

    /// The prefix put before every session key (default [`DEFAULT_PREFIX`], `sessionkit:`).
    ///
    /// Printable ASCII without spaces; with the 32-character session key it must fit memcached's
    /// 250-byte key limit, so at most 218 bytes. Give each application sharing a memcached its
    /// own prefix.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long opening a connection may take (default 1 s). A server that does not accept in
    /// time fails the request with [`ErrorKind::Timeout`](sessionkit_core::ErrorKind::Timeout).
    /// It also bounds the wait for a free connection when
    /// [`with_max_connections`](Self::with_max_connections) are all busy.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one request may wait for the server's answer, from sending it to reading the
    /// whole reply (default 1 s). A hung server fails the request with
    /// [`ErrorKind::Timeout`](sessionkit_core::ErrorKind::Timeout) and its connection is closed.
    #[must_use]
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The most connections kept open to each server (default 64, at least 1). Requests beyond
    /// it wait (up to the connect timeout) for a connection to come free; idle connections are
    /// kept for reuse up to this number.
    #[must_use]
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// How long an idle connection is kept for reuse (default 90 s); older ones are closed and
    /// replaced, so connections silently dropped by a firewall are not used.
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The largest record stored (default [`DEFAULT_MAX_ITEM_SIZE`], 1 MiB: memcached's `-I`
    /// default). Set it to the servers' `-I` if you raised it. Larger records fail with
    /// [`ErrorKind::TooLarge`](sessionkit_core::ErrorKind::TooLarge) without a round trip;
    /// records just under the limit that the server still refuses (its item header counts too)
    /// fail with the same error.
    #[must_use]
    pub fn with_max_item_size(mut self, bytes: usize) -> Self {
        self.max_item_size = bytes;
        self
    }

    /// The client flags stored with every item (default 0). Other programs' memcached clients
    /// read them to know how to decode a value: Django's `PyMemcacheCache` (pymemcache's
    /// `pickle_serde`) unpickles only items with flags `1`, so a store sharing Django's
    /// sessions (with `sessionkit-django`'s pickle codec) sets `1`.
    #[must_use]
    pub fn with_client_flags(mut self, flags: u32) -> Self {
        self.client_flags = flags;
        self
    }

    /// The client flags stored with every item.
    pub fn client_flags(&self) -> u32 {
        self.client_flags
    }

    /// The servers as given.
    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The response timeout.
    pub fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// The most connections per server.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// How long an idle connection is kept.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The largest record stored.
    pub fn max_item_size(&self) -> usize {
        self.max_item_size
    }

    /// Checks every setting and returns the servers as `HOST:PORT`.
    pub(crate) fn validate(&self) -> Result<Vec<String>> {
        check_prefix(&self.prefix)?;
        if self.connect_timeout.is_zero() {
            return Err(Error::config(BACKEND, "connect timeout must be above zero"));
        }
        if self.response_timeout.is_zero() {
            return Err(Error::config(
                BACKEND,
                "response timeout must be above zero",
            ));
        }
        if self.max_connections == 0 {
            return Err(Error::config(BACKEND, "max connections must be at least 1"));
        }
        if self.max_item_size == 0 {
            return Err(Error::config(BACKEND, "max item size must be above zero"));
        }
        if self.servers.is_empty() {
            return Err(Error::config(BACKEND, "no memcached server given"));
        }
        let mut servers: Vec<String> = Vec::with_capacity(self.servers.len());
        for raw in &self.servers {
            let server = parse_server(raw)?;
            if servers.contains(&server) {
                return Err(Error::config(
                    BACKEND,
                    format!("memcached server {server} is listed twice"),
                ));
            }
            servers.push(server);
        }
        Ok(servers)
    }
}

/// A valid prefix: printable ASCII without spaces, short enough for a whole key to fit.
fn check_prefix(prefix: &str) -> Result<()> {
    if let Some(bad) = prefix.bytes().find(|b| !b.is_ascii_graphic()) {
        return Err(Error::config(
            BACKEND,
            format!(
                "key prefix may only hold printable ASCII without spaces (found byte {bad:#04x})"
            ),
        ));
    }
    if prefix.len() + KEY_LEN > MAX_KEY_LEN {
        return Err(Error::config(
            BACKEND,
            format!(
                "key prefix is {} bytes; with a {KEY_LEN}-byte session key it exceeds memcached's \
                 {MAX_KEY_LEN}-byte key limit (at most {} bytes)",
                prefix.len(),
                MAX_KEY_LEN - KEY_LEN
            ),
        ));
    }
    Ok(())
}

/// `memcached://` or `memcache://HOST[:PORT][/]`, `HOST[:PORT]`, `[V6]:PORT` → `HOST:PORT`.
fn parse_server(raw: &str) -> Result<String> {
    let invalid = |why: &str| {
        Error::config(
            BACKEND,
            format!("invalid memcached server {raw:?}: {why}; expected memcached://HOST:PORT"),
        )
    };
    let rest = match raw.split_once("://") {
        Some(("memcache" | "memcached", rest)) => rest,
        Some((scheme, _)) => {
            return Err(invalid(&format!(
                "scheme {scheme:?} is not supported (only plain TCP: no TLS, UDP, unix sockets)"
            )))
        }
        None => raw,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) || rest.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(invalid(
            "paths, query parameters, credentials and spaces are not supported",
        ));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| invalid("unclosed '['"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| invalid("junk after ']'"))?,
            ),
        };
        (format!("[{host}]"), port)
    } else {
        match rest.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err(invalid("write IPv6 addresses in brackets: [::1]:11211"))
            }
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (rest.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(invalid("no host"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(invalid("bad port")),
        },
    };
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_normalised() {
        let c = MemcachedConfig::new([
            "memcache://127.0.0.1:11211",
            " 127.0.0.2 ",
            "memcache://cache.internal/",
            "[::1]:11300",
            "memcached://[fe80::1]",
        ]);
        assert_eq!(
            c.validate().unwrap(),
            [
                "127.0.0.1:11211",
                "127.0.0.2:11211",
                "cache.internal:11211",
                "[::1]:11300",
                "[fe80::1]:11211"
            ]
        );
    }

    #[test]
    fn from_list_splits_on_commas() {
        let c = MemcachedConfig::from_list("memcache://a:1, memcache://b:2,,");
        assert_eq!(c.validate().unwrap(), ["a:1", "b:2"]);
    }

    #[test]
    fn bad_servers_are_config_errors() {
        for bad in [
            "",
            "memcache+tls://a:1",
            "unix:///tmp/m.sock",
            "memcache://a:1?protocol=ascii",
            "memcache://user:pw@a:1",
            "a:0",
            "a:99999",
            "a:x",
            "::1",
            "[::1",
            "[::1]x",
            "a b:1",
            "memcache://",
        ] {
            let err = MemcachedConfig::new([bad]).validate().unwrap_err();
            assert!(err.is_config(), "{bad:?}: {err:?}");
        }
        assert!(MemcachedConfig::new(Vec::<String>::new())
            .validate()
            .unwrap_err()
            .is_config());
        assert!(MemcachedConfig::new(["a:1", "memcache://a:1"])
            .validate()
            .unwrap_err()
            .is_config());
    }

    #[test]
    fn prefix_limits() {
        let ok = "p".repeat(MAX_KEY_LEN - KEY_LEN);
        assert!(MemcachedConfig::new(["a"])
            .with_prefix(ok.clone())
            .validate()
            .is_ok());
        let long = ok + "p";
        let err = MemcachedConfig::new(["a"])
            .with_prefix(long)
            .validate()
            .unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains("250"), "{err}");
        for bad in ["a b:", "tab\t", "nl\n", "nul\0", "café:", "\u{7f}"] {
            assert!(
                MemcachedConfig::new(["a"])
                    .with_prefix(bad)
                    .validate()
                    .unwrap_err()
                    .is_config(),
                "{bad:?}"
            );
        }
        assert!(MemcachedConfig::new(["a"])
            .with_prefix("")
            .validate()
            .is_ok());
    }

    #[test]
    fn zero_settings_are_rejected() {
        let base = MemcachedConfig::new(["a"]);
        for bad in [
            base.clone().with_connect_timeout(Duration::ZERO),
            base.clone().with_response_timeout(Duration::ZERO),
            base.clone().with_max_connections(0),
            base.clone().with_max_item_size(0),
        ] {
            assert!(bad.validate().unwrap_err().is_config(), "{bad:?}");
        }
    }
}
