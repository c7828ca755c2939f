//! The Query protocol's input: `Action=...&A.1.B=...` form fields, nested
//! into the same JSON shape the JSON protocol sends, so each action has one
//! parser. SQS flattens lists (`Attribute.1.Name`); SNS wraps them
//! (`Attributes.entry.1.key`, `Tags.member.1.Key`).

use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Default)]
struct Node {
    value: Option<String>,
    children: BTreeMap<String, Node>,
}

/// No Query parameter nests deeper than this (SQS's deepest is
/// `Entry.N.MessageAttribute.N.Value.StringValue`); deeper keys are refused,
/// which also bounds the recursion below.
const MAX_SEGMENTS: usize = 8;

/// Nests dotted keys: numeric segments become 1-based array positions.
pub fn nest(
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<Map<String, Value>, String> {
    let mut root = Node::default();
    for (key, value) in pairs {
        if key.split('.').count() > MAX_SEGMENTS {
            return Err(format!("The parameter name {key} is nested too deeply."));
        }
        let mut node = &mut root;
        for segment in key.split('.') {
            node = node.children.entry(segment.to_string()).or_default();
        }
        node.value = Some(value);
    }
    Ok(match to_value(root) {
        Value::Object(map) => map,
        _ => Map::new(),
    })
}

fn to_value(node: Node) -> Value {
    if node.children.is_empty() {
        return node.value.map_or(Value::Null, Value::String);
    }
    let numeric = node
        .children
        .keys()
        .all(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()));
    if numeric {
        let mut items: Vec<(u64, Node)> = node
            .children
            .into_iter()
            .map(|(k, v)| (k.parse().unwrap_or(u64::MAX), v))
            .collect();
        items.sort_by_key(|(i, _)| *i);
        return Value::Array(items.into_iter().map(|(_, n)| to_value(n)).collect());
    }
    Value::Object(
        node.children
            .into_iter()
            .map(|(k, v)| (k, to_value(v)))
            .collect(),
    )
}

/// SQS's flattened names, renamed to the JSON protocol's.
pub fn normalize_sqs(map: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in map {
        let value = match value {
            Value::Object(inner) => Value::Object(normalize_sqs(inner)),
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|v| match v {
                        Value::Object(inner) => Value::Object(normalize_sqs(inner)),
                        other => other,
                    })
                    .collect(),
            ),
            other => other,
        };
        match key.as_str() {
            "Attribute" => out.insert("Attributes".into(), pairs_to_map(value, "Name", "Value")),
            "MessageAttribute" => out.insert(
                "MessageAttributes".into(),
                pairs_to_map(value, "Name", "Value"),
            ),
            "MessageSystemAttribute" => out.insert(
                "MessageSystemAttributes".into(),
                pairs_to_map(value, "Name", "Value"),
            ),
            "Tag" => out.insert("Tags".into(), pairs_to_map(value, "Key", "Value")),
            "AttributeName"
            | "MessageAttributeName"
            | "MessageSystemAttributeName"
            | "TagKey"
            | "AWSAccountId" => out.insert(format!("{key}s"), value),
            "ActionName" => out.insert("Actions".into(), value),
            k if k.ends_with("BatchRequestEntry") => out.insert("Entries".into(), value),
            _ => out.insert(key, value),
        };
    }
    out
}

/// SNS's wrapped names: `{"entry": [...]}` becomes a map and
/// `{"member": [...]}` a list.
pub fn normalize_sns(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .map(|(key, value)| (key, unwrap_sns(value)))
        .collect()
}

fn unwrap_sns(value: Value) -> Value {
    match value {
        Value::Object(mut inner) if inner.len() == 1 && inner.contains_key("entry") => {
            let entries = inner.remove("entry").map(unwrap_sns).unwrap_or(Value::Null);
            // Attributes use key/value; MessageAttributes use Name/Value.
            let uses_name = entries
                .as_array()
                .and_then(|a| a.first())
                .is_some_and(|e| e.get("Name").is_some());
            if uses_name {
                pairs_to_map(entries, "Name", "Value")
            } else {
                pairs_to_map(entries, "key", "value")
            }
        }
        Value::Object(mut inner) if inner.len() == 1 && inner.contains_key("member") => {
            match inner.remove("member").map(unwrap_sns) {
                Some(Value::Array(items)) => Value::Array(items),
                Some(other) => Value::Array(vec![other]),
                None => Value::Array(Vec::new()),
            }
        }
        Value::Object(inner) => Value::Object(normalize_sns(inner)),
        Value::Array(items) => Value::Array(items.into_iter().map(unwrap_sns).collect()),
        other => other,
    }
}

fn pairs_to_map(value: Value, key: &str, val: &str) -> Value {
    let Value::Array(items) = value else {
        return value;
    };
    let mut map = Map::new();
    for item in items {
        if let (Some(Value::String(k)), Some(v)) = (item.get(key), item.get(val)) {
            map.insert(k.clone(), v.clone());
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sqs_flattened_lists_become_json_shapes() {
        let map = normalize_sqs(
            nest(pairs(&[
                ("Action", "SendMessageBatch"),
                ("SendMessageBatchRequestEntry.2.Id", "b"),
                ("SendMessageBatchRequestEntry.1.Id", "a"),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name",
                    "color",
                ),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType",
                    "String",
                ),
                (
                    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue",
                    "red",
                ),
                ("AttributeName.1", "All"),
            ]))
            .unwrap(),
        );
        assert_eq!(
            Value::Object(map),
            json!({
                "Action": "SendMessageBatch",
                "AttributeNames": ["All"],
                "Entries": [
                    {"Id": "a", "MessageAttributes": {"color": {"DataType": "String", "StringValue": "red"}}},
                    {"Id": "b"}
                ]
            })
        );
    }

    #[test]
    fn deep_keys_are_refused() {
        let deep = vec![("a.".repeat(100_000) + "b", "x".to_string())];
        assert!(nest(deep).is_err());
    }

    #[test]
    fn sns_wrapped_lists_and_maps() {
        let map = normalize_sns(
            nest(pairs(&[
                ("Attributes.entry.1.key", "RawMessageDelivery"),
                ("Attributes.entry.1.value", "true"),
                ("MessageAttributes.entry.1.Name", "kind"),
                ("MessageAttributes.entry.1.Value.DataType", "String"),
                ("MessageAttributes.entry.1.Value.StringValue", "x"),
                ("Tags.member.1.Key", "team"),
                ("Tags.member.1.Value", "core"),
            ]))
            .unwrap(),
        );
        assert_eq!(
            Value::Object(map),
            json!({
                "Attributes": {"RawMessageDelivery": "true"},
                "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "x"}},
                "Tags": [{"Key": "team", "Value": "core"}]
            })
        );
    }
}
