//! What each SNS action answers, typed. Field names are AWS's; `encode`
//! gives the JSON object `xml.rs` renders in SNS's style.

use crate::config::queue_settings::AttributeMap;
pub use crate::messaging::api::input::FailedEntry;
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize, Default)]
pub struct Nothing {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopicArn {
    pub topic_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopicList {
    pub topics: Vec<TopicArn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attributes {
    pub attributes: AttributeMap,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubscriptionArn {
    pub subscription_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubscriptionSummary {
    /// `PendingConfirmation` until confirmed.
    pub subscription_arn: String,
    pub owner: String,
    pub protocol: String,
    pub endpoint: String,
    pub topic_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubscriptionList {
    pub subscriptions: Vec<SubscriptionSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Published {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub message_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishedBatch {
    pub successful: Vec<Published>,
    pub failed: Vec<FailedEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagList {
    pub tags: Vec<Tag>,
}

/// An output as the JSON object the XML encoder starts from.
pub fn encode(output: &impl Serialize) -> serde_json::Map<String, Value> {
    match serde_json::to_value(output) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}
