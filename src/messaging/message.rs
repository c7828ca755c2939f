//! A message as the broker holds it, its attributes, and the checksums the
//! SDKs verify (`MD5OfMessageBody`, `MD5OfMessageAttributes`).

use super::error::{ApiError, ApiResult, ErrorKind};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One message attribute: `String`, `Number` or `Binary`, optionally with a
/// custom suffix (`Number.float`, `Binary.gif`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeValue {
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<Vec<u8>>,
}

pub type Attributes = BTreeMap<String, AttributeValue>;

pub use crate::config::queue_settings::MAX_ATTRIBUTES;

/// Where a message is in its life: waiting out a delay, receivable, or
/// received and invisible until its visibility timeout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Delayed,
    Ready,
    Inflight,
}

#[derive(Debug, Clone)]
pub struct Message {
    /// Broker-wide, increasing: the store's key and the FIFO sequence number.
    pub seq: u64,
    pub id: Arc<str>,
    pub body: Arc<str>,
    pub attributes: Arc<Attributes>,
    /// The `AWSTraceHeader` system attribute.
    pub trace_header: Option<Arc<str>>,
    /// Unix milliseconds.
    pub sent_at: i64,
    pub group_id: Option<Arc<str>>,
    pub dedup_id: Option<Arc<str>>,
    pub receive_count: u32,
    pub first_receive_at: Option<i64>,
    /// When a delayed or in-flight message becomes receivable (unix ms).
    pub visible_at: i64,
    /// Changes on every receive; part of the receipt handle, so only the
    /// latest receiver's handle acts on the message.
    pub nonce: u64,
    pub stage: Stage,
}

impl Message {
    pub fn md5_of_body(&self) -> String {
        md5_hex(self.body.as_bytes())
    }
}

pub fn md5_hex(data: &[u8]) -> String {
    crate::hex::encode(&Md5::digest(data))
}

/// AWS's digest of message attributes: for each attribute in name order, the
/// name, the data type, a transport byte (1 string, 2 binary) and the value,
/// each string prefixed with its 4-byte big-endian length.
pub fn md5_of_attributes(attributes: &Attributes) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    fn field(hasher: &mut Md5, bytes: &[u8]) {
        hasher.update((bytes.len() as u32).to_be_bytes());
        hasher.update(bytes);
    }
    let mut hasher = Md5::new();
    for (name, value) in attributes {
        field(&mut hasher, name.as_bytes());
        field(&mut hasher, value.data_type.as_bytes());
        if let Some(binary) = &value.binary_value {
            hasher.update([2u8]);
            field(&mut hasher, binary);
        } else {
            hasher.update([1u8]);
            let s = value.string_value.as_deref().unwrap_or_default();
            field(&mut hasher, s.as_bytes());
        }
    }
    Some(crate::hex::encode(&hasher.finalize()))
}

/// The bytes attributes add to a message's size (AWS counts name, type and value).
pub fn attributes_size(attributes: &Attributes) -> usize {
    attributes
        .iter()
        .map(|(name, v)| {
            name.len()
                + v.data_type.len()
                + v.string_value.as_ref().map_or(0, String::len)
                + v.binary_value.as_ref().map_or(0, Vec::len)
        })
        .sum()
}

/// SQS accepts only these characters: #x9 | #xA | #xD | #x20 to #xD7FF |
/// #xE000 to #xFFFD | #x10000 to #x10FFFF.
pub fn check_body(body: &str) -> ApiResult<()> {
    if body.is_empty() {
        return Err(ApiError::new(
            ErrorKind::MissingParameter,
            "The request must contain the parameter MessageBody.",
        ));
    }
    match body.chars().find(|c| !allowed_char(*c)) {
        Some(c) => Err(ApiError::new(
            ErrorKind::InvalidMessageContents,
            format!(
                "Invalid characters found. Character U+{:04X} is outside the allowed set \
                 #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.",
                c as u32
            ),
        )),
        None => Ok(()),
    }
}

fn allowed_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Checks names, types and values as AWS does.
pub fn check_attributes(attributes: &Attributes) -> ApiResult<()> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(ApiError::invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            attributes.len()
        )));
    }
    for (name, value) in attributes {
        check_attribute_name(name)?;
        let base = value.data_type.split('.').next().unwrap_or_default();
        let custom = &value.data_type[base.len()..];
        if !matches!(base, "String" | "Number" | "Binary") || custom.len() > 256 {
            return Err(ApiError::invalid(format!(
                "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
            )));
        }
        let invalid = |why: &str| {
            Err(ApiError::invalid(format!(
                "The message attribute '{name}' {why}"
            )))
        };
        match base {
            "Binary" => {
                if value.binary_value.is_none() || value.string_value.is_some() {
                    return invalid("with type 'Binary' must use field 'Binary'.");
                }
            }
            _ => {
                let Some(s) = &value.string_value else {
                    return invalid(&format!("with type '{base}' must use field 'String'."));
                };
                if value.binary_value.is_some() {
                    return invalid(&format!("with type '{base}' must use field 'String'."));
                }
                if s.is_empty() {
                    return invalid(
                        "must contain a non-empty value of message attribute type 'String'.",
                    );
                }
                if base == "Number" && !is_number(s) {
                    return invalid("has an invalid numeric value.");
                }
                if s.chars().any(|c| !allowed_char(c)) {
                    return invalid("contains invalid characters.");
                }
            }
        }
    }
    Ok(())
}

fn check_attribute_name(name: &str) -> ApiResult<()> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let lower = name.to_ascii_lowercase();
    if name.is_empty()
        || name.len() > 256
        || !valid_chars
        || name.starts_with('.')
        || name.ends_with('.')
        || name.contains("..")
        || lower.starts_with("aws.")
        || lower.starts_with("amazon.")
    {
        return Err(ApiError::invalid(format!(
            "Message attribute name '{name}' is invalid: names use letters, digits, '_', '-' and '.', \
             not start or end with '.', hold no '..', and not start with 'AWS.' or 'Amazon.'."
        )));
    }
    Ok(())
}

/// SQS numbers: up to 38 significant digits, exponent within -128..=126.
fn is_number(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    s.parse::<f64>().is_ok_and(f64::is_finite) && digits <= 38 && !s.contains(['i', 'n', 'I', 'N'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(v: &str) -> AttributeValue {
        AttributeValue {
            data_type: "String".into(),
            string_value: Some(v.into()),
            binary_value: None,
        }
    }

    #[test]
    fn body_digest_is_plain_md5() {
        assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
    }

    #[test]
    fn attribute_digest_matches_aws() {
        // The value boto3 and the AWS SDKs compute for {"a": String "b"}.
        let mut attrs = Attributes::new();
        attrs.insert("a".into(), string("b"));
        let mut hasher = Md5::new();
        hasher.update([0, 0, 0, 1, b'a', 0, 0, 0, 6]);
        hasher.update(b"String");
        hasher.update([1, 0, 0, 0, 1, b'b']);
        assert_eq!(
            md5_of_attributes(&attrs),
            Some(crate::hex::encode(&hasher.finalize()))
        );
        assert_eq!(md5_of_attributes(&Attributes::new()), None);
    }

    #[test]
    fn bodies_with_forbidden_characters_are_refused() {
        assert!(check_body("hello\tworld\n").is_ok());
        assert!(check_body("emoji 🎉").is_ok());
        let err = check_body("bell \u{7}").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidMessageContents);
        assert_eq!(
            check_body("").unwrap_err().kind,
            ErrorKind::MissingParameter
        );
    }

    #[test]
    fn attributes_are_checked() {
        let mut attrs = Attributes::new();
        attrs.insert("ok".into(), string("x"));
        assert!(check_attributes(&attrs).is_ok());
        attrs.insert(
            "n".into(),
            AttributeValue {
                data_type: "Number".into(),
                string_value: Some("abc".into()),
                binary_value: None,
            },
        );
        assert!(check_attributes(&attrs).is_err());
        let mut bad_name = Attributes::new();
        bad_name.insert("AWS.thing".into(), string("x"));
        assert!(check_attributes(&bad_name).is_err());
        let mut bad_type = Attributes::new();
        bad_type.insert(
            "t".into(),
            AttributeValue {
                data_type: "Blob".into(),
                string_value: Some("x".into()),
                binary_value: None,
            },
        );
        assert!(check_attributes(&bad_type).is_err());
        let mut custom = Attributes::new();
        custom.insert(
            "f".into(),
            AttributeValue {
                data_type: "Number.float".into(),
                string_value: Some("1.5e3".into()),
                binary_value: None,
            },
        );
        assert!(check_attributes(&custom).is_ok());
    }
}
