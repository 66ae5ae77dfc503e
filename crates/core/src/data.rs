//! [`Data`]: the values of a session, decoded lazily.

use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The values of a session, in insertion order (as Django's dict).
///
/// Records loaded from a store are not decoded up front: `Data` keeps the stored bytes and
/// decodes a value the first time it is read. A value that is never read — or never changed — is
/// written back by copying its stored bytes. So a request that reads one value and changes
/// another costs about one copy of the record, however much else the session holds.
///
/// Lookups scan the keys in order: sessions hold tens of keys, for which a scan beats hashing.
#[derive(Clone, Default)]
pub struct Data {
    /// The stored record the `Raw` ranges point into (empty for data built in memory).
    raw: Vec<u8>,
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    key: Text,
    value: Slot,
}

#[derive(Clone)]
enum Text {
    Raw(Range<usize>),
    Owned(String),
}

#[derive(Clone)]
enum Slot {
    /// The encoded value inside `Data::raw` (in the bincode layout), decoded on first read.
    Raw {
        range: Range<usize>,
        decoded: OnceLock<Value>,
    },
    Owned(Value),
}

impl Data {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Data over a stored record: `entries` are (key range, value range) pairs into `raw`, whose
    /// key bytes are valid UTF-8, whose values are well-formed, and whose keys are distinct.
    pub(crate) fn from_raw(raw: Vec<u8>, entries: Vec<(Range<usize>, Range<usize>)>) -> Self {
        let entries = entries
            .into_iter()
            .map(|(k, v)| Entry {
                key: Text::Raw(k),
                value: Slot::Raw {
                    range: v,
                    decoded: OnceLock::new(),
                },
            })
            .collect();
        Self { raw, entries }
    }

    fn key_of<'a>(&'a self, e: &'a Entry) -> &'a str {
        match &e.key {
            // Validated as UTF-8 when the record was parsed.
            Text::Raw(r) => std::str::from_utf8(&self.raw[r.clone()]).unwrap_or_default(),
            Text::Owned(s) => s,
        }
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|e| match &e.key {
            Text::Raw(r) => &self.raw[r.clone()] == key.as_bytes(),
            Text::Owned(s) => s == key,
        })
    }

    fn value_of<'a>(&'a self, e: &'a Entry) -> &'a Value {
        match &e.value {
            Slot::Owned(v) => v,
            Slot::Raw { range, decoded } => decoded.get_or_init(|| {
                crate::wire::decode_raw_value(&self.raw[range.clone()]).unwrap_or_else(|| {
                    tracing::warn!(
                        target: "sessionkit::security",
                        "a stored session value failed to decode after its record was validated"
                    );
                    Value::Null
                })
            }),
        }
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| self.value_of(&self.entries[i]))
    }

    /// Whether a value is stored under `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Stores `value` under `key` (keeping the key's place if it exists) and returns the old
    /// value.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.position(&key) {
            Some(i) => {
                let old = std::mem::replace(&mut self.entries[i].value, Slot::Owned(value));
                Some(self.value_from_slot(old))
            }
            None => {
                self.entries.push(Entry {
                    key: Text::Owned(key),
                    value: Slot::Owned(value),
                });
                None
            }
        }
    }

    /// Stores `value` under `key` without returning the old value (which then need not be
    /// decoded).
    pub fn set(&mut self, key: &str, value: Value) {
        match self.position(key) {
            Some(i) => self.entries[i].value = Slot::Owned(value),
            None => self.entries.push(Entry {
                key: Text::Owned(key.to_owned()),
                value: Slot::Owned(value),
            }),
        }
    }

    fn value_from_slot(&self, slot: Slot) -> Value {
        match slot {
            Slot::Owned(v) => v,
            Slot::Raw { range, mut decoded } => decoded.take().unwrap_or_else(|| {
                crate::wire::decode_raw_value(&self.raw[range]).unwrap_or(Value::Null)
            }),
        }
    }

    /// Removes the value under `key`, keeping the order of the others, and returns it.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        let entry = self.entries.remove(i);
        Some(self.value_from_slot(entry.value))
    }

    /// Removes every value.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.raw = Vec::new();
    }

    /// How many values are stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no values are stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The keys, in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| self.key_of(e))
    }

    /// The key–value pairs, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries
            .iter()
            .map(|e| (self.key_of(e), self.value_of(e)))
    }

    /// The stored size of the record this data was loaded from (0 if built in memory): a hint
    /// for sizing the buffer it is written back to.
    pub(crate) fn raw_len(&self) -> usize {
        self.raw.len()
    }

    /// Each pair as (key, either the value's still-encoded bincode bytes or the value).
    pub(crate) fn parts(&self) -> impl Iterator<Item = (&str, Part<'_>)> {
        self.entries.iter().map(|e| {
            let part = match &e.value {
                Slot::Raw { range, .. } => Part::Encoded(&self.raw[range.clone()]),
                Slot::Owned(v) => Part::Value(v),
            };
            (self.key_of(e), part)
        })
    }
}

/// A value as [`Data::parts`] hands it out.
pub(crate) enum Part<'a> {
    /// Already in the bincode value layout.
    Encoded(&'a [u8]),
    /// Decoded (or never encoded).
    Value(&'a Value),
}

impl PartialEq for Data {
    /// Equal when both hold the same keys with equal values in the same order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for Data {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut data = Data::new();
        data.extend(iter);
        data
    }
}

impl<K: Into<String>> Extend<(K, Value)> for Data {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k.into(), v);
        }
    }
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DataVisitor;
        impl<'de> Visitor<'de> for DataVisitor {
            type Value = Data;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of session values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Data, A::Error> {
                // Hash first so that hostile input with many repeated keys stays linear; the
                // last of repeated keys wins, as in Django's dict.
                let mut values = indexmap::IndexMap::<String, Value>::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    values.insert(k, v);
                }
                Ok(Data {
                    raw: Vec::new(),
                    entries: values
                        .into_iter()
                        .map(|(k, v)| Entry {
                            key: Text::Owned(k),
                            value: Slot::Owned(v),
                        })
                        .collect(),
                })
            }
        }
        deserializer.deserialize_map(DataVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn map_semantics() {
        let mut d = Data::new();
        assert_eq!(d.insert("a".into(), json!(1)), None);
        assert_eq!(d.insert("b".into(), json!(2)), None);
        assert_eq!(d.insert("a".into(), json!(3)), Some(json!(1)));
        assert_eq!(d.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(d.get("a"), Some(&json!(3)));
        assert_eq!(d.remove("a"), Some(json!(3)));
        assert_eq!(d.remove("a"), None);
        d.set("c", json!(null));
        assert_eq!(d.keys().collect::<Vec<_>>(), ["b", "c"]);
        assert!(d.contains_key("c"));
        d.clear();
        assert!(d.is_empty());
    }
}
