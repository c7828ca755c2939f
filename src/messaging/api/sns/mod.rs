//! SNS (Query protocol only, as SNS has no JSON protocol): every action is
//! a `Command`, parsed from the nested form, applied to the topics (any
//! `Topics` backend), and answered with its typed `Output`, which `xml.rs`
//! writes in SNS's style. `commands!` below is the one list of actions.

mod actions;
pub mod output;

use super::input::parse;
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::pubsub::Topics;
use actions::*;
use serde_json::{Map, Value};

macro_rules! commands {
    ($($action:ident($input:ty) -> $output:ty = $handler:ident;)*) => {
        /// An SNS action with its parsed input.
        pub enum Command {
            $($action($input),)*
        }

        /// What an action answers.
        pub enum Output {
            $($action($output),)*
        }

        impl Command {
            /// Every action's name, as clients send it.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($action)),*];

            pub fn parse(action: &str, input: Value) -> ApiResult<Command> {
                match action {
                    $(stringify!($action) => Ok(Command::$action(parse(input)?)),)*
                    other => Err(ApiError::new(
                        ErrorKind::InvalidAction,
                        format!("The action {other} is not valid for this endpoint."),
                    )),
                }
            }

            pub async fn apply(self, topics: &dyn Topics) -> ApiResult<Output> {
                Ok(match self {
                    $(Command::$action(input) => Output::$action($handler(topics, input).await?),)*
                })
            }
        }

        impl Output {
            /// The JSON object the XML encoder starts from.
            pub fn encode(&self) -> Map<String, Value> {
                match self {
                    $(Output::$action(out) => output::encode(out),)*
                }
            }
        }
    };
}

commands! {
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
