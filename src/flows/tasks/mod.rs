//! Per-record tasks, applied in order (AppFlow's task list): reshape
//! (`transform`), keep or drop (`condition`), and check (`Check`).
//!
//! A record comes out kept, filtered (counted, not an error), invalid (it
//! goes to the destination's error prefix with the reason), or failing the
//! whole run (a `validate` with `action: fail`).

pub mod condition;
pub mod transform;

pub use crate::config::flow_tasks::{
    CastTo, Check, Condition, MaskSpan, Operand, Operator, Piece, Task, Test,
};
use crate::flows::record;
use serde_json::Value;

#[derive(Debug, PartialEq)]
pub enum Outcome {
    Keep(Value),
    Filtered,
    Invalid(String),
    FailRun(String),
}

pub fn apply(tasks: &[Task], mut record: Value) -> Outcome {
    for task in tasks {
        match task.apply(record) {
            Outcome::Keep(next) => record = next,
            other => return other,
        }
    }
    Outcome::Keep(record)
}

impl Task {
    fn apply(&self, mut record: Value) -> Outcome {
        let result = match self {
            Task::Map(pairs) => Ok(transform::map(&record, pairs)),
            Task::MapAll(renames) => {
                transform::rename(&mut record, renames);
                Ok(record)
            }
            Task::Merge { into, pieces } => {
                transform::merge(&mut record, into, pieces);
                Ok(record)
            }
            Task::Mask { field, span, with } => {
                transform::mask(&mut record, field, *span, *with);
                Ok(record)
            }
            Task::Truncate { field, length } => {
                transform::truncate(&mut record, field, *length);
                Ok(record)
            }
            Task::Arithmetic {
                into,
                left,
                op,
                right,
            } => transform::arithmetic(&mut record, into, left, *op, right).map(|()| record),
            Task::Cast { field, to, format } => {
                transform::cast(&mut record, field, *to, format.as_deref()).map(|()| record)
            }
            Task::Default { field, value } => {
                if record::get(&record, field).is_none_or(Value::is_null) {
                    record::set(&mut record, field, value.clone());
                }
                Ok(record)
            }
            Task::Filter(condition) => {
                if !condition.holds(&record) {
                    return Outcome::Filtered;
                }
                Ok(record)
            }
            Task::Validate {
                field,
                check,
                fail_run,
            } => match check.failure(record::get(&record, field)) {
                None => Ok(record),
                Some(why) if *fail_run => {
                    return Outcome::FailRun(format!("validation failed: {field} {why}"))
                }
                Some(why) => Err(format!("{field} {why}")),
            },
        };
        match result {
            Ok(record) => Outcome::Keep(record),
            Err(reason) => Outcome::Invalid(reason),
        }
    }
}

impl Check {
    /// Why the value fails the check, or None.
    fn failure(&self, value: Option<&Value>) -> Option<&'static str> {
        let value = value.filter(|v| !v.is_null());
        match self {
            Check::NonNull => value.is_none().then_some("is null"),
            Check::Numeric => value
                .and_then(record::number)
                .is_none()
                .then_some("is not numeric"),
            Check::NonZero => match value.and_then(record::number) {
                Some(n) if n != 0.0 => None,
                Some(_) => Some("is zero"),
                None => Some("is not a number"),
            },
            Check::NonNegative => match value.and_then(record::number) {
                Some(n) if n >= 0.0 => None,
                Some(_) => Some("is negative"),
                None => Some("is not a number"),
            },
            Check::Matches(pattern) => match value {
                Some(v) if pattern.0.is_match(&record::text(v)) => None,
                _ => Some("does not match the pattern"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::flow_spec::Pattern;
    use serde_json::json;

    #[test]
    fn tasks_run_in_order_and_stop_at_the_first_verdict() {
        let tasks = vec![
            Task::Map(vec![
                ("id".into(), "id".into()),
                ("email".into(), "customer.email".into()),
                ("status".into(), "status".into()),
                ("total".into(), "total".into()),
            ]),
            Task::Filter(Condition::Field {
                field: "status".into(),
                test: Test::Equals(json!("paid")),
            }),
            Task::Validate {
                field: "total".into(),
                check: Check::NonNegative,
                fail_run: false,
            },
            Task::Mask {
                field: "email".into(),
                span: MaskSpan::KeepLast(11),
                with: '*',
            },
        ];
        let paid = json!({"id": 1, "status": "paid", "total": 5, "customer": {"email": "ann@example.com"}, "x": 1});
        assert_eq!(
            apply(&tasks, paid),
            Outcome::Keep(
                json!({"id": 1, "email": "****example.com", "status": "paid", "total": 5})
            )
        );
        assert_eq!(
            apply(&tasks, json!({"id": 2, "status": "new", "total": 5})),
            Outcome::Filtered
        );
        assert_eq!(
            apply(&tasks, json!({"id": 3, "status": "paid", "total": -1})),
            Outcome::Invalid("total is negative".into())
        );
        let strict = [Task::Validate {
            field: "id".into(),
            check: Check::NonNull,
            fail_run: true,
        }];
        assert_eq!(
            apply(&strict, json!({"id": null})),
            Outcome::FailRun("validation failed: id is null".into())
        );
    }

    #[test]
    fn checks() {
        let pattern = Check::Matches(Pattern(regex::Regex::new("^[a-z]+$").unwrap()));
        assert_eq!(pattern.failure(Some(&json!("abc"))), None);
        assert!(pattern.failure(Some(&json!("ab1"))).is_some());
        assert!(pattern.failure(None).is_some());
        assert_eq!(Check::Numeric.failure(Some(&json!("1.5"))), None);
        assert!(Check::Numeric.failure(Some(&json!("x"))).is_some());
        assert!(Check::NonZero.failure(Some(&json!(0))).is_some());
        assert_eq!(Check::NonZero.failure(Some(&json!(-2))), None);
        assert!(Check::NonNull.failure(Some(&json!(null))).is_some());
    }
}
