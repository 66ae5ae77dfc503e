//! Session keys: generation and validation of what clients present.

use std::cell::RefCell;
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

/// How many bytes of OS randomness a thread fetches at once for [`SessionKey::generate`]
/// (a key takes about 32.5).
const ENTROPY_LEN: usize = 4096;

thread_local! {
    static ENTROPY: RefCell<Entropy> = const { RefCell::new(Entropy::EMPTY) };
}

/// A thread's unused bytes from the OS generator.
struct Entropy {
    bytes: [u8; ENTROPY_LEN],
    /// The first unused byte (`ENTROPY_LEN`: none left).
    next: usize,
    /// The process the bytes were fetched in (0: never filled).
    pid: u32,
}

impl Entropy {
    const EMPTY: Entropy = Entropy {
        bytes: [0; ENTROPY_LEN],
        next: ENTROPY_LEN,
        pid: 0,
    };

    /// Throws the bytes away if they were fetched in another process (this one is a fork).
    fn refill_after_fork(&mut self) {
        if self.pid != std::process::id() {
            self.refill();
        }
    }

    fn refill(&mut self) {
        // The OS generator only fails if the kernel cannot supply randomness at all, in which
        // case no secure key can be made and continuing would be worse than stopping.
        SystemRandom::new()
            .fill(&mut self.bytes)
            .expect("the operating system's random number generator failed");
        self.next = 0;
        self.pid = std::process::id();
    }

    /// The next unused byte, never handed out twice.
    fn next_byte(&mut self) -> u8 {
        if self.next == ENTROPY_LEN {
            self.refill();
        }
        let b = std::mem::take(&mut self.bytes[self.next]);
        self.next += 1;
        b
    }
}

/// A session key: the value the client holds in its cookie, checked against the store's
/// [`KeyFormat`].
///
/// A key can only be made by [`generate`](SessionKey::generate) or by
/// [`parse`](SessionKey::parse), so a back end never sees a malformed, oversized or hostile key.
/// `Debug` shows only the first four characters: a key is a bearer credential and must not end
/// up whole in logs. Use [`as_str`](SessionKey::as_str) to put it in a cookie.
#[derive(Clone)]
pub struct SessionKey {
    text: Box<str>,
    /// The format the text was checked against when the key was made, so checking it again
    /// against the same format costs nothing (a cookie store's key is a few KB to scan).
    checked: KeyFormat,
}

impl PartialEq for SessionKey {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SessionKey {}

impl std::hash::Hash for SessionKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl SessionKey {
    /// A fresh random key: 32 characters of `[a-z0-9]` from the operating system's CSPRNG
    /// (`ring::rand::SystemRandom`), without modulo bias.
    ///
    /// The OS's bytes are fetched a few kilobytes at a time per thread and each is used once
    /// (and zeroed once used), so a key costs one system call per ~120 keys rather than one
    /// each. A forked child never reuses its parent's bytes: the buffer remembers the process
    /// that filled it and is refilled in any other.
    pub fn generate() -> Self {
        let mut key = [0u8; KEY_LEN];
        ENTROPY.with(|entropy| {
            let mut entropy = entropy.borrow_mut();
            entropy.refill_after_fork();
            let mut filled = 0;
            while filled < KEY_LEN {
                let b = entropy.next_byte();
                // 252 = 7 * 36: bytes at or above it would bias the first characters.
                if b < 252 {
                    key[filled] = KEY_ALPHABET[usize::from(b % 36)];
                    filled += 1;
                }
            }
        });
        let key = std::str::from_utf8(&key).expect("KEY_ALPHABET is ASCII");
        SessionKey {
            text: key.into(),
            checked: KeyFormat::Random,
        }
    }

    /// Checks a value presented by a client. `None` means "no session": the value is too short,
    /// too long, or has characters the format does not allow (control characters, CR/LF,
    /// spaces, non-ASCII...).
    pub fn parse(raw: &str, format: KeyFormat) -> Option<Self> {
        format.accepts(raw).then(|| SessionKey {
            text: raw.into(),
            checked: format,
        })
    }

    /// [`parse`](Self::parse) of a value the caller owns (a value a store just sealed): the
    /// same check, without copying the text.
    pub fn parse_owned(raw: String, format: KeyFormat) -> Option<Self> {
        format.accepts(&raw).then(|| SessionKey {
            text: raw.into_boxed_str(),
            checked: format,
        })
    }

    /// Whether this key follows `format`: at once when it was made for `format`, else by
    /// checking its text.
    pub fn follows(&self, format: KeyFormat) -> bool {
        self.checked == format || format.accepts(&self.text)
    }

    /// The key as the client holds it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.text.chars().take(4).collect();
        write!(f, "SessionKey({shown}…)")
    }
}

impl AsRef<str> for SessionKey {
    fn as_ref(&self) -> &str {
        &self.text
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
    fn each_random_byte_is_used_once_and_then_zeroed() {
        let _ = SessionKey::generate();
        ENTROPY.with(|e| {
            let e = e.borrow();
            assert!(e.next >= KEY_LEN && e.next < ENTROPY_LEN);
            assert!(e.bytes[..e.next].iter().all(|&b| b == 0));
            assert_eq!(e.pid, std::process::id());
        });
        // A buffer filled in another process (as a fork inherits it) is not used.
        ENTROPY.with(|e| {
            let mut e = e.borrow_mut();
            e.pid = e.pid.wrapping_add(1);
            e.bytes = [7; ENTROPY_LEN];
            e.next = 0;
        });
        let key = SessionKey::generate();
        assert_ne!(
            key.as_str(),
            "h".repeat(KEY_LEN),
            "the parent's bytes were reused"
        );
        ENTROPY.with(|e| assert_eq!(e.borrow().pid, std::process::id()));
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
    fn a_key_follows_its_own_format_at_once_and_others_by_its_text() {
        let text = "abcdefgh12345678abcdefgh12345678";
        let random = SessionKey::parse(text, KeyFormat::Random).unwrap();
        assert!(random.follows(KeyFormat::Random));
        assert!(random.follows(KeyFormat::Token { max_len: 100 }));
        assert!(!random.follows(KeyFormat::Token { max_len: 10 }));
        let token = SessionKey::parse("aZ-_.:", KeyFormat::Token { max_len: 10 }).unwrap();
        assert!(token.follows(KeyFormat::Token { max_len: 10 }));
        assert!(!token.follows(KeyFormat::Random));
        assert!(!token.follows(KeyFormat::Token { max_len: 5 }));
        let owned = SessionKey::parse_owned(text.to_owned(), KeyFormat::Token { max_len: 100 });
        assert_eq!(owned.as_ref(), Some(&random), "equality is the text's");
        assert_eq!(
            SessionKey::parse_owned("a b".to_owned(), KeyFormat::Token { max_len: 10 }),
            None
        );
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
