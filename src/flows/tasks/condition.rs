//! Filter conditions: one comparison on a field, or all/any of conditions.
//! Numbers compare as numbers (numeric strings too), everything else as
//! text, so ISO 8601 timestamps compare in time order.

use crate::config::flow_tasks::{Condition, Test};
use crate::flows::record;
use serde_json::Value;
use std::cmp::Ordering;

impl Condition {
    pub fn holds(&self, record: &Value) -> bool {
        match self {
            Condition::All(all) => all.iter().all(|c| c.holds(record)),
            Condition::Any(any) => any.iter().any(|c| c.holds(record)),
            Condition::Field { field, test } => {
                let value = record::get(record, field).filter(|v| !v.is_null());
                test.holds(value)
            }
        }
    }
}

impl Test {
    fn holds(&self, value: Option<&Value>) -> bool {
        if let Test::Exists(wanted) = self {
            return value.is_some() == *wanted;
        }
        if let Test::NotEquals(other) = self {
            return value.is_none_or(|v| !same(v, other));
        }
        let Some(value) = value else { return false };
        let ordered =
            |other: &Value, accept: fn(Ordering) -> bool| compare(value, other).is_some_and(accept);
        match self {
            Test::Equals(other) => same(value, other),
            Test::Contains(part) => record::text(value).contains(part.as_str()),
            Test::GreaterThan(o) => ordered(o, |c| c == Ordering::Greater),
            Test::GreaterOrEqual(o) => ordered(o, |c| c != Ordering::Less),
            Test::LessThan(o) => ordered(o, |c| c == Ordering::Less),
            Test::LessOrEqual(o) => ordered(o, |c| c != Ordering::Greater),
            Test::Between(low, high) => {
                ordered(low, |c| c != Ordering::Less) && ordered(high, |c| c != Ordering::Greater)
            }
            Test::In(options) => options.iter().any(|o| same(value, o)),
            Test::Regex(pattern) => pattern.0.is_match(&record::text(value)),
            Test::Exists(_) | Test::NotEquals(_) => unreachable!("handled above"),
        }
    }
}

/// Equal as numbers when both read as numbers, else as text.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ if a.is_number() || b.is_number() => {
            matches!((record::number(a), record::number(b)), (Some(x), Some(y)) if x == y)
        }
        _ => record::text(a) == record::text(b),
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    if a.is_number() || b.is_number() {
        return record::number(a)?.partial_cmp(&record::number(b)?);
    }
    Some(record::text(a).cmp(&record::text(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::flow_spec::Pattern;
    use serde_json::json;

    fn field(field: &str, test: Test) -> Condition {
        Condition::Field {
            field: field.into(),
            test,
        }
    }

    #[test]
    fn comparisons() {
        let r = json!({"status": "paid", "total": "42.5", "n": 3, "at": "2026-01-02T00:00:00Z", "gone": null});
        let table: Vec<(Condition, bool)> = vec![
            (field("status", Test::Equals(json!("paid"))), true),
            (field("status", Test::NotEquals(json!("paid"))), false),
            (field("missing", Test::NotEquals(json!("paid"))), true),
            (field("total", Test::GreaterThan(json!(42))), true),
            (field("total", Test::LessOrEqual(json!(42.5))), true),
            (field("n", Test::Equals(json!(3.0))), true),
            (field("n", Test::Equals(json!("3"))), true),
            (field("n", Test::Between(json!(1), json!(3))), true),
            (field("n", Test::Between(json!(4), json!(9))), false),
            (field("at", Test::GreaterOrEqual(json!("2026-01-01"))), true),
            (
                field("status", Test::In(vec![json!("new"), json!("paid")])),
                true,
            ),
            (field("status", Test::Contains("ai".into())), true),
            (field("gone", Test::Exists(false)), true),
            (field("status", Test::Exists(true)), true),
            (field("missing", Test::GreaterThan(json!(1))), false),
            (field("status", Test::GreaterThan(json!(1))), false),
            (
                field(
                    "status",
                    Test::Regex(Pattern(regex::Regex::new("^p").unwrap())),
                ),
                true,
            ),
            (
                Condition::Any(vec![
                    field("status", Test::Equals(json!("new"))),
                    field("n", Test::LessThan(json!(5))),
                ]),
                true,
            ),
            (
                Condition::All(vec![
                    field("status", Test::Equals(json!("paid"))),
                    field("n", Test::LessThan(json!(3))),
                ]),
                false,
            ),
        ];
        for (i, (condition, expected)) in table.iter().enumerate() {
            assert_eq!(condition.holds(&r), *expected, "case {i}: {condition:?}");
        }
    }
}
