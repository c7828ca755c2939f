//! SNS Publish: checks the message, deduplicates on FIFO topics, matches
//! each confirmed subscription's filter policy and fans out: straight into
//! Gatehouse queues (committed before Publish answers) and as stored
//! deliveries for http(s) endpoints.

use super::topics::{Subscription, Topic};
use crate::messaging::broker::Broker;
use crate::messaging::clock::{iso8601, now_ms};
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::journal::DeliveryRecord;
use crate::messaging::message::{check_attributes, check_body, Attributes};
use crate::messaging::queue::{NewMessage, DEDUP_WINDOW_MS};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

/// SNS messages (body and attributes) are at most 256 KiB.
pub const MAX_PUBLISH_BYTES: usize = 262_144;

#[derive(Debug, Clone, Default)]
pub struct PublishInput {
    pub topic_arn: String,
    pub message: String,
    pub subject: Option<String>,
    /// MessageStructure `json`: per-protocol messages with a `default`.
    pub json_structure: bool,
    pub attributes: Attributes,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Published {
    pub message_id: String,
    pub sequence_number: Option<String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidParameter, message)
}

impl Broker {
    pub async fn publish(&self, input: PublishInput) -> ApiResult<Published> {
        let topic = self.topic(&input.topic_arn)?;
        let Checked {
            per_protocol,
            dedup_id,
        } = check_publish(&input, &topic)?;
        let message_id = uuid::Uuid::from_u128(fastrand::u128(..)).to_string();
        let mut seq = None;
        if let Some(dedup) = &dedup_id {
            let now = now_ms();
            let mut seen = self.sns().dedup.lock();
            seen.retain(|_, (expires, _, _)| *expires > now);
            let key = (topic.record.arn.clone(), dedup.clone());
            if let Some((_, id, s)) = seen.get(&key) {
                return Ok(Published {
                    message_id: id.clone(),
                    sequence_number: Some(crate::messaging::broker::sequence_number(*s)),
                });
            }
            let s = self.next_seq();
            seen.insert(key, (now + DEDUP_WINDOW_MS, message_id.clone(), s));
            seq = Some(s);
        }
        let subscriptions = matching(self.list_subscriptions(Some(&input.topic_arn)), &input);
        let fanout = fan_out(
            self.naming(),
            &input,
            super::signing::signature_version(&topic.record.attributes),
            &subscriptions,
            Stamp {
                message_id: &message_id,
                seq,
                dedup_id: dedup_id.as_deref(),
                now: now_ms(),
            },
            per_protocol.as_ref(),
        );
        let mut sends = Vec::new();
        for (arn, new) in fanout.sends {
            match self.queue_by_arn(&arn) {
                Some(queue) => {
                    if may_send(self, &queue.name, &input.topic_arn).await {
                        sends.push((queue, new));
                    }
                }
                None => tracing::warn!(queue = %arn, "sqs subscription's queue is gone"),
            }
        }
        let results = futures_util::future::join_all(
            sends
                .iter()
                .map(|(queue, new)| self.send(queue, vec![new.clone()])),
        )
        .await;
        crate::messaging::metrics::PUBLISHED
            .with_label_values(&[&input.topic_arn])
            .inc();
        for (result, (queue, _)) in results.into_iter().zip(&sends) {
            let outcome = first_outcome(result);
            crate::messaging::metrics::fan_out(&input.topic_arn, outcome.is_ok());
            if let Err(e) = outcome {
                tracing::warn!(queue = %queue.name, error = %e, "sns fan-out to a queue failed");
            }
        }
        let ops: Vec<_> = fanout
            .deliveries
            .into_iter()
            .map(|mut d| {
                d.id = self.next_seq();
                self.deliveries().add(d)
            })
            .collect();
        if !ops.is_empty() {
            self.journal()
                .commit(ops)
                .wait()
                .await
                .map_err(ApiError::internal)?;
            self.wake_deliveries();
        }
        Ok(Published {
            message_id,
            sequence_number: seq.map(crate::messaging::broker::sequence_number),
        })
    }
}

/// A one-message send's outcome.
pub fn first_outcome(
    result: ApiResult<Vec<ApiResult<crate::messaging::broker::SendOk>>>,
) -> ApiResult<()> {
    result.and_then(|mut r| {
        r.pop()
            .unwrap_or_else(|| Err(ApiError::internal("no result")))
            .map(|_| ())
    })
}

/// A publication that passed its checks.
pub struct Checked {
    /// MessageStructure `json`: the message per protocol.
    pub per_protocol: Option<Map<String, Value>>,
    /// FIFO topics: the deduplication id (given, or the body's hash).
    pub dedup_id: Option<String>,
}

/// Checks a Publish against its topic, wherever topics live: the message,
/// subject and attributes, the JSON structure, and on FIFO topics the group
/// and the deduplication id (returned). Also the per-protocol messages.
pub fn check_publish(input: &PublishInput, topic: &Topic) -> ApiResult<Checked> {
    check_body(&input.message).map_err(|e| match e.kind {
        ErrorKind::MissingParameter => invalid("Invalid parameter: Empty message"),
        _ => invalid(format!("Invalid parameter: Message: {}", e.message)),
    })?;
    let size = input.message.len() + crate::messaging::message::attributes_size(&input.attributes);
    if size > MAX_PUBLISH_BYTES {
        return Err(invalid(format!(
            "Invalid parameter: Message too long: {size} bytes; the limit is {MAX_PUBLISH_BYTES}"
        )));
    }
    if let Some(s) = &input.subject {
        if s.is_empty() || s.len() > 100 || s.chars().any(char::is_control) {
            return Err(invalid(
                "Invalid parameter: Subject: 1-100 printable characters",
            ));
        }
    }
    check_attributes(&input.attributes).map_err(|e| {
        invalid(format!(
            "Invalid parameter: MessageAttributes: {}",
            e.message
        ))
    })?;
    for (name, v) in input
        .attributes
        .iter()
        .filter(|(_, v)| v.data_type == "String.Array")
    {
        let parsed: Option<Vec<Value>> = v
            .string_value
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        if parsed.is_none() {
            return Err(invalid(format!(
                "Invalid parameter: MessageAttributes: {name} of type String.Array must hold a JSON array"
            )));
        }
    }
    let per_protocol = if input.json_structure {
        Some(parse_structure(&input.message)?)
    } else {
        None
    };
    if !topic.fifo {
        // A group id on a standard topic is fine: it goes on to standard
        // queues (SQS fair queues).
        if input.dedup_id.is_some() {
            return Err(invalid(
                "Invalid parameter: The MessageDeduplicationId parameter is only valid for FIFO topics",
            ));
        }
        return Ok(Checked {
            per_protocol,
            dedup_id: None,
        });
    }
    if input.group_id.is_none() {
        return Err(invalid(
            "Invalid parameter: The MessageGroupId parameter is required for FIFO topics",
        ));
    }
    let content_based = topic
        .record
        .attributes
        .get("ContentBasedDeduplication")
        .is_some_and(|v| v == "true");
    let dedup = match &input.dedup_id {
        Some(d) => d.clone(),
        None if content_based => crate::hex::sha256_hex(input.message.as_bytes()),
        None => {
            return Err(invalid(
                "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
            ))
        }
    };
    Ok(Checked {
        per_protocol,
        dedup_id: Some(dedup),
    })
}

/// The confirmed subscriptions whose filter policy takes the message.
pub fn matching(subscriptions: Vec<Subscription>, input: &PublishInput) -> Vec<Subscription> {
    let attributes_doc = attributes_document(&input.attributes);
    let body_doc: Option<Value> = serde_json::from_str(&input.message).ok();
    subscriptions
        .into_iter()
        .filter(|s| s.confirmed())
        .filter(|s| match &s.filter {
            None => true,
            Some(f) if s.body_scope => body_doc.as_ref().is_some_and(|d| f.matches(d)),
            Some(f) => f.matches(&attributes_doc),
        })
        .collect()
}

/// What identifies one publication.
pub struct Stamp<'a> {
    pub message_id: &'a str,
    /// FIFO topics: the sequence number.
    pub seq: Option<u64>,
    pub dedup_id: Option<&'a str>,
    pub now: i64,
}

/// Where a publication goes: messages for queues (by ARN) and stored
/// deliveries for http(s) and flow endpoints (ids left to the store).
pub struct Fanout {
    pub sends: Vec<(String, NewMessage)>,
    pub deliveries: Vec<DeliveryRecord>,
}

/// Whether the queue's access policy lets the topic send to it (see
/// `access::topic_may_send`); a refusal counts as a failed delivery.
pub async fn may_send(
    queues: &dyn crate::messaging::queues::Queues,
    queue: &str,
    topic_arn: &str,
) -> bool {
    let allowed = crate::messaging::access::topic_may_send(queues, queue, topic_arn).await;
    if !allowed {
        crate::messaging::metrics::fan_out(topic_arn, false);
        tracing::warn!(queue = %queue, topic = %topic_arn, "the queue's policy does not let the topic send to it");
    }
    allowed
}

pub fn fan_out(
    naming: &crate::messaging::names::Naming,
    input: &PublishInput,
    signature_version: u8,
    subscriptions: &[Subscription],
    stamp: Stamp<'_>,
    per_protocol: Option<&Map<String, Value>>,
) -> Fanout {
    let mut out = Fanout {
        sends: Vec::new(),
        deliveries: Vec::new(),
    };
    for sub in subscriptions {
        let protocol = sub.record.protocol.as_str();
        let text = per_protocol
            .and_then(|m| m.get(protocol).or_else(|| m.get("default")))
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| input.message.clone());
        // A flow reads the message itself: its records.
        let body = if sub.raw || protocol == "flow" {
            text
        } else {
            envelope(
                naming,
                input,
                &stamp,
                &text,
                &sub.record.arn,
                signature_version,
            )
        };
        match protocol {
            "sqs" => out.sends.push((
                sub.record.endpoint.clone(),
                NewMessage {
                    body,
                    attributes: if sub.raw {
                        input.attributes.clone()
                    } else {
                        Attributes::new()
                    },
                    group_id: input.group_id.clone(),
                    // A standard queue (a FIFO topic may deliver to one)
                    // takes no deduplication id; only FIFO queue names end
                    // in `.fifo`.
                    dedup_id: stamp
                        .dedup_id
                        .filter(|_| sub.record.endpoint.ends_with(".fifo"))
                        .map(str::to_string),
                    ..Default::default()
                },
            )),
            _ => out.deliveries.push(DeliveryRecord {
                id: 0,
                subscription_arn: sub.record.arn.clone(),
                body,
                due_at: stamp.now,
                attempts: 0,
                message_id: stamp.message_id.to_string(),
                kind: "Notification".into(),
            }),
        }
    }
    out
}

fn parse_structure(message: &str) -> ApiResult<Map<String, Value>> {
    let json: Value = serde_json::from_str(message).map_err(|_| {
        invalid("Invalid parameter: Message Structure - JSON message body failed to parse")
    })?;
    let Value::Object(map) = json else {
        return Err(invalid(
            "Invalid parameter: Message Structure - JSON message body failed to parse",
        ));
    };
    if !map.get("default").is_some_and(Value::is_string) {
        return Err(invalid(
            "Invalid parameter: Message Structure - No default entry in JSON message body",
        ));
    }
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, Value::String(s.to_string()))))
        .collect())
}

/// Message attributes as a filter policy sees them: strings, numbers and
/// (String.Array) arrays; binary values are not matched.
fn attributes_document(attributes: &Attributes) -> Value {
    let mut doc = Map::new();
    for (name, v) in attributes {
        let Some(s) = &v.string_value else { continue };
        let value = if v.data_type.starts_with("Number") {
            s.parse::<f64>()
                .ok()
                .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
        } else if v.data_type == "String.Array" {
            serde_json::from_str(s).ok()
        } else {
            Some(Value::String(s.clone()))
        };
        if let Some(value) = value {
            doc.insert(name.clone(), value);
        }
    }
    Value::Object(doc)
}

/// The JSON envelope SNS wraps notifications in.
fn envelope(
    naming: &crate::messaging::names::Naming,
    input: &PublishInput,
    stamp: &Stamp<'_>,
    text: &str,
    subscription_arn: &str,
    version: u8,
) -> String {
    let (message_id, seq, now) = (stamp.message_id, stamp.seq, stamp.now);
    let mut o = Map::new();
    o.insert("Type".into(), "Notification".into());
    o.insert("MessageId".into(), message_id.into());
    if let Some(s) = seq {
        o.insert(
            "SequenceNumber".into(),
            crate::messaging::broker::sequence_number(s).into(),
        );
    }
    o.insert("TopicArn".into(), input.topic_arn.clone().into());
    if let Some(subject) = &input.subject {
        o.insert("Subject".into(), subject.clone().into());
    }
    o.insert("Message".into(), text.into());
    o.insert("Timestamp".into(), iso8601(now).into());
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    o.insert(
        "UnsubscribeURL".into(),
        format!(
            "{}/?Action=Unsubscribe&SubscriptionArn={}",
            naming.base_url.trim_end_matches('/'),
            enc(subscription_arn)
        )
        .into(),
    );
    if !input.attributes.is_empty() {
        let attrs: Map<String, Value> = input
            .attributes
            .iter()
            .map(|(k, v)| {
                let value = match &v.binary_value {
                    Some(b) => STANDARD.encode(b),
                    None => v.string_value.clone().unwrap_or_default(),
                };
                (
                    k.clone(),
                    serde_json::json!({"Type": v.data_type, "Value": value}),
                )
            })
            .collect();
        o.insert("MessageAttributes".into(), Value::Object(attrs));
    }
    super::signing::sign_with(naming, &mut o, version);
    Value::Object(o).to_string()
}
