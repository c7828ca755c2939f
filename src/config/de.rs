//! A serde `Deserializer` over the positioned YAML tree.
//!
//! Every error leaves with the position of the node it concerns, unknown
//! fields and variants come with a "did you mean", and scalars are read
//! leniently (`port: "8080"` and `port: ${PORT}` both give a number) because
//! after `${ENV}` substitution the YAML style no longer says what a value is.

use super::yaml::{Node, Pos, Value};
use serde::de::{self, DeserializeSeed, Error as _, Visitor};
use std::fmt;

#[derive(Debug, Clone)]
pub struct DeError {
    pub message: String,
    pub pos: Option<Pos>,
    /// Set for unknown fields: the caller can drop that key and go on looking
    /// for further errors.
    pub unknown_field: bool,
}

impl DeError {
    fn at(mut self, pos: Pos) -> Self {
        self.pos.get_or_insert(pos);
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
        DeError {
            message: msg.to_string(),
            pos: None,
            unknown_field: false,
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut err = Self::custom(format!(
            "unknown field `{field}`{}",
            did_you_mean(field, expected)
        ));
        err.unknown_field = true;
        err
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::custom(format!(
            "unknown value `{variant}`, expected one of {}{}",
            expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", "),
            did_you_mean(variant, expected)
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        Self::custom(format!("missing required field `{field}`"))
    }
}

/// ` (did you mean `x`?)` when a known name is close enough to be a typo.
pub fn did_you_mean(given: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(given, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

type Result<T> = std::result::Result<T, DeError>;

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let result = match &self.value {
            Value::Null => visitor.visit_unit(),
            Value::Scalar { text, plain: true } => {
                if self.is_null() {
                    visitor.visit_unit()
                } else if let Some(b) = parse_bool(text) {
                    visitor.visit_bool(b)
                } else if let Ok(i) = text.parse::<i64>() {
                    visitor.visit_i64(i)
                } else if let Ok(f) = text.parse::<f64>() {
                    visitor.visit_f64(f)
                } else {
                    visitor.visit_str(text)
                }
            }
            Value::Scalar { text, .. } => visitor.visit_str(text),
            Value::Seq(items) => visitor.visit_seq(SeqAccess(items.iter())),
            Value::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                value: None,
            }),
        };
        result.map_err(|e| e.at(self.pos))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.scalar().and_then(parse_bool) {
            Some(b) => visitor.visit_bool(b),
            None => Err(self.expected("a boolean (true or false)")),
        }
        .map_err(|e| e.at(self.pos))
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.scalar().and_then(|t| t.parse::<i64>().ok()) {
            Some(i) => visitor.visit_i64(i),
            None => Err(self.expected("an integer")),
        }
        .map_err(|e| e.at(self.pos))
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.scalar().and_then(|t| t.parse::<u64>().ok()) {
            Some(i) => visitor.visit_u64(i),
            None => Err(self.expected("a non-negative integer")),
        }
        .map_err(|e| e.at(self.pos))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.scalar().and_then(|t| t.parse::<f64>().ok()) {
            Some(f) => visitor.visit_f64(f),
            None => Err(self.expected("a number")),
        }
        .map_err(|e| e.at(self.pos))
    }

    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_i64(v)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_i64(v)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_i64(v)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_u64(v)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_u64(v)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_u64(v)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_f64(v)
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match &self.value {
            Value::Scalar { text, .. } => visitor.visit_str(text),
            _ => Err(self.expected("a string")),
        }
        .map_err(|e| e.at(self.pos))
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.is_null() {
            visitor.visit_unit()
        } else {
            Err(self.expected("nothing (null)").at(self.pos))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match &self.value {
            Value::Seq(items) => visitor.visit_seq(SeqAccess(items.iter())),
            _ if self.is_null() => visitor.visit_seq(SeqAccess([].iter())),
            _ => Err(self.expected("a list")),
        }
        .map_err(|e| e.at(self.pos))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match &self.value {
            Value::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                value: None,
            }),
            // `key:` with nothing after it reads as an empty map.
            _ if self.is_null() => visitor.visit_map(MapAccess {
                entries: [].iter(),
                value: None,
            }),
            _ => Err(self.expected("a map")),
        }
        .map_err(|e| e.at(self.pos))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_map(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match &self.value {
            Value::Scalar { .. } => visitor.visit_enum(EnumAccess {
                key: self,
                value: None,
            }),
            Value::Map(entries) if entries.len() == 1 => visitor.visit_enum(EnumAccess {
                key: &entries[0].0,
                value: Some(&entries[0].1),
            }),
            _ => Err(DeError::custom(format!(
                "expected one of {} (a name, or a map with exactly one of them as its key)",
                variants
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
        .map_err(|e| e.at(self.pos))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }
}

impl Node {
    fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text.trim()),
            _ => None,
        }
    }

    fn expected(&self, what: &str) -> DeError {
        let found = match &self.value {
            Value::Scalar { text, .. } => format!("`{text}`"),
            _ => self.kind().to_string(),
        };
        DeError::custom(format!("expected {what}, found {found}"))
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

struct SeqAccess<'de>(std::slice::Iter<'de, Node>);

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        self.0.next().map(|n| seed.deserialize(n)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct MapAccess<'de> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    value: Option<&'de Node>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(DeError::custom("value requested before key")),
        }
    }
}

struct EnumAccess<'de> {
    key: &'de Node,
    value: Option<&'de Node>,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'de> {
    type Error = DeError;
    type Variant = VariantAccess<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant)> {
        let variant = seed.deserialize(self.key)?;
        Ok((
            variant,
            VariantAccess {
                value: self.value,
                pos: self.key.pos,
            },
        ))
    }
}

struct VariantAccess<'de> {
    value: Option<&'de Node>,
    pos: Pos,
}

impl<'de> VariantAccess<'de> {
    fn content(&self) -> Result<&'de Node> {
        self.value
            .ok_or_else(|| DeError::custom("this variant needs settings under it").at(self.pos))
    }
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<()> {
        match self.value {
            None => Ok(()),
            Some(v) if v.is_null() => Ok(()),
            Some(v) => Err(DeError::custom("this variant takes no settings").at(v.pos)),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self.content()?)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_seq(self.content()?, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        de::Deserializer::deserialize_map(self.content()?, visitor)
    }
}
