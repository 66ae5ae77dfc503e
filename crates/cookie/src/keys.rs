//! Per-purpose keys derived from the configured secrets.
//!
//! A secret is never used as a key itself. For each secret, HKDF-SHA256 (RFC 5869, `ring::hkdf`)
//! extracts a pseudorandom key with the configured salt, then expands one key per format:
//!
//! | format | algorithm | HKDF info |
//! |---|---|---|
//! | `s1.` | HMAC-SHA256 | `sessionkit cookie s1 hmac-sha256` |
//! | `e1.` | AES-256-GCM | `sessionkit cookie e1 aes-256-gcm` |
//!
//! So the session secret cannot sign or encrypt anything but session cookies of this salt, a
//! signed value cannot be passed off as an encrypted one, and a future format gets keys of its
//! own.

use std::fmt;

use ring::{aead, hkdf, hmac};
use sessionkit_core::{Error, Result};

use crate::config::Secret;

const INFO_S1: &[u8] = b"sessionkit cookie s1 hmac-sha256";
const INFO_E1: &[u8] = b"sessionkit cookie e1 aes-256-gcm";

/// The keys of one secret.
pub(crate) struct Keys {
    pub(crate) mac: hmac::Key,
    pub(crate) aead: aead::LessSafeKey,
}

impl Keys {
    fn derive(salt: &str, secret: &[u8]) -> Result<Self> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt.as_bytes()).extract(secret);
        // `expand` only fails when asked for more than 255 hash lengths, never for 32 bytes.
        let failed = |_| Error::config("cookie", "HKDF key derivation failed");
        let mac = prk
            .expand(&[INFO_S1], hmac::HMAC_SHA256)
            .map(hmac::Key::from)
            .map_err(failed)?;
        let aead = prk
            .expand(&[INFO_E1], &aead::AES_256_GCM)
            .map(aead::UnboundKey::from)
            .map(aead::LessSafeKey::new)
            .map_err(failed)?;
        Ok(Self { mac, aead })
    }
}

/// The main secret's keys first, then each fallback's, in configuration order.
pub(crate) struct KeyRing {
    keys: Vec<Keys>,
}

impl KeyRing {
    pub(crate) fn derive(salt: &str, main: &Secret, fallbacks: &[Secret]) -> Result<Self> {
        let keys = std::iter::once(main)
            .chain(fallbacks)
            .map(|s| Keys::derive(salt, s.as_bytes()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { keys })
    }

    /// The keys new values are made with.
    pub(crate) fn current(&self) -> &Keys {
        &self.keys[0]
    }

    /// Every key set, the current one first.
    pub(crate) fn all(&self) -> &[Keys] {
        &self.keys
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("fallbacks", &(self.keys.len() - 1))
            .finish_non_exhaustive()
    }
}
