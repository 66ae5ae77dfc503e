//! Whether a value about to be stored holds a float that JSON cannot: `serde_json` turns NaN
//! and ±infinity into `null` without a word, so [`Session::insert`](crate::Session::insert)
//! asks first, with a serializer that writes nothing and fails at the first such float.

use std::fmt;

use serde::ser::{self, Serialize};

/// The first non-finite float of a value.
#[derive(Debug)]
pub(crate) struct NonFinite(String);

impl fmt::Display for NonFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NonFinite {}

impl ser::Error for NonFinite {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        NonFinite(msg.to_string())
    }
}

/// `Ok` if `value` holds no NaN or infinite float (a value that fails to serialize for another
/// reason is left for the real serializer to report).
pub(crate) fn check<T: Serialize + ?Sized>(value: &T) -> Result<(), NonFinite> {
    match value.serialize(Probe) {
        Err(e) if e.0.starts_with(NON_FINITE) => Err(e),
        _ => Ok(()),
    }
}

const NON_FINITE: &str = "a non-finite float";

fn float(v: f64) -> Result<(), NonFinite> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(NonFinite(format!(
            "{NON_FINITE} ({v}) cannot be stored: JSON has no NaN or infinity"
        )))
    }
}

/// Walks a value, writing nothing.
struct Probe;

type Done = Result<(), NonFinite>;

impl ser::Serializer for Probe {
    type Ok = ();
    type Error = NonFinite;
    type SerializeSeq = Probe;
    type SerializeTuple = Probe;
    type SerializeTupleStruct = Probe;
    type SerializeTupleVariant = Probe;
    type SerializeMap = Probe;
    type SerializeStruct = Probe;
    type SerializeStructVariant = Probe;

    fn serialize_f32(self, v: f32) -> Done {
        float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Done {
        float(v)
    }
    fn serialize_bool(self, _: bool) -> Done {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Done {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Done {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Done {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Done {
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> Done {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Done {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Done {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Done {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Done {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Done {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Done {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Done {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Done {
        Ok(())
    }
    fn serialize_none(self) -> Done {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Done {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Done {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> Done {
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Probe, NonFinite> {
        Ok(Probe)
    }
    fn serialize_tuple(self, _: usize) -> Result<Probe, NonFinite> {
        Ok(Probe)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Probe, NonFinite> {
        Ok(Probe)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Probe, NonFinite> {
        Ok(Probe)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Probe, NonFinite> {
        Ok(Probe)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Probe, NonFinite> {
        Ok(Probe)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Probe, NonFinite> {
        Ok(Probe)
    }
}

/// Every compound kind: each element, key and field is probed in turn.
macro_rules! compound {
    ($($trait:ident :: $method:ident ($($name:ident: $ty:ty),*)),* $(,)?) => {$(
        impl ser::$trait for Probe {
            type Ok = ();
            type Error = NonFinite;
            fn $method<T: Serialize + ?Sized>(&mut self, $($name: $ty,)* v: &T) -> Done {
                $(let _ = $name;)*
                v.serialize(Probe)
            }
            fn end(self) -> Done {
                Ok(())
            }
        }
    )*};
}

compound! {
    SerializeSeq::serialize_element(),
    SerializeTuple::serialize_element(),
    SerializeTupleStruct::serialize_field(),
    SerializeTupleVariant::serialize_field(),
    SerializeStruct::serialize_field(key: &'static str),
    SerializeStructVariant::serialize_field(key: &'static str),
}

impl ser::SerializeMap for Probe {
    type Ok = ();
    type Error = NonFinite;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Done {
        k.serialize(Probe)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Done {
        v.serialize(Probe)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::check;

    #[derive(serde::Serialize)]
    struct Reading {
        name: &'static str,
        values: Vec<Option<f32>>,
        nested: BTreeMap<String, (u8, f64)>,
    }

    #[test]
    fn finds_non_finite_floats_anywhere_and_accepts_the_rest() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(check(&bad).is_err());
            assert!(check(&vec![1.0, bad]).is_err());
            let mut nested = BTreeMap::new();
            nested.insert("k".to_owned(), (1u8, bad));
            let r = Reading {
                name: "x",
                values: vec![Some(1.5), None],
                nested,
            };
            let err = check(&r).unwrap_err().to_string();
            assert!(err.contains("non-finite"), "{err}");
        }
        assert!(check(&Some(f32::NAN)).is_err());
        assert!(check(&(1, "two", [3.0f64, f64::MAX, f64::MIN_POSITIVE])).is_ok());
        assert!(check(&serde_json::json!({"a": [1, 2.5, null]})).is_ok());
    }
}
