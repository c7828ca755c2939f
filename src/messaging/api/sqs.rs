//! The SQS actions: parse the input (one JSON shape for both protocols),
//! apply it to the broker, and return the result in the JSON shape; the
//! caller encodes it as JSON or XML.

use super::input::{
    attributes, attributes_json, check_batch_ids, failed_entry, lenient_u32, parse, required,
    WireAttribute,
};
use crate::config::queue_settings::AttributeMap;
use crate::messaging::broker::{Broker, Delivery, QueueCell, ReceiveRequest, SendOk};
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::message::{check_attributes, check_body, md5_of_attributes, Attributes};
use crate::messaging::queue::NewMessage;
use crate::messaging::redrive;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const ACTIONS: &[&str] = &[
    "CreateQueue",
    "GetQueueUrl",
    "ListQueues",
    "DeleteQueue",
    "GetQueueAttributes",
    "SetQueueAttributes",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "PurgeQueue",
    "TagQueue",
    "UntagQueue",
    "ListQueueTags",
    "ListDeadLetterSourceQueues",
    "StartMessageMoveTask",
    "ListMessageMoveTasks",
    "CancelMessageMoveTask",
];

/// The most a batch may carry, in bytes of bodies and attributes.
const MAX_BATCH_BYTES: usize = 1_048_576;

pub async fn apply(broker: &Broker, action: &str, input: Value) -> ApiResult<Map<String, Value>> {
    let out = match action {
        "CreateQueue" => create_queue(broker, parse(input)?).await?,
        "GetQueueUrl" => get_queue_url(broker, parse(input)?)?,
        "ListQueues" => list_queues(broker, parse(input)?)?,
        "DeleteQueue" => {
            let cell = queue(broker, parse(input)?)?;
            broker.delete_queue(&cell).await?;
            json!({})
        }
        "GetQueueAttributes" => get_attributes(broker, parse(input)?)?,
        "SetQueueAttributes" => set_attributes(broker, parse(input)?).await?,
        "SendMessage" => send_message(broker, parse(input)?).await?,
        "SendMessageBatch" => send_batch(broker, parse(input)?).await?,
        "ReceiveMessage" => receive(broker, parse(input)?).await?,
        "DeleteMessage" => delete_message(broker, parse(input)?).await?,
        "DeleteMessageBatch" => delete_batch(broker, parse(input)?).await?,
        "ChangeMessageVisibility" => change_visibility(broker, parse(input)?).await?,
        "ChangeMessageVisibilityBatch" => change_visibility_batch(broker, parse(input)?).await?,
        "PurgeQueue" => {
            let cell = queue(broker, parse(input)?)?;
            broker.purge(&cell).await?;
            json!({})
        }
        "TagQueue" => tag_queue(broker, parse(input)?).await?,
        "UntagQueue" => untag_queue(broker, parse(input)?).await?,
        "ListQueueTags" => {
            let cell = queue(broker, parse(input)?)?;
            let tags = cell.state.lock().tags.clone();
            if tags.is_empty() {
                json!({})
            } else {
                json!({ "Tags": tags })
            }
        }
        "ListDeadLetterSourceQueues" => dead_letter_sources(broker, parse(input)?)?,
        "StartMessageMoveTask" => start_move(broker, parse(input)?)?,
        "ListMessageMoveTasks" => list_moves(broker, parse(input)?)?,
        "CancelMessageMoveTask" => cancel_move(broker, parse(input)?)?,
        other => {
            return Err(ApiError::new(
                ErrorKind::InvalidAction,
                format!("The action {other} is not valid for this endpoint."),
            ))
        }
    };
    Ok(match out {
        Value::Object(map) => map,
        _ => Map::new(),
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct QueueUrl {
    queue_url: Option<String>,
}

fn queue(broker: &Broker, input: QueueUrl) -> ApiResult<Arc<QueueCell>> {
    broker.queue_by_url(&required(input.queue_url, "QueueUrl")?)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateQueue {
    queue_name: Option<String>,
    attributes: AttributeMap,
    #[serde(alias = "tags")]
    tags: BTreeMap<String, String>,
}

async fn create_queue(broker: &Broker, input: CreateQueue) -> ApiResult<Value> {
    let name = required(input.queue_name, "QueueName")?;
    let url = broker
        .create_queue(&name, input.attributes, input.tags)
        .await?;
    Ok(json!({ "QueueUrl": url }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct GetQueueUrl {
    queue_name: Option<String>,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    owner: Option<String>,
}

fn get_queue_url(broker: &Broker, input: GetQueueUrl) -> ApiResult<Value> {
    let name = required(input.queue_name, "QueueName")?;
    if input.owner.is_some_and(|o| o != broker.naming().account_id) {
        return Err(ApiError::no_queue());
    }
    broker.queue_by_name(&name)?;
    Ok(json!({ "QueueUrl": broker.queue_url(&name) }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ListQueues {
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

fn list_queues(broker: &Broker, input: ListQueues) -> ApiResult<Value> {
    let names = broker.list_queues(input.queue_name_prefix.as_deref());
    let (names, next) = page(names, input.max_results, input.next_token)?;
    let urls: Vec<String> = names.iter().map(|n| broker.queue_url(n)).collect();
    let mut out = Map::new();
    if !urls.is_empty() {
        out.insert("QueueUrls".into(), json!(urls));
    }
    if let Some(next) = next {
        out.insert("NextToken".into(), next.into());
    }
    Ok(Value::Object(out))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct GetAttributes {
    queue_url: Option<String>,
    attribute_names: Vec<String>,
}

fn get_attributes(broker: &Broker, input: GetAttributes) -> ApiResult<Value> {
    let cell = broker.queue_by_url(&required(input.queue_url, "QueueUrl")?)?;
    let attributes = broker.get_attributes(&cell, &input.attribute_names)?;
    if attributes.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Attributes": attributes }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SetAttributes {
    queue_url: Option<String>,
    attributes: AttributeMap,
}

async fn set_attributes(broker: &Broker, input: SetAttributes) -> ApiResult<Value> {
    let cell = broker.queue_by_url(&required(input.queue_url, "QueueUrl")?)?;
    broker.set_attributes(&cell, input.attributes).await?;
    Ok(json!({}))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SendEntry {
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
struct SendMessage {
    queue_url: Option<String>,
    #[serde(flatten)]
    entry: SendEntry,
}

/// Checks an entry and turns it into the queue's input.
fn new_message(entry: SendEntry) -> ApiResult<NewMessage> {
    let body = required(entry.message_body, "MessageBody")?;
    check_body(&body)?;
    if let Some(d) = entry.delay_seconds.filter(|d| *d > 900) {
        return Err(ApiError::invalid(format!(
            "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
        )));
    }
    let attrs = attributes(entry.message_attributes)?;
    check_attributes(&attrs)?;
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

fn sent_json(ok: &SendOk) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("MessageId".into(), ok.message_id.clone().into());
    out.insert("MD5OfMessageBody".into(), ok.md5_of_body.clone().into());
    if let Some(md5) = &ok.md5_of_attributes {
        out.insert("MD5OfMessageAttributes".into(), md5.clone().into());
    }
    if let Some(seq) = &ok.sequence_number {
        out.insert("SequenceNumber".into(), seq.clone().into());
    }
    out
}

async fn send_message(broker: &Broker, input: SendMessage) -> ApiResult<Value> {
    let cell = broker.queue_by_url(&required(input.queue_url, "QueueUrl")?)?;
    let new = new_message(input.entry)?;
    let system_md5 = new.trace_header.as_ref().and_then(|t| system_md5(t));
    let mut results = broker.send(&cell, vec![new]).await?;
    let ok = results
        .pop()
        .unwrap_or_else(|| Err(ApiError::internal("no result")))?;
    let mut out = sent_json(&ok);
    if let Some(md5) = system_md5 {
        out.insert("MD5OfMessageSystemAttributes".into(), md5.into());
    }
    Ok(Value::Object(out))
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
struct SendBatch {
    queue_url: Option<String>,
    entries: Vec<SendEntry>,
}

async fn send_batch(broker: &Broker, input: SendBatch) -> ApiResult<Value> {
    let cell = broker.queue_by_url(&required(input.queue_url, "QueueUrl")?)?;
    let ids: Vec<String> = input
        .entries
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    check_batch_ids(ids.iter().map(String::as_str), 10)?;
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
        broker.send(&cell, batch).await?
    };
    let mut successful = Vec::new();
    for (id, result) in accepted_ids.iter().zip(results) {
        match result {
            Ok(ok) => {
                let mut entry = sent_json(&ok);
                entry.insert("Id".into(), id.clone().into());
                successful.push(Value::Object(entry));
            }
            Err(e) => failed.push(failed_entry(id, &e)),
        }
    }
    Ok(json!({ "Successful": successful, "Failed": failed }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Receive {
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

async fn receive(broker: &Broker, input: Receive) -> ApiResult<Value> {
    let cell = broker.queue_by_url(&required(input.queue_url, "QueueUrl")?)?;
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
    let got = broker.receive(&cell, &req).await?;
    if got.is_empty() {
        return Ok(json!({}));
    }
    let mut system_names = input.attribute_names;
    system_names.extend(input.message_system_attribute_names);
    let messages: Vec<Value> = got
        .iter()
        .map(|d| message_json(d, &system_names, &input.message_attribute_names))
        .collect();
    Ok(json!({ "Messages": messages }))
}

fn message_json(d: &Delivery, system_names: &[String], attribute_names: &[String]) -> Value {
    let m = &d.message;
    let mut out = Map::new();
    out.insert("MessageId".into(), m.id.to_string().into());
    out.insert("ReceiptHandle".into(), d.receipt.clone().into());
    out.insert("MD5OfBody".into(), m.md5_of_body().into());
    out.insert("Body".into(), m.body.to_string().into());
    let all = system_names.iter().any(|n| n == "All");
    let wanted = |n: &str| all || system_names.iter().any(|s| s == n);
    let mut system = Map::new();
    let mut put = |name: &str, value: String| {
        if wanted(name) {
            system.insert(name.into(), value.into());
        }
    };
    put("SenderId", "AIDAIT2UOQQY3AUEKVGXU".into());
    put("SentTimestamp", m.sent_at.to_string());
    put("ApproximateReceiveCount", m.receive_count.to_string());
    if let Some(first) = m.first_receive_at {
        put("ApproximateFirstReceiveTimestamp", first.to_string());
    }
    if let Some(g) = &m.group_id {
        put("MessageGroupId", g.to_string());
    }
    if d.fifo {
        put(
            "SequenceNumber",
            crate::messaging::broker::sequence_number(m.seq),
        );
        if let Some(dedup) = &m.dedup_id {
            put("MessageDeduplicationId", dedup.to_string());
        }
    }
    if let Some(trace) = &m.trace_header {
        put("AWSTraceHeader", trace.to_string());
    }
    if !system.is_empty() {
        out.insert("Attributes".into(), Value::Object(system));
    }
    let selected: Attributes = m
        .attributes
        .iter()
        .filter(|(name, _)| attribute_selected(name, attribute_names))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(md5) = md5_of_attributes(&selected) {
        out.insert("MD5OfMessageAttributes".into(), md5.into());
        out.insert("MessageAttributes".into(), attributes_json(&selected));
    }
    Value::Object(out)
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
struct DeleteMessage {
    queue_url: Option<String>,
    receipt_handle: Option<String>,
}

async fn delete_message(broker: &Broker, input: DeleteMessage) -> ApiResult<Value> {
    let cell = broker.queue_by_url(&required(input.queue_url, "QueueUrl")?)?;
    let handle = required(input.receipt_handle, "ReceiptHandle")?;
    let mut results = broker.delete(&cell, &[handle]).await?;
    results.pop().unwrap_or(Ok(()))?;
    Ok(json!({}))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct HandleEntry {
    id: Option<String>,
    receipt_handle: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    visibility_timeout: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct HandleBatch {
    queue_url: Option<String>,
    entries: Vec<HandleEntry>,
}

/// Checks a batch of receipt-handle entries; returns the cell and ids.
fn handle_batch(broker: &Broker, input: &HandleBatch) -> ApiResult<(Arc<QueueCell>, Vec<String>)> {
    let cell = broker.queue_by_url(
        input
            .queue_url
            .as_deref()
            .ok_or_else(|| ApiError::missing("QueueUrl"))?,
    )?;
    let ids: Vec<String> = input
        .entries
        .iter()
        .map(|e| e.id.clone().unwrap_or_default())
        .collect();
    check_batch_ids(ids.iter().map(String::as_str), 10)?;
    Ok((cell, ids))
}

fn batch_result(ids: &[String], results: Vec<ApiResult<()>>) -> Value {
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for (id, result) in ids.iter().zip(results) {
        match result {
            Ok(()) => successful.push(json!({ "Id": id })),
            Err(e) => failed.push(failed_entry(id, &e)),
        }
    }
    json!({ "Successful": successful, "Failed": failed })
}

async fn delete_batch(broker: &Broker, input: HandleBatch) -> ApiResult<Value> {
    let (cell, ids) = handle_batch(broker, &input)?;
    let handles: Vec<String> = input
        .entries
        .into_iter()
        .map(|e| e.receipt_handle.unwrap_or_default())
        .collect();
    let results = broker.delete(&cell, &handles).await?;
    Ok(batch_result(&ids, results))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ChangeVisibility {
    queue_url: Option<String>,
    receipt_handle: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    visibility_timeout: Option<u32>,
}

async fn change_visibility(broker: &Broker, input: ChangeVisibility) -> ApiResult<Value> {
    let cell = broker.queue_by_url(&required(input.queue_url, "QueueUrl")?)?;
    let handle = required(input.receipt_handle, "ReceiptHandle")?;
    let timeout = required(input.visibility_timeout, "VisibilityTimeout")?;
    let mut results = broker
        .change_visibility(&cell, &[(handle, timeout)])
        .await?;
    results.pop().unwrap_or(Ok(()))?;
    Ok(json!({}))
}

async fn change_visibility_batch(broker: &Broker, input: HandleBatch) -> ApiResult<Value> {
    let (cell, ids) = handle_batch(broker, &input)?;
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
    let results = broker.change_visibility(&cell, &entries).await?;
    Ok(batch_result(&ids, results))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TagQueue {
    queue_url: Option<String>,
    tags: BTreeMap<String, String>,
    tag_keys: Vec<String>,
}

async fn tag_queue(broker: &Broker, input: TagQueue) -> ApiResult<Value> {
    let cell = broker.queue_by_url(&required(input.queue_url, "QueueUrl")?)?;
    if input.tags.is_empty() {
        return Err(ApiError::missing("Tags"));
    }
    broker.tag(&cell, input.tags).await?;
    Ok(json!({}))
}

async fn untag_queue(broker: &Broker, input: TagQueue) -> ApiResult<Value> {
    let cell = broker.queue_by_url(&required(input.queue_url, "QueueUrl")?)?;
    if input.tag_keys.is_empty() {
        return Err(ApiError::missing("TagKeys"));
    }
    broker.untag(&cell, &input.tag_keys).await?;
    Ok(json!({}))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct DeadLetterSources {
    queue_url: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    max_results: Option<u32>,
    next_token: Option<String>,
}

fn dead_letter_sources(broker: &Broker, input: DeadLetterSources) -> ApiResult<Value> {
    let cell = broker.queue_by_url(&required(input.queue_url, "QueueUrl")?)?;
    let names = broker.dead_letter_sources(&cell);
    let (names, next) = page(names, input.max_results, input.next_token)?;
    let urls: Vec<String> = names.iter().map(|n| broker.queue_url(n)).collect();
    let mut out = Map::new();
    out.insert("queueUrls".into(), json!(urls));
    if let Some(next) = next {
        out.insert("NextToken".into(), next.into());
    }
    Ok(Value::Object(out))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct MoveTask {
    source_arn: Option<String>,
    destination_arn: Option<String>,
    #[serde(deserialize_with = "lenient_u32")]
    max_number_of_messages_per_second: Option<u32>,
    #[serde(deserialize_with = "lenient_u32")]
    max_results: Option<u32>,
    task_handle: Option<String>,
}

fn start_move(broker: &Broker, input: MoveTask) -> ApiResult<Value> {
    let source = required(input.source_arn, "SourceArn")?;
    let handle = redrive::start(
        broker,
        &source,
        input.destination_arn,
        input.max_number_of_messages_per_second,
    )?;
    Ok(json!({ "TaskHandle": handle }))
}

fn list_moves(broker: &Broker, input: MoveTask) -> ApiResult<Value> {
    let source = required(input.source_arn, "SourceArn")?;
    let max = input.max_results.unwrap_or(1);
    if !(1..=10).contains(&max) {
        return Err(ApiError::invalid("MaxResults must be between 1 and 10."));
    }
    if broker.queue_by_arn(&source).is_none() {
        return Err(ApiError::new(
            ErrorKind::ResourceNotFound,
            "The resource that you specified for the SourceArn parameter doesn't exist.",
        ));
    }
    let results: Vec<Value> = broker
        .moves()
        .list(&source)
        .iter()
        .take(max as usize)
        .map(|t| {
            let (status, reason) = t.status();
            let mut o = Map::new();
            if status == "RUNNING" {
                o.insert("TaskHandle".into(), t.handle.clone().into());
            }
            o.insert("Status".into(), status.into());
            o.insert("SourceArn".into(), t.source_arn.clone().into());
            if let Some(d) = &t.destination_arn {
                o.insert("DestinationArn".into(), d.clone().into());
            }
            if let Some(r) = t.rate {
                o.insert("MaxNumberOfMessagesPerSecond".into(), r.into());
            }
            o.insert(
                "ApproximateNumberOfMessagesMoved".into(),
                t.moved.load(std::sync::atomic::Ordering::SeqCst).into(),
            );
            o.insert("ApproximateNumberOfMessagesToMove".into(), t.to_move.into());
            if let Some(r) = reason {
                o.insert("FailureReason".into(), r.into());
            }
            o.insert("StartedTimestamp".into(), t.started_at.into());
            Value::Object(o)
        })
        .collect();
    Ok(json!({ "Results": results }))
}

fn cancel_move(broker: &Broker, input: MoveTask) -> ApiResult<Value> {
    let handle = required(input.task_handle, "TaskHandle")?;
    let moved = broker.moves().cancel(&handle)?;
    Ok(json!({ "ApproximateNumberOfMessagesMoved": moved }))
}
