//! The SQS actions, one function each: check the input, apply it to the
//! queues (any `Queues` backend), and answer with the action's typed output.

use super::output::{self, Nothing};
use crate::config::queue_settings::AttributeMap;
use crate::messaging::api::input::{
    attribute_values, attributes, attributes_json, check_batch_ids, failed_entry, lenient_list,
    lenient_u32, required, BatchOf, WireAttribute,
};
use crate::messaging::broker::{Delivery, ReceiveRequest, SendOk};
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::message::{md5_of_attributes, Attributes};
use crate::messaging::queue::NewMessage;
use crate::messaging::queues::Queues;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The most a batch may carry, in bytes of bodies and attributes.
const MAX_BATCH_BYTES: usize = 1_048_576;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueueUrl {
    queue_url: Option<String>,
}

/// The queue a `QueueUrl` names, checked to exist (so a missing queue is
/// reported before any other problem with the request, as SQS does).
pub(super) async fn queue_name(queues: &dyn Queues, url: Option<String>) -> ApiResult<String> {
    let url = required(url, "QueueUrl")?;
    let name = queues.naming().queue_name_from_url(&url)?.to_string();
    queues.check_queue(&name).await?;
    Ok(name)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateQueue {
    queue_name: Option<String>,
    attributes: AttributeMap,
    #[serde(alias = "tags")]
    tags: BTreeMap<String, String>,
}

pub async fn create_queue(queues: &dyn Queues, input: CreateQueue) -> ApiResult<output::QueueUrl> {
    let name = required(input.queue_name, "QueueName")?;
    let url = queues
        .create_queue(&name, attribute_values(input.attributes), input.tags)
        .await?;
    Ok(output::QueueUrl { queue_url: url })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetQueueUrl {
    queue_name: Option<String>,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    owner: Option<String>,
}

pub async fn get_queue_url(queues: &dyn Queues, input: GetQueueUrl) -> ApiResult<output::QueueUrl> {
    let name = required(input.queue_name, "QueueName")?;
    if input.owner.is_some_and(|o| o != queues.naming().account_id) {
        return Err(ApiError::no_queue());
    }
    queues.check_queue(&name).await?;
    Ok(output::QueueUrl {
        queue_url: queues.naming().queue_url(&name),
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListQueues {
    queue_name_prefix: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    max_results: Option<u32>,
    next_token: Option<String>,
}

/// Pages of names after the one a token names.
fn page(
    names: Vec<String>,
    max: Option<u32>,
    token: Option<String>,
) -> ApiResult<(Vec<String>, Option<String>)> {
    if let Some(m) = max.filter(|m| !(1..=1000).contains(m)) {
        return Err(ApiError::invalid(format!(
            "Value {m} for parameter MaxResults is invalid. Reason: MaxResults must be between 1 and 1000."
        )));
    }
    let after = match token {
        Some(t) => Some(
            URL_SAFE_NO_PAD
                .decode(&t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::invalid("Invalid NextToken value."))?,
        ),
        None => None,
    };
    let mut rest: Vec<String> = names
        .into_iter()
        .filter(|n| after.as_ref().is_none_or(|a| n > a))
        .collect();
    let limit = max.unwrap_or(1000) as usize;
    let next =
        (max.is_some() && rest.len() > limit).then(|| URL_SAFE_NO_PAD.encode(&rest[limit - 1]));
    rest.truncate(limit);
    Ok((rest, next))
}

pub async fn list_queues(queues: &dyn Queues, input: ListQueues) -> ApiResult<output::QueueList> {
    let names = queues
        .list_queues(input.queue_name_prefix.as_deref())
        .await?;
    let (names, next) = page(names, input.max_results, input.next_token)?;
    let urls: Vec<String> = names.iter().map(|n| queues.naming().queue_url(n)).collect();
    Ok(output::QueueList {
        queue_urls: (!urls.is_empty()).then_some(urls),
        next_token: next,
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetAttributes {
    queue_url: Option<String>,
    attribute_names: Vec<String>,
}

pub async fn get_attributes(
    queues: &dyn Queues,
    input: GetAttributes,
) -> ApiResult<output::Attributes> {
    let name = queue_name(queues, input.queue_url).await?;
    let attributes = queues.get_attributes(&name, &input.attribute_names).await?;
    Ok(output::Attributes {
        attributes: (!attributes.is_empty()).then_some(attributes),
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct SetAttributes {
    queue_url: Option<String>,
    attributes: AttributeMap,
}

pub async fn set_attributes(queues: &dyn Queues, input: SetAttributes) -> ApiResult<Nothing> {
    let name = queue_name(queues, input.queue_url).await?;
    queues
        .set_attributes(&name, attribute_values(input.attributes))
        .await?;
    Ok(Nothing {})
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct SendEntry {
    id: Option<String>,
    message_body: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    delay_seconds: Option<u32>,
    message_attributes: BTreeMap<String, WireAttribute>,
    message_system_attributes: BTreeMap<String, WireAttribute>,
    message_deduplication_id: Option<String>,
    message_group_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct SendMessage {
    queue_url: Option<String>,
    #[serde(flatten)]
    entry: SendEntry,
}

/// Checks what only the API sees (the wire shape) and turns an entry into
/// the queue's input; the message itself is checked by the broker's send.
fn new_message(entry: SendEntry) -> ApiResult<NewMessage> {
    let body = required(entry.message_body, "MessageBody")?;
    if let Some(d) = entry.delay_seconds.filter(|d| *d > 900) {
        return Err(ApiError::invalid(format!(
            "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
        )));
    }
    let attrs = attributes(entry.message_attributes)?;
    let system = attributes(entry.message_system_attributes)?;
    let mut trace_header = None;
    for (name, value) in system {
        if name != "AWSTraceHeader" || value.data_type != "String" {
            return Err(ApiError::invalid(format!(
                "Message system attribute name '{name}' is invalid; only AWSTraceHeader (String) is supported."
            )));
        }
        trace_header = value.string_value;
    }
    for (field, value) in [
        ("MessageGroupId", &entry.message_group_id),
        ("MessageDeduplicationId", &entry.message_deduplication_id),
    ] {
        if let Some(v) = value {
            let ok = !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic());
            if !ok {
                return Err(ApiError::invalid(format!(
                    "Value {v} for parameter {field} is invalid. Reason: It must be 1-128 alphanumeric or punctuation characters."
                )));
            }
        }
    }
    Ok(NewMessage {
        body,
        attributes: attrs,
        trace_header,
        delay_seconds: entry.delay_seconds,
        group_id: entry.message_group_id,
        dedup_id: entry.message_deduplication_id,
    })
}

fn sent(ok: SendOk, system_md5: Option<String>) -> output::Sent {
    output::Sent {
        message_id: ok.message_id,
        md5_of_body: ok.md5_of_body,
        md5_of_attributes: ok.md5_of_attributes,
        md5_of_system_attributes: system_md5,
        sequence_number: ok.sequence_number,
    }
}

pub async fn send_message(queues: &dyn Queues, input: SendMessage) -> ApiResult<output::Sent> {
    let name = queue_name(queues, input.queue_url).await?;
    let new = new_message(input.entry)?;
    let system_md5 = new.trace_header.as_ref().and_then(|t| system_md5(t));
    let mut results = queues.send(&name, vec![new]).await?;
    let ok = results
        .pop()
        .unwrap_or_else(|| Err(ApiError::internal("no result")))?;
    Ok(sent(ok, system_md5))
}

fn system_md5(trace: &str) -> Option<String> {
    let mut attrs = Attributes::new();
    attrs.insert(
        "AWSTraceHeader".into(),
        crate::messaging::message::AttributeValue {
            data_type: "String".into(),
            string_value: Some(trace.to_string()),
            binary_value: None,
        },
    );
    md5_of_attributes(&attrs)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct SendBatch {
    queue_url: Option<String>,
    #[serde(deserialize_with = "lenient_list")]
    entries: Vec<SendEntry>,
}

pub async fn send_batch(
    queues: &dyn Queues,
    input: SendBatch,
) -> ApiResult<output::Batch<output::SentEntry>> {
    let name = queue_name(queues, input.queue_url).await?;
    let ids: Vec<String> = input
        .entries
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    check_batch_ids(
        ids.iter().map(String::as_str),
        10,
        BatchOf::Sqs("SendMessageBatchRequestEntry"),
    )?;
    let total: usize = input
        .entries
        .iter()
        .map(|e| {
            e.message_body.as_ref().map_or(0, String::len)
                + e.message_attributes
                    .iter()
                    .map(|(k, v)| {
                        k.len()
                            + v.data_type.as_ref().map_or(0, String::len)
                            + v.string_value.as_ref().map_or(0, String::len)
                            + v.binary_value.as_ref().map_or(0, |b| b.len() * 3 / 4)
                    })
                    .sum::<usize>()
        })
        .sum();
    if total > MAX_BATCH_BYTES {
        return Err(ApiError::new(
            ErrorKind::BatchRequestTooLong,
            format!("Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent {total} bytes."),
        ));
    }
    check_fifo_batch(queues, &name, &input.entries).await?;
    let mut failed = Vec::new();
    let mut accepted_ids = Vec::new();
    let mut batch = Vec::new();
    for (id, entry) in ids.iter().zip(input.entries) {
        match new_message(entry) {
            Ok(new) => {
                accepted_ids.push(id.clone());
                batch.push(new);
            }
            Err(e) => failed.push(failed_entry(id, &e)),
        }
    }
    let results = if batch.is_empty() {
        Vec::new()
    } else {
        queues.send(&name, batch).await?
    };
    let mut successful = Vec::new();
    for (id, result) in accepted_ids.iter().zip(results) {
        match result {
            Ok(ok) => successful.push(output::SentEntry {
                id: id.clone(),
                sent: sent(ok, None),
            }),
            Err(e) => failed.push(failed_entry(id, &e)),
        }
    }
    Ok(output::Batch { successful, failed })
}

/// On a FIFO queue an entry without a group id, or without a
/// deduplication id where the queue needs one, fails the whole request (as
/// SQS does), not just its entry. Only FIFO queue names end in `.fifo`.
async fn check_fifo_batch(queues: &dyn Queues, name: &str, entries: &[SendEntry]) -> ApiResult<()> {
    if !name.ends_with(".fifo") {
        return Ok(());
    }
    if entries.iter().any(|e| e.message_group_id.is_none()) {
        return Err(ApiError::missing("MessageGroupId"));
    }
    if entries.iter().any(|e| e.message_deduplication_id.is_none()) {
        let wanted = ["ContentBasedDeduplication".to_string()];
        let attributes = queues.get_attributes(name, &wanted).await?;
        let content_based = attributes
            .get("ContentBasedDeduplication")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if !content_based {
            return Err(ApiError::invalid(
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Receive {
    queue_url: Option<String>,
    attribute_names: Vec<String>,
    message_system_attribute_names: Vec<String>,
    message_attribute_names: Vec<String>,
    #[serde(deserialize_with = "lenient_u32")]
    max_number_of_messages: Option<u32>,
    #[serde(deserialize_with = "lenient_u32")]
    visibility_timeout: Option<u32>,
    #[serde(deserialize_with = "lenient_u32")]
    wait_time_seconds: Option<u32>,
    receive_request_attempt_id: Option<String>,
}

pub async fn receive(queues: &dyn Queues, input: Receive) -> ApiResult<output::Messages> {
    let name = queue_name(queues, input.queue_url).await?;
    let max = input.max_number_of_messages.unwrap_or(1);
    if !(1..=10).contains(&max) {
        return Err(ApiError::invalid(format!(
            "Value {max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
        )));
    }
    if let Some(w) = input.wait_time_seconds.filter(|w| *w > 20) {
        return Err(ApiError::invalid(format!(
            "Value {w} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
        )));
    }
    if let Some(v) = input.visibility_timeout.filter(|v| *v > 43_200) {
        return Err(ApiError::invalid(format!(
            "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200."
        )));
    }
    let req = ReceiveRequest {
        max: max as usize,
        visibility: input.visibility_timeout,
        wait_seconds: input.wait_time_seconds,
        attempt_id: input.receive_request_attempt_id,
    };
    let got = queues.receive(&name, &req).await?;
    if got.is_empty() {
        return Ok(output::Messages { messages: None });
    }
    let mut system_names = input.attribute_names;
    system_names.extend(input.message_system_attribute_names);
    let messages: Vec<output::Received> = got
        .iter()
        .map(|d| message_json(d, &system_names, &input.message_attribute_names))
        .collect();
    Ok(output::Messages {
        messages: Some(messages),
    })
}

fn message_json(
    d: &Delivery,
    system_names: &[String],
    attribute_names: &[String],
) -> output::Received {
    let m = &d.message;
    let all = system_names.iter().any(|n| n == "All");
    let wanted = |n: &str| all || system_names.iter().any(|s| s == n);
    let system: BTreeMap<String, String> = d
        .system_attributes()
        .into_iter()
        .filter(|(name, _)| wanted(name))
        .map(|(name, value)| (name.to_string(), value))
        .collect();
    let selected: Attributes = m
        .attributes
        .iter()
        .filter(|(name, _)| attribute_selected(name, attribute_names))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let md5_of_attributes = md5_of_attributes(&selected);
    output::Received {
        message_id: m.id.to_string(),
        receipt_handle: d.receipt.clone(),
        md5_of_body: m.md5_of_body(),
        body: m.body.to_string(),
        attributes: (!system.is_empty()).then_some(system),
        message_attributes: md5_of_attributes
            .as_ref()
            .map(|_| attributes_json(&selected)),
        md5_of_attributes,
    }
}

/// `All`, `.*`, `prefix.*` or an exact name.
fn attribute_selected(name: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|p| {
        p == "All"
            || p == ".*"
            || p == name
            || p.strip_suffix(".*")
                .is_some_and(|prefix| name.starts_with(prefix))
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeleteMessage {
    queue_url: Option<String>,
    receipt_handle: Option<String>,
}

pub async fn delete_message(queues: &dyn Queues, input: DeleteMessage) -> ApiResult<Nothing> {
    let name = queue_name(queues, input.queue_url).await?;
    let handle = required(input.receipt_handle, "ReceiptHandle")?;
    let mut results = queues.delete(&name, &[handle]).await?;
    results.pop().unwrap_or(Ok(()))?;
    Ok(Nothing {})
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct HandleEntry {
    id: Option<String>,
    receipt_handle: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    visibility_timeout: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct HandleBatch {
    queue_url: Option<String>,
    #[serde(deserialize_with = "lenient_list")]
    entries: Vec<HandleEntry>,
}

/// Checks a batch of receipt-handle entries; returns the queue and ids.
async fn handle_batch(
    queues: &dyn Queues,
    input: &HandleBatch,
    entry: &'static str,
) -> ApiResult<(String, Vec<String>)> {
    let name = queue_name(queues, input.queue_url.clone()).await?;
    let ids: Vec<String> = input
        .entries
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    check_batch_ids(ids.iter().map(String::as_str), 10, BatchOf::Sqs(entry))?;
    Ok((name, ids))
}

fn batch_result(ids: &[String], results: Vec<ApiResult<()>>) -> output::Batch<output::DoneEntry> {
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for (id, result) in ids.iter().zip(results) {
        match result {
            Ok(()) => successful.push(output::DoneEntry { id: id.clone() }),
            Err(e) => failed.push(failed_entry(id, &e)),
        }
    }
    output::Batch { successful, failed }
}

pub async fn delete_batch(
    queues: &dyn Queues,
    input: HandleBatch,
) -> ApiResult<output::Batch<output::DoneEntry>> {
    let (name, ids) = handle_batch(queues, &input, "DeleteMessageBatchRequestEntry").await?;
    let handles: Vec<String> = input
        .entries
        .into_iter()
        .map(|e| e.receipt_handle.unwrap_or_default())
        .collect();
    let results = queues.delete(&name, &handles).await?;
    Ok(batch_result(&ids, results))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ChangeVisibility {
    queue_url: Option<String>,
    receipt_handle: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    visibility_timeout: Option<u32>,
}

pub async fn change_visibility(queues: &dyn Queues, input: ChangeVisibility) -> ApiResult<Nothing> {
    let name = queue_name(queues, input.queue_url).await?;
    let handle = required(input.receipt_handle, "ReceiptHandle")?;
    let timeout = required(input.visibility_timeout, "VisibilityTimeout")?;
    let mut results = queues
        .change_visibility(&name, &[(handle, timeout)])
        .await?;
    results.pop().unwrap_or(Ok(()))?;
    Ok(Nothing {})
}

pub async fn change_visibility_batch(
    queues: &dyn Queues,
    input: HandleBatch,
) -> ApiResult<output::Batch<output::DoneEntry>> {
    let (name, ids) =
        handle_batch(queues, &input, "ChangeMessageVisibilityBatchRequestEntry").await?;
    let entries: Vec<(String, u32)> = input
        .entries
        .into_iter()
        .map(|e| {
            (
                e.receipt_handle.unwrap_or_default(),
                e.visibility_timeout.unwrap_or(0),
            )
        })
        .collect();
    let results = queues.change_visibility(&name, &entries).await?;
    Ok(batch_result(&ids, results))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct TagQueue {
    queue_url: Option<String>,
    tags: BTreeMap<String, String>,
    tag_keys: Vec<String>,
}

pub async fn tag_queue(queues: &dyn Queues, input: TagQueue) -> ApiResult<Nothing> {
    let name = queue_name(queues, input.queue_url).await?;
    if input.tags.is_empty() {
        return Err(ApiError::missing("Tags"));
    }
    queues.tag(&name, input.tags).await?;
    Ok(Nothing {})
}

pub async fn untag_queue(queues: &dyn Queues, input: TagQueue) -> ApiResult<Nothing> {
    let name = queue_name(queues, input.queue_url).await?;
    if input.tag_keys.is_empty() {
        return Err(ApiError::missing("TagKeys"));
    }
    queues.untag(&name, &input.tag_keys).await?;
    Ok(Nothing {})
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeadLetterSources {
    queue_url: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    max_results: Option<u32>,
    next_token: Option<String>,
}

pub async fn dead_letter_sources(
    queues: &dyn Queues,
    input: DeadLetterSources,
) -> ApiResult<output::DeadLetterSources> {
    let name = queue_name(queues, input.queue_url).await?;
    let names = queues.dead_letter_sources(&name).await?;
    let (names, next) = page(names, input.max_results, input.next_token)?;
    let urls: Vec<String> = names.iter().map(|n| queues.naming().queue_url(n)).collect();
    Ok(output::DeadLetterSources {
        queue_urls: urls,
        next_token: next,
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct MoveTask {
    source_arn: Option<String>,
    destination_arn: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    max_number_of_messages_per_second: Option<u32>,
    #[serde(deserialize_with = "lenient_u32")]
    max_results: Option<u32>,
    task_handle: Option<String>,
}

pub async fn start_move(queues: &dyn Queues, input: MoveTask) -> ApiResult<output::TaskHandle> {
    let source = required(input.source_arn, "SourceArn")?;
    let handle = queues
        .start_move_task(
            &source,
            input.destination_arn,
            input.max_number_of_messages_per_second,
        )
        .await?;
    Ok(output::TaskHandle {
        task_handle: handle,
    })
}

pub async fn list_moves(queues: &dyn Queues, input: MoveTask) -> ApiResult<output::MoveTasks> {
    let source = required(input.source_arn, "SourceArn")?;
    let max = input.max_results.unwrap_or(1);
    if !(1..=10).contains(&max) {
        return Err(ApiError::invalid("MaxResults must be between 1 and 10."));
    }
    let results = queues
        .list_move_tasks(&source)
        .await?
        .into_iter()
        .take(max as usize)
        .map(|t| output::MoveTask {
            task_handle: (t.status == "RUNNING").then_some(t.handle),
            status: t.status,
            source_arn: t.source_arn,
            destination_arn: t.destination_arn,
            max_number_of_messages_per_second: t.max_per_second,
            approximate_number_of_messages_moved: t.moved,
            approximate_number_of_messages_to_move: t.to_move,
            failure_reason: t.failure_reason,
            started_timestamp: t.started_at,
        })
        .collect();
    Ok(output::MoveTasks { results })
}

pub async fn cancel_move(queues: &dyn Queues, input: MoveTask) -> ApiResult<output::Cancelled> {
    let handle = required(input.task_handle, "TaskHandle")?;
    let moved = queues.cancel_move_task(&handle).await?;
    Ok(output::Cancelled {
        approximate_number_of_messages_moved: moved,
    })
}

pub async fn delete_queue(queues: &dyn Queues, input: QueueUrl) -> ApiResult<Nothing> {
    let name = queue_name(queues, input.queue_url).await?;
    queues.delete_queue(&name).await?;
    Ok(Nothing {})
}

pub async fn purge_queue(queues: &dyn Queues, input: QueueUrl) -> ApiResult<Nothing> {
    let name = queue_name(queues, input.queue_url).await?;
    queues.purge(&name).await?;
    Ok(Nothing {})
}

pub async fn list_queue_tags(queues: &dyn Queues, input: QueueUrl) -> ApiResult<output::Tags> {
    let name = queue_name(queues, input.queue_url).await?;
    let tags = queues.tags(&name).await?;
    Ok(output::Tags {
        tags: (!tags.is_empty()).then_some(tags),
    })
}
