//! Property tests of the decoder (standing in for a `cargo fuzz` target, which needs nightly):
//! arbitrary input never panics and never yields a session; every mutation or truncation of a
//! valid value is rejected; valid values round-trip.
//!
//! The default case count keeps this to a few seconds; for a long run:
//!
//! ```text
//! PROPTEST_CASES=200000 cargo test --release -p sessionkit-cookie --test decoder_props
//! ```

use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use proptest::prelude::*;
use sessionkit_cookie::{Compression, CookieConfig, CookieStore, Protection};
use sessionkit_core::UnixTime;

const SECRET: &str = "property-test-secret-0123456789abcdef";

/// Signed and encrypted stores; both deflate whenever it helps, so compressed values are
/// exercised too.
static STORES: LazyLock<[CookieStore; 2]> = LazyLock::new(|| {
    [Protection::Signed, Protection::Encrypted].map(|p| {
        CookieStore::new(
            CookieConfig::new(SECRET)
                .with_protection(p)
                .with_compression(Compression::WhenSmaller),
        )
        .expect("valid config")
    })
});

/// A store with another secret, to make valid values this one must not accept.
static STRANGER: LazyLock<CookieStore> = LazyLock::new(|| {
    CookieStore::new(CookieConfig::new(
        "another-secret-entirely-0123456789abcdef",
    ))
    .expect("valid config")
});

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";

fn expires() -> UnixTime {
    UnixTime::now().add_secs(3_600)
}

/// Records: mostly compressible text-like bytes, sometimes anything.
fn record() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..1_200),
        ("[a-z \"{}:,0-9]{0,40}", 1usize..40).prop_map(|(s, n)| s.repeat(n).into_bytes()),
    ]
}

fn assert_rejected(value: &str) -> Result<(), TestCaseError> {
    for store in STORES.iter().chain([&*STRANGER]) {
        prop_assert!(store.open(value).is_none(), "accepted {value:?}");
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_strings_never_open(s in any::<String>()) {
        assert_rejected(&s)?;
    }

    #[test]
    fn arbitrary_token_strings_never_open(
        s in "(s1\\.|e1\\.)?[A-Za-z0-9_.-]{0,2000}"
    ) {
        assert_rejected(&s)?;
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_prefix_never_open(
        bytes in proptest::collection::vec(any::<u8>(), 0..1_500),
        prefix in prop_oneof![Just("s1."), Just("e1.")],
    ) {
        assert_rejected(&format!("{prefix}{}", B64.encode(&bytes)))?;
    }

    #[test]
    fn valid_values_round_trip(record in record()) {
        for store in STORES.iter() {
            let value = store.seal(&record, expires()).expect("seal");
            prop_assert!(value.len() <= store.max_value_len());
            prop_assert_eq!(store.open(&value), Some(record.clone()));
            prop_assert!(STRANGER.open(&value).is_none());
        }
    }

    #[test]
    fn byte_and_bit_mutations_never_verify(
        record in record(),
        index in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        for store in STORES.iter() {
            let value = store.seal(&record, expires()).expect("seal");
            let (prefix, encoded) = value.split_at(3);
            let mut blob = B64.decode(encoded).expect("our own base64");
            let i = index.index(blob.len());
            blob[i] ^= mask;
            let mutated = format!("{prefix}{}", B64.encode(&blob));
            prop_assert!(store.open(&mutated).is_none(), "byte {} ^ {:#04x} accepted", i, mask);
        }
    }

    #[test]
    fn character_mutations_never_verify(
        record in record(),
        index in any::<prop::sample::Index>(),
        replacement in any::<prop::sample::Index>(),
    ) {
        for store in STORES.iter() {
            let value = store.seal(&record, expires()).expect("seal");
            let mut chars = value.clone().into_bytes();
            let i = index.index(chars.len());
            let mut c = ALPHABET[replacement.index(ALPHABET.len())];
            if c == chars[i] {
                c = if c == b'A' { b'B' } else { b'A' };
            }
            chars[i] = c;
            let mutated = String::from_utf8(chars).expect("ASCII");
            prop_assert!(store.open(&mutated).is_none(), "{:?} at {} accepted", c as char, i);
        }
    }

    #[test]
    fn truncations_and_extensions_never_verify(
        record in record(),
        cut in any::<prop::sample::Index>(),
        tail in "[A-Za-z0-9_-]{1,8}",
    ) {
        for store in STORES.iter() {
            let value = store.seal(&record, expires()).expect("seal");
            let end = cut.index(value.len());
            prop_assert!(store.open(&value[..end]).is_none(), "prefix of {} accepted", end);
            let extended = format!("{value}{tail}");
            prop_assert!(store.open(&extended).is_none(), "extension accepted");
        }
    }
}
