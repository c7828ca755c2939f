//! AddPermission and RemovePermission: labelled grants to other accounts,
//! kept as statements of the queue's `Policy` attribute (which the access
//! check then enforces, `messaging::access`).

use super::output::Nothing;
use crate::iam::permission::{self, Grant, PermissionError};
use crate::messaging::api::input::{lenient_list, required};
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::queues::Queues;
use serde::Deserialize;
use std::collections::BTreeMap;

/// What a queue's owner may share; the rest only the owner may do.
const SHAREABLE: &[&str] = &[
    "*",
    "ChangeMessageVisibility",
    "DeleteMessage",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "PurgeQueue",
    "ReceiveMessage",
    "SendMessage",
];
const MAX_ACTIONS: usize = 7;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddPermission {
    queue_url: Option<String>,
    label: Option<String>,
    #[serde(rename = "AWSAccountIds", deserialize_with = "lenient_list")]
    accounts: Vec<String>,
    #[serde(deserialize_with = "lenient_list")]
    actions: Vec<String>,
}

pub async fn add_permission(queues: &dyn Queues, input: AddPermission) -> ApiResult<Nothing> {
    let name = super::actions::queue_name(queues, input.queue_url).await?;
    let label = required(input.label, "Label")?;
    check_label(&label)?;
    if input.accounts.is_empty() {
        return Err(ApiError::missing("AWSAccountIds"));
    }
    if let Some(bad) = permission::not_an_account(&input.accounts) {
        return Err(ApiError::invalid(format!(
            "Value {bad} for parameter PrincipalId is invalid. Reason: Unable to verify."
        )));
    }
    if input.actions.is_empty() {
        return Err(ApiError::missing("Actions"));
    }
    if input.actions.len() > MAX_ACTIONS {
        return Err(ApiError::new(
            ErrorKind::OverLimit,
            format!(
                "{} Actions were found, maximum allowed is {MAX_ACTIONS}.",
                input.actions.len()
            ),
        ));
    }
    if let Some(bad) = input
        .actions
        .iter()
        .find(|a| !SHAREABLE.contains(&a.as_str()))
    {
        return Err(ApiError::invalid(format!(
            "Value SQS:{bad} for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action."
        )));
    }
    let arn = queues.naming().queue_arn(&name);
    let actions: Vec<String> = input.actions.iter().map(|a| format!("SQS:{a}")).collect();
    let empty = serde_json::json!({
        "Version": "2012-10-17",
        "Id": format!("{arn}/SQSDefaultPolicy"),
        "Statement": [],
    });
    let grant = Grant {
        label: &label,
        accounts: &input.accounts,
        actions: &actions,
        resource: &arn,
    };
    let current = queues.policy(&name).await?;
    let policy =
        permission::add(current.as_deref(), empty, &grant).map_err(|e| refused(&label, e))?;
    queues
        .set_attributes(&name, BTreeMap::from([("Policy".to_string(), policy)]))
        .await?;
    Ok(Nothing {})
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct RemovePermission {
    queue_url: Option<String>,
    label: Option<String>,
}

pub async fn remove_permission(queues: &dyn Queues, input: RemovePermission) -> ApiResult<Nothing> {
    let name = super::actions::queue_name(queues, input.queue_url).await?;
    let label = required(input.label, "Label")?;
    let current = queues.policy(&name).await?;
    let policy = permission::remove(current.as_deref(), &label).map_err(|e| refused(&label, e))?;
    queues
        .set_attributes(
            &name,
            BTreeMap::from([("Policy".to_string(), policy.unwrap_or_default())]),
        )
        .await?;
    Ok(Nothing {})
}

/// Labels are what AWS allows: up to 80 letters, digits, `-` and `_`.
fn check_label(label: &str) -> ApiResult<()> {
    let ok = !label.is_empty()
        && label.len() <= 80
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Value {label} for parameter Label is invalid. Reason: Up to 80 alphanumeric characters, hyphens (-) and underscores (_)."
        )))
    }
}

fn refused(label: &str, e: PermissionError) -> ApiError {
    ApiError::invalid(match e {
        PermissionError::LabelExists => {
            format!("Value {label} for parameter Label is invalid. Reason: Already exists.")
        }
        PermissionError::NoLabel => format!(
            "Value {label} for parameter Label is invalid. Reason: can't find label on existing policy."
        ),
        PermissionError::Unreadable => {
            "The queue's Policy attribute is not a policy document; set a valid one first.".into()
        }
    })
}
