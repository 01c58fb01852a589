//! A serde `Deserializer` over [`Node`] that tracks the key path, so that the
//! derive-generated errors (unknown key, wrong type, missing field) come out
//! located at the offending key or value.

use crate::node::{Entry, KeyPath, Kind, Node, Span};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use std::fmt;

/// A deserialisation error, located once it bubbles past the node it is
/// about.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    /// The message (serde's, or ours).
    pub message: String,
    /// Where, once known.
    pub at: Option<(Span, KeyPath)>,
}

impl DeError {
    fn locate(mut self, span: &Span, path: &KeyPath) -> Self {
        if self.at.is_none() {
            self.at = Some((span.clone(), path.clone()));
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            message: msg.to_string(),
            at: None,
        }
    }
}

/// Deserialize `T` from a node; errors carry their location.
pub fn from_node<'de, T: serde::Deserialize<'de>>(node: &'de Node) -> Result<T, DeError> {
    let path = KeyPath::root();
    T::deserialize(NodeDe {
        node,
        path: path.clone(),
    })
    .map_err(|e| e.locate(&node.span, &path))
}

struct NodeDe<'a> {
    node: &'a Node,
    path: KeyPath,
}

impl<'de> NodeDe<'de> {
    fn invalid(&self, exp: &dyn de::Expected) -> DeError {
        let unexp = match &self.node.kind {
            Kind::Null => de::Unexpected::Unit,
            Kind::Bool(b) => de::Unexpected::Bool(*b),
            Kind::Int(i) => de::Unexpected::Signed(*i),
            Kind::Float(f) => de::Unexpected::Float(*f),
            Kind::Str(s) => de::Unexpected::Str(s),
            Kind::Datetime(_) => de::Unexpected::Other("a date-time"),
            Kind::Array(_) => de::Unexpected::Seq,
            Kind::Table(_) => de::Unexpected::Map,
        };
        de::Error::invalid_type(unexp, exp)
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            Kind::Null => v.visit_unit(),
            Kind::Bool(b) => v.visit_bool(*b),
            Kind::Int(i) => v.visit_i64(*i),
            Kind::Float(f) => v.visit_f64(*f),
            Kind::Str(s) | Kind::Datetime(s) => v.visit_borrowed_str(s),
            Kind::Array(items) => v.visit_seq(SeqDe {
                items: items.iter().enumerate(),
                path: self.path.clone(),
            }),
            Kind::Table(entries) => v.visit_map(MapDe {
                entries: entries.iter(),
                pending: None,
                path: self.path.clone(),
            }),
        };
        r.map_err(|e| e.locate(&self.node.span, &self.path))
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            Kind::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.kind {
            Kind::Str(s) => v
                .visit_enum(s.as_str().into_deserializer())
                .map_err(|e: DeError| e.locate(&self.node.span, &self.path)),
            _ => Err(self
                .invalid(&"a string")
                .locate(&self.node.span, &self.path)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        v.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

struct SeqDe<I> {
    items: I,
    path: KeyPath,
}

impl<'de, I: Iterator<Item = (usize, &'de Node)>> de::SeqAccess<'de> for SeqDe<I> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((i, node)) = self.items.next() else {
            return Ok(None);
        };
        let path = self.path.index(i);
        seed.deserialize(NodeDe {
            node,
            path: path.clone(),
        })
        .map(Some)
        .map_err(|e| e.locate(&node.span, &path))
    }
}

struct MapDe<'a, I> {
    entries: I,
    pending: Option<&'a Entry>,
    path: KeyPath,
}

impl<'de, I: Iterator<Item = &'de Entry>> de::MapAccess<'de> for MapDe<'de, I> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some(entry);
        let key: de::value::BorrowedStrDeserializer<'de, DeError> =
            de::value::BorrowedStrDeserializer::new(&entry.key);
        seed.deserialize(key)
            .map(Some)
            .map_err(|e| e.locate(&entry.key_span, &self.path.key(&entry.key)))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some(entry) = self.pending.take() else {
            return Err(de::Error::custom("value requested before key"));
        };
        let path = self.path.key(&entry.key);
        seed.deserialize(NodeDe {
            node: &entry.value,
            path: path.clone(),
        })
        .map_err(|e| e.locate(&entry.value.span, &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::parse_toml;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        name: String,
        #[serde(default)]
        n: Option<u16>,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        items: Vec<Inner>,
    }

    #[test]
    fn unknown_key_is_located_at_the_key() {
        let text = "[[items]]\nname = \"a\"\n\n[[items]]\nname = \"b\"\nbogus = 1\n";
        let node = parse_toml(text).unwrap();
        let e = from_node::<Outer>(&node).unwrap_err();
        let (span, path) = e.at.unwrap();
        assert_eq!(&text[span], "bogus");
        assert_eq!(path.to_string(), "items[1].bogus");
        assert!(e.message.contains("unknown field `bogus`"), "{}", e.message);
    }

    #[test]
    fn wrong_type_is_located_at_the_value() {
        let text = "[[items]]\nname = \"a\"\nn = \"x\"\n";
        let node = parse_toml(text).unwrap();
        let e = from_node::<Outer>(&node).unwrap_err();
        let (span, path) = e.at.unwrap();
        assert_eq!(&text[span], "\"x\"");
        assert_eq!(path.to_string(), "items[0].n");
        assert!(e.message.contains("expected u16"), "{}", e.message);
    }

    #[test]
    fn missing_field_is_located_at_the_table() {
        let text = "[[items]]\nn = 3\n";
        let node = parse_toml(text).unwrap();
        let e = from_node::<Outer>(&node).unwrap_err();
        assert_eq!(e.at.unwrap().1.to_string(), "items[0]");
        assert!(e.message.contains("missing field `name`"));
    }

    #[test]
    fn ok_roundtrip() {
        let node = parse_toml("[[items]]\nname = \"a\"\nn = 7\n").unwrap();
        assert_eq!(
            from_node::<Outer>(&node).unwrap(),
            Outer {
                items: vec![Inner {
                    name: "a".into(),
                    n: Some(7)
                }]
            }
        );
    }
}
