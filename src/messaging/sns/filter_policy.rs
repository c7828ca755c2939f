//! SNS subscription filter policies: parsing with AWS's limits and error
//! messages, and matching against message attributes or a JSON body.
//! <https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html>

use serde_json::{Map, Value};

/// A filter policy: every key must match (AND); `$or` branches are
/// alternatives.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterPolicy {
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
struct Node {
    /// Key -> either conditions (a leaf) or a nested node (body scope).
    fields: Vec<(String, Field)>,
    /// `$or`: at least one branch must match as well.
    any_of: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Field {
    Leaf(Vec<Condition>),
    Nested(Node),
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Exact(String),
    Number(f64),
    Bool(bool),
    Null,
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(String),
    AnythingBut(Vec<Condition>),
    Numeric(Vec<(String, f64)>),
    Exists(bool),
    Cidr(ipnet::IpNet),
}

pub const MAX_KEYS: usize = 5;
pub const MAX_COMBINATIONS: usize = 150;

fn err(why: impl std::fmt::Display) -> String {
    format!("Invalid parameter: FilterPolicy: {why}")
}

impl FilterPolicy {
    /// Parses a policy. `body_scope` allows nested keys (MessageBody scope).
    pub fn parse(text: &str, body_scope: bool) -> Result<FilterPolicy, String> {
        let json: Value =
            serde_json::from_str(text).map_err(|e| err(format!("failed to parse JSON. {e}")))?;
        let Value::Object(map) = json else {
            return Err(err("Filter policy must be a JSON object"));
        };
        let root = parse_node(&map, body_scope, 0)?;
        let keys = count_keys(&root);
        if keys > MAX_KEYS {
            return Err(err(format!(
                "Filter policy can not have more than {MAX_KEYS} keys"
            )));
        }
        if combinations(&root) > MAX_COMBINATIONS {
            return Err(err("Filter policy is too complex"));
        }
        Ok(FilterPolicy { root })
    }

    /// Matches a document: the message attributes as JSON (strings, numbers,
    /// arrays) or the parsed message body.
    pub fn matches(&self, doc: &Value) -> bool {
        match_node(&self.root, doc)
    }
}

fn parse_node(map: &Map<String, Value>, body_scope: bool, depth: usize) -> Result<Node, String> {
    if map.is_empty() {
        return Err(err("Filter policy can not be empty"));
    }
    let mut node = Node {
        fields: Vec::new(),
        any_of: Vec::new(),
    };
    for (key, value) in map {
        if key == "$or" {
            let Value::Array(branches) = value else {
                return Err(err("$or must be an array"));
            };
            if branches.len() < 2 {
                return Err(err("$or must have at least 2 branches"));
            }
            for b in branches {
                let Value::Object(m) = b else {
                    return Err(err("$or branches must be objects"));
                };
                node.any_of.push(parse_node(m, body_scope, depth)?);
            }
            continue;
        }
        let field =
            match value {
                Value::Array(items) => {
                    if items.is_empty() {
                        return Err(err(format!("Empty arrays are not allowed (key {key})")));
                    }
                    Field::Leaf(
                        items
                            .iter()
                            .map(parse_condition)
                            .collect::<Result<_, _>>()?,
                    )
                }
                Value::Object(m) if body_scope => {
                    if depth >= 5 {
                        return Err(err("Filter policy nesting is too deep"));
                    }
                    Field::Nested(parse_node(m, body_scope, depth + 1)?)
                }
                Value::Object(_) => return Err(err(
                    "Filter policy scope MessageAttributes does not support nested filter policy",
                )),
                _ => return Err(err(format!("\"{key}\" must be an object or an array"))),
            };
        node.fields.push((key.clone(), field));
    }
    Ok(node)
}

fn number(v: &Value, what: &str) -> Result<f64, String> {
    let n = v
        .as_f64()
        .ok_or_else(|| err(format!("Value of {what} must be numeric")))?;
    if n.abs() >= 1e9 {
        return Err(err(
            "Numeric values must be within -1,000,000,000 and 1,000,000,000 (exclusive)",
        ));
    }
    Ok(n)
}

fn string(v: &Value, what: &str) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| err(format!("Value of {what} must be a string")))
}

fn parse_condition(v: &Value) -> Result<Condition, String> {
    match v {
        Value::String(s) => Ok(Condition::Exact(s.clone())),
        Value::Number(_) => Ok(Condition::Number(number(v, "a number")?)),
        Value::Null => Ok(Condition::Null),
        Value::Bool(b) => Ok(Condition::Bool(*b)),
        Value::Array(_) => Err(err(
            "Match value must be String, number, true, false, or null",
        )),
        Value::Object(m) => {
            if m.len() != 1 {
                return Err(err("Only one key allowed in match expression"));
            }
            let (op, arg) = m
                .iter()
                .next()
                .ok_or_else(|| err("empty match expression"))?;
            match op.as_str() {
                "prefix" => Ok(Condition::Prefix(string(arg, "prefix")?)),
                "suffix" => Ok(Condition::Suffix(string(arg, "suffix")?)),
                "equals-ignore-case" => Ok(Condition::EqualsIgnoreCase(string(
                    arg,
                    "equals-ignore-case",
                )?)),
                "exists" => match arg {
                    Value::Bool(b) => Ok(Condition::Exists(*b)),
                    _ => Err(err("exists match pattern must be either true or false.")),
                },
                "cidr" => {
                    let text = string(arg, "cidr")?;
                    text.parse::<ipnet::IpNet>()
                        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map(Condition::Cidr)
                        .map_err(|_| err(format!("Malformed CIDR, one '/' required (got {text})")))
                }
                "numeric" => parse_numeric(arg),
                "anything-but" => {
                    let inner = match arg {
                        Value::Array(items) if !items.is_empty() => items
                            .iter()
                            .map(|i| match i {
                                Value::String(_) | Value::Number(_) => parse_condition(i),
                                _ => Err(err("Inside anything but list, start|null|boolean is not supported.")),
                            })
                            .collect::<Result<Vec<_>, _>>()?,
                        Value::String(_) | Value::Number(_) => vec![parse_condition(arg)?],
                        Value::Object(m) if m.len() == 1 && matches!(m.keys().next().map(String::as_str), Some("prefix" | "suffix" | "equals-ignore-case")) => {
                            vec![parse_condition(arg)?]
                        }
                        _ => return Err(err("Value of anything-but must be an array or single string/number value.")),
                    };
                    Ok(Condition::AnythingBut(inner))
                }
                other => Err(err(format!("Unrecognized match type {other}"))),
            }
        }
    }
}

fn parse_numeric(arg: &Value) -> Result<Condition, String> {
    let Value::Array(items) = arg else {
        return Err(err("Value of numeric must be an array."));
    };
    let mut ops = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let op = items[i]
            .as_str()
            .ok_or_else(|| err(format!("Invalid member in numeric match: {}", items[i])))?;
        if !matches!(op, "=" | "<" | "<=" | ">" | ">=") {
            return Err(err(format!("Unrecognized numeric range operator: {op}")));
        }
        let value = items
            .get(i + 1)
            .ok_or_else(|| err(format!("Value of {op} must be numeric")))?;
        ops.push((op.to_string(), number(value, op)?));
        i += 2;
    }
    let ok = match ops.as_slice() {
        [(_, _)] => true,
        [(a, lo), (b, hi)] => {
            matches!(a.as_str(), ">" | ">=") && matches!(b.as_str(), "<" | "<=") && lo < hi
        }
        _ => false,
    };
    if !ok {
        return Err(err("Bad numeric range: use [op, n] or [\">\"|\">=\", low, \"<\"|\"<=\", high] with low < high"));
    }
    Ok(Condition::Numeric(ops))
}

fn count_keys(node: &Node) -> usize {
    let own: usize = node
        .fields
        .iter()
        .map(|(_, f)| match f {
            Field::Leaf(_) => 1,
            Field::Nested(n) => count_keys(n),
        })
        .sum();
    own + node.any_of.iter().map(count_keys).max().unwrap_or(0)
}

/// AWS counts the product of the values of each key, summed over `$or`.
fn combinations(node: &Node) -> usize {
    let own: usize = node
        .fields
        .iter()
        .map(|(_, f)| match f {
            Field::Leaf(c) => c.len(),
            Field::Nested(n) => combinations(n),
        })
        .product();
    if node.any_of.is_empty() {
        own
    } else {
        own.saturating_mul(node.any_of.iter().map(combinations).sum())
    }
}

fn match_node(node: &Node, doc: &Value) -> bool {
    let fields = node.fields.iter().all(|(key, field)| {
        let value = doc.get(key);
        match field {
            Field::Leaf(conditions) => conditions.iter().any(|c| match_condition(c, value)),
            Field::Nested(inner) => value.is_some_and(|v| match v {
                Value::Array(items) => items.iter().any(|i| match_node(inner, i)),
                _ => match_node(inner, v),
            }),
        }
    });
    fields && (node.any_of.is_empty() || node.any_of.iter().any(|b| match_node(b, doc)))
}

fn match_condition(c: &Condition, value: Option<&Value>) -> bool {
    match c {
        Condition::Exists(want) => value.is_some_and(|v| !v.is_null()) == *want,
        Condition::AnythingBut(inner) => match value {
            None => false,
            Some(Value::Array(items)) => {
                !items.iter().any(|i| inner.iter().any(|c| match_one(c, i)))
            }
            Some(v) => !inner.iter().any(|c| match_one(c, v)),
        },
        _ => match value {
            None => false,
            Some(Value::Array(items)) => items.iter().any(|i| match_one(c, i)),
            Some(v) => match_one(c, v),
        },
    }
}

fn match_one(c: &Condition, v: &Value) -> bool {
    match (c, v) {
        (Condition::Exact(s), Value::String(x)) => s == x,
        (Condition::Number(n), Value::Number(x)) => {
            x.as_f64().is_some_and(|x| fixed(x) == fixed(*n))
        }
        (Condition::Bool(b), Value::Bool(x)) => b == x,
        (Condition::Null, Value::Null) => true,
        (Condition::Prefix(p), Value::String(x)) => x.starts_with(p.as_str()),
        (Condition::Suffix(p), Value::String(x)) => x.ends_with(p.as_str()),
        (Condition::EqualsIgnoreCase(p), Value::String(x)) => p.to_lowercase() == x.to_lowercase(),
        (Condition::Numeric(ops), Value::Number(x)) => x.as_f64().is_some_and(|x| {
            let x = fixed(x);
            ops.iter().all(|(op, n)| match op.as_str() {
                "=" => x == fixed(*n),
                "<" => x < fixed(*n),
                "<=" => x <= fixed(*n),
                ">" => x > fixed(*n),
                ">=" => x >= fixed(*n),
                _ => false,
            })
        }),
        (Condition::Cidr(net), Value::String(x)) => x
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| net.contains(&ip)),
        _ => false,
    }
}

/// A number as SNS compares it: to five decimal places (AWS documents
/// "up to five digits after the decimal point"), so 0.1 + 0.2 equals 0.3
/// and 301.000001 equals 301.
fn fixed(n: f64) -> i64 {
    (n * 100_000.0).round() as i64
}

#[cfg(test)]
#[path = "filter_policy_tests.rs"]
mod tests;
