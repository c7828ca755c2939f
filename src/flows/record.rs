//! Records are JSON objects; fields are reached by dotted paths
//! (`customer.address.city`, `items.0.sku`).

use serde_json::{Map, Value};

pub fn get<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    if path == "." || path.is_empty() {
        return Some(record);
    }
    path.split('.')
        .try_fold(record, |node, segment| match node {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

/// Sets `path`, creating objects on the way (a non-object in the way is
/// replaced: the path says the record has that shape).
pub fn set(record: &mut Value, path: &str, value: Value) {
    let (segment, rest) = match path.split_once('.') {
        Some((segment, rest)) => (segment, Some(rest)),
        None => (path, None),
    };
    // A number indexes into an existing array (request bodies such as
    // HubSpot's `filterGroups.0.filters.0.value`); one past the end appends.
    if let (Value::Array(items), Ok(i)) = (&mut *record, segment.parse::<usize>()) {
        if i <= items.len() {
            if i == items.len() {
                items.push(Value::Null);
            }
            match rest {
                None => items[i] = value,
                Some(rest) => set(&mut items[i], rest, value),
            }
            return;
        }
    }
    if !record.is_object() {
        *record = Value::Object(Map::new());
    }
    let Value::Object(map) = record else { return };
    match rest {
        None => {
            map.insert(segment.to_string(), value);
        }
        Some(rest) => set(
            map.entry(segment.to_string()).or_insert(Value::Null),
            rest,
            value,
        ),
    }
}

/// Moves the value at `path` out, leaving null in its place (`.`: the whole value).
pub fn take(record: &mut Value, path: &str) -> Option<Value> {
    if path == "." || path.is_empty() {
        return Some(record.take());
    }
    get_mut(record, path).map(Value::take)
}

pub fn remove(record: &mut Value, path: &str) -> Option<Value> {
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent, last)) => (get_mut(record, parent)?, last),
        None => (record, path),
    };
    parent.as_object_mut()?.remove(last)
}

fn get_mut<'a>(record: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.')
        .try_fold(record, |node, segment| match node {
            Value::Object(map) => map.get_mut(segment),
            _ => None,
        })
}

/// A value as text: strings as they are, numbers and booleans printed,
/// null as empty, objects and arrays as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A value as a number, reading numeric strings too.
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An f64 as JSON: integral values as integers, so `2 * 3` is `6`, not `6.0`.
pub fn from_f64(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths() {
        let mut r = json!({"a": {"b": 1}, "items": [{"sku": "x"}]});
        assert_eq!(get(&r, "a.b"), Some(&json!(1)));
        assert_eq!(get(&r, "items.0.sku"), Some(&json!("x")));
        assert_eq!(get(&r, "a.c"), None);
        assert_eq!(get(&r, "."), Some(&r.clone()));
        set(&mut r, "a.c.d", json!(true));
        assert_eq!(r["a"]["c"]["d"], json!(true));
        set(&mut r, "a.b.x", json!(2)); // a number in the way becomes an object
        assert_eq!(r["a"]["b"], json!({"x": 2}));
        assert_eq!(remove(&mut r, "a.c"), Some(json!({"d": true})));
        assert_eq!(remove(&mut r, "nope.x"), None);
        let mut body = json!({"data": {"items": [1, 2]}, "next": "c"});
        assert_eq!(take(&mut body, "data.items"), Some(json!([1, 2])));
        assert_eq!(body, json!({"data": {"items": null}, "next": "c"}));
        assert_eq!(text(&json!(1.5)), "1.5");
        assert_eq!(number(&json!(" 42 ")), Some(42.0));
        assert_eq!(from_f64(6.0), json!(6));
        assert_eq!(from_f64(0.5), json!(0.5));
    }

    #[test]
    fn set_indexes_into_arrays() {
        let mut body = serde_json::json!({"filterGroups": [{"filters": [{"operator": "GTE"}]}]});
        set(
            &mut body,
            "filterGroups.0.filters.0.value",
            Value::from("1700000000000"),
        );
        assert_eq!(
            body,
            serde_json::json!({"filterGroups": [{"filters": [{"operator": "GTE", "value": "1700000000000"}]}]})
        );
        let mut fresh = Value::Null;
        set(&mut fresh, "a.b", Value::from(1));
        assert_eq!(fresh, serde_json::json!({"a": {"b": 1}}));
    }
}
