//! [`ConfigUrl`]: the one way every back end reads its configuration URL.
//!
//! Every back end is configured by one URL, `scheme://[user[:password]@]host[:port][,host...][/path][?name=value&...]`,
//! and every back end reads it with the same rules, written here once:
//!
//! - the scheme is compared without regard to case;
//! - the user, password, path and every query name and value are percent-decoded (`%41` is
//!   `A`; a `+` stays a `+`); a malformed escape or a result that is not UTF-8 is refused;
//! - every query parameter may appear once: a repeated one is refused;
//! - a parameter the back end does not know, or a part of the URL it does not use (a host, a
//!   path, a user, a `#fragment`), is refused, naming it and what is accepted;
//! - numbers are whole and, where zero would mean "nothing works", at least 1; durations are
//!   a whole number with a unit, `ms`, `s`, `m` or `h` (`500ms`, `5s`), a bare number being
//!   seconds;
//! - an error quotes at most a short prefix of what was given, and never the password.
//!
//! Every failure is an [`Error::is_config`](crate::Error::is_config) error.

use std::fmt::Write as _;
use std::str::FromStr;
use std::time::Duration;

use crate::{Error, Result};

/// How much of a user-supplied value an error message quotes.
const QUOTE_CHARS: usize = 40;

/// `s` as an error message quotes it: at most 40 characters, `…` if cut.
pub fn quote_short(s: &str) -> String {
    let mut shown: String = s.chars().take(QUOTE_CHARS).collect();
    if shown.len() < s.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// A configuration URL split by the shared rules (see the [module](self) docs): the back end
/// takes the parts and parameters it uses, then [`finish`](Self::finish) refuses whatever is
/// left.
///
/// ```
/// use std::time::Duration;
/// use sessionkit_core::ConfigUrl;
///
/// let mut url = ConfigUrl::parse("redis", "REDIS://:pa%40ss@h:6379/2?key_prefix=app%3A&response_timeout=250ms")?;
/// assert_eq!(url.scheme(), "redis");
/// assert_eq!(url.password(), Some("pa@ss"));
/// assert_eq!(url.path(), "2");
/// assert_eq!(url.take("key_prefix").as_deref(), Some("app:"));
/// assert_eq!(url.take_duration("response_timeout")?, Some(Duration::from_millis(250)));
/// url.finish(&["key_prefix", "response_timeout"])?;
/// # Ok::<(), sessionkit_core::Error>(())
/// ```
///
/// `Debug` hides the password.
#[derive(Clone)]
pub struct ConfigUrl {
    backend: &'static str,
    scheme: String,
    user: Option<String>,
    password: Option<String>,
    host: String,
    path: String,
    params: Vec<(String, String)>,
}

impl ConfigUrl {
    /// Splits `url`; `backend` names the back end in errors. Refuses a URL without
    /// `scheme://`, a `#fragment`, a malformed `%`-escape, an empty or repeated parameter name.
    pub fn parse(backend: &'static str, url: &str) -> Result<Self> {
        let err = |why: String| Err(Error::config(backend, why));
        let Some((scheme, rest)) = url.split_once("://") else {
            return err(format!(
                "{} is not a URL of the form scheme://...",
                quote_short(url)
            ));
        };
        if scheme.is_empty()
            || scheme.len() > 32
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return err(format!("{} is not a URL scheme", quote_short(scheme)));
        }
        if rest.contains('#') {
            return err("a URL #fragment is not used by any back end: remove it".to_owned());
        }
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], &before_query[i + 1..]),
            None => (before_query, ""),
        };
        let (userinfo, host) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let decode = |part: &str, what: &str| {
            percent_decode(part).ok_or_else(|| {
                Error::config(
                    backend,
                    format!(
                        "the {what} holds a malformed %-escape or is not UTF-8 once decoded \
                         (write % as %25)"
                    ),
                )
            })
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(decode(p, "password")?)),
                    None => (info, None),
                };
                let user = decode(user, "user name")?;
                ((!user.is_empty()).then_some(user), password)
            }
        };
        let mut params: Vec<(String, String)> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name, "query")?;
            let value = decode(value, &format!("value of {}", quote_short(&name)))?;
            if name.is_empty() {
                return err("a query parameter has no name (`=value`)".to_owned());
            }
            if params.iter().any(|(n, _)| *n == name) {
                return err(format!(
                    "the parameter {} is given twice: give it once",
                    quote_short(&name)
                ));
            }
            params.push((name, value));
        }
        Ok(Self {
            backend,
            scheme: scheme.to_ascii_lowercase(),
            user,
            password,
            host: decode(host, "host")?,
            path: decode(path, "path")?,
            params,
        })
    }

    /// The back end named in errors.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The scheme, lower case.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The user name, if the URL has one (percent-decoded).
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password, if the URL has one (percent-decoded).
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Everything between `//` (or the `@`) and the first `/`: `host[:port]`, or several
    /// separated by commas; empty if the URL has none.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The hosts of a comma-separated list, empty entries dropped.
    pub fn hosts(&self) -> Vec<&str> {
        self.host.split(',').filter(|h| !h.is_empty()).collect()
    }

    /// The path after the host, without its leading `/`, percent-decoded; empty if none.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Removes and returns the parameter `name`.
    pub fn take(&mut self, name: &str) -> Option<String> {
        let i = self.params.iter().position(|(n, _)| n == name)?;
        Some(self.params.remove(i).1)
    }

    /// Removes every parameter left, in the order given: for passing a driver's own
    /// parameters through after taking ours.
    pub fn take_rest(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.params)
    }

    /// Removes the parameter `name` and parses it with [`FromStr`]; `what` says what it must be
    /// ("a whole number").
    pub fn take_parsed<T: FromStr>(&mut self, name: &str, what: &str) -> Result<Option<T>> {
        match self.take(name) {
            None => Ok(None),
            Some(value) => value.parse().map(Some).map_err(|_| {
                Error::config(
                    self.backend,
                    format!("{name}={} is not {what}", quote_short(&value)),
                )
            }),
        }
    }

    /// Removes the parameter `name`: a whole number of at least 1.
    pub fn take_count<T: FromStr + TryFrom<u8> + PartialOrd>(
        &mut self,
        name: &str,
    ) -> Result<Option<T>> {
        let value = self.take_parsed::<T>(name, "a whole number")?;
        let one = T::try_from(1).ok();
        match value {
            Some(v) if one.as_ref().is_some_and(|one| v < *one) => Err(Error::config(
                self.backend,
                format!("{name} must be at least 1"),
            )),
            v => Ok(v),
        }
    }

    /// Removes the parameter `name`: a duration greater than zero (`500ms`, `5s`, `2m`, `1h`;
    /// a bare number is seconds).
    pub fn take_duration(&mut self, name: &str) -> Result<Option<Duration>> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        match parse_duration(&value) {
            Some(d) if !d.is_zero() => Ok(Some(d)),
            Some(_) => Err(Error::config(
                self.backend,
                format!("{name} must be greater than zero"),
            )),
            None => Err(Error::config(
                self.backend,
                format!(
                    "{name}={} is not a duration: write a whole number and a unit, ms, s, m or h \
                     (500ms, 5s)",
                    quote_short(&value)
                ),
            )),
        }
    }

    /// Removes the parameter `name`: `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    pub fn take_bool(&mut self, name: &str) -> Result<Option<bool>> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(Error::config(
                self.backend,
                format!("{name}={} is not true or false", quote_short(&value)),
            )),
        }
    }

    /// Removes the parameter `name`, which must be one of `choices`.
    pub fn take_choice(
        &mut self,
        name: &str,
        choices: &[&'static str],
    ) -> Result<Option<&'static str>> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        choices
            .iter()
            .find(|c| c.eq_ignore_ascii_case(&value))
            .copied()
            .map(Some)
            .ok_or_else(|| {
                Error::config(
                    self.backend,
                    format!(
                        "{name}={} is not one of {}",
                        quote_short(&value),
                        choices.join(", ")
                    ),
                )
            })
    }

    /// Refuses a scheme other than `schemes` (the first is the one named in the error).
    pub fn require_scheme(&self, schemes: &[&str]) -> Result<()> {
        if schemes.contains(&self.scheme.as_str()) {
            return Ok(());
        }
        Err(Error::config(
            self.backend,
            format!(
                "a {} URL starts with {}://, not {}://",
                self.backend,
                schemes.first().copied().unwrap_or("?"),
                self.scheme
            ),
        ))
    }

    /// Refuses a user name or password: for back ends that take no credentials in the URL.
    pub fn refuse_credentials(&self) -> Result<()> {
        if self.user.is_some() || self.password.is_some() {
            return Err(Error::config(
                self.backend,
                format!(
                    "{}:// takes no user name or password: remove the part before the @",
                    self.scheme
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a host: for back ends that have no server.
    pub fn refuse_host(&self) -> Result<()> {
        self.refuse_credentials()?;
        if !self.host.is_empty() {
            return Err(Error::config(
                self.backend,
                format!(
                    "{}:// takes no host ({} given): write {}://?...",
                    self.scheme,
                    quote_short(&self.host),
                    self.scheme
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a path.
    pub fn refuse_path(&self) -> Result<()> {
        if !self.path.is_empty() {
            return Err(Error::config(
                self.backend,
                format!(
                    "{}:// takes no path (/{} given)",
                    self.scheme,
                    quote_short(&self.path).trim_matches('"')
                ),
            ));
        }
        Ok(())
    }

    /// Refuses every parameter not taken yet, naming it and the `known` ones.
    pub fn finish(&self, known: &[&str]) -> Result<()> {
        match self.params.first() {
            None => Ok(()),
            Some((name, _)) => Err(Error::config(
                self.backend,
                format!(
                    "unknown parameter {} in a {}:// URL; known: {}",
                    quote_short(name),
                    self.scheme,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            )),
        }
    }
}

impl std::fmt::Debug for ConfigUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigUrl")
            .field("scheme", &self.scheme)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("host", &self.host)
            .field("path", &self.path)
            .field("params", &self.params)
            .finish()
    }
}

/// `500ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits == 0 {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    let secs = |factor: u64| n.checked_mul(factor).map(Duration::from_secs);
    match &s[digits..] {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        _ => None,
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes everything but ASCII letters, digits and `-._~` as `%XX`: for putting a decoded
/// part back into a URL another library parses.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<ConfigUrl> {
        ConfigUrl::parse("test", url)
    }

    #[test]
    fn parts_are_split_and_decoded() {
        let u = parse("X+Y://us%65r:p%3Aw@h1:1,h2:2/a%41/b?n%61me=v%26w&flag=").unwrap();
        assert_eq!(u.scheme(), "x+y");
        assert_eq!(u.user(), Some("user"));
        assert_eq!(u.password(), Some("p:w"));
        assert_eq!(u.host(), "h1:1,h2:2");
        assert_eq!(u.hosts(), ["h1:1", "h2:2"]);
        assert_eq!(u.path(), "aA/b");
        let mut u = u;
        assert_eq!(u.take("name").as_deref(), Some("v&w"));
        assert_eq!(u.take("flag").as_deref(), Some(""));
        assert_eq!(u.take("flag"), None);
        u.finish(&[]).unwrap();
        let u = parse("s://").unwrap();
        assert_eq!((u.host(), u.path(), u.user()), ("", "", None));
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for bad in [
            "",
            "nothing",
            "://x",
            "a b://x",
            "s://x#frag",
            "s://x?a=1&a=2",
            "s://x?=1",
            "s://x/%zz",
            "s://x?a=%",
            "s://x?a=%ff",
            "s://u:%e2%82@x",
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(err.is_config(), "{bad}: {err}");
        }
    }

    #[test]
    fn leftovers_and_unused_parts_are_refused_by_name() {
        let mut u = parse("s://?a=1&foo=2").unwrap();
        u.take("a");
        let err = u.finish(&["a", "b"]).unwrap_err().to_string();
        assert!(
            err.contains("\"foo\"") && err.contains("known: a, b"),
            "{err}"
        );
        assert!(parse("s://host").unwrap().refuse_host().is_err());
        assert!(parse("s://u@").unwrap().refuse_host().is_err());
        assert!(parse("s://").unwrap().refuse_host().is_ok());
        assert!(parse("s:///p").unwrap().refuse_path().is_err());
        assert!(parse("s:///").unwrap().refuse_path().is_ok());
    }

    #[test]
    fn values_are_checked() {
        let mut u = parse(
            "s://?n=0&m=12&d=250ms&e=0s&f=5&g=soon&b=yes&c=Encrypted&big=99999999999999999999",
        )
        .unwrap();
        assert!(u.take_count::<usize>("n").is_err());
        assert_eq!(u.take_count::<usize>("m").unwrap(), Some(12));
        assert_eq!(
            u.take_duration("d").unwrap(),
            Some(Duration::from_millis(250))
        );
        assert!(u.take_duration("e").is_err());
        assert_eq!(u.take_duration("f").unwrap(), Some(Duration::from_secs(5)));
        assert!(u.take_duration("g").is_err());
        assert_eq!(u.take_bool("b").unwrap(), Some(true));
        assert_eq!(
            u.take_choice("c", &["signed", "encrypted"]).unwrap(),
            Some("encrypted")
        );
        assert!(u.take_count::<u32>("big").is_err());
        assert_eq!(u.take_count::<u32>("absent").unwrap(), None);
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("1.5s"), None);
    }

    #[test]
    fn errors_quote_a_short_prefix_and_never_the_password() {
        let long = "x".repeat(100_000);
        let mut u = parse(&format!("s://:hunter2@h?n={long}&{long}=1")).unwrap();
        let err = u.take_count::<usize>("n").unwrap_err().to_string();
        assert!(err.len() < 200, "{} bytes", err.len());
        let err = u.clone().finish(&[]).unwrap_err().to_string();
        assert!(err.len() < 200, "{} bytes", err.len());
        assert!(!format!("{u:?}").contains("hunter2"));
        let err = parse(&format!("{long}://x")).unwrap_err().to_string();
        assert!(err.len() < 200, "{} bytes", err.len());
    }

    #[test]
    fn percent_coding_round_trips() {
        assert_eq!(percent_decode("a%26b%3D%25").as_deref(), Some("a&b=%"));
        for bad in ["%", "%2", "%zz", "%ff", "%e2%82", "%+1"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
        let s = "p@ss:w/rd?&=% ü";
        assert_eq!(percent_decode(&percent_encode(s)).as_deref(), Some(s));
        assert_eq!(percent_encode("a-b_c.d~"), "a-b_c.d~");
    }
}
