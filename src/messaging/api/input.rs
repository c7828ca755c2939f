//! Helpers for reading action inputs: typed parse of the JSON shape, numbers
//! that the Query protocol sends as strings, required fields, attributes.

use crate::config::queue_settings::AttributeMap;
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::message::{AttributeValue, Attributes};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// Parses an action's input; a wrongly typed field is the client's error.
pub fn parse<T: DeserializeOwned>(input: Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(input).map_err(|e| {
        ApiError::new(
            ErrorKind::InvalidParameterValue,
            format!(
                "Invalid value for the parameter {}: {}",
                e.path(),
                e.inner()
            ),
        )
    })
}

pub fn required<T>(value: Option<T>, name: &str) -> ApiResult<T> {
    value.ok_or_else(|| ApiError::missing(name))
}

/// A number given as a JSON number or (Query protocol) a string.
pub fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        N(i64),
        S(String),
    }
    let invalid = |v: &dyn std::fmt::Display| {
        serde::de::Error::custom(format!("{v} is not a valid whole number"))
    };
    match Option::<Num>::deserialize(d)? {
        None => Ok(None),
        Some(Num::N(n)) => u32::try_from(n).map(Some).map_err(|_| invalid(&n)),
        Some(Num::S(s)) => s.trim().parse().map(Some).map_err(|_| invalid(&s)),
    }
}

/// Queue, topic and subscription attributes whose values are booleans: AWS
/// reads them without case (`FifoTopic=True`); they are kept as
/// `true`/`false`.
const BOOLEAN_ATTRIBUTES: &[&str] = &[
    "FifoQueue",
    "FifoTopic",
    "ContentBasedDeduplication",
    "SqsManagedSseEnabled",
    "RawMessageDelivery",
];

/// One attribute's value as AWS keeps it: a boolean one in lower case, a
/// redrive policy's `maxReceiveCount` as a number (`"3"` -> `3`).
pub fn attribute_value(name: &str, value: String) -> String {
    if name == "RedrivePolicy" {
        return redrive_policy(value);
    }
    if BOOLEAN_ATTRIBUTES.contains(&name)
        && (value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"))
    {
        value.to_ascii_lowercase()
    } else {
        value
    }
}

fn redrive_policy(value: String) -> String {
    let Ok(Value::Object(mut policy)) = serde_json::from_str::<Value>(&value) else {
        return value; // the queue's own check answers a bad policy
    };
    let count = policy
        .get("maxReceiveCount")
        .and_then(Value::as_str)
        .and_then(|n| n.trim().parse::<u64>().ok());
    match count {
        Some(n) => {
            policy.insert("maxReceiveCount".into(), n.into());
            Value::Object(policy).to_string()
        }
        None => value,
    }
}

/// `attribute_value` for each attribute.
pub fn attribute_values(map: AttributeMap) -> AttributeMap {
    map.into_iter()
        .map(|(name, value)| {
            let value = attribute_value(&name, value);
            (name, value)
        })
        .collect()
}

/// A list, where the Query protocol sends an empty list as an empty
/// value (`PublishBatchRequestEntries=`).
pub fn lenient_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum L<T> {
        List(Vec<T>),
        Empty(String),
    }
    match Option::<L<T>>::deserialize(d)? {
        None => Ok(Vec::new()),
        Some(L::List(items)) => Ok(items),
        Some(L::Empty(s)) if s.is_empty() => Ok(Vec::new()),
        Some(L::Empty(s)) => Err(serde::de::Error::custom(format!("{s:?} is not a list"))),
    }
}

/// A boolean given as JSON or as the strings "true"/"false".
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        B(bool),
        S(String),
    }
    match Option::<B>::deserialize(d)? {
        None => Ok(None),
        Some(B::B(b)) => Ok(Some(b)),
        Some(B::S(s)) => match s.as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(serde::de::Error::custom(format!(
                "{s} is not true or false"
            ))),
        },
    }
}

/// A message attribute on the wire: binary values are base64.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WireAttribute {
    pub data_type: Option<String>,
    pub string_value: Option<String>,
    pub binary_value: Option<String>,
}

pub fn attributes(wire: BTreeMap<String, WireAttribute>) -> ApiResult<Attributes> {
    wire.into_iter()
        .map(|(name, w)| {
            let data_type = w.data_type.ok_or_else(|| {
                ApiError::invalid(format!(
                    "The message attribute '{name}' must contain a non-empty message attribute type."
                ))
            })?;
            let binary_value = match w.binary_value {
                Some(b) => Some(STANDARD.decode(b.trim()).map_err(|_| {
                    ApiError::invalid(format!(
                        "The message attribute '{name}' has a binary value that is not valid base64."
                    ))
                })?),
                None => None,
            };
            Ok((
                name,
                AttributeValue {
                    data_type,
                    string_value: w.string_value,
                    binary_value,
                },
            ))
        })
        .collect()
}

/// Attributes as the wire shows them.
pub fn attributes_json(attributes: &Attributes) -> Value {
    let map: serde_json::Map<String, Value> = attributes
        .iter()
        .map(|(k, v)| {
            let mut o = serde_json::Map::new();
            if let Some(s) = &v.string_value {
                o.insert("StringValue".into(), s.clone().into());
            }
            if let Some(b) = &v.binary_value {
                o.insert("BinaryValue".into(), STANDARD.encode(b).into());
            }
            o.insert("DataType".into(), v.data_type.clone().into());
            (k.clone(), Value::Object(o))
        })
        .collect();
    Value::Object(map)
}

/// Whose batch is checked: the errors' texts differ by service (SQS names
/// the entry type and the repeated id; SNS has fixed texts).
#[derive(Clone, Copy)]
pub enum BatchOf {
    /// An SQS batch, by its entry type (`SendMessageBatchRequestEntry`).
    Sqs(&'static str),
    Sns,
}

/// A batch's entry ids: 1-10 entries, each id 1-80 of `[A-Za-z0-9_-]`, no
/// id twice (the first repeated id, in request order, is named).
pub fn check_batch_ids<'a>(
    ids: impl Iterator<Item = &'a str>,
    max: usize,
    of: BatchOf,
) -> ApiResult<()> {
    let ids: Vec<&str> = ids.collect();
    if ids.is_empty() {
        return Err(ApiError::new(
            ErrorKind::EmptyBatchRequest,
            match of {
                BatchOf::Sqs(entry) => {
                    format!("There should be at least one {entry} in the request.")
                }
                BatchOf::Sns => "The batch request doesn't contain any entries.".into(),
            },
        ));
    }
    if ids.len() > max {
        return Err(ApiError::new(
            ErrorKind::TooManyEntriesInBatchRequest,
            match of {
                BatchOf::Sqs(_) => format!(
                    "Maximum number of entries per request are {max}. You have sent {}.",
                    ids.len()
                ),
                BatchOf::Sns => "The batch request contains more entries than permissible.".into(),
            },
        ));
    }
    for id in &ids {
        let ok = !id.is_empty()
            && id.len() <= 80
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(ApiError::new(
                ErrorKind::InvalidBatchEntryId,
                match of {
                    BatchOf::Sqs(_) => "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
                    BatchOf::Sns => "The Id of a batch entry in a batch request doesn't abide by the specification.",
                },
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(repeated) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(ApiError::new(
            ErrorKind::BatchEntryIdsNotDistinct,
            match of {
                BatchOf::Sqs(_) => format!("Id {repeated} repeated."),
                BatchOf::Sns => "Two or more batch entries in the request have the same Id.".into(),
            },
        ));
    }
    Ok(())
}

/// A failed batch entry, as both SQS and SNS report it.
/// A batch entry that failed, as both services report it.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FailedEntry {
    pub id: String,
    pub sender_fault: bool,
    pub code: &'static str,
    pub message: String,
}

pub fn failed_entry(id: &str, e: &ApiError) -> FailedEntry {
    FailedEntry {
        id: id.to_string(),
        sender_fault: e.fault() == "Sender",
        code: e.query_code(),
        message: e.message.clone(),
    }
}
