//! AddPermission and RemovePermission on topics: labelled grants to other
//! accounts, kept as statements of the topic's `Policy` (AWS's default
//! policy until one is set), which the access check enforces.

use super::output::Nothing;
use crate::iam::permission::{self, Grant, PermissionError};
use crate::messaging::api::input::{lenient_list, required};
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::pubsub::Topics;
use crate::messaging::sns::topics::default_topic_policy;
use serde::Deserialize;

/// The actions a topic's owner may grant.
const GRANTABLE: &[&str] = &[
    "GetTopicAttributes",
    "SetTopicAttributes",
    "AddPermission",
    "RemovePermission",
    "DeleteTopic",
    "Subscribe",
    "ListSubscriptionsByTopic",
    "Publish",
    "Receive",
];

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddPermission {
    topic_arn: Option<String>,
    label: Option<String>,
    #[serde(rename = "AWSAccountId", deserialize_with = "lenient_list")]
    accounts: Vec<String>,
    #[serde(deserialize_with = "lenient_list")]
    action_name: Vec<String>,
}

pub async fn add_permission(topics: &dyn Topics, input: AddPermission) -> ApiResult<Nothing> {
    let arn = required(input.topic_arn, "TopicArn")?;
    let label = required(input.label, "Label")?;
    if input.accounts.is_empty() {
        return Err(ApiError::missing("AWSAccountId"));
    }
    if let Some(bad) = permission::not_an_account(&input.accounts) {
        return Err(invalid(format!(
            "Invalid parameter: AWSAccountId: {bad} is not an account id"
        )));
    }
    if input.action_name.is_empty() {
        return Err(ApiError::missing("ActionName"));
    }
    if input
        .action_name
        .iter()
        .any(|a| !GRANTABLE.contains(&a.as_str()))
    {
        return Err(invalid(
            "Invalid parameter: Policy statement action out of service scope!",
        ));
    }
    let topic = topics.topic(&arn).await?;
    let account = &topics.naming().account_id;
    let current = topic
        .record
        .attributes
        .get("Policy")
        .cloned()
        .unwrap_or_else(|| default_topic_policy(&arn, account));
    let actions: Vec<String> = input
        .action_name
        .iter()
        .map(|a| format!("SNS:{a}"))
        .collect();
    let grant = Grant {
        label: &label,
        accounts: &input.accounts,
        actions: &actions,
        resource: &arn,
    };
    let empty = serde_json::json!({"Version": "2008-10-17", "Statement": []});
    let policy = permission::add(Some(&current), empty, &grant).map_err(|e| match e {
        PermissionError::LabelExists => invalid("Invalid parameter: Statement already exists"),
        _ => invalid("Invalid parameter: Policy: the topic's policy is not a policy document"),
    })?;
    topics.set_topic_attribute(&arn, "Policy", policy).await?;
    Ok(Nothing {})
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct RemovePermission {
    topic_arn: Option<String>,
    label: Option<String>,
}

/// Removing a label the policy does not hold succeeds and changes nothing,
/// as SNS does.
pub async fn remove_permission(topics: &dyn Topics, input: RemovePermission) -> ApiResult<Nothing> {
    let arn = required(input.topic_arn, "TopicArn")?;
    let label = required(input.label, "Label")?;
    let topic = topics.topic(&arn).await?;
    let Some(current) = topic.record.attributes.get("Policy") else {
        return Ok(Nothing {});
    };
    match permission::remove(Some(current), &label) {
        Ok(policy) => {
            // With no statement left, the topic is back to the default.
            topics
                .set_topic_attribute(&arn, "Policy", policy.unwrap_or_default())
                .await?;
            Ok(Nothing {})
        }
        Err(PermissionError::NoLabel) => Ok(Nothing {}),
        Err(_) => Err(invalid(
            "Invalid parameter: Policy: the topic's policy is not a policy document",
        )),
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidParameter, message)
}
