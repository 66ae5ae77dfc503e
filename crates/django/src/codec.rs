//! [`DjangoCodec`]: sessionkit records in the very bytes a Django engine keeps, so a store
//! configured with it shares its sessions with a running Django.

use serde_json::{Map, Number, Value};
use serde_pickle::{DeOptions, HashableValue, SerOptions, Value as Pickled};
use sessionkit_core::{Codec, Error, ErrorKind, Record, RecordRef, Result, UnixTime};

use crate::session::{from_session_json, session_entries, session_json, SessionData};

/// How a Django engine carries the session dict.
#[derive(Debug, Clone)]
enum Carrier {
    /// The JSON itself (the `signed_cookies` engine signs it: see
    /// [`SignedCookieStore`](crate::SignedCookieStore)).
    Json,
    /// `SessionBase.encode`: signed, compressed JSON (`django_session.session_data`).
    Signed(SessionData),
    /// The dict pickled, as Django's cache framework stores it (`cache` and the cache half of
    /// `cached_db`).
    Pickle,
}

/// A [`Codec`] that writes and reads a session as Django keeps it: the session dict, with the
/// session's own expiry under `_session_expiry` (see [`crate::session`]).
///
/// Use it with [`SessionConfig::with_only_codec`](sessionkit_core::SessionConfig::with_only_codec):
/// a store shared with Django holds nothing but Django's format, and none of its bytes start
/// with a sessionkit format byte.
///
/// | constructor | bytes | for Django's |
/// |---|---|---|
/// | [`pickle`](Self::pickle) | the dict pickled (protocol 3; Django reads every protocol) | `cache` engine on redis or memcached, the cache half of `cached_db` |
/// | [`signed`](Self::signed) | `signing.dumps(dict, salt="django.contrib.sessions.SessionStore", compress=True)` | `db` and `cached_db` engines' `session_data` |
/// | [`json`](Self::json) | the JSON Django's serializer writes | `signed_cookies` ([`SignedCookieStore`](crate::SignedCookieStore) signs it) |
///
/// A record that does not decode — tampered, signed with another key, or a pickle of something
/// that is not JSON-like (a `datetime`, a custom class) — is an [`ErrorKind::Decode`] error,
/// which a load treats as no session (with a logged warning), never a panic.
///
/// Django keeps no expiry time inside the dict: a loaded record's
/// [`expires_at`](Record::expires_at) is unknown (`UnixTime::from_secs(i64::MAX)`); the store
/// reports it from the row's `expire_date`, the cache's TTL or the cookie's timestamp.
#[derive(Debug, Clone)]
pub struct DjangoCodec {
    carrier: Carrier,
}

impl DjangoCodec {
    /// The pickled dict of Django's cache engines.
    pub fn pickle() -> Self {
        Self {
            carrier: Carrier::Pickle,
        }
    }

    /// The signed `session_data` of Django's `db` engine, with `SECRET_KEY` and
    /// `SECRET_KEY_FALLBACKS` in `format`.
    pub fn signed(format: SessionData) -> Self {
        Self {
            carrier: Carrier::Signed(format),
        }
    }

    /// Django's session JSON, unsigned.
    pub fn json() -> Self {
        Self {
            carrier: Carrier::Json,
        }
    }
}

impl Codec for DjangoCodec {
    /// The first byte of most of what this codec writes (`0x80`: pickle's `PROTO`; `e`: the
    /// base64 of `{`; `{`). Django's formats have no format byte of their own, so use this codec
    /// only through [`Codecs::only`](sessionkit_core::Codecs::only), which never dispatches on it.
    fn format_byte(&self) -> u8 {
        match self.carrier {
            Carrier::Pickle => 0x80,
            Carrier::Signed(_) => b'e',
            Carrier::Json => b'{',
        }
    }

    fn encode(&self, record: RecordRef<'_>, out: &mut Vec<u8>) -> Result<()> {
        match &self.carrier {
            Carrier::Json => {
                out.extend_from_slice(session_json(record.data, record.expiry).as_bytes());
            }
            Carrier::Signed(format) => {
                let json = session_json(record.data, record.expiry);
                // The signature's time is not checked for `session_data` (the row's
                // `expire_date` is), so the wall clock is as good as any.
                let signed = format
                    .signer()
                    .dumps_at(json.as_bytes(), true, UnixTime::now());
                out.extend_from_slice(signed.as_bytes());
            }
            Carrier::Pickle => {
                // The dict itself (not its JSON text read back).
                let dict: Map<String, Value> = session_entries(record.data, record.expiry)
                    .into_iter()
                    .collect();
                serde_pickle::to_writer(out, &dict, SerOptions::new())
                    .map_err(|e| Error::new(ErrorKind::Encode, "django").with_source(e))?;
            }
        }
        Ok(())
    }

    fn decode(&self, bytes: Vec<u8>) -> Result<Record> {
        let (data, expiry) = match &self.carrier {
            Carrier::Json => {
                from_session_json(&bytes).ok_or_else(|| refused("not a JSON object"))?
            }
            Carrier::Signed(format) => {
                let text = std::str::from_utf8(&bytes).map_err(|_| refused("not text"))?;
                format
                    .decode(text)
                    .map_err(|why| refused(&format!("session_data refused: {why:?}")))?
            }
            Carrier::Pickle => {
                // Bounded first: the parser recurses and copies memo references.
                crate::pickle::check(&bytes).map_err(refused)?;
                let value = serde_pickle::value_from_slice(&bytes, DeOptions::new())
                    .map_err(|e| Error::new(ErrorKind::Decode, "django").with_source(e))?;
                let Pickled::Dict(dict) = value else {
                    return Err(refused("the pickle is not a dict"));
                };
                let mut map = Map::new();
                for (key, value) in dict {
                    let HashableValue::String(key) = key else {
                        return Err(refused("a key of the pickled dict is not a string"));
                    };
                    map.insert(key, to_json(value)?);
                }
                crate::session::split_expiry(map)
            }
        };
        Ok(Record {
            expires_at: UnixTime::from_secs(i64::MAX),
            expiry,
            data,
        })
    }
}

fn refused(why: &str) -> Error {
    Error::new(ErrorKind::Decode, "django").with_detail(format!("not a Django session: {why}"))
}

/// A JSON-like pickled value as JSON, as Django's JSON serializer would have written it (an
/// integer beyond 64 bits becomes the nearest float, as it does when sessionkit reads Django's
/// JSON). Bytes, sets, tuples used as keys and anything else JSON cannot hold are refused.
fn to_json(value: Pickled) -> Result<Value> {
    Ok(match value {
        Pickled::None => Value::Null,
        Pickled::Bool(b) => Value::Bool(b),
        Pickled::I64(n) => Value::from(n),
        Pickled::Int(big) => big
            .to_string()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| refused("an integer no float can hold"))?,
        Pickled::F64(f) => Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| refused("a NaN or infinite float"))?,
        Pickled::String(s) => Value::String(s),
        // json.dumps writes a tuple as a list.
        Pickled::List(items) | Pickled::Tuple(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_>>()?)
        }
        Pickled::Dict(dict) => {
            let mut map = Map::new();
            for (key, value) in dict {
                let HashableValue::String(key) = key else {
                    return Err(refused("a dict key is not a string"));
                };
                map.insert(key, to_json(value)?);
            }
            Value::Object(map)
        }
        Pickled::Bytes(_) | Pickled::Set(_) | Pickled::FrozenSet(_) => {
            return Err(refused("a value JSON cannot hold (bytes or a set)"))
        }
    })
}

#[cfg(test)]
mod tests {
    use sessionkit_core::{Codecs, Data, Expiry};
    use std::sync::Arc;

    use super::*;

    const SECRET: &[u8] = b"django_tests_secret_key";

    fn sample() -> Data {
        [
            ("_auth_user_id", serde_json::json!("42")),
            (
                "cart",
                serde_json::json!({"items": [1, 2.5, "é"], "gift": true, "note": null}),
            ),
        ]
        .into_iter()
        .collect()
    }

    fn round_trip(codec: DjangoCodec, expiry: Expiry) -> (Vec<u8>, Record) {
        let codecs = Codecs::only(Arc::new(codec));
        let data = sample();
        let bytes = codecs
            .encode(RecordRef {
                expires_at: UnixTime::from_secs(1_800_000_000),
                expiry,
                data: &data,
            })
            .unwrap();
        let record = codecs.decode(&bytes).unwrap();
        (bytes, record)
    }

    #[test]
    fn every_carrier_round_trips_values_and_expiry() {
        let signed = || DjangoCodec::signed(SessionData::new(SECRET, []));
        for codec in [DjangoCodec::pickle(), signed(), DjangoCodec::json()] {
            for expiry in [
                Expiry::Default,
                Expiry::AtBrowserClose,
                Expiry::AfterInactivity(300),
                Expiry::At(UnixTime::from_secs(1_900_000_000)),
            ] {
                let (_, record) = round_trip(codec.clone(), expiry);
                assert_eq!(record.data, sample(), "{codec:?}");
                assert_eq!(record.expiry, expiry, "{codec:?}");
            }
        }
    }

    #[test]
    fn pickle_is_what_python_reads() {
        let (bytes, _) = round_trip(DjangoCodec::pickle(), Expiry::AfterInactivity(300));
        // PROTO 3, then a dict.
        assert_eq!(&bytes[..2], b"\x80\x03");
        assert_eq!(bytes.last(), Some(&b'.'));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("_session_expiry"), "{text}");
    }

    #[test]
    fn python_pickles_read() {
        // CPython 3.11: pickle.dumps({'hello': 'world'}, 5), the reference's §4.6 bytes.
        let bytes = b"\x80\x05\x95\x14\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x05hello\x94\x8c\x05world\x94s.";
        let record = DjangoCodec::pickle().decode(bytes.to_vec()).unwrap();
        let want: Data = [("hello", serde_json::json!("world"))]
            .into_iter()
            .collect();
        assert_eq!(record.data, want);
        assert_eq!(record.expiry, Expiry::Default);
    }

    #[test]
    fn foreign_or_broken_bytes_are_decode_errors() {
        let signed = DjangoCodec::signed(SessionData::new(SECRET, []));
        let other = DjangoCodec::signed(SessionData::new(b"another secret", []));
        let (bytes, _) = round_trip(other, Expiry::Default);
        for (codec, bytes) in [
            (signed.clone(), bytes),
            (signed, b"\xff\xfe".to_vec()),
            (DjangoCodec::json(), b"[1,2]".to_vec()),
            (DjangoCodec::pickle(), b"\x80\x05K\x01.".to_vec()), // the int 1
            (
                DjangoCodec::pickle(),
                b"\x80\x05}\x94C\x01a\x94K\x01s.".to_vec(),
            ), // {b'a': 1}
            (DjangoCodec::pickle(), b"\x80\x05\x95".to_vec()),
            // 400 KB of nested lists: a recursive reader would overflow the stack.
            (DjangoCodec::pickle(), crate::pickle::tests::nested(200_000)),
            (DjangoCodec::pickle(), Vec::new()),
        ] {
            let err = codec.decode(bytes).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode, "{codec:?}");
        }
    }
}
