//! [`CookieConfig`]: the secret, the protection mode and the size budget of a [`CookieStore`].
//!
//! [`CookieStore`]: crate::CookieStore

use std::fmt;
use std::time::Duration;

use sessionkit_core::{quote_short, ConfigUrl, Error, Result, DEFAULT_COOKIE_AGE};

/// The shortest secret accepted, in bytes. A secret is the only thing standing between a client
/// and a forged session, so it must be long and random: 32 bytes of a CSPRNG at least (Django's
/// generated `SECRET_KEY`s are 50 characters).
pub const MIN_SECRET_LEN: usize = 32;

/// How many bytes a browser is guaranteed to keep for one cookie: name, value and attributes
/// together (RFC 6265 §6.1). Browsers silently drop larger cookies.
pub const BROWSER_COOKIE_LIMIT: usize = 4096;

/// The default cookie name, Django's `SESSION_COOKIE_NAME`.
pub const DEFAULT_COOKIE_NAME: &str = "sessionid";

/// The default room kept for the cookie's attributes (`; Expires=…; Max-Age=…; Domain=…;
/// Path=/; Secure; HttpOnly; SameSite=Lax` takes about 110 bytes with a short domain).
pub const DEFAULT_ATTRIBUTE_BUDGET: usize = 128;

/// The default key-derivation salt: keys derived with it sign and encrypt session cookies and
/// nothing else.
pub const DEFAULT_SALT: &str = "sessionkit.cookie.session";

/// The default bound on a compressed record's inflated size (64 KiB).
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 * 1024;

/// The smallest room for the value that a configuration may leave (name and attribute budget
/// subtracted from the size limit).
const MIN_VALUE_ROOM: usize = 128;

/// How the session travels in the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Protection {
    /// Signed with HMAC-SHA256: the client cannot change the session, but can read it (it is
    /// only base64-encoded). Values start with `s1.`. Django's `signed_cookies` back end.
    #[default]
    Signed,
    /// Encrypted and authenticated with AES-256-GCM (a random 96-bit nonce per value): the
    /// client can neither read nor change the session. Values start with `e1.`.
    Encrypted,
}

/// When a record is deflate-compressed before it is signed or encrypted.
///
/// Whatever the setting, compression is decided per value and marked inside it, and every
/// store reads compressed and uncompressed values alike, so changing this setting logs nobody
/// out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// Never compress.
    Never,
    /// Compress only a record that would not fit in the size limit otherwise (the default for
    /// [`Protection::Signed`]). Sessions that fit pay nothing; larger ones still fit when they
    /// compress well.
    WhenNeeded,
    /// Compress every record of 64 bytes or more whenever that makes it smaller (Django's
    /// `compress=True`): the smallest cookies, sent with every request, for about 10 µs more
    /// per save and a few µs per load.
    WhenSmaller,
}

/// A secret: bytes that are never shown by `Debug`.
#[derive(Clone)]
pub(crate) struct Secret(Vec<u8>);

impl Secret {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes, redacted)", self.0.len())
    }
}

/// The query parameters of a `cookie://` URL.
pub const URL_PARAMETERS: [&str; 10] = [
    "secret_env",
    "fallback_env",
    "protection",
    "compression",
    "max_age",
    "salt",
    "cookie_name",
    "attribute_budget",
    "size_limit",
    "max_decompressed_size",
];

/// The back end's name in errors.
const BACKEND: &str = "cookie";

/// The settings of a [`CookieStore`](crate::CookieStore): built here, checked by
/// [`CookieStore::new`](crate::CookieStore::new).
///
/// ```
/// use std::time::Duration;
/// use sessionkit_cookie::{CookieConfig, CookieStore, Protection};
///
/// # fn main() -> sessionkit_core::Result<()> {
/// let config = CookieConfig::new("a long random secret from your secret store, 32+ bytes")
///     // The previous secret still verifies existing cookies (rotation without logging out).
///     .with_fallback_secret("the previous secret, kept until its cookies expire")
///     .with_protection(Protection::Encrypted)
///     .with_max_age(Duration::from_secs(14 * 24 * 3600));
/// let store = CookieStore::new(config)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CookieConfig {
    pub(crate) secret: Secret,
    pub(crate) fallbacks: Vec<Secret>,
    pub(crate) protection: Protection,
    pub(crate) compression: Option<Compression>,
    pub(crate) max_age: Duration,
    pub(crate) salt: String,
    pub(crate) cookie_name: String,
    pub(crate) attribute_budget: usize,
    pub(crate) size_limit: usize,
    pub(crate) max_decompressed: usize,
}

impl CookieConfig {
    /// Signed cookies (see [`Protection`]) keyed by `secret`, with Django's defaults: a
    /// two-week maximum age, the cookie name `sessionid`, the browser's 4,096-byte limit with
    /// 128 bytes kept for attributes.
    ///
    /// `secret` must be at least [`MIN_SECRET_LEN`] bytes of randomness (checked by
    /// [`CookieStore::new`](crate::CookieStore::new)). It is never used directly: the store
    /// derives one key per purpose from it (HKDF-SHA256 with the [salt](Self::with_salt)).
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self {
            secret: Secret(secret.as_ref().to_vec()),
            fallbacks: Vec::new(),
            protection: Protection::default(),
            compression: None,
            max_age: DEFAULT_COOKIE_AGE,
            salt: DEFAULT_SALT.to_owned(),
            cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
            attribute_budget: DEFAULT_ATTRIBUTE_BUDGET,
            size_limit: BROWSER_COOKIE_LIMIT,
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
        }
    }

    /// Every setting from a `cookie://` URL, read by the shared rules of [`ConfigUrl`]:
    /// `cookie://?secret_env=VAR[&fallback_env=VAR,VAR...][&protection=signed|encrypted]
    /// [&compression=never|when_needed|when_smaller][&max_age=D][&salt=S][&cookie_name=N]
    /// [&attribute_budget=BYTES][&size_limit=BYTES][&max_decompressed_size=BYTES]`.
    ///
    /// Secrets never appear in the URL: `secret_env` and `fallback_env` name the environment
    /// variables that hold them (fallbacks tried in the order listed). `max_age` (a duration:
    /// `3600s`, `336h`) defaults to `default_max_age`, the sessions' cookie age. A host, path, unknown or repeated parameter, or a variable that is not set,
    /// is a [`Config`](sessionkit_core::ErrorKind::Config) error naming it (never its value).
    ///
    /// ```
    /// use std::time::Duration;
    /// use sessionkit_cookie::{CookieConfig, CookieStore};
    /// # std::env::set_var("APP_COOKIE_SECRET", "a random secret of at least 32 bytes, from a vault");
    /// let config = CookieConfig::from_url(
    ///     "cookie://?secret_env=APP_COOKIE_SECRET&protection=encrypted",
    ///     Duration::from_secs(3600),
    /// )?;
    /// let store = CookieStore::new(config)?;
    /// # Ok::<(), sessionkit_core::Error>(())
    /// ```
    pub fn from_url(url: &str, default_max_age: Duration) -> Result<Self> {
        let mut u = ConfigUrl::parse(BACKEND, url)?;
        u.require_scheme(&["cookie"])?;
        u.refuse_host()?;
        u.refuse_path()?;
        let secret_of = |var: &str| {
            std::env::var(var).map_err(|_| {
                Error::config(
                    BACKEND,
                    format!(
                        "the environment variable {} named by the URL is not set (or not UTF-8)",
                        quote_short(var)
                    ),
                )
            })
        };
        let Some(var) = u.take("secret_env") else {
            return Err(Error::config(
                BACKEND,
                "cookie:// needs secret_env=VAR naming the environment variable that holds the secret",
            ));
        };
        let mut config = Self::new(secret_of(&var)?);
        if let Some(vars) = u.take("fallback_env") {
            for var in vars.split(',').filter(|v| !v.is_empty()) {
                config = config.with_fallback_secret(secret_of(var)?);
            }
        }
        if let Some(p) = u.take_choice("protection", &["signed", "encrypted"])? {
            config = config.with_protection(if p == "signed" {
                Protection::Signed
            } else {
                Protection::Encrypted
            });
        }
        if let Some(c) = u.take_choice("compression", &["never", "when_needed", "when_smaller"])? {
            config = config.with_compression(match c {
                "never" => Compression::Never,
                "when_needed" => Compression::WhenNeeded,
                _ => Compression::WhenSmaller,
            });
        }
        config = config.with_max_age(u.take_duration("max_age")?.unwrap_or(default_max_age));
        if let Some(salt) = u.take("salt") {
            config = config.with_salt(salt);
        }
        if let Some(name) = u.take("cookie_name") {
            config = config.with_cookie_name(name);
        }
        if let Some(n) = u.take_count("attribute_budget")? {
            config = config.with_attribute_budget(n);
        }
        if let Some(n) = u.take_count("size_limit")? {
            config = config.with_size_limit(n);
        }
        if let Some(n) = u.take_count("max_decompressed_size")? {
            config = config.with_max_decompressed_size(n);
        }
        u.finish(&URL_PARAMETERS)?;
        Ok(config)
    }

    /// Adds a secret accepted for verification (and decryption) only, tried after the main
    /// secret, in the order added (Django's `SECRET_KEY_FALLBACKS`). Rotation: make the new
    /// secret the main one and the old one a fallback; remove the fallback once every cookie it
    /// signed has expired ([max age](Self::with_max_age) later).
    #[must_use]
    pub fn with_fallback_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.fallbacks.push(Secret(secret.as_ref().to_vec()));
        self
    }

    /// How new cookies are protected (default [`Protection::Signed`]). Either mode reads
    /// values of both modes it can verify, so switching logs nobody out: each cookie is
    /// re-issued in the new mode on its next save.
    #[must_use]
    pub fn with_protection(mut self, protection: Protection) -> Self {
        self.protection = protection;
        self
    }

    /// When records are compressed. Default: [`Compression::WhenNeeded`] for signed cookies,
    /// [`Compression::Never`] for encrypted ones, because the length of a compressed encrypted
    /// value tells an observer how well its contents compress (a CRIME/BREACH-style side
    /// channel when attacker-chosen data sits next to secrets in one session).
    #[must_use]
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// The longest a cookie is accepted after it was issued (saved), whatever expiry the
    /// session itself asked for (Django's `SESSION_COOKIE_AGE` as `max_age`; default two
    /// weeks, whole seconds). A session's own shorter expiry
    /// ([`Session::set_expiry`](sessionkit_core::Session::set_expiry)) is enforced too. Set it
    /// at least as long as the longest expiry your sessions use.
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The key-derivation salt (Django's `key_salt`): stores with different salts cannot read
    /// each other's cookies even with the same secret. Default [`DEFAULT_SALT`].
    #[must_use]
    pub fn with_salt(mut self, salt: impl Into<String>) -> Self {
        self.salt = salt.into();
        self
    }

    /// The cookie's name, counted in the size limit (default `sessionid`). It must be an
    /// RFC 6265 token: visible ASCII without separators.
    #[must_use]
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Bytes kept for the cookie's attributes (`Expires`, `Max-Age`, `Domain`, `Path`,
    /// `Secure`, `HttpOnly`, `SameSite`, with their `; ` separators). Default
    /// [`DEFAULT_ATTRIBUTE_BUDGET`].
    #[must_use]
    pub fn with_attribute_budget(mut self, bytes: usize) -> Self {
        self.attribute_budget = bytes;
        self
    }

    /// The most bytes one cookie may take, name, `=`, value and attributes together. Default
    /// [`BROWSER_COOKIE_LIMIT`]; raise it only if every client you serve accepts more.
    #[must_use]
    pub fn with_size_limit(mut self, bytes: usize) -> Self {
        self.size_limit = bytes;
        self
    }

    /// The most bytes a compressed record may inflate to (default 64 KiB). Values are verified
    /// before they are inflated, so only a holder of the secret could send a "zip bomb"; the
    /// bound makes sure even that cannot exhaust memory.
    #[must_use]
    pub fn with_max_decompressed_size(mut self, bytes: usize) -> Self {
        self.max_decompressed = bytes;
        self
    }

    /// The compression setting in force: the one chosen, or the default for the protection.
    pub(crate) fn effective_compression(&self) -> Compression {
        self.compression.unwrap_or(match self.protection {
            Protection::Signed => Compression::WhenNeeded,
            Protection::Encrypted => Compression::Never,
        })
    }

    /// Checks every setting; the first problem is a [`Config`](sessionkit_core::ErrorKind::Config)
    /// error naming it.
    pub(crate) fn validate(&self) -> Result<()> {
        check_secret("secret", &self.secret)?;
        for (i, fallback) in self.fallbacks.iter().enumerate() {
            check_secret(&format!("fallback secret #{}", i + 1), fallback)?;
        }
        if self.max_age.as_secs() == 0 || i64::try_from(self.max_age.as_secs()).is_err() {
            return Err(Error::config(
                "cookie",
                format!(
                    "max_age must be between 1 second and {} seconds, got {:?}",
                    i64::MAX,
                    self.max_age
                ),
            ));
        }
        if self.cookie_name.is_empty() || !self.cookie_name.bytes().all(is_token_byte) {
            return Err(Error::config(
                "cookie",
                format!(
                    "cookie name {:?} is not an RFC 6265 token (visible ASCII without \
                     separators such as `=`, `;`, `,` or spaces)",
                    self.cookie_name
                ),
            ));
        }
        let reserved = self
            .cookie_name
            .len()
            .saturating_add(1)
            .saturating_add(self.attribute_budget);
        let room = self.size_limit.saturating_sub(reserved);
        if room < MIN_VALUE_ROOM {
            return Err(Error::config(
                "cookie",
                format!(
                    "size limit {} minus cookie name {} + 1 and attribute budget {} leaves {room} \
                     bytes for the value; at least {MIN_VALUE_ROOM} are needed",
                    self.size_limit,
                    self.cookie_name.len(),
                    self.attribute_budget
                ),
            ));
        }
        if self.max_decompressed == 0 {
            return Err(Error::config(
                "cookie",
                "max_decompressed_size must be at least 1 byte",
            ));
        }
        Ok(())
    }
}

fn check_secret(what: &str, secret: &Secret) -> Result<()> {
    let len = secret.as_bytes().len();
    if len < MIN_SECRET_LEN {
        return Err(Error::config(
            "cookie",
            format!(
                "the {what} is {len} bytes; at least {MIN_SECRET_LEN} random bytes are required \
                 (generate one with a CSPRNG and keep it in your secret store)"
            ),
        ));
    }
    Ok(())
}

/// RFC 6265 / RFC 2616 `token` characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_graphic()
        && !matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
                | b'{'
                | b'}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn short_secrets_are_config_errors() {
        let err = CookieConfig::new("too short").validate().unwrap_err();
        assert!(err.is_config(), "{err:?}");
        assert!(err.to_string().contains("9 bytes"), "{err}");
        let err = CookieConfig::new([7u8; 31]).validate().unwrap_err();
        assert!(err.is_config());
        CookieConfig::new([7u8; 32]).validate().unwrap();
        let err = CookieConfig::new(SECRET)
            .with_fallback_secret("short")
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("fallback secret #1"), "{err}");
    }

    #[test]
    fn other_settings_are_checked() {
        for bad in [
            CookieConfig::new(SECRET).with_max_age(Duration::ZERO),
            CookieConfig::new(SECRET).with_max_age(Duration::from_millis(999)),
            CookieConfig::new(SECRET).with_max_age(Duration::MAX),
            CookieConfig::new(SECRET).with_cookie_name(""),
            CookieConfig::new(SECRET).with_cookie_name("session id"),
            CookieConfig::new(SECRET).with_cookie_name("a=b"),
            CookieConfig::new(SECRET).with_cookie_name("é"),
            CookieConfig::new(SECRET).with_attribute_budget(4000),
            CookieConfig::new(SECRET).with_size_limit(100),
            CookieConfig::new(SECRET).with_max_decompressed_size(0),
        ] {
            let err = bad.validate().unwrap_err();
            assert!(err.is_config(), "{bad:?}: {err:?}");
        }
        CookieConfig::new(SECRET)
            .with_cookie_name("__Host-session")
            .validate()
            .unwrap();
    }

    #[test]
    fn debug_never_shows_secrets() {
        let text = format!(
            "{:?}",
            CookieConfig::new(SECRET).with_fallback_secret(SECRET)
        );
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }

    #[test]
    fn compression_defaults_follow_protection() {
        let c = CookieConfig::new(SECRET);
        assert_eq!(c.effective_compression(), Compression::WhenNeeded);
        let c = c.with_protection(Protection::Encrypted);
        assert_eq!(c.effective_compression(), Compression::Never);
        let c = c.with_compression(Compression::WhenSmaller);
        assert_eq!(c.effective_compression(), Compression::WhenSmaller);
    }
}
