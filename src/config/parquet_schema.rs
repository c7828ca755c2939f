//! A declared Parquet schema: `destination.schema` maps each column to a
//! type written as text, or to a map of its own (a nested struct).
//!
//! Types: `string`, `integer` (64-bit), `float` (64-bit binary), `boolean`,
//! `timestamp` (RFC 3339 text read into microseconds, UTC), `date`
//! (`2026-11-30`), `json` (any value, kept as its JSON text),
//! `decimal(p,s)` (exact, precision 1..=38), `list<T>` and
//! `struct<name: T, ...>`. Every column is nullable.

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Marks a `json` column (Arrow's canonical JSON extension type): its
/// values are written as their JSON text.
pub const EXTENSION_KEY: &str = "ARROW:extension:name";
pub const JSON_EXTENSION: &str = "arrow.json";

const TYPES: &str = "string, integer, float, boolean, timestamp, date, json, decimal(p,s), list<T>, struct<name: T, ...>";

/// A column's declared type: text, or a map for a nested struct.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ColumnRaw {
    Type(String),
    Struct(BTreeMap<String, ColumnRaw>),
}

/// The schema, or the first error as (column path under the schema,
/// message).
pub fn parse(columns: &BTreeMap<String, ColumnRaw>) -> Result<SchemaRef, (String, String)> {
    if columns.is_empty() {
        return Err((String::new(), "declare at least one column".into()));
    }
    let fields = struct_fields(columns)?;
    Ok(Arc::new(Schema::new(fields)))
}

fn struct_fields(columns: &BTreeMap<String, ColumnRaw>) -> Result<Vec<Field>, (String, String)> {
    let mut fields = Vec::new();
    for (name, column) in columns {
        let field = match column {
            ColumnRaw::Type(text) => parse_type(name, text).map_err(|m| (name.clone(), m))?,
            ColumnRaw::Struct(inner) if inner.is_empty() => {
                return Err((name.clone(), "a struct needs at least one field".into()))
            }
            ColumnRaw::Struct(inner) => {
                let inner = struct_fields(inner).map_err(|(p, m)| (format!("{name}.{p}"), m))?;
                Field::new(name, DataType::Struct(inner.into()), true)
            }
        };
        fields.push(field);
    }
    Ok(fields)
}

/// One type written as text, as the column `name`.
pub fn parse_type(name: &str, text: &str) -> Result<Field, String> {
    let mut p = Parser { text, at: 0 };
    let field = p.field(name)?;
    p.space();
    if p.at < text.len() {
        return Err(format!("unexpected `{}` in type `{text}`", &text[p.at..]));
    }
    Ok(field)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn space(&mut self) {
        while self.text[self.at..].starts_with(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn word(&mut self) -> &str {
        self.space();
        let rest = &self.text[self.at..];
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.space();
        if self.text[self.at..].starts_with(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected `{c}` in type `{}`", self.text))
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.space();
        let found = self.text[self.at..].starts_with(c);
        if found {
            self.at += 1;
        }
        found
    }

    fn number(&mut self) -> Result<i64, String> {
        self.space();
        let rest = &self.text[self.at..];
        let len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(rest.len());
        self.at += len;
        rest[..len]
            .parse()
            .map_err(|_| format!("expected a number in type `{}`", self.text))
    }

    fn field(&mut self, name: &str) -> Result<Field, String> {
        let word = self.word().to_string();
        let data_type = match word.as_str() {
            "string" => DataType::Utf8,
            "integer" => DataType::Int64,
            "float" => DataType::Float64,
            "boolean" => DataType::Boolean,
            "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            "date" => DataType::Date32,
            "json" => {
                let marker = HashMap::from([(EXTENSION_KEY.into(), JSON_EXTENSION.into())]);
                return Ok(Field::new(name, DataType::Utf8, true).with_metadata(marker));
            }
            "decimal" => {
                if !self.eat('(') {
                    return Err(
                        "`decimal` needs its precision and scale, as decimal(18,2) (or `float` for a binary floating-point number)"
                            .into(),
                    );
                }
                let precision = self.number()?;
                self.expect(',')?;
                let scale = self.number()?;
                self.expect(')')?;
                if !(1..=38).contains(&precision) || !(0..=precision).contains(&scale) {
                    return Err(format!(
                        "decimal({precision},{scale}): the precision is 1 to 38 and the scale 0 to the precision"
                    ));
                }
                DataType::Decimal128(precision as u8, scale as i8)
            }
            "list" => {
                self.expect('<')?;
                let item = self.field("item")?;
                self.expect('>')?;
                DataType::List(Arc::new(item))
            }
            "struct" => {
                self.expect('<')?;
                let mut fields: Vec<Field> = Vec::new();
                loop {
                    let inner = self.word().to_string();
                    if inner.is_empty() {
                        return Err(format!("expected a field name in type `{}`", self.text));
                    }
                    if fields.iter().any(|f| f.name() == &inner) {
                        return Err(format!("field `{inner}` is declared twice"));
                    }
                    self.expect(':')?;
                    fields.push(self.field(&inner)?);
                    if !self.eat(',') {
                        break;
                    }
                }
                self.expect('>')?;
                DataType::Struct(fields.into())
            }
            "" => return Err(format!("expected a type: {TYPES}")),
            other => return Err(format!("unknown column type `{other}`: {TYPES}")),
        };
        Ok(Field::new(name, data_type, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Result<DataType, String> {
        parse_type("c", text).map(|f| f.data_type().clone())
    }

    #[test]
    fn types() {
        assert_eq!(kind("decimal(18, 2)"), Ok(DataType::Decimal128(18, 2)));
        assert_eq!(
            kind("list<struct<a: integer, b: list<string>>>"),
            Ok(DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(
                    vec![
                        Field::new("a", DataType::Int64, true),
                        Field::new(
                            "b",
                            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                            true
                        ),
                    ]
                    .into()
                ),
                true
            ))))
        );
        let json = parse_type("c", "json").unwrap();
        assert_eq!(
            json.metadata().get(EXTENSION_KEY).map(String::as_str),
            Some(JSON_EXTENSION)
        );
        assert!(kind("decimal").unwrap_err().contains("decimal(18,2)"));
        assert!(kind("decimal(40,2)").unwrap_err().contains("1 to 38"));
        assert!(kind("list<string").unwrap_err().contains("expected `>`"));
        assert!(kind("strin")
            .unwrap_err()
            .contains("unknown column type `strin`"));
        assert!(kind("string x").unwrap_err().contains("unexpected `x`"));
        assert!(kind("struct<a: string, a: integer>")
            .unwrap_err()
            .contains("declared twice"));
    }
}
