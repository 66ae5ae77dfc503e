//! Unit tests through the internal seams: fixed clocks (`seal_at`/`open_at`), fixed nonces
//! (`seal_with`) and hand-built values (`seal_parts`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ring::{aead, hkdf, hmac};
use sessionkit_core::UnixTime;

use crate::seal::{value_len, Reject, Seal, FLAG_DEFLATE, MAC_LEN, NONCE_LEN, TRAILER_LEN};
use crate::{Compression, CookieConfig, Protection, DEFAULT_SALT};

const SECRET: &[u8; 32] = b"sessionkit-test-vector-secret-01";
const OTHER_SECRET: &[u8; 32] = b"sessionkit-test-vector-secret-02";
const T0: i64 = 1_700_000_000;
const TWO_WEEKS: i64 = 1_209_600;
const NONCE: [u8; NONCE_LEN] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
/// An opaque record, as `Session` would hand it over (the store never looks inside).
const RECORD: &[u8] = b"\x01record bytes: {\"user_id\":42}";

fn t(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs)
}

fn sealer(config: CookieConfig) -> Seal {
    Seal::new(&config).expect("valid config")
}

fn signed() -> Seal {
    sealer(CookieConfig::new(SECRET))
}

fn encrypted() -> Seal {
    sealer(CookieConfig::new(SECRET).with_protection(Protection::Encrypted))
}

fn both() -> [Seal; 2] {
    [signed(), encrypted()]
}

/// A 300-byte record that deflates well.
fn compressible() -> Vec<u8> {
    let mut r = b"\x01".to_vec();
    r.extend(b"abcabcabc-".repeat(30));
    r
}

// --- Test vectors: the format must not change by accident. -------------------------------

const SIGNED_VECTOR: &str = "s1.AXJlY29yZCBieXRlczogeyJ1c2VyX2lkIjo0Mn0AAAAAAGVT8QAAAAAAZWZmAOf-KVPi-1kE3ZnyGSD-53sgtCq2wuOnqPX-IlruANlk";
const SIGNED_COMPRESSED_VECTOR: &str = "s1.AAABLe2QsQkAAAzC6EE9qvr_DxVcPUEQkzlzoLeGvgbGBg8BAAAAAGVT8QAAAAAAZWZmAGIa2eSljQh_00EJRMfUR1FgQLiSX9hXxnbdk0r_twSE";
const ENCRYPTED_VECTOR: &str = "e1.AAECAwQFBgcICQoLBS7DiHLtS0PWgkYPYX7gskMBzW9vOXjtCoKonMqO_dqxCwit49Alibmm4yLAGxWkfwTUuZr1WAfHeHRkB2c";

#[test]
fn signed_vector() {
    let s = signed();
    let value = s.seal_at(RECORD, t(T0 + TWO_WEEKS), t(T0)).unwrap();
    assert_eq!(value, SIGNED_VECTOR);
    assert_eq!(s.open_at(SIGNED_VECTOR, t(T0)).unwrap(), RECORD);
}

#[test]
fn signed_compressed_vector() {
    let s = sealer(CookieConfig::new(SECRET).with_compression(Compression::WhenSmaller));
    let record = compressible();
    let value = s.seal_at(&record, t(T0 + TWO_WEEKS), t(T0)).unwrap();
    // The exact deflate bytes belong to miniz_oxide's level 1; if an upgrade changes them,
    // opening the old value (below) must still work, and only this literal may be updated.
    assert_eq!(value, SIGNED_COMPRESSED_VECTOR);
    assert_eq!(s.open_at(SIGNED_COMPRESSED_VECTOR, t(T0)).unwrap(), record);
    // Any store reads compressed values, whatever its own compression setting.
    assert_eq!(
        signed().open_at(SIGNED_COMPRESSED_VECTOR, t(T0)).unwrap(),
        record
    );
}

#[test]
fn encrypted_vector() {
    let s = encrypted();
    let value = s
        .seal_with(
            RECORD,
            t(T0 + TWO_WEEKS),
            t(T0),
            Protection::Encrypted,
            Some(NONCE),
        )
        .unwrap();
    assert_eq!(value, ENCRYPTED_VECTOR);
    assert_eq!(s.open_at(ENCRYPTED_VECTOR, t(T0)).unwrap(), RECORD);
}

/// The vectors again, computed from the documented format with ring directly rather than
/// through the crate: HKDF-SHA256(salt, secret) expanded with the format's info string, then
/// `body || trailer || HMAC` (or `nonce || AES-GCM(body || trailer) || tag`).
#[test]
fn vectors_follow_the_documented_format() {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, DEFAULT_SALT.as_bytes()).extract(SECRET);
    let mac_key: hmac::Key = prk
        .expand(&[b"sessionkit cookie s1 hmac-sha256"], hmac::HMAC_SHA256)
        .unwrap()
        .into();
    let aead_key = aead::LessSafeKey::new(
        prk.expand(&[b"sessionkit cookie e1 aes-256-gcm"], &aead::AES_256_GCM)
            .unwrap()
            .into(),
    );
    let mut trailer = vec![0u8];
    trailer.extend(T0.to_be_bytes());
    trailer.extend((T0 + TWO_WEEKS).to_be_bytes());

    let mut signed = RECORD.to_vec();
    signed.extend(&trailer);
    let tag = hmac::sign(&mac_key, &signed);
    signed.extend(tag.as_ref());
    assert_eq!(format!("s1.{}", B64.encode(&signed)), SIGNED_VECTOR);

    let mut sealed = RECORD.to_vec();
    sealed.extend(&trailer);
    aead_key
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(NONCE),
            aead::Aad::empty(),
            &mut sealed,
        )
        .unwrap();
    let mut encrypted = NONCE.to_vec();
    encrypted.extend(sealed);
    assert_eq!(format!("e1.{}", B64.encode(&encrypted)), ENCRYPTED_VECTOR);

    // The compressed vector: flags 0x01, body = inflated length (u32 BE) || raw deflate.
    let blob = B64
        .decode(SIGNED_COMPRESSED_VECTOR.strip_prefix("s1.").unwrap())
        .unwrap();
    let (message, tag) = blob.split_at(blob.len() - MAC_LEN);
    hmac::verify(&mac_key, message, tag).unwrap();
    let (body, trailer) = message.split_at(message.len() - TRAILER_LEN);
    assert_eq!(trailer[0], FLAG_DEFLATE);
    let record = compressible();
    assert_eq!(body[..4], (record.len() as u32).to_be_bytes());
    assert_eq!(
        miniz_oxide::inflate::decompress_to_vec(&body[4..]).unwrap(),
        record
    );
}

#[test]
fn encrypted_values_hide_the_record_and_never_repeat() {
    let s = encrypted();
    let secret = b"\x01the launch code is 0000";
    let a = s.seal_at(secret, t(T0 + 60), t(T0)).unwrap();
    let b = s.seal_at(secret, t(T0 + 60), t(T0)).unwrap();
    assert_ne!(a, b, "a fresh nonce per value");
    for v in [&a, &b] {
        let blob = B64.decode(v.strip_prefix("e1.").unwrap()).unwrap();
        assert!(!blob.windows(6).any(|w| w == b"launch"));
        assert_eq!(s.open_at(v, t(T0)).unwrap(), secret);
    }
    // Signed values are deterministic (and readable).
    let s = signed();
    let c = s.seal_at(secret, t(T0 + 60), t(T0)).unwrap();
    assert_eq!(c, s.seal_at(secret, t(T0 + 60), t(T0)).unwrap());
    let blob = B64.decode(c.strip_prefix("s1.").unwrap()).unwrap();
    assert!(blob.windows(6).any(|w| w == b"launch"));
}

// --- Expiry. --------------------------------------------------------------------------------

#[test]
fn max_age_boundary_is_exact() {
    for max_age in [1, 60, TWO_WEEKS] {
        for protection in [Protection::Signed, Protection::Encrypted] {
            let s = sealer(
                CookieConfig::new(SECRET)
                    .with_protection(protection)
                    .with_max_age(std::time::Duration::from_secs(max_age as u64)),
            );
            let value = s.seal_at(RECORD, t(T0 + 10 * TWO_WEEKS), t(T0)).unwrap();
            assert_eq!(s.open_at(&value, t(T0)).unwrap(), RECORD);
            assert_eq!(
                s.open_at(&value, t(T0 + max_age)).unwrap(),
                RECORD,
                "exactly max_age old is still valid"
            );
            assert_eq!(
                s.open_at(&value, t(T0 + max_age + 1)),
                Err(Reject::TooOld),
                "one second past max_age is not"
            );
        }
    }
}

#[test]
fn the_sessions_own_expiry_is_enforced() {
    for s in both() {
        let value = s.seal_at(RECORD, t(T0 + 10), t(T0)).unwrap();
        assert_eq!(s.open_at(&value, t(T0 + 9)).unwrap(), RECORD);
        assert_eq!(
            s.open_at(&value, t(T0 + 10)).unwrap(),
            RECORD,
            "valid through its expiry second, as through max_age"
        );
        assert_eq!(s.open_at(&value, t(T0 + 11)), Err(Reject::Expired));
        // Already expired when sealed: issued, but never accepted.
        let dead = s.seal_at(RECORD, t(T0 - 5), t(T0)).unwrap();
        assert_eq!(s.open_at(&dead, t(T0)), Err(Reject::Expired));
    }
}

#[test]
fn a_value_from_a_clock_slightly_ahead_is_accepted() {
    for s in both() {
        let value = s.seal_at(RECORD, t(T0 + 600), t(T0)).unwrap();
        assert_eq!(s.open_at(&value, t(T0 - 30)).unwrap(), RECORD);
    }
}

// --- Keys. ----------------------------------------------------------------------------------

#[test]
fn rotation_accepts_fallbacks_and_signs_with_the_new_secret() {
    for protection in [Protection::Signed, Protection::Encrypted] {
        let old = sealer(CookieConfig::new(OTHER_SECRET).with_protection(protection));
        let rotated = sealer(
            CookieConfig::new(SECRET)
                .with_fallback_secret([9u8; 40])
                .with_fallback_secret(OTHER_SECRET)
                .with_protection(protection),
        );
        let new_only = sealer(CookieConfig::new(SECRET).with_protection(protection));
        let old_value = old.seal_at(RECORD, t(T0 + 60), t(T0)).unwrap();
        assert_eq!(rotated.open_at(&old_value, t(T0)).unwrap(), RECORD);
        assert_eq!(
            new_only.open_at(&old_value, t(T0)),
            Err(Reject::BadSignature)
        );
        let reissued = rotated.seal_at(RECORD, t(T0 + 60), t(T0)).unwrap();
        assert_eq!(new_only.open_at(&reissued, t(T0)).unwrap(), RECORD);
        assert_eq!(old.open_at(&reissued, t(T0)), Err(Reject::BadSignature));
    }
}

#[test]
fn either_mode_reads_the_other() {
    let (s, e) = (signed(), encrypted());
    let signed_value = s.seal_at(RECORD, t(T0 + 60), t(T0)).unwrap();
    let encrypted_value = e.seal_at(RECORD, t(T0 + 60), t(T0)).unwrap();
    assert_eq!(e.open_at(&signed_value, t(T0)).unwrap(), RECORD);
    assert_eq!(s.open_at(&encrypted_value, t(T0)).unwrap(), RECORD);
    // ... and each re-issues in its own mode.
    assert!(e
        .seal_at(RECORD, t(T0 + 60), t(T0))
        .unwrap()
        .starts_with("e1."));
    assert!(s
        .seal_at(RECORD, t(T0 + 60), t(T0))
        .unwrap()
        .starts_with("s1."));
}

#[test]
fn values_of_another_purpose_do_not_verify() {
    for protection in [Protection::Signed, Protection::Encrypted] {
        let other_salt = sealer(
            CookieConfig::new(SECRET)
                .with_salt("another.purpose")
                .with_protection(protection),
        );
        let value = other_salt.seal_at(RECORD, t(T0 + 60), t(T0)).unwrap();
        for s in both() {
            assert_eq!(s.open_at(&value, t(T0)), Err(Reject::BadSignature));
        }
    }
    // HMAC keyed with the raw secret (no derivation), as a naive signer would.
    let mut blob = RECORD.to_vec();
    blob.push(0);
    blob.extend(T0.to_be_bytes());
    blob.extend((T0 + 60).to_be_bytes());
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), &blob);
    blob.extend(tag.as_ref());
    let naive = format!("s1.{}", B64.encode(&blob));
    assert_eq!(signed().open_at(&naive, t(T0)), Err(Reject::BadSignature));
    // A signed value relabelled as encrypted, and the other way round.
    let s = signed().seal_at(RECORD, t(T0 + 60), t(T0)).unwrap();
    assert!(encrypted()
        .open_at(&s.replacen("s1.", "e1.", 1), t(T0))
        .is_err());
    let e = encrypted().seal_at(RECORD, t(T0 + 60), t(T0)).unwrap();
    assert!(signed()
        .open_at(&e.replacen("e1.", "s1.", 1), t(T0))
        .is_err());
}

// --- Tampering. -----------------------------------------------------------------------------

#[test]
fn every_bit_flip_and_truncation_is_rejected() {
    for s in both() {
        let value = s.seal_at(RECORD, t(T0 + 60), t(T0)).unwrap();
        let (prefix, encoded) = value.split_at(3);
        let blob = B64.decode(encoded).unwrap();
        for byte in 0..blob.len() {
            for bit in 0..8 {
                let mut bad = blob.clone();
                bad[byte] ^= 1 << bit;
                let tampered = format!("{prefix}{}", B64.encode(&bad));
                assert_eq!(
                    s.open_at(&tampered, t(T0)),
                    Err(Reject::BadSignature),
                    "byte {byte} bit {bit}"
                );
            }
        }
        for end in 0..value.len() {
            assert!(s.open_at(&value[..end], t(T0)).is_err(), "prefix of {end}");
        }
        for extra in ["A", "AA", "AAA", "AAAA", "."] {
            assert!(s.open_at(&format!("{value}{extra}"), t(T0)).is_err());
        }
    }
}

#[test]
fn reserved_flags_are_rejected_even_when_signed() {
    for s in both() {
        for flags in [0x02, 0x80, 0xff] {
            let value = s
                .seal_parts(flags, RECORD, t(T0), t(T0 + 60), s.protection, Some(NONCE))
                .unwrap();
            assert_eq!(s.open_at(&value, t(T0)), Err(Reject::UnknownFlags));
        }
    }
}

#[test]
fn oversized_incoming_values_are_rejected_before_decoding() {
    let s = signed();
    let max = s.max_incoming();
    assert_eq!(max, 4096 - "sessionid".len() - 1);
    let long = format!("s1.{}", "A".repeat(max - 2));
    assert_eq!(s.open_at(&long, t(T0)), Err(Reject::TooLong));
    let fits = format!("s1.{}", "A".repeat(max - 3));
    assert_ne!(s.open_at(&fits, t(T0)), Err(Reject::TooLong));
}

// --- Compression and zip bombs. ---------------------------------------------------------------

fn deflate_body(declared: u32, data: &[u8]) -> Vec<u8> {
    let mut body = declared.to_be_bytes().to_vec();
    body.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
    body
}

#[test]
fn decompression_is_bounded_and_exact() {
    let s = sealer(CookieConfig::new(SECRET).with_max_decompressed_size(64 * 1024));
    let open = |body: &[u8]| {
        let value = s
            .seal_parts(
                FLAG_DEFLATE,
                body,
                t(T0),
                t(T0 + 60),
                Protection::Signed,
                None,
            )
            .unwrap();
        s.open_at(&value, t(T0))
    };
    let zeros = vec![0u8; 1 << 20];
    // A 1 MiB bomb (about 1 KB compressed), declared honestly: over the bound.
    assert_eq!(open(&deflate_body(1 << 20, &zeros)), Err(Reject::Inflate));
    // The same bomb declared small: inflation stops at the declared size.
    assert_eq!(open(&deflate_body(1000, &zeros)), Err(Reject::Inflate));
    // Declared larger than what it inflates to.
    assert_eq!(
        open(&deflate_body(2000, &zeros[..1000])),
        Err(Reject::Inflate)
    );
    // Exactly right, at the bound.
    let at_bound = vec![7u8; 64 * 1024];
    assert_eq!(open(&deflate_body(64 * 1024, &at_bound)).unwrap(), at_bound);
    // Truncated stream, trailing garbage, no stream, no length.
    let good = deflate_body(1000, &zeros[..1000]);
    assert_eq!(open(&good).unwrap(), zeros[..1000]);
    assert_eq!(open(&good[..good.len() - 1]), Err(Reject::Inflate));
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(open(&trailing), Err(Reject::Inflate));
    assert_eq!(open(&good[..4]), Err(Reject::Inflate));
    assert_eq!(open(&good[..2]), Err(Reject::Inflate));
    assert_eq!(open(b"\0\0\0\x10garbage garbage"), Err(Reject::Inflate));
}

#[test]
fn compression_is_chosen_per_value() {
    let is_compressed = |s: &Seal, value: &str| {
        let blob = B64.decode(&value[3..]).unwrap();
        let plain_end = match s.protection {
            Protection::Signed => blob.len() - MAC_LEN,
            Protection::Encrypted => unreachable!(),
        };
        blob[plain_end - TRAILER_LEN] & FLAG_DEFLATE != 0
    };
    let small = compressible();
    // Fits without compression: WhenNeeded leaves it alone, WhenSmaller compresses it.
    let needed = signed();
    let v = needed.seal_at(&small, t(T0 + 60), t(T0)).unwrap();
    assert!(!is_compressed(&needed, &v));
    let smaller = sealer(CookieConfig::new(SECRET).with_compression(Compression::WhenSmaller));
    let v = smaller.seal_at(&small, t(T0 + 60), t(T0)).unwrap();
    assert!(is_compressed(&smaller, &v));
    // Tiny records are never compressed.
    let v = smaller.seal_at(RECORD, t(T0 + 60), t(T0)).unwrap();
    assert!(!is_compressed(&smaller, &v));
    // Too large raw but compressible: WhenNeeded compresses, Never refuses.
    let big: Vec<u8> = b"0123456789".repeat(500);
    let v = needed.seal_at(&big, t(T0 + 60), t(T0)).unwrap();
    assert!(is_compressed(&needed, &v));
    assert_eq!(needed.open_at(&v, t(T0)).unwrap(), big);
    let never = sealer(CookieConfig::new(SECRET).with_compression(Compression::Never));
    assert!(never
        .seal_at(&big, t(T0 + 60), t(T0))
        .unwrap_err()
        .is_too_large());
    // Encrypted stores do not compress by default; they can be told to.
    let e = encrypted();
    assert!(e
        .seal_at(&big, t(T0 + 60), t(T0))
        .unwrap_err()
        .is_too_large());
    let e = sealer(
        CookieConfig::new(SECRET)
            .with_protection(Protection::Encrypted)
            .with_compression(Compression::WhenNeeded),
    );
    let v = e.seal_at(&big, t(T0 + 60), t(T0)).unwrap();
    assert_eq!(e.open_at(&v, t(T0)).unwrap(), big);
    // A record over the decompression bound is never compressed (and here too large).
    let bounded = sealer(CookieConfig::new(SECRET).with_max_decompressed_size(4000));
    assert!(bounded
        .seal_at(&big, t(T0 + 60), t(T0))
        .unwrap_err()
        .is_too_large());
}

// --- Size. ----------------------------------------------------------------------------------

/// Random bytes do not compress, so the size check sees them as they are.
fn incompressible(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn the_size_limit_is_exact_and_the_error_names_both_figures() {
    for protection in [Protection::Signed, Protection::Encrypted] {
        let s = sealer(
            CookieConfig::new(SECRET)
                .with_protection(protection)
                .with_cookie_name("id")
                .with_attribute_budget(100),
        );
        let budget = 4096 - 2 - 1 - 100;
        assert_eq!(s.max_issued(), budget);
        let mut len = 1;
        while value_len(protection, len + 1) <= budget {
            len += 1;
        }
        let fits = incompressible(len);
        let value = s.seal_at(&fits, t(T0 + 60), t(T0)).unwrap();
        assert!(
            value.len() <= budget && value.len() > budget - 4,
            "{}",
            value.len()
        );
        assert_eq!(s.open_at(&value, t(T0)).unwrap(), fits);
        let too_big = incompressible(len + 1);
        let err = s.seal_at(&too_big, t(T0 + 60), t(T0)).unwrap_err();
        assert!(err.is_too_large(), "{err:?}");
        let total = 2 + 1 + value_len(protection, len + 1) + 100;
        let text = err.to_string();
        assert!(
            text.contains(&format!("would take {total} bytes")),
            "{text}"
        );
        assert!(text.contains("over the limit of 4096 bytes"), "{text}");
        assert!(text.contains(&format!("{}-byte record", len + 1)), "{text}");
    }
}
