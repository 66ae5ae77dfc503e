//! The value format: how a record becomes a cookie value and back.
//!
//! ```text
//! value     = "s1." base64url(body || trailer || HMAC-SHA256(k_s1, body || trailer))
//!           | "e1." base64url(nonce || AES-256-GCM(k_e1, nonce, body || trailer) || tag)
//! trailer   = flags (1 byte) || issued_at (i64 BE) || expires_at (i64 BE)     17 bytes
//! body      = record                                   when flags & 0x01 == 0
//!           | inflated length (u32 BE) || raw deflate  when flags & 0x01 == 1
//! ```
//!
//! base64url is unpadded and canonical (unused trailing bits must be zero), so a value is a
//! valid cookie value without escaping and each value has exactly one spelling. The keys
//! `k_s1` and `k_e1` are derived per format from the secret (see [`crate::keys`]). Flags other
//! than `0x01` are reserved and rejected. The trailer sits after the body so that opening a
//! value only truncates the decoded buffer: the record is returned without another copy.
//!
//! A value is accepted at `now` only if its MAC (or AEAD tag) verifies with one of the
//! configured secrets, `now - issued_at <= max_age` and `now <= expires_at` (both inclusive).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;
use ring::aead::{Aad, Nonce};
use ring::hmac;
use ring::rand::{self, SystemRandom};
use sessionkit_core::{Error, ErrorKind, Result, UnixTime};

use crate::config::{Compression, CookieConfig, Protection};
use crate::keys::KeyRing;

/// The start of a signed value: format `s1`.
pub(crate) const SIGNED_PREFIX: &str = "s1.";
/// The start of an encrypted value: format `e1`.
pub(crate) const ENCRYPTED_PREFIX: &str = "e1.";
const PREFIX_LEN: usize = 3;
pub(crate) const TRAILER_LEN: usize = 17;
pub(crate) const MAC_LEN: usize = 32;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const AEAD_TAG_LEN: usize = 16;
/// The body is `inflated length || raw deflate`.
pub(crate) const FLAG_DEFLATE: u8 = 0x01;
const KNOWN_FLAGS: u8 = FLAG_DEFLATE;
const INFLATED_LEN_BYTES: usize = 4;
/// Records shorter than this are never worth deflating.
const MIN_COMPRESS_INPUT: usize = 64;
/// miniz_oxide's fastest level: for session-sized records it compresses nearly as well as
/// level 6 at a fraction of the cost.
const DEFLATE_LEVEL: u8 = 1;

/// Why a presented value was not accepted (for debug logs and tests; callers only see "no
/// session").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Longer than any value this store can have issued.
    TooLong,
    /// Does not start with a known format (`s1.`, `e1.`).
    UnknownFormat,
    /// Not canonical unpadded base64url.
    Base64,
    /// Too short to hold a trailer and a MAC or tag.
    TooShort,
    /// The MAC or AEAD tag does not verify with any configured secret.
    BadSignature,
    /// Reserved flags are set.
    UnknownFlags,
    /// Issued more than `max_age` seconds ago.
    TooOld,
    /// The session's own expiry has passed.
    Expired,
    /// The compressed body is malformed or inflates beyond its declared size or the bound.
    Inflate,
}

impl Reject {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reject::TooLong => "value too long",
            Reject::UnknownFormat => "unknown format",
            Reject::Base64 => "not base64url",
            Reject::TooShort => "value too short",
            Reject::BadSignature => "signature does not verify",
            Reject::UnknownFlags => "reserved flags set",
            Reject::TooOld => "older than max_age",
            Reject::Expired => "session expired",
            Reject::Inflate => "bad compressed body",
        }
    }
}

/// Everything needed to seal and open values: the derived keys and the checked settings.
#[derive(Debug)]
pub(crate) struct Seal {
    keys: KeyRing,
    pub(crate) protection: Protection,
    pub(crate) compression: Compression,
    pub(crate) max_age: i64,
    pub(crate) cookie_name: String,
    pub(crate) attribute_budget: usize,
    pub(crate) size_limit: usize,
    pub(crate) max_decompressed: usize,
    rng: SystemRandom,
}

impl Seal {
    pub(crate) fn new(config: &CookieConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            keys: KeyRing::derive(&config.salt, &config.secret, &config.fallbacks)?,
            protection: config.protection,
            compression: config.effective_compression(),
            // `validate` checked that it fits.
            max_age: i64::try_from(config.max_age.as_secs()).unwrap_or(i64::MAX),
            cookie_name: config.cookie_name.clone(),
            attribute_budget: config.attribute_budget,
            size_limit: config.size_limit,
            max_decompressed: config.max_decompressed,
            rng: SystemRandom::new(),
        })
    }

    /// The longest value accepted from a client: what fits next to the name and `=` in the
    /// size limit (a request's `Cookie` header carries no attributes).
    pub(crate) fn max_incoming(&self) -> usize {
        self.size_limit - self.cookie_name.len() - 1
    }

    /// The longest value [`seal_at`](Self::seal_at) may issue: the size limit minus the name,
    /// `=` and the attribute budget.
    pub(crate) fn max_issued(&self) -> usize {
        self.max_incoming().saturating_sub(self.attribute_budget)
    }

    /// Seals `record` as issued at `now`, in the configured protection mode.
    pub(crate) fn seal_at(
        &self,
        record: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<String> {
        let nonce = match self.protection {
            Protection::Signed => None,
            Protection::Encrypted => Some(self.fresh_nonce()?),
        };
        self.seal_with(record, expires_at, now, self.protection, nonce)
    }

    /// [`seal_at`](Self::seal_at) with the mode and (for encryption) the nonce given: the seam
    /// that fixed-nonce test vectors use. `nonce` is ignored for signed values.
    pub(crate) fn seal_with(
        &self,
        record: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
        protection: Protection,
        nonce: Option<[u8; NONCE_LEN]>,
    ) -> Result<String> {
        let compressed = self.compress(record, protection);
        let (flags, body) = match &compressed {
            Some(c) => (FLAG_DEFLATE, c.as_slice()),
            None => (0, record),
        };
        let len = value_len(protection, body.len());
        if len > self.max_issued() {
            return Err(self.too_large(len, record.len(), compressed.is_some()));
        }
        self.seal_parts(flags, body, now, expires_at, protection, nonce)
    }

    /// Builds a value from its parts, without any size check.
    pub(crate) fn seal_parts(
        &self,
        flags: u8,
        body: &[u8],
        issued_at: UnixTime,
        expires_at: UnixTime,
        protection: Protection,
        nonce: Option<[u8; NONCE_LEN]>,
    ) -> Result<String> {
        let trailer = trailer(flags, issued_at, expires_at);
        let keys = self.keys.current();
        match protection {
            Protection::Signed => {
                // MAC and encode the parts where they lie: the record is not copied.
                let mut mac = hmac::Context::with_key(&keys.mac);
                mac.update(body);
                mac.update(&trailer);
                let tag = mac.sign();
                encode(SIGNED_PREFIX, &[body, &trailer, tag.as_ref()])
            }
            Protection::Encrypted => {
                let nonce = match nonce {
                    Some(n) => n,
                    None => self.fresh_nonce()?,
                };
                let mut blob =
                    Vec::with_capacity(NONCE_LEN + body.len() + TRAILER_LEN + AEAD_TAG_LEN);
                blob.extend_from_slice(&nonce);
                blob.extend_from_slice(body);
                blob.extend_from_slice(&trailer);
                let tag = keys
                    .aead
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::empty(),
                        &mut blob[NONCE_LEN..],
                    )
                    .map_err(|_| {
                        Error::new(ErrorKind::Encode, "cookie")
                            .with_detail("AES-256-GCM sealing failed")
                    })?;
                encode(ENCRYPTED_PREFIX, &[&blob, tag.as_ref()])
            }
        }
    }

    fn fresh_nonce(&self) -> Result<[u8; NONCE_LEN]> {
        rand::generate::<[u8; NONCE_LEN]>(&self.rng)
            .map(|r| r.expose())
            .map_err(|_| {
                Error::new(ErrorKind::Backend, "cookie")
                    .with_detail("the operating system's random number generator failed")
            })
    }

    /// The deflated body (`inflated length || raw deflate`) if the setting asks for compression
    /// and it makes the body smaller.
    fn compress(&self, record: &[u8], protection: Protection) -> Option<Vec<u8>> {
        let wanted = match self.compression {
            Compression::Never => false,
            Compression::WhenNeeded => value_len(protection, record.len()) > self.max_issued(),
            Compression::WhenSmaller => record.len() >= MIN_COMPRESS_INPUT,
        };
        // A record that could not be inflated again on load is never compressed (it is then
        // too large for a cookie anyway: the bound is far above the size limit by default).
        if !wanted || record.len() > self.max_decompressed {
            return None;
        }
        let inflated_len = u32::try_from(record.len()).ok()?;
        let deflated = miniz_oxide::deflate::compress_to_vec(record, DEFLATE_LEVEL);
        if INFLATED_LEN_BYTES + deflated.len() >= record.len() {
            return None;
        }
        let mut body = Vec::with_capacity(INFLATED_LEN_BYTES + deflated.len());
        body.extend_from_slice(&inflated_len.to_be_bytes());
        body.extend_from_slice(&deflated);
        Some(body)
    }

    fn too_large(&self, value_len: usize, record_len: usize, compressed: bool) -> Error {
        let name = self.cookie_name.len();
        let total = name + 1 + value_len + self.attribute_budget;
        let how = if compressed { ", compressed" } else { "" };
        Error::new(ErrorKind::TooLarge, "cookie").with_detail(format!(
            "the session cookie would take {total} bytes (name {name} + 1 + value {value_len} \
             for a {record_len}-byte record{how} + attribute budget {}), over the limit of {} \
             bytes",
            self.attribute_budget, self.size_limit
        ))
    }

    /// The record inside `value`, if it verifies and is live at `now`.
    #[cfg(test)]
    pub(crate) fn open_at(&self, value: &str, now: UnixTime) -> Result<Vec<u8>, Reject> {
        self.open_expiring_at(value, now).map(|(record, _)| record)
    }

    /// [`open_at`](Self::open_at), and the last second the value is live: its sealed expiry or
    /// its issue time plus the maximum age, whichever comes first.
    pub(crate) fn open_expiring_at(
        &self,
        value: &str,
        now: UnixTime,
    ) -> Result<(Vec<u8>, UnixTime), Reject> {
        if value.len() > self.max_incoming() {
            return Err(Reject::TooLong);
        }
        let (protection, encoded) = if let Some(rest) = value.strip_prefix(SIGNED_PREFIX) {
            (Protection::Signed, rest)
        } else if let Some(rest) = value.strip_prefix(ENCRYPTED_PREFIX) {
            (Protection::Encrypted, rest)
        } else {
            return Err(Reject::UnknownFormat);
        };
        let mut blob = Vec::with_capacity(base64::decoded_len_estimate(encoded.len()));
        B64.decode_vec(encoded, &mut blob)
            .map_err(|_| Reject::Base64)?;
        let plain_len = match protection {
            Protection::Signed => self.verify(&blob)?,
            Protection::Encrypted => self.decrypt(&mut blob)?,
        };
        blob.truncate(plain_len);
        let body_len = plain_len - TRAILER_LEN;
        let (flags, issued_at, expires_at) = parse_trailer(&blob[body_len..]);
        blob.truncate(body_len);
        if flags & !KNOWN_FLAGS != 0 {
            return Err(Reject::UnknownFlags);
        }
        if now.secs_after(issued_at) > self.max_age {
            return Err(Reject::TooOld);
        }
        // Inclusive, like the max age (and Django's): a session whose expiry is its issue
        // time + the cookie age is still valid exactly that old.
        if expires_at.secs_after(now) < 0 {
            return Err(Reject::Expired);
        }
        let live_until = UnixTime::from_secs(
            expires_at
                .as_secs()
                .min(issued_at.as_secs().saturating_add(self.max_age)),
        );
        if flags & FLAG_DEFLATE != 0 {
            return Ok((self.inflate(&blob)?, live_until));
        }
        Ok((blob, live_until))
    }

    /// Checks the MAC with every key; returns the length of `body || trailer`.
    fn verify(&self, blob: &[u8]) -> Result<usize, Reject> {
        let Some(split) = blob
            .len()
            .checked_sub(MAC_LEN)
            .filter(|&n| n >= TRAILER_LEN)
        else {
            return Err(Reject::TooShort);
        };
        let (message, tag) = blob.split_at(split);
        // `hmac::verify` compares in constant time.
        if self
            .keys
            .all()
            .iter()
            .any(|k| hmac::verify(&k.mac, message, tag).is_ok())
        {
            Ok(split)
        } else {
            Err(Reject::BadSignature)
        }
    }

    /// Decrypts in place with every key until one opens it; the plaintext (`body || trailer`)
    /// then starts the buffer and its length is returned.
    fn decrypt(&self, blob: &mut [u8]) -> Result<usize, Reject> {
        if blob.len() < NONCE_LEN + TRAILER_LEN + AEAD_TAG_LEN {
            return Err(Reject::TooShort);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&blob[..NONCE_LEN]);
        let keys = self.keys.all();
        // A failed attempt leaves the buffer unspecified: keep the ciphertext for the next key.
        let backup = (keys.len() > 1).then(|| blob[NONCE_LEN..].to_vec());
        for (i, k) in keys.iter().enumerate() {
            if let (true, Some(backup)) = (i > 0, &backup) {
                blob[NONCE_LEN..].copy_from_slice(backup);
            }
            let opened = k.aead.open_within(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                blob,
                NONCE_LEN..,
            );
            if let Ok(plain) = opened {
                return Ok(plain.len());
            }
        }
        Err(Reject::BadSignature)
    }

    /// Inflates `inflated length || raw deflate` into exactly that many bytes, never more than
    /// the configured bound.
    fn inflate(&self, body: &[u8]) -> Result<Vec<u8>, Reject> {
        if body.len() < INFLATED_LEN_BYTES {
            return Err(Reject::Inflate);
        }
        let (len, stream) = body.split_at(INFLATED_LEN_BYTES);
        let mut len_bytes = [0u8; INFLATED_LEN_BYTES];
        len_bytes.copy_from_slice(len);
        let declared =
            usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| Reject::Inflate)?;
        if declared > self.max_decompressed {
            return Err(Reject::Inflate);
        }
        let mut out = vec![0u8; declared];
        let mut inflater = Box::<DecompressorOxide>::default();
        // A non-wrapping output buffer of exactly the declared size: a stream that wants to
        // write more stops with `HasMoreOutput` instead of growing anything.
        let (status, consumed, written) = decompress(
            &mut inflater,
            stream,
            &mut out,
            0,
            inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        );
        if status != TINFLStatus::Done || consumed != stream.len() || written != declared {
            return Err(Reject::Inflate);
        }
        Ok(out)
    }
}

/// Length of a value whose body is `body_len` bytes.
pub(crate) fn value_len(protection: Protection, body_len: usize) -> usize {
    let raw = match protection {
        Protection::Signed => body_len + TRAILER_LEN + MAC_LEN,
        Protection::Encrypted => NONCE_LEN + body_len + TRAILER_LEN + AEAD_TAG_LEN,
    };
    // Unpadded base64: 4 characters per 3 bytes, rounded up.
    PREFIX_LEN + (raw * 4).div_ceil(3)
}

fn trailer(flags: u8, issued_at: UnixTime, expires_at: UnixTime) -> [u8; TRAILER_LEN] {
    let mut t = [0u8; TRAILER_LEN];
    t[0] = flags;
    t[1..9].copy_from_slice(&issued_at.as_secs().to_be_bytes());
    t[9..17].copy_from_slice(&expires_at.as_secs().to_be_bytes());
    t
}

fn parse_trailer(t: &[u8]) -> (u8, UnixTime, UnixTime) {
    let mut issued = [0u8; 8];
    let mut expires = [0u8; 8];
    issued.copy_from_slice(&t[1..9]);
    expires.copy_from_slice(&t[9..17]);
    (
        t[0],
        UnixTime::from_secs(i64::from_be_bytes(issued)),
        UnixTime::from_secs(i64::from_be_bytes(expires)),
    )
}

/// `prefix` followed by the unpadded base64url encoding of the concatenated `parts`, encoded
/// where they lie (at most two bytes per part boundary are carried over).
fn encode(prefix: &str, parts: &[&[u8]]) -> Result<String> {
    let encode_error =
        || Error::new(ErrorKind::Encode, "cookie").with_detail("base64 encoding failed");
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = vec![0u8; PREFIX_LEN + (total * 4).div_ceil(3)];
    out[..PREFIX_LEN].copy_from_slice(prefix.as_bytes());
    let mut pos = PREFIX_LEN;
    let mut put = |input: &[u8], pos: &mut usize| -> Result<()> {
        *pos += B64
            .encode_slice(input, &mut out[*pos..])
            .map_err(|_| encode_error())?;
        Ok(())
    };
    let mut carry = [0u8; 3];
    let mut carried = 0;
    for &part in parts {
        let mut part = part;
        if carried > 0 {
            let take = (3 - carried).min(part.len());
            carry[carried..carried + take].copy_from_slice(&part[..take]);
            carried += take;
            part = &part[take..];
            if carried < 3 {
                continue;
            }
            put(&carry, &mut pos)?;
        }
        let whole = part.len() - part.len() % 3;
        put(&part[..whole], &mut pos)?;
        let rest = &part[whole..];
        carry[..rest.len()].copy_from_slice(rest);
        carried = rest.len();
    }
    if carried > 0 {
        put(&carry[..carried], &mut pos)?;
    }
    out.truncate(pos);
    String::from_utf8(out).map_err(|_| encode_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_in_parts_equals_encoding_the_whole() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(64).collect();
        for a in 0..8 {
            for b in 0..8 {
                for c in [0, 1, 2, 3, 17, 32] {
                    let (x, rest) = bytes.split_at(a);
                    let (y, rest) = rest.split_at(b);
                    let z = &rest[..c];
                    let whole = [x, y, z].concat();
                    assert_eq!(
                        encode("s1.", &[x, y, z]).unwrap(),
                        format!("s1.{}", B64.encode(&whole)),
                        "{a} {b} {c}"
                    );
                }
            }
        }
    }

    #[test]
    fn value_len_matches_the_encoding() {
        for body_len in 0..100 {
            for (protection, overhead) in [
                (Protection::Signed, TRAILER_LEN + MAC_LEN),
                (
                    Protection::Encrypted,
                    NONCE_LEN + TRAILER_LEN + AEAD_TAG_LEN,
                ),
            ] {
                let blob = vec![0u8; body_len + overhead];
                let value = encode("s1.", &[&blob]).unwrap();
                assert_eq!(value_len(protection, body_len), value.len());
            }
        }
    }
}
