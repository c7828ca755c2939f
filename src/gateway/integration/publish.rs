//! The `queue` and `topic` integrations, as API Gateway's SQS and SNS
//! service integrations: the request body becomes a message (attributes,
//! group and deduplication ids from the request), and the client gets 200
//! with the MessageId once the message is durably stored.

use crate::config::model::{PublishIntegration, ValueSource};
use crate::config::path_template::Params;
use crate::gateway::errors::GatewayError;
use crate::messaging::error::{ApiError, ErrorKind};
use crate::messaging::message::{AttributeValue, Attributes};
use crate::messaging::pubsub::Topics;
use crate::messaging::queue::NewMessage;
use crate::messaging::queues::Queues;
use crate::messaging::sns::publish::PublishInput;
use bytes::Bytes;
use pingora::proxy::Session;

/// Sends or publishes; the JSON to answer with, or the error.
pub async fn deliver(
    topics: &dyn Topics,
    queues: &dyn Queues,
    session: &Session,
    target: &PublishIntegration,
    params: &Params,
    request_id: &str,
    body: Bytes,
) -> Result<serde_json::Value, GatewayError> {
    let text = String::from_utf8(body.to_vec()).map_err(|_| {
        GatewayError::BadRequest("the request body must be UTF-8 text to become a message".into())
    })?;
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
