//! Queue attributes: which names exist, their ranges and defaults, and the
//! typed settings the queue engine reads. The attribute map (AWS names and
//! string values) is what gets stored; `Settings` is parsed from it. Both
//! `gatehouse.yaml` (declared queues) and the SQS API check attributes here;
//! the messaging API maps a `SettingError` to its AWS error.

use std::collections::BTreeMap;
use std::fmt;

pub type AttributeMap = BTreeMap<String, String>;

pub const DEFAULT_VISIBILITY_TIMEOUT: u32 = 30;
pub const DEFAULT_RETENTION: u32 = 345_600;
pub const MAX_MESSAGE_SIZE: u32 = 1_048_576;
/// Message attributes per message (SQS and SNS).
pub const MAX_ATTRIBUTES: usize = 10;

/// Why an attribute cannot be set: the name is unknown (AWS
/// `InvalidAttributeName`) or the value is out of range or malformed
/// (`InvalidAttributeValue`). The message is the one AWS sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingError {
    UnknownName(String),
    InvalidValue(String),
}

impl SettingError {
    pub fn message(&self) -> &str {
        match self {
            SettingError::UnknownName(m) | SettingError::InvalidValue(m) => m,
        }
    }
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Attributes a client may set, with their valid range where numeric.
const SETTABLE: &[(&str, Option<(u64, u64)>)] = &[
    ("DelaySeconds", Some((0, 900))),
    ("MaximumMessageSize", Some((1024, MAX_MESSAGE_SIZE as u64))),
    ("MessageRetentionPeriod", Some((60, 1_209_600))),
    ("ReceiveMessageWaitTimeSeconds", Some((0, 20))),
    ("VisibilityTimeout", Some((0, 43_200))),
    ("KmsDataKeyReusePeriodSeconds", Some((60, 86_400))),
    ("Policy", None),
    ("RedrivePolicy", None),
    ("RedriveAllowPolicy", None),
    ("KmsMasterKeyId", None),
    ("SqsManagedSseEnabled", None),
    ("FifoQueue", None),
    ("ContentBasedDeduplication", None),
    ("DeduplicationScope", None),
    ("FifoThroughputLimit", None),
];

const READ_ONLY: &[&str] = &[
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
];

const FIFO_ONLY: &[&str] = &[
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// Every attribute name GetQueueAttributes knows.
pub fn is_known(name: &str) -> bool {
    name == "All" || READ_ONLY.contains(&name) || SETTABLE.iter().any(|(n, _)| *n == name)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

/// The typed view of a queue's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub fifo: bool,
    pub delay_seconds: u32,
    pub maximum_message_size: u32,
    pub retention_seconds: u32,
    pub wait_seconds: u32,
    pub visibility_timeout: u32,
    pub content_based_dedup: bool,
    /// DeduplicationScope is `messageGroup`.
    pub dedup_per_group: bool,
    pub redrive: Option<RedrivePolicy>,
}

impl Settings {
    pub fn from_map(map: &AttributeMap) -> Settings {
        let num = |name: &str, default: u32| {
            map.get(name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Settings {
            fifo: map.get("FifoQueue").is_some_and(|v| v == "true"),
            delay_seconds: num("DelaySeconds", 0),
            maximum_message_size: num("MaximumMessageSize", MAX_MESSAGE_SIZE),
            retention_seconds: num("MessageRetentionPeriod", DEFAULT_RETENTION),
            wait_seconds: num("ReceiveMessageWaitTimeSeconds", 0),
            visibility_timeout: num("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT),
            content_based_dedup: map
                .get("ContentBasedDeduplication")
                .is_some_and(|v| v == "true"),
            dedup_per_group: map
                .get("DeduplicationScope")
                .is_some_and(|v| v == "messageGroup"),
            redrive: map.get("RedrivePolicy").and_then(|v| parse_redrive(v).ok()),
        }
    }
}

/// The attributes every queue starts with, before the client's.
pub fn defaults(fifo: bool) -> AttributeMap {
    let mut map: AttributeMap = [
        ("DelaySeconds", "0".to_string()),
        ("MaximumMessageSize", MAX_MESSAGE_SIZE.to_string()),
        ("MessageRetentionPeriod", DEFAULT_RETENTION.to_string()),
        ("ReceiveMessageWaitTimeSeconds", "0".to_string()),
        ("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT.to_string()),
        ("SqsManagedSseEnabled", "true".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if fifo {
        map.insert("FifoQueue".into(), "true".into());
        map.insert("ContentBasedDeduplication".into(), "false".into());
        map.insert("DeduplicationScope".into(), "queue".into());
        map.insert("FifoThroughputLimit".into(), "perQueue".into());
    }
    map
}

/// Checks one attribute a client wants to set. `creating` allows `FifoQueue`.
pub fn check(name: &str, value: &str, fifo: bool, creating: bool) -> Result<(), SettingError> {
    let Some((_, range)) = SETTABLE.iter().find(|(n, _)| *n == name) else {
        return Err(SettingError::UnknownName(format!(
            "Unknown Attribute {name}."
        )));
    };
    let invalid = || SettingError::InvalidValue(format!("Invalid value for the parameter {name}."));
    if let Some((min, max)) = range {
        let n = value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| n >= min && n <= max);
        if n.is_none() {
            return Err(SettingError::InvalidValue(
                format!("Invalid value for the parameter {name}: {value} is not a whole number from {min} to {max}."),
            ));
        }
        return Ok(());
    }
    if FIFO_ONLY.contains(&name) && !fifo {
        return Err(SettingError::UnknownName(format!(
            "Unknown Attribute {name}: only FIFO queues (named *.fifo) have it."
        )));
    }
    match name {
        "FifoQueue" if !creating || value != fifo.to_string() => return Err(invalid()),
        "ContentBasedDeduplication" | "SqsManagedSseEnabled"
            if value != "true" && value != "false" =>
        {
            return Err(invalid())
        }
        "DeduplicationScope" if !matches!(value, "queue" | "messageGroup") => return Err(invalid()),
        "FifoThroughputLimit" if !matches!(value, "perQueue" | "perMessageGroupId") => {
            return Err(invalid())
        }
        "RedrivePolicy" if !value.is_empty() => {
            parse_redrive(value).map_err(|why| {
                SettingError::InvalidValue(format!(
                    "Value {value} for parameter RedrivePolicy is invalid. Reason: {why}"
                ))
            })?;
        }
        "RedriveAllowPolicy" if !value.is_empty() => {
            parse_redrive_allow(value).map_err(|why| {
                SettingError::InvalidValue(format!(
                    "Value {value} for parameter RedriveAllowPolicy is invalid. Reason: {why}"
                ))
            })?;
        }
        "Policy" if !value.is_empty() => {
            crate::iam::Policy::parse(value).map_err(|why| {
                SettingError::InvalidValue(format!(
                    "Invalid value for the parameter Policy. Reason: {why}."
                ))
            })?;
        }
        _ => {}
    }
    Ok(())
}

/// `{"deadLetterTargetArn": "...", "maxReceiveCount": 5}`; the count may be a
/// number or a string, as clients send both.
pub fn parse_redrive(value: &str) -> Result<RedrivePolicy, String> {
    let json: serde_json::Value =
        serde_json::from_str(value).map_err(|_| "Redrive policy is not a valid JSON map.")?;
    let arn = json
        .get("deadLetterTargetArn")
        .and_then(|v| v.as_str())
        .ok_or("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")?;
    let count = match json.get("maxReceiveCount") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or("Redrive policy does not contain mandatory attribute: maxReceiveCount.")?;
    if !(1..=1000).contains(&count) {
        return Err("Value for maxReceiveCount must be between 1 and 1000.".into());
    }
    Ok(RedrivePolicy {
        dead_letter_target_arn: arn.to_string(),
        max_receive_count: count as u32,
    })
}

/// Which source queues may use a queue as their dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedriveAllow {
    AllowAll,
    DenyAll,
    ByQueue(Vec<String>),
}

pub fn parse_redrive_allow(value: &str) -> Result<RedriveAllow, String> {
    let json: serde_json::Value =
        serde_json::from_str(value).map_err(|_| "Redrive allow policy is not a valid JSON map.")?;
    match json.get("redrivePermission").and_then(|v| v.as_str()) {
        Some("allowAll") => Ok(RedriveAllow::AllowAll),
        Some("denyAll") => Ok(RedriveAllow::DenyAll),
        Some("byQueue") => {
            let arns: Vec<String> = json
                .get("sourceQueueArns")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if arns.is_empty() || arns.len() > 10 {
                return Err("byQueue needs between 1 and 10 sourceQueueArns.".into());
            }
            Ok(RedriveAllow::ByQueue(arns))
        }
        _ => Err("redrivePermission must be allowAll, denyAll or byQueue.".into()),
    }
}

/// Queue names: 1-80 characters of letters, digits, `-` and `_`; FIFO queues
/// end in `.fifo`.
pub fn check_queue_name(name: &str) -> Result<bool, String> {
    let fifo = name.ends_with(".fifo");
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    let ok = !stem.is_empty()
        && name.len() <= 80
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
                .into(),
        );
    }
    Ok(fifo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_enforced() {
        assert!(check("DelaySeconds", "900", false, false).is_ok());
        assert!(matches!(
            check("DelaySeconds", "901", false, false),
            Err(SettingError::InvalidValue(_))
        ));
        assert!(check("VisibilityTimeout", "43200", false, false).is_ok());
        assert!(check("MaximumMessageSize", "1023", false, false).is_err());
        assert!(check("MessageRetentionPeriod", "59", false, false).is_err());
        assert!(matches!(
            check("Colour", "red", false, false),
            Err(SettingError::UnknownName(_))
        ));
        assert!(check("ContentBasedDeduplication", "true", false, false).is_err());
        assert!(check("ContentBasedDeduplication", "true", true, false).is_ok());
        assert!(check("FifoQueue", "true", true, false).is_err());
    }

    #[test]
    fn redrive_policies_parse_with_either_count_type() {
        let p = parse_redrive(r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":"3"}"#).unwrap();
        assert_eq!(p.max_receive_count, 3);
        let p = parse_redrive(r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":5}"#).unwrap();
        assert_eq!(p.max_receive_count, 5);
        assert!(parse_redrive(r#"{"maxReceiveCount":5}"#).is_err());
        assert!(parse_redrive("nope").is_err());
        assert!(parse_redrive(r#"{"deadLetterTargetArn":"a","maxReceiveCount":0}"#).is_err());
    }

    #[test]
    fn queue_names() {
        assert_eq!(check_queue_name("orders"), Ok(false));
        assert_eq!(check_queue_name("orders.fifo"), Ok(true));
        assert!(check_queue_name("").is_err());
        assert!(check_queue_name(".fifo").is_err());
        assert!(check_queue_name("a b").is_err());
        assert!(check_queue_name(&"x".repeat(81)).is_err());
    }
}
