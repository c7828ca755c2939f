//! Records fitted to a declared Parquet schema: `json` columns get their
//! values' JSON text, and fields the schema does not list are noted so the
//! run can say what it left out.

use crate::config::parquet_schema::{EXTENSION_KEY, JSON_EXTENSION};
use arrow_schema::{DataType, Field, SchemaRef};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};

/// Names of left-out fields kept for the run's report, at most.
const NOTED: usize = 20;

pub struct Declared {
    pub schema: SchemaRef,
    /// Where `json` columns are; `None` when there are none.
    plan: Option<Plan>,
    names: HashSet<String>,
    pub undeclared: BTreeSet<String>,
}

/// The way from a record to its `json` values.
enum Plan {
    Json,
    Struct(Vec<(String, Plan)>),
    List(Box<Plan>),
}

fn plan_of(field: &Field) -> Option<Plan> {
    if field.metadata().get(EXTENSION_KEY).map(String::as_str) == Some(JSON_EXTENSION) {
        return Some(Plan::Json);
    }
    match field.data_type() {
        DataType::Struct(fields) => {
            let inner: Vec<(String, Plan)> = fields
                .iter()
                .filter_map(|f| plan_of(f).map(|p| (f.name().clone(), p)))
                .collect();
            (!inner.is_empty()).then_some(Plan::Struct(inner))
        }
        DataType::List(item) => plan_of(item).map(|p| Plan::List(Box::new(p))),
        _ => None,
    }
}

impl Plan {
    fn apply(&self, value: &mut Value) {
        match (self, value) {
            (_, Value::Null) => {}
            (Plan::Json, value) => *value = Value::String(value.to_string()),
            (Plan::Struct(fields), Value::Object(map)) => {
                for (name, plan) in fields {
                    if let Some(v) = map.get_mut(name) {
                        plan.apply(v);
                    }
                }
            }
            (Plan::List(plan), Value::Array(items)) => items.iter_mut().for_each(|i| plan.apply(i)),
            // Not the declared shape: the decoder refuses the record.
            _ => {}
        }
    }
}

impl Declared {
    pub fn new(schema: SchemaRef) -> Declared {
        let plan = plan_of(&Field::new(
            "",
            DataType::Struct(schema.fields().clone()),
            true,
        ));
        let names = schema.fields().iter().map(|f| f.name().clone()).collect();
        Declared {
            schema,
            plan,
            names,
            undeclared: BTreeSet::new(),
        }
    }

    pub fn fit(&mut self, record: &mut Value) {
        if let Value::Object(map) = &*record {
            if self.undeclared.len() < NOTED {
                for name in map.keys() {
                    if !self.names.contains(name) && self.undeclared.len() < NOTED {
                        self.undeclared.insert(name.clone());
                    }
                }
            }
        }
        if let Some(plan) = &self.plan {
            plan.apply(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parquet_schema::parse_type;
    use arrow_schema::Schema;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn json_columns_hold_json_text_and_left_out_fields_are_noted() {
        let schema = Arc::new(Schema::new(vec![
            parse_type("id", "integer").unwrap(),
            parse_type("metadata", "json").unwrap(),
            parse_type("lines", "list<struct<sku: string, extra: json>>").unwrap(),
        ]));
        let mut d = Declared::new(schema);
        let mut r = json!({"id": 1, "metadata": {"a": [1]}, "lines": [{"sku": "x", "extra": "s"}, {"sku": "y", "extra": null}], "other": 2});
        d.fit(&mut r);
        assert_eq!(
            r,
            json!({"id": 1, "metadata": "{\"a\":[1]}", "lines": [{"sku": "x", "extra": "\"s\""}, {"sku": "y", "extra": null}], "other": 2})
        );
        assert_eq!(d.undeclared.iter().collect::<Vec<_>>(), ["other"]);
    }
}
