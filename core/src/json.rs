//! A JSON tree that borrows its strings from the text it was read from.
//!
//! Why: the server reads every pushed event once, field by field
//! ([`crate::fields::Obj`]), and drops the tree. serde_json's `Value`
//! allocates every key and every string and a B-tree per object; at tens of
//! thousands of events a second those allocations and frees were the largest
//! cost of a push outside SQLite (bench-ingest). A [`Node`] read from a
//! request body borrows its keys and strings (copying only those with
//! escapes) and keeps an object's few fields in a vector.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// One JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    /// Fields in the order written; a repeated key is kept twice and
    /// [`Node::get`] answers the last, as serde_json's `Value` keeps it.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// A tree over a `Value` that borrows its strings: for callers that
    /// already hold one (the device, pulled pages).
    pub fn of(value: &'a Value) -> Node<'a> {
        match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(n.clone()),
            Value::String(s) => Node::Str(Cow::Borrowed(s)),
            Value::Array(a) => Node::Array(a.iter().map(Node::of).collect()),
            Value::Object(m) => Node::Object(
                m.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Node::of(v)))
                    .collect(),
            ),
        }
    }

    /// The same tree as a `Value` (the last of repeated keys wins).
    pub fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::Str(s) => Value::String(s.as_ref().to_owned()),
            Node::Array(a) => Value::Array(a.iter().map(Node::to_value).collect()),
            Node::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.as_ref().to_owned(), v.to_value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// The field `key` of an object (`None` for a missing field or a value
    /// that is not an object).
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Object(fields) => fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

struct NodeVisitor<'a>(PhantomData<Node<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for NodeVisitor<'a> {
    type Value = Node<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node<'a>, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node<'a>, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node<'a>, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node<'a>, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node<'a>, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node<'a>, E> {
        // JSON text has no NaN or infinity; other sources may.
        Ok(Number::from_f64(v).map_or(Node::Null, Node::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'a>, E> {
        Ok(Node::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node<'a>, E> {
        Ok(Node::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Node<'a>, E> {
        Ok(Node::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'a>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'a>, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
        while let Some(Key(k)) = map.next_key()? {
            fields.push((k, map.next_value()?));
        }
        Ok(Node::Object(fields))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Node<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor(PhantomData))
    }
}

/// An object key, borrowed when the text allows (serde's own `Cow`
/// deserializes owned).
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor<'a>(PhantomData<Key<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_every_kind_of_value_and_borrows_plain_strings() {
        let text = r#"{"a": null, "b": true, "c": -3, "d": 18446744073709551615, "e": 1.5, "f": "plain", "g": "esc\"aped", "h": [1, {"i": []}], "a": 2}"#;
        let node: Node<'_> = serde_json::from_str(text).unwrap();
        assert!(matches!(
            node.get("f"),
            Some(Node::Str(Cow::Borrowed("plain")))
        ));
        assert!(matches!(node.get("g"), Some(Node::Str(Cow::Owned(s))) if s == "esc\"aped"));
        assert_eq!(
            node.get("a"),
            Some(&Node::Number(2.into())),
            "the last of a repeated key, as serde_json keeps"
        );
        assert_eq!(node.get("zz"), None);
        assert_eq!(Node::Null.get("a"), None);
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(node.to_value(), value);
        assert_eq!(Node::of(&value).to_value(), value);
        assert_eq!(
            Node::of(&json!([1, "x", {"k": false}])).to_value(),
            json!([1, "x", {"k": false}])
        );
    }

    #[test]
    fn malformed_text_is_an_error() {
        for bad in [
            "{",
            r#"{"a" 1}"#,
            "[1,]",
            r#"{"a": tru}"#,
            "\"\\x\"",
            &"[".repeat(200),
        ] {
            assert!(serde_json::from_str::<Node<'_>>(bad).is_err(), "{bad}");
        }
    }
}
