//! The SNS actions (Query protocol only, as SNS has no JSON protocol):
//! parse the nested form, apply to the topics, return the JSON shape that
//! `xml.rs` writes in SNS's style.

use super::input::{
    attributes, check_batch_ids, failed_entry, lenient_bool, parse, required, WireAttribute,
};
use crate::config::queue_settings::AttributeMap;
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::pubsub::Topics;
use crate::messaging::sns::publish::PublishInput;
use crate::messaging::sns::topics::Subscription;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub const ACTIONS: &[&str] = &[
    "CreateTopic",
    "DeleteTopic",
    "ListTopics",
    "GetTopicAttributes",
    "SetTopicAttributes",
    "Subscribe",
    "ConfirmSubscription",
    "Unsubscribe",
    "ListSubscriptions",
    "ListSubscriptionsByTopic",
    "GetSubscriptionAttributes",
    "SetSubscriptionAttributes",
    "Publish",
    "PublishBatch",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

/// SNS pages lists by 100.
const PAGE: usize = 100;

pub async fn apply(
    topics: &dyn Topics,
    action: &str,
    input: Value,
) -> ApiResult<Map<String, Value>> {
    let out = match action {
        "CreateTopic" => {
            let i: CreateTopic = parse(input)?;
            let name = required(i.name, "Name")?;
            let arn = topics
                .create_topic(&name, i.attributes, tags(i.tags))
                .await?;
            json!({ "TopicArn": arn })
        }
        "DeleteTopic" => {
            let i: Arns = parse(input)?;
            topics
                .delete_topic(&required(i.topic_arn, "TopicArn")?)
                .await?;
            json!({})
        }
        "ListTopics" => {
            let i: Arns = parse(input)?;
            let (page, next) = paginate(topics.list_topics().await?, i.next_token)?;
            let topics: Vec<Value> = page.into_iter().map(|a| json!({ "TopicArn": a })).collect();
            with_token(json!({ "Topics": topics }), next)
        }
        "GetTopicAttributes" => {
            let i: Arns = parse(input)?;
            json!({ "Attributes": topics.topic_attributes(&required(i.topic_arn, "TopicArn")?).await? })
        }
        "SetTopicAttributes" => {
            let i: SetAttribute = parse(input)?;
            let arn = required(i.topic_arn, "TopicArn")?;
            let name = required(i.attribute_name, "AttributeName")?;
            topics
                .set_topic_attribute(&arn, &name, i.attribute_value.unwrap_or_default())
                .await?;
            json!({})
        }
        "Subscribe" => subscribe(topics, parse(input)?).await?,
        "ConfirmSubscription" => {
            let i: Confirm = parse(input)?;
            let arn = topics
                .confirm_subscription(
                    &required(i.topic_arn, "TopicArn")?,
                    &required(i.token, "Token")?,
                )
                .await?;
            json!({ "SubscriptionArn": arn })
        }
        "Unsubscribe" => {
            let i: Arns = parse(input)?;
            topics
                .unsubscribe(&required(i.subscription_arn, "SubscriptionArn")?)
                .await?;
            json!({})
        }
        "ListSubscriptions" | "ListSubscriptionsByTopic" => {
            let i: Arns = parse(input)?;
            let topic = if action == "ListSubscriptionsByTopic" {
                let arn = required(i.topic_arn, "TopicArn")?;
                topics.topic(&arn).await?;
                Some(arn)
            } else {
                None
            };
            let subs = topics.list_subscriptions(topic.as_deref()).await?;
            let arns: Vec<String> = subs.iter().map(|s| s.record.arn.clone()).collect();
            let (page, next) = paginate(arns, i.next_token)?;
            let listed: Vec<Value> = subs
                .iter()
                .filter(|s| page.contains(&s.record.arn))
                .map(|s| subscription_json(topics, s))
                .collect();
            with_token(json!({ "Subscriptions": listed }), next)
        }
        "GetSubscriptionAttributes" => {
            let i: Arns = parse(input)?;
            json!({ "Attributes": topics.subscription_attributes(&required(i.subscription_arn, "SubscriptionArn")?).await? })
        }
        "SetSubscriptionAttributes" => {
            let i: SetAttribute = parse(input)?;
            let arn = required(i.subscription_arn, "SubscriptionArn")?;
            let name = required(i.attribute_name, "AttributeName")?;
            topics
                .set_subscription_attribute(&arn, &name, i.attribute_value.unwrap_or_default())
                .await?;
            json!({})
        }
        "Publish" => {
            let i: PublishWire = parse(input)?;
            let topic_arn = i.topic_arn.clone().or(i.target_arn.clone());
            let topic_arn = required(topic_arn, "TopicArn")?;
            let published = topics.publish(publish_input(topic_arn, i)?).await?;
            let mut out = json!({ "MessageId": published.message_id });
            if let Some(seq) = published.sequence_number {
                out["SequenceNumber"] = seq.into();
            }
            out
        }
        "PublishBatch" => publish_batch(topics, parse(input)?).await?,
        "TagResource" => {
            let i: Tagging = parse(input)?;
            let arn = required(i.resource_arn, "ResourceArn")?;
            let new = tags(i.tags);
            topics.tag_topic(&arn, new).await?;
            json!({})
        }
        "UntagResource" => {
            let i: Tagging = parse(input)?;
            let arn = required(i.resource_arn, "ResourceArn")?;
            topics.untag_topic(&arn, &i.tag_keys).await?;
            json!({})
        }
        "ListTagsForResource" => {
            let i: Tagging = parse(input)?;
            let arn = required(i.resource_arn, "ResourceArn")?;
            let topic = topics.topic(&arn).await.map_err(|_| {
                ApiError::new(ErrorKind::ResourceNotFound, "Resource does not exist")
            })?;
            let list: Vec<Value> = topic
                .record
                .tags
                .iter()
                .map(|(k, v)| json!({ "Key": k, "Value": v }))
                .collect();
            json!({ "Tags": list })
        }
        other => {
            return Err(ApiError::new(
                ErrorKind::InvalidAction,
                format!("The action {other} is not valid for this endpoint."),
            ))
        }
    };
    Ok(match out {
        Value::Object(m) => m,
        _ => Map::new(),
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Tag {
    key: String,
    value: String,
}

fn tags(list: Vec<Tag>) -> BTreeMap<String, String> {
    list.into_iter().map(|t| (t.key, t.value)).collect()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateTopic {
    name: Option<String>,
    attributes: AttributeMap,
    tags: Vec<Tag>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Arns {
    topic_arn: Option<String>,
    subscription_arn: Option<String>,
    next_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SetAttribute {
    topic_arn: Option<String>,
    subscription_arn: Option<String>,
    attribute_name: Option<String>,
    attribute_value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Confirm {
    topic_arn: Option<String>,
    token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Tagging {
    resource_arn: Option<String>,
    tags: Vec<Tag>,
    tag_keys: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SubscribeWire {
    topic_arn: Option<String>,
    protocol: Option<String>,
    endpoint: Option<String>,
    attributes: AttributeMap,
    #[serde(deserialize_with = "lenient_bool")]
    return_subscription_arn: Option<bool>,
}

async fn subscribe(topics: &dyn Topics, i: SubscribeWire) -> ApiResult<Value> {
    let topic = required(i.topic_arn, "TopicArn")?;
    let protocol = required(i.protocol, "Protocol")?;
    let endpoint = required(i.endpoint, "Endpoint")?;
    let sub = topics
        .subscribe(&topic, &protocol, &endpoint, i.attributes)
        .await?;
    let arn = if sub.confirmed() || i.return_subscription_arn == Some(true) {
        sub.record.arn
    } else {
        "pending confirmation".into()
    };
    Ok(json!({ "SubscriptionArn": arn }))
}

fn subscription_json(topics: &dyn Topics, s: &Subscription) -> Value {
    json!({
        "SubscriptionArn": if s.confirmed() { s.record.arn.clone() } else { "PendingConfirmation".into() },
        "Owner": topics.naming().account_id,
        "Protocol": s.record.protocol,
        "Endpoint": s.record.endpoint,
        "TopicArn": s.record.topic_arn,
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PublishWire {
    id: Option<String>,
    topic_arn: Option<String>,
    target_arn: Option<String>,
    phone_number: Option<String>,
    message: Option<String>,
    subject: Option<String>,
    message_structure: Option<String>,
    message_attributes: BTreeMap<String, WireAttribute>,
    message_deduplication_id: Option<String>,
    message_group_id: Option<String>,
}

fn publish_input(topic_arn: String, i: PublishWire) -> ApiResult<PublishInput> {
    if i.phone_number.is_some() {
        return Err(ApiError::new(
            ErrorKind::InvalidParameter,
            "Invalid parameter: PhoneNumber: SMS is not supported; publish to a topic",
        ));
    }
    let json_structure = match i.message_structure.as_deref() {
        None => false,
        Some("json") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorKind::InvalidParameter,
                format!("Invalid parameter: MessageStructure: {other} is not json"),
            ))
        }
    };
    let attrs = attributes(i.message_attributes).map_err(|e| {
        ApiError::new(
            ErrorKind::InvalidParameter,
            format!("Invalid parameter: MessageAttributes: {}", e.message),
        )
    })?;
    Ok(PublishInput {
        topic_arn,
        message: required(i.message, "Message")?,
        subject: i.subject,
        json_structure,
        attributes: attrs,
        group_id: i.message_group_id,
        dedup_id: i.message_deduplication_id,
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PublishBatchWire {
    topic_arn: Option<String>,
    publish_batch_request_entries: Vec<PublishWire>,
}

async fn publish_batch(topics: &dyn Topics, i: PublishBatchWire) -> ApiResult<Value> {
    let topic_arn = required(i.topic_arn, "TopicArn")?;
    topics.topic(&topic_arn).await?;
    let ids: Vec<String> = i
        .publish_batch_request_entries
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    check_batch_ids(ids.iter().map(String::as_str), 10)?;
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for (id, entry) in ids.iter().zip(i.publish_batch_request_entries) {
        let result = match publish_input(topic_arn.clone(), entry) {
            Ok(input) => topics.publish(input).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(p) => {
                let mut o = json!({ "Id": id, "MessageId": p.message_id });
                if let Some(seq) = p.sequence_number {
                    o["SequenceNumber"] = seq.into();
                }
                successful.push(o);
            }
            Err(e) => failed.push(failed_entry(id, &e)),
        }
    }
    Ok(json!({ "Successful": successful, "Failed": failed }))
}

/// Pages of 100, continuing after the item a token names.
fn paginate(items: Vec<String>, token: Option<String>) -> ApiResult<(Vec<String>, Option<String>)> {
    let start = match token {
        Some(t) => {
            let after = URL_SAFE_NO_PAD
                .decode(&t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    ApiError::new(ErrorKind::InvalidParameter, "Invalid parameter: NextToken")
                })?;
            items
                .iter()
                .position(|i| *i == after)
                .map_or(items.len(), |p| p + 1)
        }
        None => 0,
    };
    let page: Vec<String> = items.iter().skip(start).take(PAGE).cloned().collect();
    let next = (start + PAGE < items.len())
        .then(|| URL_SAFE_NO_PAD.encode(page.last().cloned().unwrap_or_default()));
    Ok((page, next))
}

fn with_token(mut out: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        out["NextToken"] = next.into();
    }
    out
}
