//! The `queue` and `topic` integrations, as API Gateway's SQS and SNS
//! service integrations: the request body becomes a message (attributes,
//! group and deduplication ids from the request), and the client gets 200
//! with the MessageId once the message is durably stored.

use super::publish_body::Body;
use crate::config::model::{PublishIntegration, ValueSource};
use crate::config::path_template::Params;
use crate::gateway::errors::GatewayError;
use crate::messaging::error::{ApiError, ErrorKind};
use crate::messaging::message::{AttributeValue, Attributes};
use crate::messaging::payloads::{self, Payloads};
use crate::messaging::pubsub::Topics;
use crate::messaging::queue::NewMessage;
use crate::messaging::queues::Queues;
use crate::messaging::sns::publish::PublishInput;
use pingora::proxy::Session;

/// Where messages go.
pub struct Targets<'a> {
    pub topics: &'a dyn Topics,
    pub queues: &'a dyn Queues,
    /// Where offloaded bodies are (their pointers name its bucket).
    pub payloads: Option<&'a Payloads>,
}

/// Sends or publishes; the JSON to answer with, or the error. An
/// offloaded body becomes the extended client's pointer with its
/// `ExtendedPayloadSize`; if the message is refused, the object is left for
/// the store's lifecycle rules (it may be half of a retried request).
pub async fn deliver(
    to: &Targets<'_>,
    session: &Session,
    target: &PublishIntegration,
    params: &Params,
    request_id: &str,
    body: Body,
) -> Result<serde_json::Value, GatewayError> {
    let (topics, queues) = (to.topics, to.queues);
    let (text, offloaded) = match (body, to.payloads) {
        (Body::Offloaded { key, size }, Some(payloads)) => (payloads.pointer(&key), Some(size)),
        (Body::Offloaded { .. }, None) => return Err(GatewayError::Internal),
        (Body::Inline(bytes), _) => (
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                GatewayError::BadRequest(
                    "the request body must be UTF-8 text to become a message".into(),
                )
            })?,
            None,
        ),
    };
    let value = |source: &ValueSource| read(source, session, params, request_id);
    let mut attributes = Attributes::new();
    for (name, source) in &target.attributes {
        if let Some(v) = value(source).filter(|v| !v.is_empty()) {
            attributes.insert(
                name.clone(),
                AttributeValue {
                    data_type: "String".into(),
                    string_value: Some(v),
                    binary_value: None,
                },
            );
        }
    }
    if let Some(size) = offloaded {
        attributes.insert(
            payloads::SIZE_ATTRIBUTE.into(),
            payloads::size_attribute(size),
        );
    }
    let group_id = target.group_id.as_ref().and_then(value);
    let dedup_id = target.dedup_id.as_ref().and_then(value);
    if target.topic {
        let topic_arn = topics.naming().topic_arn(&target.target);
        let published = topics
            .publish(PublishInput {
                topic_arn,
                message: text,
                subject: target.subject.as_ref().and_then(value),
                json_structure: false,
                attributes,
                group_id,
                dedup_id,
            })
            .await
            .map_err(gateway_error)?;
        return Ok(answer(published.message_id, published.sequence_number));
    }
    // The message is checked by the queue's send, as every message is.
    let new = NewMessage {
        body: text,
        attributes,
        trace_header: None,
        delay_seconds: target.delay_seconds,
        group_id,
        dedup_id,
    };
    let mut results = queues
        .send(&target.target, vec![new])
        .await
        .map_err(gateway_error)?;
    let sent = results
        .pop()
        .unwrap_or_else(|| Err(ApiError::internal("no result")))
        .map_err(gateway_error)?;
    Ok(answer(sent.message_id, sent.sequence_number))
}

fn answer(message_id: String, sequence_number: Option<String>) -> serde_json::Value {
    let mut out = serde_json::json!({ "MessageId": message_id });
    if let Some(seq) = sequence_number {
        out["SequenceNumber"] = seq.into();
    }
    out
}

fn read(
    source: &ValueSource,
    session: &Session,
    params: &Params,
    request_id: &str,
) -> Option<String> {
    let req = session.req_header();
    match source {
        ValueSource::Header(h) => req
            .headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        ValueSource::Param(p) => params.iter().find(|(k, _)| k == p).map(|(_, v)| v.clone()),
        ValueSource::Query(q) => req.uri.query().and_then(|query| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == q)
                .map(|(_, v)| v.into_owned())
        }),
        ValueSource::Method => Some(req.method.to_string()),
        ValueSource::Path => Some(req.uri.path().to_string()),
        ValueSource::RequestId => Some(request_id.to_string()),
        ValueSource::Literal(text) => Some(text.clone()),
    }
}

/// The messaging engine's errors, as the gateway answers them: the client's
/// mistakes are 400s; a queue or topic that is gone is the backend's (502).
fn gateway_error(e: ApiError) -> GatewayError {
    match e.kind {
        ErrorKind::QueueDoesNotExist | ErrorKind::NotFound => {
            tracing::warn!(error = %e, "queue integration target missing");
            GatewayError::UpstreamUnavailable
        }
        ErrorKind::Internal => {
            tracing::error!(error = %e, "queue integration failed");
            GatewayError::Internal
        }
        ErrorKind::ServiceUnavailable => {
            tracing::warn!(error = %e, "queue integration: the message store is unavailable");
            GatewayError::Unavailable("the message store is unavailable; retry shortly".into())
        }
        _ => GatewayError::BadRequest(e.message),
    }
}
