//! Stored records and the codecs that turn them into bytes.
//!
//! Every stored record starts with one *format byte* that names the codec and its version, so
//! a deployment can change codec (or a codec can change its layout under a new format byte)
//! without logging anyone out: records are always decoded by the codec that wrote them.
//!
//! | first byte | format |
//! |---|---|
//! | `0x01` | [`BincodeCodec`], layout 1 (default) |
//! | `{` (`0x7b`) | [`JsonCodec`]: a JSON object with `"v":1` — the whole record is readable JSON |
//! | `0x80`–`0xfe` | reserved for your own [`Codec`]s |

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bincode::de::{Decoder, DecoderImpl};
use bincode::enc::{write::Writer, Encoder};
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data::Part;
use crate::wire::{
    bincode_config, decode_len, encode_str, encode_value, skip_str, skip_value, Cursor, MAX_DEPTH,
    MAX_RECORD_BYTES, PREALLOC,
};
use crate::{Data, Error, ErrorKind, Expiry, Result, UnixTime};

/// What a store keeps for one session, decoded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// When the server must stop serving the record.
    pub expires_at: UnixTime,
    /// The session's own expiry setting, restored on load.
    pub expiry: Expiry,
    /// The session's values.
    pub data: Data,
}

/// A borrowed view of a [`Record`], for encoding without copying the values.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// When the server must stop serving the record.
    pub expires_at: UnixTime,
    /// The session's own expiry setting.
    pub expiry: Expiry,
    /// The session's values.
    pub data: &'a Data,
}

impl Record {
    /// A borrowed view of this record.
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            expires_at: self.expires_at,
            expiry: self.expiry,
            data: &self.data,
        }
    }
}

/// Turns records into bytes and back. Implement it to store sessions in your own format.
///
/// A codec writes its [`format_byte`](Codec::format_byte) first and must reject (not panic on)
/// any bytes: stored bytes may be corrupted, truncated or written by something else.
pub trait Codec: fmt::Debug + Send + Sync + 'static {
    /// The first byte of everything this codec writes. Built-in codecs use `0x01` and `{`; use
    /// `0x80`–`0xfe` for your own. `0x00` is reserved: it starts a version envelope
    /// ([`Loaded::envelope`](crate::Loaded::envelope)).
    fn format_byte(&self) -> u8;

    /// Appends the encoded record (format byte first) to `out`.
    fn encode(&self, record: RecordRef<'_>, out: &mut Vec<u8>) -> Result<()>;

    /// Decodes bytes that start with this codec's format byte. The codec owns the bytes, so it
    /// may keep them (the built-in bincode codec decodes values lazily out of them).
    fn decode(&self, bytes: Vec<u8>) -> Result<Record>;
}

/// The codecs a session configuration writes with and reads from.
#[derive(Debug, Clone)]
pub struct Codecs {
    writer: Arc<dyn Codec>,
    extra_reader: Option<Arc<dyn Codec>>,
    only: bool,
}

impl Default for Codecs {
    fn default() -> Self {
        Self::new(Arc::new(BincodeCodec))
    }
}

impl Codecs {
    /// Writes with `writer`; reads records of `writer` and of both built-in codecs.
    pub fn new(writer: Arc<dyn Codec>) -> Self {
        let builtin = [BINCODE_V1, JSON_V1].contains(&writer.format_byte());
        Self {
            extra_reader: (!builtin).then(|| writer.clone()),
            writer,
            only: false,
        }
    }

    /// Writes and reads with `codec` alone, whatever the first byte of the stored bytes: for a
    /// foreign format that has no format byte of its own (Django's session dict, say), where
    /// the built-in codecs must never be tried.
    pub fn only(codec: Arc<dyn Codec>) -> Self {
        Self {
            writer: codec,
            extra_reader: None,
            only: true,
        }
    }

    /// The codec new records are written with.
    pub fn writer(&self) -> &dyn Codec {
        &*self.writer
    }

    /// Encodes a record with the writer codec.
    ///
    /// Refuses what [`decode`](Self::decode) would refuse, so a save can never store a
    /// session that then loads as none: a value nested deeper than [`MAX_DEPTH`] (an
    /// [`ErrorKind::Value`] error; checked without recursion, so no depth can exhaust the
    /// stack) and a record over [`MAX_RECORD_BYTES`] ([`ErrorKind::TooLarge`]).
    pub fn encode(&self, record: RecordRef<'_>) -> Result<Vec<u8>> {
        for (key, part) in record.data.parts() {
            // Values still in their stored layout were checked when they were decoded.
            if let Part::Value(v) = part {
                if !nested_within_limit(v) {
                    return Err(Error::new(ErrorKind::Value, "core").with_detail(format!(
                        "the value under {key:?} is nested more than {MAX_DEPTH} levels deep; \
                         a session keeps flatter values"
                    )));
                }
            }
        }
        let hint = match record.data.raw_len() {
            0 => 64 + record.data.len() * 48,
            loaded => loaded + 256,
        };
        let mut out = Vec::with_capacity(hint);
        self.writer.encode(record, &mut out)?;
        if out.len() > MAX_RECORD_BYTES {
            return Err(Error::new(ErrorKind::TooLarge, "core").with_detail(format!(
                "the session record would be {} bytes, over the {MAX_RECORD_BYTES} any record \
                 may be",
                out.len()
            )));
        }
        Ok(out)
    }

    /// Decodes stored bytes with the codec their format byte names.
    pub fn decode(&self, bytes: &[u8]) -> Result<Record> {
        self.decode_owned(bytes.to_vec())
    }

    /// Decodes stored bytes with the codec their format byte names, keeping the bytes (no copy).
    pub fn decode_owned(&self, bytes: Vec<u8>) -> Result<Record> {
        if self.only {
            return self.writer.decode(bytes);
        }
        match bytes.first() {
            Some(&BINCODE_V1) => BincodeCodec.decode(bytes),
            Some(&JSON_V1) => JsonCodec.decode(bytes),
            Some(&b)
                if self
                    .extra_reader
                    .as_ref()
                    .is_some_and(|c| c.format_byte() == b) =>
            {
                self.extra_reader.as_ref().map_or_else(
                    || Err(decode_error("unknown record format")),
                    |c| c.decode(bytes),
                )
            }
            Some(b) => Err(decode_error(format!("unknown record format byte {b:#04x}"))),
            None => Err(decode_error("empty record")),
        }
    }
}

const BINCODE_V1: u8 = 0x01;
const JSON_V1: u8 = b'{';

/// Whether `v` nests at most [`MAX_DEPTH`] levels (a scalar is one level, as when decoding),
/// found without recursion.
fn nested_within_limit(v: &Value) -> bool {
    let mut stack = vec![(v, 1usize)];
    while let Some((v, level)) = stack.pop() {
        if level > MAX_DEPTH {
            return false;
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, level + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, level + 1))),
            _ => {}
        }
    }
    true
}
fn decode_error(detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::Decode, "core").with_detail(detail)
}

/// The default codec: compact binary with [bincode 2](https://docs.rs/bincode/2).
///
/// Values are `serde_json::Value`s, which bincode's serde support cannot *decode* (they need
/// `deserialize_any`), so this codec writes them with bincode's native `Encode`/`Decode`:
/// a tag byte per value, varint lengths and integers. Decoding checks nesting depth and
/// allocation sizes, so corrupted bytes are an error, never a panic or a huge allocation.
#[derive(Debug, Clone, Copy, Default)]
pub struct BincodeCodec;

impl Codec for BincodeCodec {
    fn format_byte(&self) -> u8 {
        BINCODE_V1
    }

    fn encode(&self, record: RecordRef<'_>, out: &mut Vec<u8>) -> Result<()> {
        out.push(BINCODE_V1);
        bincode::encode_into_std_write(WireRecord(record), out, bincode_config())
            .map(|_| ())
            .map_err(|e| Error::new(ErrorKind::Encode, "core").with_source(e))
    }

    fn decode(&self, bytes: Vec<u8>) -> Result<Record> {
        if bytes.first() != Some(&BINCODE_V1) {
            return Err(decode_error("not a bincode record"));
        }
        let parsed = parse_bincode(&bytes)
            .map_err(|e| Error::new(ErrorKind::Decode, "core").with_source(e))?;
        let (expires_at, expiry, entries) = parsed;
        if has_duplicate_keys(&bytes, &entries) {
            return Err(decode_error("a key appears twice in the record"));
        }
        Ok(Record {
            expires_at,
            expiry,
            data: Data::from_raw(bytes, entries),
        })
    }
}

type Ranges = Vec<(Range<usize>, Range<usize>)>;

/// Reads the header and checks every value (layout, UTF-8, depth, lengths) without decoding
/// values, returning where each key and value sits.
fn parse_bincode(bytes: &[u8]) -> Result<(UnixTime, Expiry, Ranges), DecodeError> {
    let mut d = DecoderImpl::new(Cursor { buf: bytes, pos: 1 }, bincode_config(), ());
    let expires_at = UnixTime::from_secs(i64::decode(&mut d)?);
    let expiry = match u8::decode(&mut d)? {
        E_DEFAULT => Expiry::Default,
        E_BROWSER => Expiry::AtBrowserClose,
        E_INACTIVITY => Expiry::AfterInactivity(i64::decode(&mut d)?),
        E_AT => Expiry::At(UnixTime::from_secs(i64::decode(&mut d)?)),
        _ => return Err(DecodeError::Other("unknown expiry tag")),
    };
    let len = decode_len(&mut d)?;
    let mut entries = Vec::with_capacity(len.min(PREALLOC));
    for _ in 0..len {
        let key = skip_str(&mut d)?;
        let start = d.reader().pos;
        skip_value(&mut d, 1)?;
        entries.push((key, start..d.reader().pos));
    }
    if d.reader().pos != bytes.len() {
        return Err(DecodeError::Other("trailing bytes after the record"));
    }
    Ok((expires_at, expiry, entries))
}

fn has_duplicate_keys(bytes: &[u8], entries: &Ranges) -> bool {
    let key = |i: usize| &bytes[entries[i].0.clone()];
    if entries.len() <= 32 {
        (0..entries.len()).any(|i| (0..i).any(|j| key(i) == key(j)))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        (0..entries.len()).any(|i| !seen.insert(key(i)))
    }
}

struct WireRecord<'a>(RecordRef<'a>);

const E_DEFAULT: u8 = 0;
const E_BROWSER: u8 = 1;
const E_INACTIVITY: u8 = 2;
const E_AT: u8 = 3;

impl Encode for WireRecord<'_> {
    fn encode<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        let r = self.0;
        r.expires_at.as_secs().encode(e)?;
        match r.expiry {
            Expiry::Default => E_DEFAULT.encode(e)?,
            Expiry::AtBrowserClose => E_BROWSER.encode(e)?,
            Expiry::AfterInactivity(s) => {
                E_INACTIVITY.encode(e)?;
                s.encode(e)?;
            }
            Expiry::At(t) => {
                E_AT.encode(e)?;
                t.as_secs().encode(e)?;
            }
        }
        (r.data.len() as u64).encode(e)?;
        for (k, part) in r.data.parts() {
            encode_str(k, e)?;
            match part {
                // Unchanged values go back as they came: a copy, not a re-encode.
                Part::Encoded(bytes) => e.writer().write(bytes)?,
                Part::Value(v) => encode_value(v, e)?,
            }
        }
        Ok(())
    }
}

/// The readable codec: the whole record as one JSON object,
/// `{"v":1,"expires_at":…,"expiry":…,"data":{…}}` (Django's default serializer is JSON too).
///
/// About twice the size of [`BincodeCodec`]'s output for typical sessions, and slower; choose it
/// when you want to read sessions with `redis-cli` or `psql`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

#[derive(Serialize)]
struct JsonRecordOut<'a> {
    v: u32,
    expires_at: i64,
    expiry: Expiry,
    data: &'a Data,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRecordIn {
    v: u32,
    expires_at: i64,
    expiry: Expiry,
    data: Data,
}

impl Codec for JsonCodec {
    fn format_byte(&self) -> u8 {
        JSON_V1
    }

    fn encode(&self, r: RecordRef<'_>, out: &mut Vec<u8>) -> Result<()> {
        let rec = JsonRecordOut {
            v: 1,
            expires_at: r.expires_at.as_secs(),
            expiry: r.expiry,
            data: r.data,
        };
        serde_json::to_writer(out, &rec)
            .map_err(|e| Error::new(ErrorKind::Encode, "core").with_source(e))
    }

    fn decode(&self, bytes: Vec<u8>) -> Result<Record> {
        // serde_json limits nesting to 128 levels itself, so hostile input cannot overflow
        // the stack.
        let rec: JsonRecordIn = serde_json::from_slice(&bytes)
            .map_err(|e| Error::new(ErrorKind::Decode, "core").with_source(e))?;
        if rec.v != 1 {
            return Err(decode_error(format!(
                "unsupported JSON record version {}",
                rec.v
            )));
        }
        Ok(Record {
            expires_at: UnixTime::from_secs(rec.expires_at),
            expiry: rec.expiry,
            data: rec.data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{T_ARRAY, T_NULL};
    use serde_json::json;

    fn sample() -> Record {
        let mut data = Data::new();
        data.insert("user_id".into(), json!(42));
        data.insert("token".into(), json!("x".repeat(1000)));
        data.insert("neg".into(), json!(-7));
        data.insert("big".into(), json!(u64::MAX));
        data.insert("pi".into(), json!(3.25));
        data.insert(
            "nested".into(),
            json!({"a": [1, null, true, false, "s", {"b": []}]}),
        );
        data.insert("unicode".into(), json!("café ☕ 😀"));
        Record {
            expires_at: UnixTime::from_secs(1_700_000_000),
            expiry: Expiry::AfterInactivity(-10),
            data,
        }
    }

    #[test]
    fn both_codecs_round_trip_and_read_each_other() {
        let rec = sample();
        for writer in [
            Arc::new(BincodeCodec) as Arc<dyn Codec>,
            Arc::new(JsonCodec),
        ] {
            let codecs = Codecs::new(writer);
            let bytes = codecs.encode(rec.as_ref()).unwrap();
            assert_eq!(Codecs::default().decode(&bytes).unwrap(), rec);
            assert_eq!(
                Codecs::new(Arc::new(JsonCodec)).decode(&bytes).unwrap(),
                rec
            );
        }
        for e in [
            Expiry::Default,
            Expiry::AtBrowserClose,
            Expiry::At(UnixTime::from_secs(-3)),
        ] {
            let r = Record {
                expiry: e,
                ..Record::default()
            };
            let bytes = Codecs::default().encode(r.as_ref()).unwrap();
            assert_eq!(Codecs::default().decode(&bytes).unwrap(), r);
        }
    }

    #[test]
    fn json_is_readable() {
        let bytes = Codecs::new(Arc::new(JsonCodec))
            .encode(Record::default().as_ref())
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"v":1,"expires_at":0,"expiry":"default","data":{}}"#
        );
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let codecs = Codecs::default();
        for writer in [
            Arc::new(BincodeCodec) as Arc<dyn Codec>,
            Arc::new(JsonCodec),
        ] {
            let bytes = Codecs::new(writer).encode(sample().as_ref()).unwrap();
            for cut in 0..bytes.len() {
                assert!(codecs.decode(&bytes[..cut]).is_err(), "cut at {cut}");
            }
            for i in 0..bytes.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut b = bytes.clone();
                    b[i] ^= flip;
                    let _ = codecs.decode(&b); // must not panic
                }
            }
        }
    }

    #[test]
    fn hostile_lengths_and_depth_are_rejected() {
        // A record claiming 2^60 entries.
        let mut b = vec![BINCODE_V1, 0, 0, 0xfd];
        b.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(Codecs::default().decode(&b).is_err());
        // Nesting far beyond MAX_DEPTH.
        let mut b = vec![BINCODE_V1, 0, 0, 1, 1, b'k'];
        for _ in 0..100_000 {
            b.extend_from_slice(&[T_ARRAY, 1]);
        }
        b.push(T_NULL);
        let err = Codecs::default().decode(&b).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        // Deep JSON.
        let deep = format!(
            r#"{{"v":1,"expires_at":0,"expiry":"default","data":{{"k":{}{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(Codecs::default().decode(deep.as_bytes()).is_err());
        assert!(Codecs::default().decode(b"").is_err());
        assert!(Codecs::default().decode(b"\x7fgarbage").is_err());
    }
}
