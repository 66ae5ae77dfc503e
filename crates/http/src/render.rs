//! Headers as Django writes and reads them: `Set-Cookie` for a session and for its deletion,
//! `Vary` patching, HTTP dates, and the session cookie of a request.

use http::header::{COOKIE, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderValue};

use crate::settings::{CookieSettings, SameSite};

/// The `Expires` of a deletion cookie.
pub const EPOCH_HTTP_DATE: &str = "Thu, 01 Jan 1970 00:00:00 GMT";

/// An HTTP date (RFC 9110 IMF-fixdate, Python's `formatdate(usegmt=True)`) of a Unix time in
/// seconds: `Tue, 28 Nov 2023 22:13:20 GMT`. Times before 1970 render as 1970.
pub fn http_date(unix_secs: i64) -> String {
    let mut out = String::with_capacity(29);
    push_http_date(&mut out, unix_secs);
    out
}

thread_local! {
    /// The last date rendered on this thread: most responses of a second share one.
    static LAST_DATE: std::cell::RefCell<(i64, String)> =
        const { std::cell::RefCell::new((i64::MIN, String::new())) };
}

/// Appends [`http_date`]`(unix_secs)` to `out`, rendering it only when it differs from the last
/// one this thread rendered.
fn push_http_date(out: &mut String, unix_secs: i64) {
    LAST_DATE.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != unix_secs {
            *last = (unix_secs, render_http_date(unix_secs));
        }
        out.push_str(&last.1);
    });
}

fn render_http_date(unix_secs: i64) -> String {
    let secs = unix_secs.max(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Year, month (1–12) and day (1–31) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The `Set-Cookie` value that stores `value` (the session key, or a cookie session's sealed
/// value), exactly as Django's `response.set_cookie` renders it: attributes in Python's
/// `Morsel` order (Domain, expires, HttpOnly, Max-Age, Path, SameSite, Secure). `max_age`
/// `None` is a browser-session cookie (no `expires`, no `Max-Age`); `now` is the Unix time the
/// `expires` counts from.
pub fn set_cookie(
    settings: &CookieSettings,
    value: &str,
    max_age: Option<i64>,
    now: i64,
) -> String {
    let mut out = String::with_capacity(160 + value.len());
    out.push_str(settings.name());
    out.push('=');
    out.push_str(value);
    if let Some(domain) = settings.domain() {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    if let Some(age) = max_age {
        out.push_str("; expires=");
        push_http_date(&mut out, now.saturating_add(age));
    }
    if settings.http_only() {
        out.push_str("; HttpOnly");
    }
    if let Some(age) = max_age {
        use std::fmt::Write as _;
        let _ = write!(out, "; Max-Age={age}");
    }
    push_path_same_site(&mut out, settings);
    if settings.secure() {
        out.push_str("; Secure");
    }
    out
}

/// The `Set-Cookie` value that deletes the session cookie, exactly as Django's
/// `response.delete_cookie(name, path, domain, samesite)`: an empty quoted value, `Max-Age=0`,
/// the 1970 `expires`; `Secure` only for a `__Secure-`/`__Host-` name or `SameSite=None` (not
/// for `SESSION_COOKIE_SECURE`), and never `HttpOnly`.
pub fn delete_cookie(settings: &CookieSettings) -> String {
    let mut out = format!("{}=\"\"", settings.name());
    if let Some(domain) = settings.domain() {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    out.push_str("; expires=");
    out.push_str(EPOCH_HTTP_DATE);
    out.push_str("; Max-Age=0");
    push_path_same_site(&mut out, settings);
    let name = settings.name();
    if name.starts_with("__Secure-")
        || name.starts_with("__Host-")
        || settings.same_site() == Some(SameSite::None)
    {
        out.push_str("; Secure");
    }
    out
}

fn push_path_same_site(out: &mut String, settings: &CookieSettings) {
    out.push_str("; Path=");
    out.push_str(settings.path());
    if let Some(same_site) = settings.same_site() {
        out.push_str("; SameSite=");
        out.push_str(same_site.as_str());
    }
}

/// Appends a `Set-Cookie` header (never replacing the handler's own cookies).
pub fn append_set_cookie(headers: &mut HeaderMap, value: &str) {
    // Our renderings hold only visible ASCII: the settings are checked, keys are [a-z0-9],
    // sealed cookie values base64url.
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.append(SET_COOKIE, v);
    }
}

/// Django's `patch_vary_headers(response, ("Cookie",))`: appends `Cookie` to `Vary` unless it
/// is there already (in any case), keeping the existing values and their order in one header;
/// a `*` stays `*`.
pub fn patch_vary_cookie(headers: &mut HeaderMap) {
    // The common case, a response with no `Vary` yet: no parsing, no allocation.
    if !headers.contains_key(VARY) {
        headers.insert(VARY, HeaderValue::from_static("Cookie"));
        return;
    }
    let existing: Vec<String> = headers
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    let value = if existing.iter().any(|v| v == "*") {
        "*".to_owned()
    } else if existing.iter().any(|v| v.eq_ignore_ascii_case("cookie")) {
        return;
    } else {
        let mut all = existing;
        all.push("Cookie".to_owned());
        all.join(", ")
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(VARY, v);
    }
}

/// The value of the cookie `name` in a request's `Cookie` headers, read as Django's
/// `parse_cookie` does: pairs split on `;`, whitespace trimmed, surrounding double quotes
/// removed; when the name repeats, the last one wins. `None` when absent.
pub fn request_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    // On bytes, without checking the whole header first: only the value taken must be text a
    // header may hold (visible ASCII, spaces, tabs); a pair that is not is skipped.
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        for pair in header.as_bytes().split(|&b| b == b';') {
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (&b""[..], pair),
            };
            if key.trim_ascii() != name.as_bytes() {
                continue;
            }
            let value = value.trim_ascii();
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value);
            if let Some(text) = std::str::from_utf8(value)
                .ok()
                .filter(|v| v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
            {
                found = Some(text.to_owned());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), EPOCH_HTTP_DATE);
        // The reference's example: 1700000000 + 1209600.
        assert_eq!(
            http_date(1_700_000_000 + 1_209_600),
            "Tue, 28 Nov 2023 22:13:20 GMT"
        );
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        // Checked against Python's email.utils.formatdate(t, usegmt=True).
        assert_eq!(http_date(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
        assert_eq!(http_date(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 GMT");
        assert_eq!(http_date(-5), EPOCH_HTTP_DATE);
    }

    #[test]
    fn renderings_are_djangos_byte_for_byte() {
        let now = 1_700_000_000;
        let key = "abcdefghijklmnopqrstuvwxyz012345";
        let default = CookieSettings::new();
        assert_eq!(
            set_cookie(&default, key, Some(1_209_600), now),
            format!("sessionid={key}; expires=Tue, 28 Nov 2023 22:13:20 GMT; HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax")
        );
        assert_eq!(
            set_cookie(&default, key, None, now),
            format!("sessionid={key}; HttpOnly; Path=/; SameSite=Lax")
        );
        assert_eq!(
            delete_cookie(&default),
            "sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax"
        );
        let cross_site = CookieSettings::new()
            .with_domain(Some(".example.com".into()))
            .with_path("/app/")
            .with_same_site(Some(SameSite::None))
            .with_secure(true);
        assert_eq!(
            set_cookie(&cross_site, key, Some(1_209_600), now),
            format!("sessionid={key}; Domain=.example.com; expires=Tue, 28 Nov 2023 22:13:20 GMT; HttpOnly; Max-Age=1209600; Path=/app/; SameSite=None; Secure")
        );
        assert_eq!(
            delete_cookie(&cross_site),
            "sessionid=\"\"; Domain=.example.com; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/app/; SameSite=None; Secure"
        );
        // Django test 109.
        let custom = CookieSettings::new()
            .with_domain(Some(".example.local".into()))
            .with_path("/example/");
        assert_eq!(
            delete_cookie(&custom),
            "sessionid=\"\"; Domain=.example.local; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/example/; SameSite=Lax"
        );
        // SESSION_COOKIE_SECURE alone does not make the deletion Secure; the prefix does.
        assert!(!delete_cookie(&CookieSettings::new().with_secure(true)).contains("Secure"));
        let host = CookieSettings::new()
            .with_name("__Host-sid")
            .with_secure(true);
        assert!(delete_cookie(&host).ends_with("; Secure"));
        // No HttpOnly (test 104), no SameSite attribute, a negative age as Django emits it.
        let plain = CookieSettings::new()
            .with_http_only(false)
            .with_same_site(None);
        assert_eq!(
            set_cookie(&plain, key, Some(-10), now),
            format!("sessionid={key}; expires=Tue, 14 Nov 2023 22:13:10 GMT; Max-Age=-10; Path=/")
        );
    }

    fn vary_after(values: &[&str]) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(VARY, HeaderValue::from_str(v).unwrap());
        }
        patch_vary_cookie(&mut headers);
        headers
            .get_all(VARY)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn vary_is_patched_as_django_does() {
        assert_eq!(vary_after(&[]), ["Cookie"]);
        assert_eq!(
            vary_after(&["Accept-Encoding"]),
            ["Accept-Encoding, Cookie"]
        );
        assert_eq!(
            vary_after(&["Accept-Encoding, cookie"]),
            ["Accept-Encoding, cookie"]
        );
        assert_eq!(
            vary_after(&["Accept", "Origin"]),
            ["Accept, Origin, Cookie"]
        );
        assert_eq!(vary_after(&["Accept, *"]), ["*"]);
        assert_eq!(vary_after(&["COOKIE"]), ["COOKIE"]);
    }

    #[test]
    fn request_cookies_are_read_as_django_does() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1; sessionid=abc ; b=\"x\""),
        );
        assert_eq!(
            request_cookie(&headers, "sessionid").as_deref(),
            Some("abc")
        );
        assert_eq!(request_cookie(&headers, "b").as_deref(), Some("x"));
        assert_eq!(request_cookie(&headers, "c"), None);
        headers.append(COOKIE, HeaderValue::from_static("sessionid=def"));
        assert_eq!(
            request_cookie(&headers, "sessionid").as_deref(),
            Some("def")
        );
        let mut empty = HeaderMap::new();
        empty.append(COOKIE, HeaderValue::from_static("sessionid="));
        assert_eq!(request_cookie(&empty, "sessionid").as_deref(), Some(""));
        // Bytes that are not text elsewhere in the header do not hide the session cookie; a
        // value that is not text is skipped (an earlier good one stays).
        let mut mixed = HeaderMap::new();
        mixed.append(
            COOKIE,
            HeaderValue::from_bytes(b"pref=caf\xc3\xa9; sessionid=abc; sessionid=\xff").unwrap(),
        );
        assert_eq!(request_cookie(&mixed, "sessionid").as_deref(), Some("abc"));
        assert_eq!(request_cookie(&mixed, "pref"), None);
    }
}
