//! Django's `django.core.signing`, for the one algorithm sessions use (HMAC-SHA256): the
//! `Signer` and `TimestampSigner` formats, `signing.dumps`/`loads` with `compress=True`, base62
//! timestamps and `SECRET_KEY_FALLBACKS`.
//!
//! The signed format is `[.]<b64url(payload)>:<base62 unix time>:<b64url(HMAC-SHA256)>`; the MAC
//! is keyed with `SHA256(salt + "signer" + secret)` and covers everything before the last `:`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::{digest, hmac};
use sessionkit_core::UnixTime;

/// Why a signed value was refused (Django's `BadSignature` and `SignatureExpired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No `:` separator where one must be.
    Malformed,
    /// No key (the secret or a fallback) made this signature.
    BadSignature,
    /// The timestamp is not base62.
    BadTimestamp,
    /// Signed longer ago than the maximum age allows.
    Expired,
    /// The payload is not base64url, not zlib (with the `.` marker), or too large.
    BadPayload,
}

/// The largest payload [`Signer::loads`] inflates, so a small compressed value cannot expand
/// without bound.
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// `salted_hmac(key_salt, value, secret, algorithm="sha256")`: HMAC-SHA256 of `value`, keyed
/// with `SHA256(key_salt + secret)`.
pub fn salted_hmac_sha256(key_salt: &[u8], value: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(&salted_key(key_salt, secret), value).as_ref());
    out
}

/// The HMAC-SHA256 key `salted_hmac` derives: `SHA256(key_salt + secret)`.
pub(crate) fn salted_key(key_salt: &[u8], secret: &[u8]) -> hmac::Key {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(key_salt);
    ctx.update(secret);
    hmac::Key::new(hmac::HMAC_SHA256, ctx.finish().as_ref())
}

const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Django's `b62_encode`: most significant digit first, `0` for 0, `-` before negatives.
pub fn b62_encode(n: i64) -> String {
    if n == 0 {
        return "0".to_owned();
    }
    let mut digits = Vec::new();
    let mut rest = n.unsigned_abs();
    while rest > 0 {
        digits.push(B62[(rest % 62) as usize]);
        rest /= 62;
    }
    if n < 0 {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).expect("ASCII digits")
}

/// Django's `b62_decode`; `None` for a character outside the alphabet or an overflow.
pub fn b62_decode(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for b in digits.bytes() {
        let d = B62.iter().position(|&c| c == b)? as i64;
        n = n.checked_mul(62)?.checked_add(d)?;
    }
    Some(if negative { -n } else { n })
}

/// Django's `b64_encode`: URL-safe base64 without padding.
pub fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `zlib.compress(data)` (level 6, as Django calls it) if that saves at least two bytes, as
/// Django decides (`len(compressed) < len(data) - 1`). One compressor per thread is reset and
/// reused: making one allocates and clears about 300 KB, which took ~50 µs of the ~55 a 1.4 KB
/// session cost (`cargo bench -p sessionkit-benches --bench django`).
fn zlib_if_shorter(data: &[u8]) -> Option<Vec<u8>> {
    use miniz_oxide::deflate::core::{
        compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
    };
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Box<CompressorOxide>> =
            std::cell::RefCell::new(Box::new(CompressorOxide::new(
                // Level 6, a zlib header and trailer (positive window bits), default strategy.
                create_comp_flags_from_zip_params(6, 15, 0),
            )));
    }
    COMPRESSOR.with(|compressor| {
        let mut compressor = compressor.borrow_mut();
        compressor.reset();
        // Output that would not be shorter is of no use: it need not fit.
        let mut out = vec![0; data.len().saturating_sub(2)];
        let (status, read, written) = compress(&mut compressor, data, &mut out, TDEFLFlush::Finish);
        (status == TDEFLStatus::Done && read == data.len()).then(|| {
            out.truncate(written);
            out
        })
    })
}

/// A `TimestampSigner` with its salt, secret and fallback secrets: what `signing.dumps` and
/// `signing.loads` use.
#[derive(Clone)]
pub struct Signer {
    salt: String,
    keys: Vec<hmac::Key>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys are secrets.
        f.debug_struct("Signer")
            .field("salt", &self.salt)
            .field("fallback_keys", &(self.keys.len() - 1))
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer with `salt` that signs with `secret` and also accepts what any of `fallbacks`
    /// signed (Django's `SECRET_KEY` and `SECRET_KEY_FALLBACKS`).
    pub fn new<'a>(
        salt: &str,
        secret: &[u8],
        fallbacks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Self {
        let key_salt = format!("{salt}signer");
        let derive = |secret: &[u8]| salted_key(key_salt.as_bytes(), secret);
        let mut keys = vec![derive(secret)];
        keys.extend(fallbacks.into_iter().map(derive));
        Self {
            salt: salt.to_owned(),
            keys,
        }
    }

    /// The salt.
    pub fn salt(&self) -> &str {
        &self.salt
    }

    /// `Signer.signature(value)`: 43 characters of base64url.
    pub fn signature(&self, value: &str) -> String {
        b64_encode(hmac::sign(&self.keys[0], value.as_bytes()).as_ref())
    }

    /// `Signer.sign(value)` with separator `:`.
    pub fn sign(&self, value: &str) -> String {
        format!("{value}:{}", self.signature(value))
    }

    /// `Signer.unsign(signed)`: the value, if the secret or a fallback signed it (compared in
    /// constant time).
    pub fn unsign<'a>(&self, signed: &'a str) -> Result<&'a str, Refused> {
        let (value, signature) = signed.rsplit_once(':').ok_or(Refused::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Refused::BadSignature)?;
        if self
            .keys
            .iter()
            .any(|key| hmac::verify(key, value.as_bytes(), &tag).is_ok())
        {
            Ok(value)
        } else {
            Err(Refused::BadSignature)
        }
    }

    /// `TimestampSigner.sign(value)` at `now`.
    pub fn sign_at(&self, value: &str, now: UnixTime) -> String {
        self.sign(&format!("{value}:{}", b62_encode(now.as_secs())))
    }

    /// `TimestampSigner.unsign(signed, max_age)` at `now`: the value and when it was signed.
    /// The age check is Django's: refused when `now - signed_at > max_age` (so a value exactly
    /// `max_age` old is accepted).
    pub fn unsign_at<'a>(
        &self,
        signed: &'a str,
        max_age: Option<i64>,
        now: UnixTime,
    ) -> Result<(&'a str, UnixTime), Refused> {
        let stamped = self.unsign(signed)?;
        let (value, ts) = stamped.rsplit_once(':').ok_or(Refused::Malformed)?;
        let signed_at = UnixTime::from_secs(b62_decode(ts).ok_or(Refused::BadTimestamp)?);
        if max_age.is_some_and(|max| now.secs_after(signed_at) > max) {
            return Err(Refused::Expired);
        }
        Ok((value, signed_at))
    }

    /// `signing.dumps(obj, salt=..., compress=True)` for `json`, the object already serialized
    /// (see [`crate::json`]), at `now`. The payload is zlib-compressed when that saves at least
    /// two bytes, as Django decides.
    pub fn dumps_at(&self, json: &[u8], compress: bool, now: UnixTime) -> String {
        let mut payload = None;
        if compress {
            if let Some(compressed) = zlib_if_shorter(json) {
                payload = Some(format!(".{}", b64_encode(&compressed)));
            }
        }
        let payload = payload.unwrap_or_else(|| b64_encode(json));
        self.sign_at(&payload, now)
    }

    /// `signing.loads(signed, salt=..., max_age=...)` at `now`: the serialized object's bytes
    /// (decode them with [`crate::json`]) and when it was signed.
    pub fn loads_at(
        &self,
        signed: &str,
        max_age: Option<i64>,
        now: UnixTime,
    ) -> Result<(Vec<u8>, UnixTime), Refused> {
        let (payload, signed_at) = self.unsign_at(signed, max_age, now)?;
        let (compressed, b64) = match payload.strip_prefix('.') {
            Some(rest) => (true, rest),
            None => (false, payload),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| Refused::BadPayload)?;
        if !compressed {
            return Ok((bytes, signed_at));
        }
        let inflated = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&bytes, MAX_PAYLOAD)
            .map_err(|_| Refused::BadPayload)?;
        Ok((inflated, signed_at))
    }
}

#[cfg(test)]
mod tests {
    //! Django 5.2.19's own values (`shared/reference/django-sessions.md` §4.7), with
    //! `SECRET_KEY = "django_tests_secret_key"` and the time mocked to 1700000000.
    use super::*;

    const SECRET: &[u8] = b"django_tests_secret_key";
    const T: UnixTime = UnixTime::from_secs(1_700_000_000);
    const SESSION_SALT: &str = "django.contrib.sessions.SessionStore";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn base62_matches_django() {
        for (n, s) in [
            (0, "0"),
            (1, "1"),
            (61, "z"),
            (62, "10"),
            (3843, "zz"),
            (3844, "100"),
            (-62, "-10"),
            (123_456_789, "8M0kX"),
            (1_700_000_000, "1r31eq"),
        ] {
            assert_eq!(b62_encode(n), s);
            assert_eq!(b62_decode(s), Some(n));
        }
        assert_eq!(b62_decode(""), None);
        assert_eq!(b62_decode("1!"), None);
        assert_eq!(b62_decode(&"z".repeat(20)), None, "overflow");
    }

    #[test]
    fn salted_hmac_matches_django() {
        assert_eq!(
            hex(&salted_hmac_sha256(b"abc", b"hello", SECRET)),
            "d86a4ead951c4b62146bb65e8dc6774a160ccc6ec72af7cd425c76136b09d4f3"
        );
    }

    #[test]
    fn signers_match_django() {
        let s = Signer::new("django.core.signing.Signer", b"\xe7", []);
        assert_eq!(
            s.sign("foo"),
            "foo:EE4qGC5MEKyQG5msxYA0sBohAxLC0BJf8uRhemh0BGU"
        );
        let ts = Signer::new(
            "django.core.signing.TimestampSigner",
            b"predictable-key",
            [],
        );
        assert_eq!(
            ts.sign_at("hello", T),
            "hello:1r31eq:6aarmvvrkzknCUHNvV1r5pVTF1uDQ-OsKtnSya9lXFI"
        );
        let dumps = Signer::new("django.core.signing", b"predictable-key", []);
        assert_eq!(
            dumps.dumps_at(b"\"hello\"", false, T),
            "ImhlbGxvIg:1r31eq:iB_FpYHUG9eJ-iPYIwHiNARN2pxC5rKvFntNpY-y7zg"
        );
        let default_key = Signer::new("django.core.signing", SECRET, []);
        assert_eq!(
            default_key.dumps_at(b"{\"a\":1}", false, T),
            "eyJhIjoxfQ:1r31eq:POG0hA4NUGmZk-OlPjL5eKOqeNggddFloSj3vk94n1I"
        );
    }

    #[test]
    fn session_data_matches_django_and_compresses_only_when_shorter() {
        let s = Signer::new(SESSION_SALT, SECRET, []);
        // 29 bytes: zlib would not save two.
        assert_eq!(
            s.dumps_at(br#"{"a test key":"a test value"}"#, true, T),
            "eyJhIHRlc3Qga2V5IjoiYSB0ZXN0IHZhbHVlIn0:1r31eq:\
             z3T5kuYwaLspnAAUpfRWpbinC-rn6c6P1Qf9PsCyZ2s"
        );
        assert_eq!(
            s.dumps_at(br#"{"0":"bar"}"#, true, T),
            "eyIwIjoiYmFyIn0:1r31eq:1NKvepFMKk5UzmcHk8uLKKTdHl8XELXIJOGhzST5kmg"
        );
        // Django's compressed value (CPython's zlib) reads back; ours round-trips.
        let json = format!(r#"{{"k":"{}"}}"#, "a".repeat(100));
        let django =
            ".eJyrVspWslJKpANQqgUAaH8oCg:1r31eq:MzEWwnUZU3ycIXkJIVBfTBA-UaEW2qCpBetKTa04MGs";
        assert_eq!(
            s.loads_at(django, None, T).unwrap(),
            (json.clone().into_bytes(), T)
        );
        let ours = s.dumps_at(json.as_bytes(), true, T);
        assert!(ours.starts_with('.'), "{ours}");
        assert_eq!(s.loads_at(&ours, None, T).unwrap().0, json.as_bytes());
    }

    #[test]
    fn the_reused_compressor_writes_what_a_fresh_one_does() {
        let inputs = [
            format!(r#"{{"k":"{}"}}"#, "a".repeat(100)),
            "x".repeat(5_000),
            (0..3_000u32)
                .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
                .collect(),
        ];
        for _ in 0..2 {
            for input in &inputs {
                let fresh = miniz_oxide::deflate::compress_to_vec_zlib(input.as_bytes(), 6);
                assert_eq!(zlib_if_shorter(input.as_bytes()), Some(fresh));
            }
        }
        // Not shorter by two bytes: nothing.
        assert_eq!(zlib_if_shorter(b"abc"), None);
        assert_eq!(zlib_if_shorter(br#"{"a test key":"a test value"}"#), None);
    }

    #[test]
    fn cookies_expire_inclusively_and_fallback_keys_verify() {
        let cookies = Signer::new(
            "django.contrib.sessions.backends.signed_cookies",
            SECRET,
            [],
        );
        let empty = "e30:1r31eq:bm9Z9NUl34o8o-n4aaAkHGlR-ZM2VBuyjHK9uxlDPWY";
        assert_eq!(cookies.dumps_at(b"{}", true, T), empty);
        let age = 1_209_600;
        assert!(cookies.loads_at(empty, Some(age), T.add_secs(age)).is_ok());
        assert_eq!(
            cookies.loads_at(empty, Some(age), T.add_secs(age + 1)),
            Err(Refused::Expired)
        );
        assert_eq!(
            Signer::new(
                "django.contrib.sessions.backends.signed_cookies",
                SECRET,
                []
            )
            .dumps_at(br#"{"cat":"dog"}"#, true, T),
            "eyJjYXQiOiJkb2cifQ:1r31eq:zJnn5_TODHTwVkzDL6lbIB41qNsTrdES1sBVDvV0uww"
        );

        let old = "eyJhIjoxfQ:1r31eq:e5B4jGxAlQqlH3Q_vs61QcEZo3usp3iCG40_yqZjJCs";
        let rotated = Signer::new(SESSION_SALT, SECRET, [&b"old_secret_key_1"[..]]);
        assert_eq!(rotated.loads_at(old, None, T).unwrap().0, b"{\"a\":1}");
        assert_eq!(
            Signer::new(SESSION_SALT, SECRET, []).loads_at(old, None, T),
            Err(Refused::BadSignature)
        );
        // New values are signed with the current secret only.
        assert_ne!(rotated.dumps_at(b"{\"a\":1}", true, T), old);
    }

    #[test]
    fn tampered_and_malformed_values_are_refused() {
        let s = Signer::new(SESSION_SALT, SECRET, []);
        let good = s.dumps_at(b"{\"a\":1}", true, T);
        for bad in [
            "Zmxhc2tkajphbGtkamY=",
            "bad:encoded:value",
            "",
            ":",
            &good.replacen("eyJ", "eyK", 1),
            &good[..good.len() - 1],
            &format!("{good}x"),
        ] {
            assert!(s.loads_at(bad, None, T).is_err(), "{bad:?}");
        }
        // Validly signed garbage (Django: no warning, empty session) passes the signature and
        // is refused by the payload checks.
        let garbage = s.sign_at(".not-zlib", T);
        assert_eq!(s.loads_at(&garbage, None, T), Err(Refused::BadPayload));
        let no_ts = s.sign("eyJhIjoxfQ");
        assert_eq!(s.loads_at(&no_ts, None, T), Err(Refused::Malformed));
    }
}
