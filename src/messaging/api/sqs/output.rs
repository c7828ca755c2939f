//! What each SQS action answers, typed. Field names are AWS's; `encode`
//! gives the JSON object the JSON protocol sends and the Query protocol
//! renders as XML.

use crate::config::queue_settings::AttributeMap;
pub use crate::messaging::api::input::FailedEntry;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Serialize, Default)]
pub struct Nothing {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrl {
    pub queue_url: String,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct QueueList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttributeMap>,
}

#[derive(Serialize)]
pub struct Sent {
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_body: String,
    #[serde(
        rename = "MD5OfMessageAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_attributes: Option<String>,
    #[serde(
        rename = "MD5OfMessageSystemAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_system_attributes: Option<String>,
    #[serde(rename = "SequenceNumber", skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
}

#[derive(Serialize)]
pub struct SentEntry {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(flatten)]
    pub sent: Sent,
}

#[derive(Serialize)]
pub struct DoneEntry {
    #[serde(rename = "Id")]
    pub id: String,
}

/// A batch's answer: entries that worked, and those that did not (with the
/// error's code and fault).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Batch<T> {
    pub successful: Vec<T>,
    pub failed: Vec<FailedEntry>,
}

#[derive(Serialize)]
pub struct Received {
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "ReceiptHandle")]
    pub receipt_handle: String,
    #[serde(rename = "MD5OfBody")]
    pub md5_of_body: String,
    #[serde(rename = "Body")]
    pub body: String,
    /// The system attributes asked for.
    #[serde(rename = "Attributes", skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    #[serde(
        rename = "MD5OfMessageAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_attributes: Option<String>,
    #[serde(rename = "MessageAttributes", skip_serializing_if = "Option::is_none")]
    pub message_attributes: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Messages {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Received>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tags {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
pub struct DeadLetterSources {
    #[serde(rename = "queueUrls")]
    pub queue_urls: Vec<String>,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskHandle {
    pub task_handle: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MoveTask {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_handle: Option<String>,
    pub status: &'static str,
    pub source_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_number_of_messages_per_second: Option<u32>,
    pub approximate_number_of_messages_moved: u64,
    pub approximate_number_of_messages_to_move: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub started_timestamp: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MoveTasks {
    pub results: Vec<MoveTask>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cancelled {
    pub approximate_number_of_messages_moved: u64,
}

/// An output as the JSON object both protocols start from.
pub fn encode(output: &impl Serialize) -> serde_json::Map<String, Value> {
    match serde_json::to_value(output) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}
