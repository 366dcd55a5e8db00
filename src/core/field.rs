//! One member of a JSON object, read as far as a checker needs it and no further.
//!
//! The ID token's header and claims and the token endpoint's answer are read with `members`:
//! each member we look at keeps its type (so a check can tell "absent" from "null" from "a
//! number where a string belongs"), and every other member is skipped while parsing — no map
//! of everything the IdP sent is built, copied or dropped per login. One parser serves every
//! caller (a derived struct per caller would put a copy of serde_json's object walk in the
//! wasm for each).
//!
//! A repeated member among those read is refused (RFC 7515 §4 and RFC 7519 §4 allow a
//! parser to refuse rather than keep the last), and so is anything but one object.

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

/// A member's value: strings and numbers as they are, anything else by its kind alone.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field {
    /// The member is not there (the `#[serde(default)]`); `null` is `Null`.
    #[default]
    Absent,
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(String),
    Array(Vec<Field>),
    Object,
}

impl Field {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The members `names` of the one JSON object in `bytes` (leading and trailing whitespace
/// allowed), each `Field::Absent` when not there; `None` when `bytes` is anything else or
/// repeats one of `names`. Other members are skipped unread.
pub fn members<const N: usize>(bytes: &[u8], names: [&str; N]) -> Option<[Field; N]> {
    const { assert!(N <= 64, "members reads at most 64 names") };
    let mut values: [Field; N] = std::array::from_fn(|_| Field::Absent);
    read_members(bytes, &names, &mut values).then_some(values)
}

/// The one parser behind every `members::<N>`: one copy in the wasm, whatever N.
fn read_members(bytes: &[u8], names: &[&str], values: &mut [Field]) -> bool {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    if start.map(|i| bytes[i]) != Some(b'{') {
        return false;
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let seed = Members { names, values };
    seed.deserialize(&mut de).is_ok() && de.end().is_ok()
}

struct Members<'a> {
    names: &'a [&'a str],
    values: &'a mut [Field],
}

impl<'de> DeserializeSeed<'de> for Members<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Members<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // One bit per name: `members` takes at most 64 (checked when it is compiled).
        let mut seen: u64 = 0;
        while let Some(key) = map.next_key::<Key>()? {
            match self
                .names
                .iter()
                .position(|n| *n == key.0)
                .filter(|&i| i < 64)
            {
                Some(i) if seen & (1 << i) != 0 => {
                    return Err(de::Error::custom("repeated member"))
                }
                Some(i) => {
                    seen |= 1 << i;
                    self.values[i] = map.next_value()?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A member name, borrowed from the input unless it had escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(v.to_owned().into()))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Field, E> {
        Ok(Field::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Field, E> {
        Ok(Field::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Field, E> {
        Ok(Field::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field, E> {
        Ok(Field::Number(v.into()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field, E> {
        Ok(Field::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Field, E> {
        serde_json::Number::from_f64(v)
            .map(Field::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(Field::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Field, E> {
        Ok(Field::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Field>()? {
            items.push(item);
        }
        Ok(Field::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn two(text: &str) -> Option<[Field; 2]> {
        members(text.as_bytes(), ["a", "b"])
    }

    #[test]
    fn each_kind_is_told_apart() {
        let cases = [
            (json!(null), Field::Null),
            (json!(true), Field::Bool(true)),
            (json!(7), Field::Number(7.into())),
            (json!(-7), Field::Number((-7).into())),
            (
                json!(1.5),
                Field::Number(serde_json::Number::from_f64(1.5).unwrap()),
            ),
            (json!("x\"y"), Field::Str("x\"y".into())),
            (
                json!(["x", 1, {"k": [1]}]),
                Field::Array(vec![
                    Field::Str("x".into()),
                    Field::Number(1.into()),
                    Field::Object,
                ]),
            ),
            (json!({"k": {"l": [1, "m"]}}), Field::Object),
        ];
        for (value, field) in cases {
            let [a, b] = two(&json!({ "a": value }).to_string()).expect("object");
            assert_eq!(a, field, "{value}");
            assert_eq!(b, Field::Absent);
        }
    }

    #[test]
    fn absent_and_null_differ() {
        let [a, b] = two(r#"{"a": null}"#).expect("object");
        assert_eq!(a, Field::Null);
        assert_eq!(b, Field::Absent);
    }

    #[test]
    fn only_one_object_is_accepted() {
        for bad in [
            "[1, 2]",
            r#"["a", "b"]"#,
            "\"a\"",
            "1",
            "null",
            "",
            "   ",
            "{\"a\": 1",
            "{\"a\": 1} {}",
            "{\"a\": 1}x",
            // A member read twice is refused, whatever its values.
            r#"{"a": 1, "a": 1}"#,
            r#"{"a": "x", "b": 2, "a": "y"}"#,
            // Also when spelled with an escape: names are compared after unescaping.
            r#"{"a": 1, "\u0061": 2}"#,
        ] {
            assert!(two(bad).is_none(), "{bad:?}");
        }
        assert!(two(" \n{\"a\": 1, \"c\": 2, \"c\": 3}\n").is_some());
        let [a, _] = two(r#"{"\u0061": "x"}"#).expect("object");
        assert_eq!(a, Field::Str("x".into()));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(two(&deep).is_none());
    }
}
