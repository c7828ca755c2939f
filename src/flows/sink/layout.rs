//! The columns of a run's files, which hold for the whole run and only
//! widen: CSV's header and Parquet's schema. Each page is fitted before it
//! is written; when it widens the layout, the open file (which has the
//! narrower header or schema) is finished and the next part carries the
//! wider one, so no field is ever dropped.

use super::declared::Declared;
use super::shape::Columns;
use arrow_schema::SchemaRef;
use serde_json::Value;

pub enum Layout {
    /// JSON Lines: every record carries its own fields.
    Free,
    /// CSV: the header's columns so far (a `map`'s targets in map order,
    /// then fields in the order first seen).
    Csv(Vec<String>),
    /// Parquet with a schema the flow declares.
    Declared(Box<Declared>),
    /// Parquet with a schema from the records' shape so far.
    Inferred(Columns),
}

/// A page fitted to the layout.
pub struct Fitted {
    pub records: Vec<Value>,
    /// Records no file of this layout can hold, with why.
    pub rejected: Vec<(Value, String)>,
    /// The layout is wider than before: the open file must end.
    pub widened: bool,
}

impl Layout {
    pub fn fit(&mut self, mut records: Vec<Value>) -> Fitted {
        let mut rejected = Vec::new();
        let widened = match self {
            Layout::Free => false,
            Layout::Csv(columns) => widen(columns, &records),
            Layout::Declared(declared) => {
                records.iter_mut().for_each(|r| declared.fit(r));
                false
            }
            Layout::Inferred(columns) => {
                let before = !columns.is_empty();
                let mut changed = false;
                records.retain_mut(|record| match record {
                    Value::Object(map) => {
                        changed |= columns.observe(map);
                        true
                    }
                    other => {
                        rejected.push((
                            std::mem::take(other),
                            "a Parquet row is a JSON object".to_string(),
                        ));
                        false
                    }
                });
                if columns.is_empty() {
                    // Only `{}` so far: there is no column to write them in.
                    rejected.extend(records.drain(..).map(|r| {
                        (
                            r,
                            "a record without fields has no Parquet column".to_string(),
                        )
                    }));
                }
                before && changed
            }
        };
        Fitted {
            records,
            rejected,
            widened,
        }
    }

    /// CSV: the header a new file starts with.
    pub fn columns(&self) -> &[String] {
        match self {
            Layout::Csv(columns) => columns,
            _ => &[],
        }
    }

    /// Parquet: the schema a new file is written with.
    pub fn schema(&self) -> Option<SchemaRef> {
        match self {
            Layout::Declared(declared) => Some(declared.schema.clone()),
            Layout::Inferred(columns) => Some(columns.schema()),
            _ => None,
        }
    }

    /// What the run should be told about the layout, if anything.
    pub fn note(&self) -> Option<String> {
        match self {
            Layout::Declared(declared) if !declared.undeclared.is_empty() => Some(format!(
                "fields not in the declared Parquet schema were left out: {}",
                declared
                    .undeclared
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => None,
        }
    }
}

/// The CSV columns a flow's tasks fix up front: the targets of its last
/// `map`, in map order (nested targets as dotted paths).
pub fn columns_of(tasks: &[crate::config::flow_tasks::Task]) -> Vec<String> {
    tasks
        .iter()
        .rev()
        .find_map(|t| match t {
            crate::config::flow_tasks::Task::Map(pairs) => {
                Some(pairs.iter().map(|(target, _)| target.clone()).collect())
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// Adds the top-level fields of `records` that no column covers (a column
/// covers a field by its name or a dotted path under it); true when it
/// added any to columns that were not empty.
fn widen(columns: &mut Vec<String>, records: &[Value]) -> bool {
    let had = !columns.is_empty();
    let mut added = false;
    for record in records {
        let Value::Object(map) = record else {
            if columns.is_empty() {
                columns.push("value".into());
            }
            continue;
        };
        for key in map.keys() {
            let covered = columns.iter().any(|c| {
                c == key
                    || c.strip_prefix(key.as_str())
                        .is_some_and(|r| r.starts_with('.'))
            });
            if !covered {
                columns.push(key.clone());
                added = true;
            }
        }
    }
    had && added
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_hold_for_the_run_and_widen_with_late_fields() {
        let mut columns = vec!["id".to_string(), "buyer.name".to_string()];
        assert!(!widen(&mut columns, &[json!({"id": 1, "buyer": null})]));
        assert_eq!(columns, ["id", "buyer.name"]);
        assert!(widen(
            &mut columns,
            &[json!({"id": 2, "edited": {"ts": 1}})]
        ));
        assert_eq!(columns, ["id", "buyer.name", "edited"]);
        let mut fresh = Vec::new();
        assert!(!widen(
            &mut fresh,
            &[json!({"b": 1, "a": null}), json!({"c": 2})]
        ));
        assert_eq!(fresh, ["a", "b", "c"]);
    }

    #[test]
    fn parquet_rows_are_objects_with_fields() {
        let mut layout = Layout::Inferred(Columns::default());
        let fitted = layout.fit(vec![json!({}), json!(3)]);
        assert!(fitted.records.is_empty());
        assert_eq!(fitted.rejected.len(), 2);
        assert!(!fitted.widened);
        let fitted = layout.fit(vec![json!({"a": 1})]);
        assert_eq!(fitted.records.len(), 1);
        assert!(!fitted.widened, "the first columns are not a widening");
        assert!(layout.fit(vec![json!({"a": 1, "b": "x"})]).widened);
    }
}
