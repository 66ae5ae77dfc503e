//! Django's `JSONSerializer`, byte for byte: `json.dumps(obj, separators=(",", ":"))` encoded
//! as latin-1, and read back by decoding latin-1.
//!
//! Python's `json.dumps` escapes every non-ASCII character as `\uXXXX` (lower-case hex,
//! surrogate pairs beyond the BMP) and writes floats with `repr`; Django then *decodes* the
//! bytes as latin-1, so a writer that put raw UTF-8 in a string would show Django mojibake.

use std::fmt::Write as _;

use serde_json::Value;

/// `json.dumps(value, separators=(",", ":"))`: appends the bytes Django writes for `value`.
/// An object's keys keep their order (`serde_json`'s maps are sorted unless its
/// `preserve_order` feature is on: Python compares dicts without order, so only the bytes of
/// nested objects differ, never their meaning).
pub fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => {
                let _ = write!(out, "{i}");
            }
            (_, Some(u), _) => {
                let _ = write!(out, "{u}");
            }
            (_, _, Some(f)) => write_float(f, out),
            // A number serde_json cannot show as any of those does not exist without its
            // `arbitrary_precision` feature.
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map.iter(), out),
    }
}

/// An object of `entries`, in their order.
pub fn write_object<'a>(
    entries: impl IntoIterator<Item = (&'a String, &'a Value)>,
    out: &mut String,
) {
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(k, out);
        out.push(':');
        write_value(v, out);
    }
    out.push('}');
}

/// A JSON string as Python writes it with `ensure_ascii=True`.
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// A finite float as Python's `repr` writes it: the shortest digits that read back the same,
/// positional from 1e-4 up to 1e16 (with `.0` when whole), else `d.ddde±XX`.
pub fn write_float(f: f64, out: &mut String) {
    // `{:e}` gives the shortest round-trip digits in scientific form: `1.5e-7`, `1e16`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} writes an exponent");
    let exp: i32 = exp.parse().expect("a decimal exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    out.push_str(sign);
    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let point = exp as usize + 1;
            if digits.len() <= point {
                out.push_str(&digits);
                for _ in digits.len()..point {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

/// What Django's `loads` reads: the bytes decoded as latin-1, then JSON. `None` for anything
/// that is not JSON (Python's `NaN`/`Infinity`, which `json.dumps` can write, included).
pub fn read(bytes: &[u8]) -> Option<Value> {
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn dumps(v: &Value) -> String {
        let mut out = String::new();
        write_value(v, &mut out);
        out
    }

    #[test]
    fn strings_are_escaped_as_python_does() {
        assert_eq!(
            dumps(&json!({"name": "café ☕ 😀"})),
            r#"{"name":"caf\u00e9 \u2615 \ud83d\ude00"}"#
        );
        assert_eq!(
            dumps(&json!("q\"b\\n\n\r\t\u{8}\u{c}\u{1}\u{7f}~")),
            r#""q\"b\\n\n\r\t\b\f\u0001\u007f~""#
        );
    }

    #[test]
    fn floats_are_written_as_python_repr() {
        for (f, py) in [
            (1.0, "1.0"),
            (-0.5, "-0.5"),
            (21.5, "21.5"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (9999999999999998.0, "9999999999999998.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
        ] {
            let mut out = String::new();
            write_float(f, &mut out);
            assert_eq!(out, py, "{f:?}");
        }
    }

    #[test]
    fn compact_and_in_order() {
        let v: Value = serde_json::from_str(r#"{"b":[1,2.5,null,true],"a":{"x":"y"}}"#).unwrap();
        let entries = [("z".to_owned(), json!(1)), ("a".to_owned(), v)];
        let mut out = String::new();
        write_object(entries.iter().map(|(k, v)| (k, v)), &mut out);
        assert_eq!(out, r#"{"z":1,"a":{"a":{"x":"y"},"b":[1,2.5,null,true]}}"#);
        assert_eq!(dumps(&json!(u64::MAX)), "18446744073709551615");
    }

    #[test]
    fn reads_latin1_as_django_does() {
        assert_eq!(read(br#"{"a":"caf\u00e9"}"#), Some(json!({"a": "café"})));
        // Raw UTF-8 from a careless writer reads as Django reads it: latin-1 mojibake.
        assert_eq!(read("{\"a\":\"é\"}".as_bytes()), Some(json!({"a": "Ã©"})));
        assert_eq!(read(b"{\"a\":NaN}"), None);
        // Exactly the float Python wrote (serde_json's `float_roundtrip`): 2^70.
        assert_eq!(
            read(b"1.1805916207174113e+21").and_then(|v| v.as_f64()),
            Some(1_180_591_620_717_411_303_424_f64)
        );
        assert_eq!(read(b"not json"), None);
    }
}
