//! The tasks that reshape a record: map, rename, merge, mask, truncate,
//! arithmetic, cast. Each works on one record in place; a task whose input
//! cannot be converted says why, and the record goes to the error prefix.

use crate::config::flow_tasks::{CastTo, MaskSpan, Operand, Operator, Piece};
use crate::flows::record;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// A new record with exactly the targets: a source that is missing, or
/// whose path crosses a null, gives null, so every record has the same shape
/// (a file's columns do not depend on which record came first).
pub fn map(record: &Value, pairs: &[(String, String)]) -> Value {
    let mut out = Value::Object(Map::new());
    for (target, source) in pairs {
        let value = record::get(record, source).cloned().unwrap_or(Value::Null);
        record::set(&mut out, target, value);
    }
    out
}

pub fn rename(record: &mut Value, renames: &[(String, String)]) {
    for (from, to) in renames {
        if let Some(value) = record::remove(record, from) {
            record::set(record, to, value);
        }
    }
}

pub fn merge(record: &mut Value, into: &str, pieces: &[Piece]) {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(f) => {
                out.push_str(&record::get(record, f).map(record::text).unwrap_or_default())
            }
        }
    }
    record::set(record, into, Value::String(out));
}

pub fn mask(record: &mut Value, field: &str, span: MaskSpan, with: char) {
    let Some(value) = record::get(record, field).filter(|v| !v.is_null()) else {
        return;
    };
    let chars: Vec<char> = record::text(value).chars().collect();
    let n = chars.len();
    let hidden = |i: usize| match span {
        MaskSpan::All => true,
        MaskSpan::First(k) => i < k,
        MaskSpan::Last(k) => i + k >= n,
        MaskSpan::KeepLast(k) => i + k < n,
    };
    let masked: String = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| if hidden(i) { with } else { c })
        .collect();
    record::set(record, field, Value::String(masked));
}

pub fn truncate(record: &mut Value, field: &str, length: usize) {
    if let Some(Value::String(s)) = record::get(record, field) {
        if s.chars().count() > length {
            let cut: String = s.chars().take(length).collect();
            record::set(record, field, Value::String(cut));
        }
    }
}

pub fn arithmetic(
    record: &mut Value,
    into: &str,
    left: &Operand,
    op: Operator,
    right: &Operand,
) -> Result<(), String> {
    let operand = |o: &Operand| match o {
        Operand::Number(n) => Ok(*n),
        Operand::Field(f) => record::get(record, f)
            .and_then(record::number)
            .ok_or_else(|| format!("{f} is not a number")),
    };
    let (a, b) = (operand(left)?, operand(right)?);
    let result = match op {
        Operator::Add => a + b,
        Operator::Subtract => a - b,
        Operator::Multiply => a * b,
        Operator::Divide if b == 0.0 => return Err(format!("{into}: division by zero")),
        Operator::Divide => a / b,
    };
    record::set(record, into, record::from_f64(result));
    Ok(())
}

pub fn cast(
    record: &mut Value,
    field: &str,
    to: CastTo,
    format: Option<&str>,
) -> Result<(), String> {
    let Some(value) = record::get(record, field).filter(|v| !v.is_null()) else {
        return Ok(()); // nothing to convert; `validate` is how to require it
    };
    let fail = || format!("{field} cannot be cast to {to:?}: {}", short(value)).to_lowercase();
    let cast = match to {
        CastTo::String => Value::String(record::text(value)),
        CastTo::Integer => {
            let n = record::number(value).ok_or_else(fail)?;
            if n.fract() != 0.0 {
                return Err(fail());
            }
            Value::from(n as i64)
        }
        CastTo::Decimal => {
            let n = record::number(value).ok_or_else(fail)?;
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(fail)?
        }
        CastTo::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            other => match record::text(other).to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "y" => Value::Bool(true),
                "false" | "0" | "no" | "n" => Value::Bool(false),
                _ => return Err(fail()),
            },
        },
        CastTo::Timestamp => Value::String(
            parse_time(value, format)
                .ok_or_else(fail)?
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ),
    };
    record::set(record, field, cast);
    Ok(())
}

/// RFC 3339, a date, unix seconds, or the given strftime pattern.
pub fn parse_time(value: &Value, format: Option<&str>) -> Option<DateTime<Utc>> {
    if let Value::Number(n) = value {
        return DateTime::from_timestamp(n.as_f64()? as i64, 0);
    }
    let text = record::text(value);
    if let Some(pattern) = format {
        if let Ok(t) = NaiveDateTime::parse_from_str(&text, pattern) {
            return Some(t.and_utc());
        }
        if let Ok(d) = NaiveDate::parse_from_str(&text, pattern) {
            return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        }
        return DateTime::parse_from_str(&text, pattern)
            .ok()
            .map(|t| t.to_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Some(t.to_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    text.parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}...", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::flow_tasks::parse_format;
    use serde_json::json;

    #[test]
    fn map_projects_and_nests() {
        let r = json!({"id": 7, "customer": {"name": "Ann"}, "extra": true});
        let pairs = vec![
            ("order_id".to_string(), "id".to_string()),
            ("buyer.name".to_string(), "customer.name".to_string()),
            ("absent".to_string(), "nope".to_string()),
        ];
        assert_eq!(
            map(&r, &pairs),
            json!({"order_id": 7, "buyer": {"name": "Ann"}, "absent": null})
        );
        // A path that crosses a null still gives its target, as null.
        let crossed = json!({"id": 8, "customer": null});
        assert_eq!(
            map(&crossed, &pairs),
            json!({"order_id": 8, "buyer": {"name": null}, "absent": null})
        );
        let mut r = r;
        rename(&mut r, &[("customer.name".into(), "name".into())]);
        assert_eq!(
            r,
            json!({"id": 7, "customer": {}, "extra": true, "name": "Ann"})
        );
    }

    #[test]
    fn merge_and_formats() {
        let pieces = parse_format("{first} {last} {{x}}").unwrap();
        let mut r = json!({"first": "Ann", "last": "Lee"});
        merge(&mut r, "full", &pieces);
        assert_eq!(r["full"], "Ann Lee {x}");
        assert!(parse_format("{}").is_err());
        assert!(parse_format("a}").is_err());
    }

    #[test]
    fn masks() {
        let cases = [
            (MaskSpan::All, "****"),
            (MaskSpan::First(2), "**34"),
            (MaskSpan::Last(1), "123*"),
            (MaskSpan::KeepLast(1), "***4"),
            (MaskSpan::First(9), "****"),
        ];
        for (span, expected) in cases {
            let mut r = json!({"n": 1234});
            mask(&mut r, "n", span, '*');
            assert_eq!(r["n"], expected, "{span:?}");
        }
        let mut r = json!({"s": "héllo"});
        truncate(&mut r, "s", 2);
        assert_eq!(r["s"], "hé");
    }

    #[test]
    fn arithmetic_and_casts() {
        let mut r = json!({"price": "2.5", "qty": 4, "flag": "yes", "when": "2026-11-24 10:00"});
        arithmetic(
            &mut r,
            "total",
            &Operand::Field("price".into()),
            Operator::Multiply,
            &Operand::Field("qty".into()),
        )
        .unwrap();
        assert_eq!(r["total"], json!(10));
        assert_eq!(
            arithmetic(
                &mut r,
                "x",
                &Operand::Number(1.0),
                Operator::Divide,
                &Operand::Number(0.0)
            ),
            Err("x: division by zero".into())
        );
        cast(&mut r, "price", CastTo::Decimal, None).unwrap();
        assert_eq!(r["price"], json!(2.5));
        cast(&mut r, "qty", CastTo::String, None).unwrap();
        assert_eq!(r["qty"], json!("4"));
        cast(&mut r, "flag", CastTo::Boolean, None).unwrap();
        assert_eq!(r["flag"], json!(true));
        cast(&mut r, "when", CastTo::Timestamp, Some("%Y-%m-%d %H:%M")).unwrap();
        assert_eq!(r["when"], json!("2026-11-24T10:00:00Z"));
        assert!(cast(&mut r, "price", CastTo::Integer, None).is_err());
        let mut r = json!({"t": 0, "d": "2026-01-02"});
        cast(&mut r, "t", CastTo::Timestamp, None).unwrap();
        cast(&mut r, "d", CastTo::Timestamp, None).unwrap();
        assert_eq!(
            r,
            json!({"t": "1970-01-01T00:00:00Z", "d": "2026-01-02T00:00:00Z"})
        );
    }
}
