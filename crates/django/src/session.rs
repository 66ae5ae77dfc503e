//! A Django session dict ⇄ sessionkit's values and [`Expiry`]: the `session_data` of a
//! `django_session` row (`SessionBase.encode`/`decode`), with Django's `_session_expiry`.

use serde_json::{Map, Value};
use sessionkit_core::{Data, Expiry, UnixTime};

use crate::json;
use crate::signing::{Refused, Signer};

/// Where Django keeps a session's own expiry inside its data.
pub const EXPIRY_KEY: &str = "_session_expiry";

/// The salt of `SessionBase.encode` (the `db` and `cached_db` engines' `session_data`).
pub const SESSION_SALT: &str = "django.contrib.sessions.SessionStore";

/// The salt of the `signed_cookies` engine's cookie value.
pub const SIGNED_COOKIES_SALT: &str = "django.contrib.sessions.backends.signed_cookies";

/// The `cache` engine's prefix before the session key (`cache_key_prefix` in Django).
pub const CACHE_KEY_PREFIX: &str = "django.contrib.sessions.cache";

/// The `cached_db` engine's prefix before the session key in the cache.
pub const CACHED_DB_KEY_PREFIX: &str = "django.contrib.sessions.cached_db";

/// The prefix a sessionkit cache store puts before the session key to use the very key
/// Django's cache framework makes for an engine's session: `default_key_func`, which is
/// `"<KEY_PREFIX>:<VERSION>:<engine prefix>"` — `":1:django.contrib.sessions.cache"` with
/// Django's defaults (`KEY_PREFIX = ""`, `VERSION = 1`).
///
/// ```
/// use sessionkit_django::session::{cache_key_prefix, CACHE_KEY_PREFIX};
/// assert_eq!(cache_key_prefix("", 1, CACHE_KEY_PREFIX), ":1:django.contrib.sessions.cache");
/// ```
pub fn cache_key_prefix(key_prefix: &str, version: i64, engine_prefix: &str) -> String {
    format!("{key_prefix}:{version}:{engine_prefix}")
}

/// Django's `_session_expiry` for `expiry`, or `None` when the session has no expiry of its
/// own: seconds of inactivity as an integer (`0`: at browser close), a fixed time as the ISO
/// string `datetime.isoformat()` writes for an aware UTC datetime.
pub fn expiry_to_django(expiry: Expiry) -> Option<Value> {
    match expiry {
        Expiry::Default => None,
        Expiry::AtBrowserClose => Some(Value::from(0)),
        Expiry::AfterInactivity(secs) => Some(Value::from(secs)),
        Expiry::At(t) => Some(Value::String(isoformat(t))),
    }
}

/// sessionkit's [`Expiry`] for Django's `_session_expiry` (`None`: absent). An integer is
/// that many seconds of inactivity (`0`: browser close); a string is an ISO datetime (Django
/// turns a `timedelta` into one when it is set), read with its offset — or as UTC without
/// one. Anything else is no expiry of its own.
pub fn expiry_from_django(value: Option<&Value>) -> Expiry {
    match value {
        Some(Value::Number(n)) => n.as_i64().map_or(Expiry::Default, Expiry::from_secs),
        Some(Value::String(s)) => parse_isoformat(s).map_or(Expiry::Default, Expiry::At),
        _ => Expiry::Default,
    }
}

/// The JSON Django's serializer writes for a session holding `data` and `expiry`.
pub fn session_json(data: &Data, expiry: Expiry) -> String {
    let mut out = String::new();
    let entries = session_entries(data, expiry);
    json::write_object(entries.iter().map(|(k, v)| (k, v)), &mut out);
    out
}

/// The entries of the session dict Django keeps for `data` and `expiry`, in order: the values,
/// then `_session_expiry` if the session has an expiry of its own.
pub(crate) fn session_entries(data: &Data, expiry: Expiry) -> Vec<(String, Value)> {
    data.iter()
        .filter(|(k, _)| *k != EXPIRY_KEY)
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .chain(expiry_to_django(expiry).map(|v| (EXPIRY_KEY.to_owned(), v)))
        .collect()
}

/// The values and expiry of a session dict Django wrote, or `None` if it is not a JSON object.
pub fn from_session_json(bytes: &[u8]) -> Option<(Data, Expiry)> {
    let Value::Object(map) = json::read(bytes)? else {
        return None;
    };
    Some(split_expiry(map))
}

pub(crate) fn split_expiry(mut map: Map<String, Value>) -> (Data, Expiry) {
    let expiry = expiry_from_django(map.get(EXPIRY_KEY));
    map.remove(EXPIRY_KEY);
    (map.into_iter().collect(), expiry)
}

/// `SessionBase.encode` / `decode` with a `SECRET_KEY` and its fallbacks: the `session_data`
/// of a `django_session` row.
#[derive(Debug, Clone)]
pub struct SessionData {
    signer: Signer,
}

impl SessionData {
    /// With `secret` (Django's `SECRET_KEY`) and `fallbacks` (`SECRET_KEY_FALLBACKS`).
    pub fn new<'a>(secret: &[u8], fallbacks: impl IntoIterator<Item = &'a [u8]>) -> Self {
        Self {
            signer: Signer::new(SESSION_SALT, secret, fallbacks),
        }
    }

    /// The signer (salt [`SESSION_SALT`]).
    pub(crate) fn signer(&self) -> &Signer {
        &self.signer
    }

    /// `encode(session_dict)` at `now`: signed, compressed when that is shorter.
    pub fn encode_at(&self, data: &Data, expiry: Expiry, now: UnixTime) -> String {
        self.signer
            .dumps_at(session_json(data, expiry).as_bytes(), true, now)
    }

    /// `decode(session_data)`: the values and expiry, or why it is no session (Django logs
    /// "Session data corrupted" for a bad signature and returns an empty session either way).
    pub fn decode(&self, session_data: &str) -> Result<(Data, Expiry), Refused> {
        // No max age: the row's `expire_date` decides.
        let (bytes, _) = self
            .signer
            .loads_at(session_data, None, UnixTime::from_secs(0))?;
        from_session_json(&bytes).ok_or(Refused::BadPayload)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of `days` since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `datetime.isoformat()` of `t` as an aware UTC datetime: `2030-01-02T03:04:05+00:00`.
pub fn isoformat(t: UnixTime) -> String {
    let secs = t.as_secs();
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `datetime.fromisoformat(s)` for the forms Django writes: `YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]]`
/// with an optional `Z` or `±HH:MM` offset (none: UTC), rounded down to the second.
pub fn parse_isoformat(s: &str) -> Option<UnixTime> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !matches!(b.get(10), Some(b'T' | b' '))
    {
        return None;
    }
    let (h, mi) = (num(11, 2)?, num(14, 2)?);
    if b.get(13) != Some(&b':') {
        return None;
    }
    let mut i = 16;
    let mut sec = 0;
    if b.get(i) == Some(&b':') {
        sec = num(i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    let offset = match &s[i..] {
        "" | "Z" => 0,
        rest => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            sign * (oh * 3600 + om * 60)
        }
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    if civil_from_days(days) != (y, mo, d) {
        return None; // 31 April, 29 February of a common year
    }
    Some(UnixTime::from_secs(
        days * 86_400 + h * 3600 + mi * 60 + sec - offset,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"django_tests_secret_key";
    const T: UnixTime = UnixTime::from_secs(1_700_000_000);

    fn data(v: Value) -> Data {
        match v {
            Value::Object(map) => map.into_iter().collect(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn session_data_matches_django_byte_for_byte() {
        let s = SessionData::new(SECRET, []);
        let name = data(json!({"name": "café ☕ 😀"}));
        assert_eq!(
            s.encode_at(&name, Expiry::Default, T),
            "eyJuYW1lIjoiY2FmXHUwMGU5IFx1MjYxNSBcdWQ4M2RcdWRlMDAifQ:1r31eq:\
             -afSbrUNbgt6VAFX9rk_LiIduuTat75SYe61rZDzC-g"
        );
        let at = parse_isoformat("2030-01-02T03:04:05+00:00").unwrap();
        assert_eq!(
            s.encode_at(&Data::new(), Expiry::At(at), T),
            "eyJfc2Vzc2lvbl9leHBpcnkiOiIyMDMwLTAxLTAyVDAzOjA0OjA1KzAwOjAwIn0:1r31eq:\
             pfL5Nkrm2q5QgVOzt1qLgR7IxDMKiVAPyTyIyCsZ9JM"
        );
        let (back, expiry) = s
            .decode("eyJuYW1lIjoiY2FmXHUwMGU5IFx1MjYxNSBcdWQ4M2RcdWRlMDAifQ:1r31eq:-afSbrUNbgt6VAFX9rk_LiIduuTat75SYe61rZDzC-g")
            .unwrap();
        assert_eq!(back.get("name"), Some(&json!("café ☕ 😀")));
        assert_eq!(expiry, Expiry::Default);
        assert_eq!(
            s.decode("bad:encoded:value").unwrap_err(),
            Refused::BadSignature
        );
    }

    #[test]
    fn signed_cookie_expiry_zero_is_browser_close() {
        let cookies = Signer::new(SIGNED_COOKIES_SALT, SECRET, []);
        let json = session_json(&Data::new(), Expiry::AtBrowserClose);
        assert_eq!(
            cookies.dumps_at(json.as_bytes(), true, T),
            "eyJfc2Vzc2lvbl9leHBpcnkiOjB9:1r31eq:VZy9EbAyO3CNWct36veKarXvXGL9I8mfPE57bsZu17E"
        );
        let (_, expiry) = from_session_json(json.as_bytes()).unwrap();
        assert_eq!(expiry, Expiry::AtBrowserClose);
    }

    #[test]
    fn expiry_maps_both_ways_with_djangos_meaning() {
        for expiry in [
            Expiry::Default,
            Expiry::AtBrowserClose,
            Expiry::AfterInactivity(3600),
            Expiry::AfterInactivity(-5),
            Expiry::At(UnixTime::from_secs(1_893_553_445)),
            Expiry::At(UnixTime::from_secs(0)),
        ] {
            let django = expiry_to_django(expiry);
            assert_eq!(expiry_from_django(django.as_ref()), expiry, "{django:?}");
        }
        assert_eq!(
            expiry_to_django(Expiry::At(UnixTime::from_secs(1_893_553_445))),
            Some(json!("2030-01-02T03:04:05+00:00"))
        );
        assert_eq!(expiry_from_django(Some(&json!([1]))), Expiry::Default);
    }

    #[test]
    fn isoformat_reads_what_django_and_python_write() {
        let t = UnixTime::from_secs(1_893_553_445);
        for s in [
            "2030-01-02T03:04:05+00:00",
            "2030-01-02T03:04:05.999999+00:00",
            "2030-01-02 03:04:05Z",
            "2030-01-02T03:04:05",
            "2030-01-02T05:04:05+02:00",
            "2030-01-01T22:04:05-05:00",
        ] {
            assert_eq!(parse_isoformat(s), Some(t), "{s}");
        }
        assert_eq!(
            parse_isoformat("2030-01-02T03:04"),
            Some(UnixTime::from_secs(1_893_553_440))
        );
        for bad in [
            "",
            "2030-02-30T00:00:00",
            "2029-02-29T00:00:00",
            "2030-13-01T00:00:00",
            "2030-01-02T24:00:00",
            "2030-01-02X03:04:05",
            "2030-01-02T03:04:05+0000",
            "2030-01-02T03:04:05.+00:00",
            "２０３０-01-02T03:04:05",
        ] {
            assert_eq!(parse_isoformat(bad), None, "{bad}");
        }
        assert_eq!(
            parse_isoformat("2028-02-29T00:00:00")
                .map(isoformat)
                .as_deref(),
            Some("2028-02-29T00:00:00+00:00")
        );
        assert_eq!(
            isoformat(UnixTime::from_secs(-1)),
            "1969-12-31T23:59:59+00:00"
        );
    }
}
