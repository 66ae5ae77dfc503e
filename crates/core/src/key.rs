//! Session keys: generation and validation of what clients present.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

/// The characters of a generated key: lower-case ASCII letters and digits, as Django's
/// `VALID_KEY_CHARS` (keys stay valid on case-insensitive storage).
pub const KEY_ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// The length of a generated key: 32 characters of [`KEY_ALPHABET`], about 165 bits.
pub const KEY_LEN: usize = 32;

/// How the values a store hands to clients look, so that a presented value can be checked
/// before any I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFormat {
    /// Exactly [`KEY_LEN`] characters of [`KEY_ALPHABET`]: the random key of a server-side store.
    Random,
    /// A self-contained token (the cookie store's signed record): 1 to `max_len` characters of
    /// URL-safe base64 (`A-Z a-z 0-9 - _`), `.` and `:` (the separator of Django's signed
    /// values, all cookie-safe). Such a store keeps nothing on the server, so
    /// `delete` cannot revoke a token and `touch` needs the whole record.
    Token {
        /// The longest value accepted.
        max_len: usize,
    },
}

impl KeyFormat {
    /// Whether `raw` follows this format.
    pub fn accepts(self, raw: &str) -> bool {
        match self {
            KeyFormat::Random => {
                raw.len() == KEY_LEN
                    && raw
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            }
            KeyFormat::Token { max_len } => {
                // Branch-free per byte, so the check vectorizes: a cookie value of random
                // base64 would otherwise mispredict on every character (about 2.5 ns a byte).
                fn token_byte(b: u8) -> bool {
                    b.is_ascii_alphanumeric()
                        | (b == b'-')
                        | (b == b'_')
                        | (b == b'.')
                        | (b == b':')
                }
                !raw.is_empty()
                    && raw.len() <= max_len
                    && raw
                        .as_bytes()
                        .chunks(64)
                        .all(|chunk| chunk.iter().fold(true, |ok, &b| ok & token_byte(b)))
            }
        }
    }

    /// Whether the store keeps the session on the server (and so can delete and touch it).
    pub fn is_server_side(self) -> bool {
        matches!(self, KeyFormat::Random)
    }
}

/// A session key: the value the client holds in its cookie, checked against the store's
/// [`KeyFormat`].
///
/// A key can only be made by [`generate`](SessionKey::generate) or by
/// [`parse`](SessionKey::parse), so a back end never sees a malformed, oversized or hostile key.
/// `Debug` shows only the first four characters: a key is a bearer credential and must not end
/// up whole in logs. Use [`as_str`](SessionKey::as_str) to put it in a cookie.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionKey(Box<str>);

impl SessionKey {
    /// A fresh random key: 32 characters of `[a-z0-9]` from the operating system's CSPRNG
    /// (`ring::rand::SystemRandom`), without modulo bias.
    pub fn generate() -> Self {
        let rng = SystemRandom::new();
        let mut key = String::with_capacity(KEY_LEN);
        let mut buf = [0u8; 48];
        while key.len() < KEY_LEN {
            // The OS generator only fails if the kernel cannot supply randomness at all, in which
            // case no secure key can be made and continuing would be worse than stopping.
            rng.fill(&mut buf)
                .expect("the operating system's random number generator failed");
            for &b in &buf {
                // 252 = 7 * 36: bytes at or above it would bias the first characters.
                if b < 252 && key.len() < KEY_LEN {
                    key.push(char::from(KEY_ALPHABET[usize::from(b % 36)]));
                }
            }
        }
        SessionKey(key.into_boxed_str())
    }

    /// Checks a value presented by a client. `None` means "no session": the value is too short,
    /// too long, or has characters the format does not allow (control characters, CR/LF,
    /// spaces, non-ASCII...).
    pub fn parse(raw: &str, format: KeyFormat) -> Option<Self> {
        format.accepts(raw).then(|| SessionKey(raw.into()))
    }

    /// The key as the client holds it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.0.chars().take(4).collect();
        write!(f, "SessionKey({shown}…)")
    }
}

impl AsRef<str> for SessionKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_keys_are_valid_and_distinct() {
        let keys: HashSet<_> = (0..10_000).map(|_| SessionKey::generate()).collect();
        assert_eq!(keys.len(), 10_000);
        for k in &keys {
            assert!(KeyFormat::Random.accepts(k.as_str()), "{}", k.as_str());
        }
    }

    #[test]
    fn characters_are_roughly_uniform() {
        let mut counts = [0u32; 36];
        for _ in 0..2_000 {
            for b in SessionKey::generate().as_str().bytes() {
                let i = KEY_ALPHABET.iter().position(|&c| c == b).unwrap();
                counts[i] += 1;
            }
        }
        // 64,000 characters: each is expected 1,777 times; a biased generator (modulo without
        // rejection) would overshoot the first four characters by ~14 %.
        for (i, &c) in counts.iter().enumerate() {
            assert!((1_550..2_010).contains(&c), "char {i} seen {c} times");
        }
    }

    #[test]
    fn hostile_keys_are_rejected() {
        let long = "a".repeat(1240);
        let hostile = [
            "",
            "1",
            "1234567",
            "abcdefgh12345678abcdefgh1234567",
            "abcdefgh12345678abcdefgh123456789",
            "ABCDEFGH12345678ABCDEFGH12345678",
            "abcdefgh12345678abcdefgh1234567\n",
            "abcdefgh12345678abcdefgh123456\r\n",
            "abcdefgh12345678abcdefgh1234 678",
            "abcdefgh12345678abcdefgh1234567\0",
            "abcdefgh12345678abcdefgh123456é",
            "../../../../etc/passwd/aaaaaaaaa",
            long.as_str(),
        ];
        for raw in hostile {
            assert!(
                SessionKey::parse(raw, KeyFormat::Random).is_none(),
                "{raw:?}"
            );
        }
        assert!(SessionKey::parse("abcdefgh12345678abcdefgh12345678", KeyFormat::Random).is_some());
    }

    #[test]
    fn token_format() {
        let f = KeyFormat::Token { max_len: 10 };
        assert!(f.accepts("aZ0-_.:"));
        assert!(!f.accepts("a;b"));
        assert!(!f.accepts(""));
        assert!(!f.accepts("12345678901"));
        assert!(!f.accepts("a b"));
        assert!(!f.accepts("a=b"));
        assert!(!f.is_server_side());
    }

    #[test]
    fn debug_redacts() {
        let k = SessionKey::parse("abcdefgh12345678abcdefgh12345678", KeyFormat::Random).unwrap();
        assert_eq!(format!("{k:?}"), "SessionKey(abcd…)");
    }
}
