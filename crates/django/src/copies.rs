//! [`DjangoCopies`]: the cache half of Django's `cached_db` engine.

use sessionkit_cached_db::CopyFormat;
use sessionkit_core::{Codec, Loaded, Result, UnixTime, Version};

use crate::session::SessionData;
use crate::DjangoCodec;

/// Django's `cached_db` copies, for a
/// [`CachedDbStore`](sessionkit_cached_db::CachedDbStore) shared with Django: the database row
/// holds the signed `session_data` ([`DjangoCodec::signed`], the session's codec), the cache
/// the same session dict pickled ([`DjangoCodec::pickle`]) under
/// `<KEY_PREFIX>:<VERSION>:django.contrib.sessions.cached_db<key>`.
///
/// A copy is converted on every write-through and cache hit (the dict decoded and encoded
/// again, the database's form signed again); Django's copies carry no version, so a
/// `cached_db` store shared with Django cannot compare and set (neither can its database).
/// A copy that is not a JSON-like dict (a value only pickle can hold) is a cache miss: the
/// database answers.
#[derive(Debug, Clone)]
pub struct DjangoCopies {
    signed: DjangoCodec,
    pickle: DjangoCodec,
}

impl DjangoCopies {
    /// With the `SECRET_KEY` (and fallbacks) the database rows are signed with.
    pub fn new(format: SessionData) -> Self {
        Self {
            signed: DjangoCodec::signed(format),
            pickle: DjangoCodec::pickle(),
        }
    }
}

impl CopyFormat for DjangoCopies {
    fn make_copy(
        &self,
        record: &[u8],
        _version: Version,
        _expires_at: UnixTime,
    ) -> Result<Vec<u8>> {
        let session = self.signed.decode(record.to_vec())?;
        let mut copy = Vec::new();
        self.pickle.encode(session.as_ref(), &mut copy)?;
        Ok(copy)
    }

    fn serve_copy(&self, copy: Loaded, _capped: bool) -> Result<Loaded> {
        let session = self.pickle.decode(copy.record)?;
        let mut record = Vec::new();
        self.signed.encode(session.as_ref(), &mut record)?;
        Ok(Loaded::untracked(record, copy.expires_at))
    }
}

#[cfg(test)]
mod tests {
    use sessionkit_core::{Data, Expiry, RecordRef};

    use super::*;

    #[test]
    fn copies_are_the_dict_pickled_and_come_back_signed() {
        let copies = DjangoCopies::new(SessionData::new(b"secret", []));
        let data: Data = [("_auth_user_id", serde_json::json!("7"))]
            .into_iter()
            .collect();
        let mut record = Vec::new();
        copies
            .signed
            .encode(
                RecordRef {
                    expires_at: UnixTime::from_secs(0),
                    expiry: Expiry::AfterInactivity(60),
                    data: &data,
                },
                &mut record,
            )
            .unwrap();
        let at = UnixTime::from_secs(1_900_000_000);
        let copy = copies.make_copy(&record, Version::UNTRACKED, at).unwrap();
        assert_eq!(copy[0], 0x80, "a pickle");
        let served = copies
            .serve_copy(Loaded::untracked(copy, at), false)
            .unwrap();
        assert_eq!(served.expires_at, at);
        let back = copies.signed.decode(served.record).unwrap();
        assert_eq!(
            (back.data, back.expiry),
            (data, Expiry::AfterInactivity(60))
        );
        assert!(copies
            .serve_copy(Loaded::untracked(record, at), false)
            .is_err());
    }
}
