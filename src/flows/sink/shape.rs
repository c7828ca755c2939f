//! The shape of a run's records so far, from which Parquet's schema is
//! made when the flow declares none.
//!
//! Every page widens the shape before it is written, so nothing the first
//! page did not show is lost: a field seen for the first time becomes a new
//! nullable column, a column that held only nulls takes the type of its
//! first value, integers widen to floats, and scalars of different kinds
//! widen to text. A file holds one schema, so a wider shape starts a new
//! file part (readers merge parts by column name, e.g. DuckDB's
//! `union_by_name`). Values that cannot be widened into (an object where a
//! number was, a list where text was) are not: the record does not fit and
//! is filed under the error prefix with the reason.
//!
//! Empty objects (`metadata: {}`) carry no column, and Parquet cannot write
//! a struct without fields: they are written as null.

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Only nulls so far: the column exists but has no type yet.
    Null,
    Bool,
    Int,
    Float,
    Text,
    List(Box<Shape>),
    Object(Columns),
}

/// An object's fields in the order first seen.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Columns(Vec<(String, Shape)>);

impl Columns {
    /// Widens the columns to cover one record; true when they changed.
    /// Empty objects inside the record become null.
    pub fn observe(&mut self, record: &mut Map<String, Value>) -> bool {
        let mut changed = false;
        for (i, (name, value)) in record.iter_mut().enumerate() {
            // Records of one source list their fields in the same order:
            // the i-th column is usually the one.
            let at = match self.0.get(i) {
                Some((n, _)) if n == name => Some(i),
                _ => self.0.iter().position(|(n, _)| n == name),
            };
            let at = match at {
                Some(at) => at,
                None => {
                    self.0.push((name.clone(), Shape::Null));
                    changed = true;
                    self.0.len() - 1
                }
            };
            changed |= self.0[at].1.observe(value);
        }
        changed
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn fields(&self) -> Fields {
        self.0
            .iter()
            .map(|(name, shape)| Field::new(name, shape.data_type(), true))
            .collect()
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.fields()))
    }
}

impl Shape {
    /// Widens the shape to cover `value`; true when it changed.
    pub fn observe(&mut self, value: &mut Value) -> bool {
        match value {
            Value::Null => false,
            Value::Object(map) if map.is_empty() => {
                *value = Value::Null;
                false
            }
            Value::Object(map) => match self {
                Shape::Object(columns) => columns.observe(map),
                Shape::Null => {
                    let mut columns = Columns::default();
                    columns.observe(map);
                    *self = Shape::Object(columns);
                    true
                }
                // Cannot widen: the record will not fit.
                _ => false,
            },
            Value::Array(items) => {
                if let Shape::Null = self {
                    *self = Shape::List(Box::new(Shape::Null));
                    let Shape::List(inner) = self else {
                        unreachable!()
                    };
                    items.iter_mut().for_each(|item| {
                        inner.observe(item);
                    });
                    return true;
                }
                let Shape::List(inner) = self else {
                    return false;
                };
                let mut changed = false;
                for item in items {
                    changed |= inner.observe(item);
                }
                changed
            }
            scalar => {
                let seen = match scalar {
                    Value::Bool(_) => Shape::Bool,
                    Value::Number(n) if n.is_i64() => Shape::Int,
                    Value::Number(_) => Shape::Float,
                    _ => Shape::Text,
                };
                let wider = match (&*self, &seen) {
                    (Shape::Null, _) => seen,
                    (a, b) if a == b => return false,
                    (Shape::Float, Shape::Int) | (Shape::Text, _) => return false,
                    (Shape::Int, Shape::Float) => Shape::Float,
                    (Shape::List(_) | Shape::Object(_), _) => return false,
                    // Booleans, numbers and text mixed: text holds them all.
                    _ => Shape::Text,
                };
                *self = wider;
                true
            }
        }
    }

    fn data_type(&self) -> DataType {
        match self {
            Shape::Null => DataType::Null,
            Shape::Bool => DataType::Boolean,
            Shape::Int => DataType::Int64,
            Shape::Float => DataType::Float64,
            Shape::Text => DataType::Utf8,
            Shape::List(inner) => {
                DataType::List(Arc::new(Field::new("item", inner.data_type(), true)))
            }
            Shape::Object(columns) => DataType::Struct(columns.fields()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn observe(columns: &mut Columns, record: Value) -> (bool, Value) {
        let Value::Object(mut map) = record else {
            panic!("not an object")
        };
        let changed = columns.observe(&mut map);
        (changed, Value::Object(map))
    }

    fn types(columns: &Columns) -> Vec<(String, DataType)> {
        columns
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    }

    #[test]
    fn nulls_do_not_fix_a_type_and_later_values_widen() {
        let mut c = Columns::default();
        assert!(observe(&mut c, json!({"id": 1, "email": null})).0);
        assert!(!observe(&mut c, json!({"id": 2, "email": null})).0);
        // (serde_json's objects list their keys in order.)
        assert_eq!(
            types(&c),
            [
                ("email".into(), DataType::Null),
                ("id".into(), DataType::Int64),
            ]
        );
        assert!(observe(&mut c, json!({"id": 3, "email": "a@b"})).0);
        assert!(observe(&mut c, json!({"id": 4.5, "edited": {"ts": "1"}})).0);
        assert!(!observe(&mut c, json!({"id": 5, "email": 7})).0);
        assert_eq!(
            types(&c),
            [
                ("email".into(), DataType::Utf8),
                ("id".into(), DataType::Float64),
                (
                    "edited".into(),
                    DataType::Struct(vec![Field::new("ts", DataType::Utf8, true)].into())
                ),
            ]
        );
    }

    #[test]
    fn empty_objects_become_null_and_clashes_do_not_widen() {
        let mut c = Columns::default();
        let (_, written) = observe(&mut c, json!({"metadata": {}, "tags": [{}]}));
        assert_eq!(written, json!({"metadata": null, "tags": [null]}));
        assert_eq!(c.fields()[0].data_type(), &DataType::Null);
        assert!(observe(&mut c, json!({"metadata": {"k": "v"}, "tags": ["a"]})).0);
        // A number where an object is cannot widen: that record will not fit.
        assert!(!observe(&mut c, json!({"metadata": 1})).0);
        assert!(!observe(&mut c, json!({"tags": "a"})).0);
        assert_eq!(
            c.fields()[1].data_type(),
            &DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
        );
        // Booleans and numbers mixed widen to text.
        let mut flags = Columns::default();
        observe(&mut flags, json!({"f": true}));
        assert!(observe(&mut flags, json!({"f": 1})).0);
        assert_eq!(flags.fields()[0].data_type(), &DataType::Utf8);
    }
}
