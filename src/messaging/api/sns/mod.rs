//! SNS (Query protocol only, as SNS has no JSON protocol): every action is
//! a `Command`, parsed from the nested form, applied to the topics (any
//! `Topics` backend), and answered with its typed `Output`, which `xml.rs`
//! writes in SNS's style. `commands!` below is the one list of actions.

mod actions;
pub mod output;
mod permissions;

use crate::messaging::error::ApiResult;
use crate::messaging::pubsub::Topics;
use actions::*;
use permissions::*;
use serde_json::{Map, Value};

commands! {
    dyn Topics;
    CreateTopic(CreateTopic) -> output::TopicArn = create_topic;
    DeleteTopic(Arns) -> output::Nothing = delete_topic;
    ListTopics(Arns) -> output::TopicList = list_topics;
    GetTopicAttributes(Arns) -> output::Attributes = get_topic_attributes;
    SetTopicAttributes(SetAttribute) -> output::Nothing = set_topic_attributes;
    Subscribe(SubscribeWire) -> output::SubscriptionArn = subscribe;
    ConfirmSubscription(Confirm) -> output::SubscriptionArn = confirm_subscription;
    Unsubscribe(Arns) -> output::Nothing = unsubscribe;
    ListSubscriptions(Arns) -> output::SubscriptionList = list_subscriptions;
    ListSubscriptionsByTopic(Arns) -> output::SubscriptionList = list_subscriptions_by_topic;
    GetSubscriptionAttributes(Arns) -> output::Attributes = get_subscription_attributes;
    SetSubscriptionAttributes(SetAttribute) -> output::Nothing = set_subscription_attributes;
    Publish(PublishWire) -> output::Published = publish;
    PublishBatch(PublishBatchWire) -> output::PublishedBatch = publish_batch;
    TagResource(Tagging) -> output::Nothing = tag_resource;
    UntagResource(Tagging) -> output::Nothing = untag_resource;
    ListTagsForResource(Tagging) -> output::TagList = list_tags_for_resource;
    AddPermission(AddPermission) -> output::Nothing = add_permission;
    RemovePermission(RemovePermission) -> output::Nothing = remove_permission;
}

/// Parses, applies and encodes one action.
pub async fn apply(
    topics: &dyn Topics,
    action: &str,
    input: Value,
) -> ApiResult<Map<String, Value>> {
    let command = Command::parse(action, input)?;
    Ok(command.apply(topics).await?.encode())
}
