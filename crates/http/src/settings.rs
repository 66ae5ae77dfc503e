//! [`CookieSettings`]: Django's `SESSION_COOKIE_*` settings and `SESSION_SAVE_EVERY_REQUEST`.

use std::fmt;

use sessionkit_core::{ConfigUrl, Error, Result};

/// Where the errors of this crate say they come from.
pub(crate) const BACKEND: &str = "http";

/// The cookie's `SameSite` attribute (Django's `SESSION_COOKIE_SAMESITE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// `SameSite=Lax` (Django's default): sent on top-level navigations from other sites.
    Lax,
    /// `SameSite=Strict`: never sent on requests that another site starts.
    Strict,
    /// `SameSite=None`: sent on every request; browsers require `Secure` with it.
    None,
}

impl SameSite {
    /// The attribute's value as Django renders it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lax => "Lax",
            Self::Strict => "Strict",
            Self::None => "None",
        }
    }
}

impl fmt::Display for SameSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the session cookie is named, scoped and renewed: Django's settings of the same names.
///
/// | Django | here | default |
/// |---|---|---|
/// | `SESSION_COOKIE_NAME` | [`with_name`](Self::with_name) | `sessionid` |
/// | `SESSION_COOKIE_DOMAIN` | [`with_domain`](Self::with_domain) | none (the request's host) |
/// | `SESSION_COOKIE_PATH` | [`with_path`](Self::with_path) | `/` |
/// | `SESSION_COOKIE_SECURE` | [`with_secure`](Self::with_secure) | `false` |
/// | `SESSION_COOKIE_HTTPONLY` | [`with_http_only`](Self::with_http_only) | `true` |
/// | `SESSION_COOKIE_SAMESITE` | [`with_same_site`](Self::with_same_site) | `Some(Lax)`; `None` = no attribute (Django's `False`) |
/// | `SESSION_SAVE_EVERY_REQUEST` | [`with_save_every_request`](Self::with_save_every_request) | `false` |
///
/// `SESSION_COOKIE_AGE` and `SESSION_EXPIRE_AT_BROWSER_CLOSE` decide how long the stored
/// session lives too, so they are [`SessionConfig`](sessionkit_core::SessionConfig)'s, and the
/// cookie follows the session's own expiry.
///
/// [`check`](Self::check) refuses what a browser would silently drop: a name that is not a
/// cookie token, a domain or path with `;` or control characters, `SameSite=None` without
/// `Secure`, and the `__Secure-`/`__Host-` prefixes without what they require.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSettings {
    name: String,
    domain: Option<String>,
    path: String,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
    save_every_request: bool,
}

impl Default for CookieSettings {
    fn default() -> Self {
        Self::new()
    }
}

/// The URL parameters [`CookieSettings::take_from`] reads.
pub const URL_PARAMETERS: &[&str] = &[
    "cookie_name",
    "cookie_domain",
    "cookie_path",
    "cookie_secure",
    "cookie_httponly",
    "cookie_samesite",
    "save_every_request",
];

impl CookieSettings {
    /// Django's defaults.
    pub fn new() -> Self {
        Self {
            name: "sessionid".to_owned(),
            domain: None,
            path: "/".to_owned(),
            secure: false,
            http_only: true,
            same_site: Some(SameSite::Lax),
            save_every_request: false,
        }
    }

    /// The cookie's name (`SESSION_COOKIE_NAME`, default `sessionid`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The cookie's `Domain` (`SESSION_COOKIE_DOMAIN`, e.g. `.example.com` to share it with
    /// subdomains); `None` (the default) leaves it to the browser: the request's host only.
    pub fn with_domain(mut self, domain: Option<String>) -> Self {
        self.domain = domain;
        self
    }

    /// The cookie's `Path` (`SESSION_COOKIE_PATH`, default `/`).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Whether the cookie is only sent over HTTPS (`SESSION_COOKIE_SECURE`, default `false`).
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Whether scripts in the page cannot read the cookie (`SESSION_COOKIE_HTTPONLY`, default
    /// `true`).
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// The cookie's `SameSite` (`SESSION_COOKIE_SAMESITE`, default `Some(Lax)`); `None` sends
    /// no attribute.
    pub fn with_same_site(mut self, same_site: Option<SameSite>) -> Self {
        self.same_site = same_site;
        self
    }

    /// Whether every response renews the session and its cookie, not only those that changed
    /// it (`SESSION_SAVE_EVERY_REQUEST`, default `false`): a sliding expiry. An unchanged
    /// session is renewed with the store's `touch` (one expiry update), not rewritten.
    pub fn with_save_every_request(mut self, yes: bool) -> Self {
        self.save_every_request = yes;
        self
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cookie's `Domain`, if set.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The cookie's `Path`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the cookie is `Secure`.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Whether the cookie is `HttpOnly`.
    pub fn http_only(&self) -> bool {
        self.http_only
    }

    /// The cookie's `SameSite`, if any.
    pub fn same_site(&self) -> Option<SameSite> {
        self.same_site
    }

    /// Whether every response renews the session.
    pub fn save_every_request(&self) -> bool {
        self.save_every_request
    }

    /// Settings from the `cookie_*` and `save_every_request` parameters of a configuration URL
    /// (see [`URL_PARAMETERS`]), taking them out of `url` so the store's own parsing does not
    /// see them; what is absent keeps Django's default. `cookie_samesite` is `lax`, `strict`,
    /// `none` or `off` (no attribute). The result is [`check`](Self::check)ed.
    pub fn take_from(url: &mut ConfigUrl) -> Result<Self> {
        let mut s = Self::new();
        if let Some(name) = url.take("cookie_name") {
            s.name = name;
        }
        if let Some(domain) = url.take("cookie_domain") {
            s.domain = Some(domain).filter(|d| !d.is_empty());
        }
        if let Some(path) = url.take("cookie_path") {
            s.path = path;
        }
        if let Some(secure) = url.take_bool("cookie_secure")? {
            s.secure = secure;
        }
        if let Some(http_only) = url.take_bool("cookie_httponly")? {
            s.http_only = http_only;
        }
        if let Some(same_site) =
            url.take_choice("cookie_samesite", &["lax", "strict", "none", "off"])?
        {
            s.same_site = match same_site {
                "lax" => Some(SameSite::Lax),
                "strict" => Some(SameSite::Strict),
                "none" => Some(SameSite::None),
                _ => None,
            };
        }
        if let Some(every) = url.take_bool("save_every_request")? {
            s.save_every_request = every;
        }
        s.check()?;
        Ok(s)
    }

    /// Splits a deployment's one configuration URL into the store's URL and the cookie
    /// settings: the parameters of [`URL_PARAMETERS`] are taken out of `url`'s query (and
    /// [`check`](Self::check)ed), the rest is left, in order, for the store (which refuses what
    /// it does not know, by name). A `cookie://` URL keeps `cookie_name` too: the cookie store
    /// counts the name in its size limit.
    ///
    /// ```
    /// use sessionkit_http::CookieSettings;
    /// let (store_url, cookie) =
    ///     CookieSettings::split_url("redis://cache:6379/2?key_prefix=app:&cookie_secure=true&cookie_name=sid")?;
    /// assert_eq!(store_url, "redis://cache:6379/2?key_prefix=app:");
    /// assert!(cookie.secure());
    /// assert_eq!(cookie.name(), "sid");
    /// # Ok::<(), sessionkit_core::Error>(())
    /// ```
    pub fn split_url(url: &str) -> Result<(String, Self)> {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => return Ok((url.to_owned(), Self::new())),
        };
        let (query, fragment) = match query.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (query, None),
        };
        let keeps_name = base.starts_with("cookie://");
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let name = pair.split_once('=').map_or(pair, |(n, _)| n);
            let name = sessionkit_core::percent_decode(name).unwrap_or_else(|| name.to_owned());
            if URL_PARAMETERS.contains(&name.as_str()) {
                ours.push(pair);
                if keeps_name && name == "cookie_name" {
                    theirs.push(pair);
                }
            } else {
                theirs.push(pair);
            }
        }
        let mut settings_url = ConfigUrl::parse(BACKEND, &format!("http://?{}", ours.join("&")))?;
        let settings = Self::take_from(&mut settings_url)?;
        settings_url.finish(URL_PARAMETERS)?;
        let mut store_url = base.to_owned();
        if !theirs.is_empty() {
            store_url.push('?');
            store_url.push_str(&theirs.join("&"));
        }
        if let Some(fragment) = fragment {
            store_url.push('#');
            store_url.push_str(fragment);
        }
        Ok((store_url, settings))
    }

    /// Refuses settings a browser would reject or silently ignore, with a
    /// [`Config`](sessionkit_core::ErrorKind::Config) error saying what to change.
    pub fn check(&self) -> Result<()> {
        let refuse = |why: String| Err(Error::config(BACKEND, why));
        if self.name.is_empty() || !self.name.bytes().all(is_token_byte) {
            return refuse(format!(
                "cookie name {:?} is not a cookie token: use letters, digits and !#$%&'*+-.^_`|~",
                self.name
            ));
        }
        if let Some(domain) = &self.domain {
            if !domain.bytes().all(is_attribute_byte) {
                return refuse(format!(
                    "cookie domain {domain:?} holds ';' or a control character"
                ));
            }
        }
        if !self.path.starts_with('/') || !self.path.bytes().all(is_attribute_byte) {
            return refuse(format!(
                "cookie path {:?} must start with '/' and hold no ';' or control character",
                self.path
            ));
        }
        if self.same_site == Some(SameSite::None) && !self.secure {
            return refuse(
                "SameSite=None without Secure: browsers drop such a cookie; turn secure on \
                 (HTTPS) or use SameSite=Lax"
                    .to_owned(),
            );
        }
        if self.name.starts_with("__Secure-") && !self.secure {
            return refuse(format!(
                "a cookie named {:?} must be Secure (the __Secure- prefix)",
                self.name
            ));
        }
        if self.name.starts_with("__Host-")
            && (!self.secure || self.domain.is_some() || self.path != "/")
        {
            return refuse(format!(
                "a cookie named {:?} must be Secure, with Path=/ and no Domain (the __Host- prefix)",
                self.name
            ));
        }
        Ok(())
    }
}

/// RFC 6265 `token` (RFC 7230 `tchar`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What an attribute value may hold: visible ASCII and space, except `;`.
fn is_attribute_byte(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b';'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_djangos() {
        let s = CookieSettings::default();
        assert_eq!(s.name(), "sessionid");
        assert_eq!(s.domain(), None);
        assert_eq!(s.path(), "/");
        assert!(!s.secure());
        assert!(s.http_only());
        assert_eq!(s.same_site(), Some(SameSite::Lax));
        assert!(!s.save_every_request());
        s.check().unwrap();
    }

    #[test]
    fn check_refuses_what_browsers_drop() {
        let bad = [
            CookieSettings::new().with_name(""),
            CookieSettings::new().with_name("session id"),
            CookieSettings::new().with_name("a;b"),
            CookieSettings::new().with_domain(Some("a.com;x".into())),
            CookieSettings::new().with_path("app"),
            CookieSettings::new().with_path("/a\nb"),
            CookieSettings::new().with_same_site(Some(SameSite::None)),
            CookieSettings::new().with_name("__Secure-id"),
            CookieSettings::new()
                .with_name("__Host-id")
                .with_secure(true)
                .with_path("/app"),
            CookieSettings::new()
                .with_name("__Host-id")
                .with_secure(true)
                .with_domain(Some("a.com".into())),
        ];
        for s in bad {
            let e = s.check().unwrap_err();
            assert!(e.is_config(), "{s:?}: {e}");
        }
        for good in [
            CookieSettings::new()
                .with_same_site(Some(SameSite::None))
                .with_secure(true),
            CookieSettings::new()
                .with_name("__Host-id")
                .with_secure(true),
            CookieSettings::new()
                .with_name("__Secure-id")
                .with_secure(true),
            CookieSettings::new().with_same_site(None),
        ] {
            good.check().unwrap();
        }
    }

    #[test]
    fn url_parameters_are_taken_and_checked() {
        let mut url = ConfigUrl::parse(
            "redis",
            "redis://h/?cookie_name=sid&cookie_domain=.example.com&cookie_path=/app/&cookie_secure=1&cookie_httponly=false&cookie_samesite=Strict&save_every_request=on&db=2",
        )
        .unwrap();
        let s = CookieSettings::take_from(&mut url).unwrap();
        assert_eq!(
            s,
            CookieSettings::new()
                .with_name("sid")
                .with_domain(Some(".example.com".into()))
                .with_path("/app/")
                .with_secure(true)
                .with_http_only(false)
                .with_same_site(Some(SameSite::Strict))
                .with_save_every_request(true)
        );
        // The store's own parameter is left for the store.
        assert_eq!(url.take("db").as_deref(), Some("2"));
        url.finish(&[]).unwrap();

        let (store, s) = CookieSettings::split_url(
            "cached-db://?cache=redis%3A%2F%2Fh%2F&cookie_samesite=strict&db=sqlite%3A%2F%2F%2Ftmp%2Fs.db&save_every_request=1",
        )
        .unwrap();
        assert_eq!(
            store,
            "cached-db://?cache=redis%3A%2F%2Fh%2F&db=sqlite%3A%2F%2F%2Ftmp%2Fs.db"
        );
        assert_eq!(s.same_site(), Some(SameSite::Strict));
        assert!(s.save_every_request());
        let (store, s) = CookieSettings::split_url("locmem://").unwrap();
        assert_eq!((store.as_str(), s), ("locmem://", CookieSettings::new()));
        let (store, s) =
            CookieSettings::split_url("cookie://?secret_env=S&cookie_name=sid&cookie_path=/a/")
                .unwrap();
        assert_eq!(store, "cookie://?secret_env=S&cookie_name=sid");
        assert_eq!((s.name(), s.path()), ("sid", "/a/"));
        let (store, _) = CookieSettings::split_url("locmem://?bogus=1&cookie_secure=0").unwrap();
        assert_eq!(
            store, "locmem://?bogus=1",
            "unknown parameters are the store's to refuse"
        );
        assert!(CookieSettings::split_url("locmem://?cookie_secure=perhaps")
            .unwrap_err()
            .is_config());

        let mut off = ConfigUrl::parse("redis", "redis://h/?cookie_samesite=off").unwrap();
        assert_eq!(
            CookieSettings::take_from(&mut off).unwrap().same_site(),
            None
        );
        for bad in [
            "redis://h/?cookie_samesite=sometimes",
            "redis://h/?cookie_secure=maybe",
            "redis://h/?cookie_samesite=none",
            "redis://h/?cookie_name=a%20b",
        ] {
            let mut url = ConfigUrl::parse("redis", bad).unwrap();
            assert!(
                CookieSettings::take_from(&mut url).unwrap_err().is_config(),
                "{bad}"
            );
        }
    }
}
