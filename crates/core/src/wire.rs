//! The bincode layout of one session value (a tag byte, varint lengths and integers), and the
//! limits every record obeys: what [`Data`](crate::Data) keeps undecoded and decodes on first
//! use, and what the bincode codec (`record.rs`) writes and checks. Depends on neither.

use std::ops::Range;

use bincode::de::{read::Reader, Decoder, DecoderImpl};
use bincode::enc::{write::Writer, Encoder};
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use serde_json::{Map, Number, Value};

/// Deeper nesting than this in stored values is rejected when decoding, so hostile bytes cannot
/// exhaust the stack.
pub const MAX_DEPTH: usize = 64;
/// Records larger than this are refused when encoding and rejected when decoding, so a
/// corrupted length prefix cannot make us allocate gigabytes.
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;
const MAX_DECODE_BYTES: usize = MAX_RECORD_BYTES;

/// Containers reserve at most this many slots up front; larger ones grow as they decode.
pub(crate) const PREALLOC: usize = 256;

pub(crate) type BincodeConfig = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_DECODE_BYTES>,
>;

pub(crate) fn bincode_config() -> BincodeConfig {
    bincode::config::standard().with_limit::<MAX_DECODE_BYTES>()
}

pub(crate) const T_NULL: u8 = 0;
pub(crate) const T_FALSE: u8 = 1;
pub(crate) const T_TRUE: u8 = 2;
pub(crate) const T_I64: u8 = 3;
pub(crate) const T_U64: u8 = 4;
pub(crate) const T_F64: u8 = 5;
pub(crate) const T_STR: u8 = 6;
pub(crate) const T_ARRAY: u8 = 7;
pub(crate) const T_OBJECT: u8 = 8;

/// A slice reader that knows its position, so values can be located without decoding them.
pub(crate) struct Cursor<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl Reader for Cursor<'_> {
    fn read(&mut self, out: &mut [u8]) -> Result<(), DecodeError> {
        let src = self
            .peek_read(out.len())
            .ok_or(DecodeError::UnexpectedEnd {
                additional: out.len(),
            })?;
        out.copy_from_slice(src);
        self.consume(out.len());
        Ok(())
    }

    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.buf.get(self.pos..self.pos.checked_add(n)?)
    }

    fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
    }
}

pub(crate) fn skip_str(
    d: &mut DecoderImpl<Cursor<'_>, BincodeConfig, ()>,
) -> Result<Range<usize>, DecodeError> {
    let len = decode_len(d)?;
    let start = d.reader().pos;
    let bytes = d
        .reader()
        .peek_read(len)
        .ok_or(DecodeError::UnexpectedEnd { additional: len })?;
    std::str::from_utf8(bytes).map_err(|inner| DecodeError::Utf8 { inner })?;
    d.reader().consume(len);
    Ok(start..start + len)
}

pub(crate) fn skip_value(
    d: &mut DecoderImpl<Cursor<'_>, BincodeConfig, ()>,
    depth: usize,
) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::Other("values nested too deeply"));
    }
    match u8::decode(&mut *d)? {
        T_NULL | T_FALSE | T_TRUE => {}
        T_I64 => {
            i64::decode(&mut *d)?;
        }
        T_U64 => {
            u64::decode(&mut *d)?;
        }
        T_F64 => {
            if !f64::decode(&mut *d)?.is_finite() {
                return Err(DecodeError::Other("non-finite float"));
            }
        }
        T_STR => {
            skip_str(d)?;
        }
        T_ARRAY => {
            for _ in 0..decode_len(&mut *d)? {
                skip_value(d, depth + 1)?;
            }
        }
        T_OBJECT => {
            for _ in 0..decode_len(&mut *d)? {
                skip_str(d)?;
                skip_value(d, depth + 1)?;
            }
        }
        _ => return Err(DecodeError::Other("unknown value tag")),
    }
    Ok(())
}

/// Decodes one value in the bincode layout (bytes a record parse has already validated).
pub(crate) fn decode_raw_value(bytes: &[u8]) -> Option<Value> {
    let mut d = DecoderImpl::new(Cursor { buf: bytes, pos: 0 }, bincode_config(), ());
    decode_value(&mut d, 1).ok()
}

pub(crate) fn encode_str<E: Encoder>(s: &str, e: &mut E) -> Result<(), EncodeError> {
    (s.len() as u64).encode(e)?;
    e.writer().write(s.as_bytes())
}

pub(crate) fn encode_value<E: Encoder>(v: &Value, e: &mut E) -> Result<(), EncodeError> {
    match v {
        Value::Null => T_NULL.encode(e),
        Value::Bool(false) => T_FALSE.encode(e),
        Value::Bool(true) => T_TRUE.encode(e),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                T_I64.encode(e)?;
                i.encode(e)
            } else if let Some(u) = n.as_u64() {
                T_U64.encode(e)?;
                u.encode(e)
            } else {
                T_F64.encode(e)?;
                n.as_f64().unwrap_or(0.0).encode(e)
            }
        }
        Value::String(s) => {
            T_STR.encode(e)?;
            encode_str(s, e)
        }
        Value::Array(items) => {
            T_ARRAY.encode(e)?;
            (items.len() as u64).encode(e)?;
            items.iter().try_for_each(|v| encode_value(v, e))
        }
        Value::Object(map) => {
            T_OBJECT.encode(e)?;
            (map.len() as u64).encode(e)?;
            map.iter().try_for_each(|(k, v)| {
                encode_str(k, e)?;
                encode_value(v, e)
            })
        }
    }
}

pub(crate) fn decode_len<D: Decoder>(d: &mut D) -> Result<usize, DecodeError> {
    let len =
        usize::try_from(u64::decode(d)?).map_err(|_| DecodeError::Other("length overflow"))?;
    // Every element takes at least one byte, and the limit bounds the whole input: this stops a
    // corrupted length from reserving memory the input cannot fill.
    d.claim_container_read::<u8>(len)?;
    Ok(len)
}

fn decode_string<D: Decoder>(d: &mut D) -> Result<String, DecodeError> {
    let len = decode_len(d)?;
    // Look before allocating: a corrupted length must not reserve memory the input lacks.
    let bytes = d
        .reader()
        .peek_read(len)
        .ok_or(DecodeError::UnexpectedEnd { additional: len })?;
    let s = std::str::from_utf8(bytes)
        .map_err(|inner| DecodeError::Utf8 { inner })?
        .to_owned();
    d.reader().consume(len);
    Ok(s)
}

fn decode_value<D: Decoder>(d: &mut D, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::Other("values nested too deeply"));
    }
    Ok(match u8::decode(d)? {
        T_NULL => Value::Null,
        T_FALSE => Value::Bool(false),
        T_TRUE => Value::Bool(true),
        T_I64 => Value::from(i64::decode(d)?),
        T_U64 => Value::from(u64::decode(d)?),
        T_F64 => Number::from_f64(f64::decode(d)?)
            .map(Value::Number)
            .ok_or(DecodeError::Other("non-finite float"))?,
        T_STR => Value::String(decode_string(d)?),
        T_ARRAY => {
            let len = decode_len(d)?;
            let mut items = Vec::with_capacity(len.min(PREALLOC));
            for _ in 0..len {
                items.push(decode_value(d, depth + 1)?);
            }
            Value::Array(items)
        }
        T_OBJECT => {
            let len = decode_len(d)?;
            let mut map = Map::new();
            for _ in 0..len {
                let k = decode_string(d)?;
                map.insert(k, decode_value(d, depth + 1)?);
            }
            Value::Object(map)
        }
        _ => return Err(DecodeError::Other("unknown value tag")),
    })
}
