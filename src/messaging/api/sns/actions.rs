//! The SNS actions, one function each: check the input, apply it to the
//! topics (any `Topics` backend), and answer with the action's typed output.

use super::output::{self, Nothing};
use crate::config::queue_settings::AttributeMap;
use crate::messaging::api::input::{
    attribute_value, attribute_values, attributes, check_batch_ids, failed_entry, lenient_bool,
    lenient_list, required, BatchOf, WireAttribute,
};
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::pubsub::Topics;
use crate::messaging::sns::publish::PublishInput;
use crate::messaging::sns::topics::Subscription;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;

/// SNS pages lists by 100.
const PAGE: usize = 100;

pub async fn create_topic(topics: &dyn Topics, i: CreateTopic) -> ApiResult<output::TopicArn> {
    let name = required(i.name, "Name")?;
    let topic_arn = topics
        .create_topic(&name, attribute_values(i.attributes), tags(i.tags))
        .await?;
    Ok(output::TopicArn { topic_arn })
}

pub async fn delete_topic(topics: &dyn Topics, i: Arns) -> ApiResult<Nothing> {
    topics
        .delete_topic(&required(i.topic_arn, "TopicArn")?)
        .await?;
    Ok(Nothing {})
}

pub async fn list_topics(topics: &dyn Topics, i: Arns) -> ApiResult<output::TopicList> {
    let (page, next_token) = paginate(topics.list_topics().await?, i.next_token)?;
    Ok(output::TopicList {
        topics: page
            .into_iter()
            .map(|topic_arn| output::TopicArn { topic_arn })
            .collect(),
        next_token,
    })
}

pub async fn get_topic_attributes(topics: &dyn Topics, i: Arns) -> ApiResult<output::Attributes> {
    let arn = required(i.topic_arn, "TopicArn")?;
    Ok(output::Attributes {
        attributes: topics.topic_attributes(&arn).await?,
    })
}

pub async fn set_topic_attributes(topics: &dyn Topics, i: SetAttribute) -> ApiResult<Nothing> {
    let arn = required(i.topic_arn, "TopicArn")?;
    let name = required(i.attribute_name, "AttributeName")?;
    topics
        .set_topic_attribute(
            &arn,
            &name,
            attribute_value(&name, i.attribute_value.unwrap_or_default()),
        )
        .await?;
    Ok(Nothing {})
}

pub async fn confirm_subscription(
    topics: &dyn Topics,
    i: Confirm,
) -> ApiResult<output::SubscriptionArn> {
    let subscription_arn = topics
        .confirm_subscription(
            &required(i.topic_arn, "TopicArn")?,
            &required(i.token, "Token")?,
        )
        .await?;
    Ok(output::SubscriptionArn { subscription_arn })
}

pub async fn unsubscribe(topics: &dyn Topics, i: Arns) -> ApiResult<Nothing> {
    topics
        .unsubscribe(&required(i.subscription_arn, "SubscriptionArn")?)
        .await?;
    Ok(Nothing {})
}

pub async fn list_subscriptions(
    topics: &dyn Topics,
    i: Arns,
) -> ApiResult<output::SubscriptionList> {
    list(topics, None, i.next_token).await
}

pub async fn list_subscriptions_by_topic(
    topics: &dyn Topics,
    i: Arns,
) -> ApiResult<output::SubscriptionList> {
    let arn = required(i.topic_arn, "TopicArn")?;
    topics.topic(&arn).await?;
    list(topics, Some(&arn), i.next_token).await
}

async fn list(
    topics: &dyn Topics,
    topic: Option<&str>,
    token: Option<String>,
) -> ApiResult<output::SubscriptionList> {
    let subs = topics.list_subscriptions(topic).await?;
    let arns: Vec<String> = subs.iter().map(|s| s.record.arn.clone()).collect();
    let (page, next_token) = paginate(arns, token)?;
    let subscriptions = subs
        .iter()
        .filter(|s| page.contains(&s.record.arn))
        .map(|s| subscription_summary(topics, s))
        .collect();
    Ok(output::SubscriptionList {
        subscriptions,
        next_token,
    })
}

pub async fn get_subscription_attributes(
    topics: &dyn Topics,
    i: Arns,
) -> ApiResult<output::Attributes> {
    let arn = required(i.subscription_arn, "SubscriptionArn")?;
    Ok(output::Attributes {
        attributes: topics.subscription_attributes(&arn).await?,
    })
}

pub async fn set_subscription_attributes(
    topics: &dyn Topics,
    i: SetAttribute,
) -> ApiResult<Nothing> {
    let arn = required(i.subscription_arn, "SubscriptionArn")?;
    let name = required(i.attribute_name, "AttributeName")?;
    topics
        .set_subscription_attribute(
            &arn,
            &name,
            attribute_value(&name, i.attribute_value.unwrap_or_default()),
        )
        .await?;
    Ok(Nothing {})
}

pub async fn publish(topics: &dyn Topics, i: PublishWire) -> ApiResult<output::Published> {
    let topic_arn = i.topic_arn.clone().or(i.target_arn.clone());
    let topic_arn = required(topic_arn, "TopicArn")?;
    let published = topics.publish(publish_input(topic_arn, i)?).await?;
    Ok(output::Published {
        id: None,
        message_id: published.message_id,
        sequence_number: published.sequence_number,
    })
}

pub async fn tag_resource(topics: &dyn Topics, i: Tagging) -> ApiResult<Nothing> {
    let arn = required(i.resource_arn, "ResourceArn")?;
    topics.tag_topic(&arn, tags(i.tags)).await?;
    Ok(Nothing {})
}

pub async fn untag_resource(topics: &dyn Topics, i: Tagging) -> ApiResult<Nothing> {
    let arn = required(i.resource_arn, "ResourceArn")?;
    topics.untag_topic(&arn, &i.tag_keys).await?;
    Ok(Nothing {})
}

pub async fn list_tags_for_resource(topics: &dyn Topics, i: Tagging) -> ApiResult<output::TagList> {
    let arn = required(i.resource_arn, "ResourceArn")?;
    let topic = topics
        .topic(&arn)
        .await
        .map_err(|_| ApiError::new(ErrorKind::ResourceNotFound, "Resource does not exist"))?;
    let tags = topic
        .record
        .tags
        .into_iter()
        .map(|(key, value)| output::Tag { key, value })
        .collect();
    Ok(output::TagList { tags })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Tag {
    key: String,
    value: String,
}

fn tags(list: Vec<Tag>) -> BTreeMap<String, String> {
    list.into_iter().map(|t| (t.key, t.value)).collect()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateTopic {
    name: Option<String>,
    attributes: AttributeMap,
    tags: Vec<Tag>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Arns {
    topic_arn: Option<String>,
    subscription_arn: Option<String>,
    next_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct SetAttribute {
    topic_arn: Option<String>,
    subscription_arn: Option<String>,
    attribute_name: Option<String>,
    attribute_value: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Confirm {
    topic_arn: Option<String>,
    token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Tagging {
    resource_arn: Option<String>,
    tags: Vec<Tag>,
    tag_keys: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct SubscribeWire {
    topic_arn: Option<String>,
    protocol: Option<String>,
    endpoint: Option<String>,
    attributes: AttributeMap,
    #[serde(deserialize_with = "lenient_bool")]
    return_subscription_arn: Option<bool>,
}

pub async fn subscribe(
    topics: &dyn Topics,
    i: SubscribeWire,
) -> ApiResult<output::SubscriptionArn> {
    let topic = required(i.topic_arn, "TopicArn")?;
    let protocol = required(i.protocol, "Protocol")?;
    let endpoint = required(i.endpoint, "Endpoint")?;
    let sub = topics
        .subscribe(&topic, &protocol, &endpoint, attribute_values(i.attributes))
        .await?;
    let arn = if sub.confirmed() || i.return_subscription_arn == Some(true) {
        sub.record.arn
    } else {
        "pending confirmation".into()
    };
    Ok(output::SubscriptionArn {
        subscription_arn: arn,
    })
}

fn subscription_summary(topics: &dyn Topics, s: &Subscription) -> output::SubscriptionSummary {
    output::SubscriptionSummary {
        subscription_arn: if s.confirmed() {
            s.record.arn.clone()
        } else {
            "PendingConfirmation".into()
        },
        owner: topics.naming().account_id.clone(),
        protocol: s.record.protocol.clone(),
        endpoint: s.record.endpoint.clone(),
        topic_arn: s.record.topic_arn.clone(),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct PublishWire {
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
pub struct PublishBatchWire {
    topic_arn: Option<String>,
    #[serde(deserialize_with = "lenient_list")]
    publish_batch_request_entries: Vec<PublishWire>,
}

pub async fn publish_batch(
    topics: &dyn Topics,
    i: PublishBatchWire,
) -> ApiResult<output::PublishedBatch> {
    let topic_arn = required(i.topic_arn, "TopicArn")?;
    let topic = topics.topic(&topic_arn).await?;
    let ids: Vec<String> = i
        .publish_batch_request_entries
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    check_batch_ids(ids.iter().map(String::as_str), 10, BatchOf::Sns)?;
    // On a FIFO topic an entry without a group id, or without a
    // deduplication id where one is needed, fails the whole request (as
    // AWS does), not just its entry.
    if topic.fifo {
        let entries = &i.publish_batch_request_entries;
        if entries.iter().any(|e| e.message_group_id.is_none()) {
            return Err(ApiError::new(
                ErrorKind::InvalidParameter,
                "Invalid parameter: The MessageGroupId parameter is required for FIFO topics",
            ));
        }
        let content_based = topic
            .record
            .attributes
            .get("ContentBasedDeduplication")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if !content_based && entries.iter().any(|e| e.message_deduplication_id.is_none()) {
            return Err(ApiError::new(
                ErrorKind::InvalidParameter,
                "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
            ));
        }
    }
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for (id, entry) in ids.iter().zip(i.publish_batch_request_entries) {
        let result = match publish_input(topic_arn.clone(), entry) {
            Ok(input) => topics.publish(input).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(p) => {
                successful.push(output::Published {
                    id: Some(id.clone()),
                    message_id: p.message_id,
                    sequence_number: p.sequence_number,
                });
            }
            Err(e) => failed.push(failed_entry(id, &e)),
        }
    }
    Ok(output::PublishedBatch { successful, failed })
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
