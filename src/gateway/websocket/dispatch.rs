//! Runs a WebSocket route's integration for one event: `http` POSTs to the
//! route's upstream pool with the connection's context in headers (as API
//! Gateway's HTTP integration); `queue` and `topic` send the message with
//! `connectionId`, `routeKey` and `eventType` attributes; `flow` starts a
//! run with the message as its payload. `mock` is answered by the caller,
//! which has the upgrade request its template reads.
//!
//! A message event's body is the client's message. `$connect` and
//! `$disconnect` have none: `http` sends an empty body (the context is in
//! the headers), the others send the request context as JSON, so a
//! consumer knows who came and went.

use super::context::{Event, EventType, Peer};
use crate::config::model::{WebSocketHttp, WebSocketTarget};
use crate::gateway::Runtime;
use crate::messaging::message::{AttributeValue, Attributes};
use crate::messaging::pubsub::Topics;
use crate::messaging::queue::NewMessage;
use crate::messaging::queues::Queues;
use crate::messaging::sns::publish::PublishInput;
use bytes::Bytes;
use std::sync::Arc;

/// What integrations reach: owned, so a `$disconnect` can run after the
/// connection's task has ended.
#[derive(Clone)]
pub struct Targets {
    /// The config generation the connection was opened under (its pools).
    pub runtime: Arc<Runtime>,
    pub topics: Option<Arc<dyn Topics>>,
    pub queues: Option<Arc<dyn Queues>>,
    pub flows: crate::flows::engine::Engine,
}

/// A message as the client sent it.
#[derive(Debug, Clone)]
pub enum Payload {
    Text(String),
    Binary(Bytes),
    /// `$connect` and `$disconnect`.
    None,
}

impl Payload {
    pub fn len(&self) -> usize {
        match self {
            Payload::Text(t) => t.len(),
            Payload::Binary(b) => b.len(),
            Payload::None => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why an integration failed: the metrics' `kind`, what the log says, and
/// for `$connect` the status the upgrade is refused with.
#[derive(Debug)]
pub struct Failure {
    pub kind: &'static str,
    pub status: u16,
    pub detail: String,
}

impl Failure {
    fn new(kind: &'static str, status: u16, detail: impl Into<String>) -> Failure {
        Failure {
            kind,
            status,
            detail: detail.into(),
        }
    }
}

/// Runs `target` for `event`; what to send back to the client, if anything.
pub async fn run(
    targets: &Targets,
    target: &WebSocketTarget,
    peer: &Peer,
    event: &Event<'_>,
    payload: &Payload,
) -> Result<Option<Bytes>, Failure> {
    match target {
        // Answered by the caller (it fills the template from the upgrade).
        WebSocketTarget::Mock(_) => Ok(None),
        WebSocketTarget::Http(http) => post(targets, http, peer, event, payload).await,
        WebSocketTarget::Queue(name) => {
            let queues = targets
                .queues
                .as_deref()
                .ok_or_else(|| Failure::new("unavailable", 503, "messaging is off"))?;
            let (body, attributes) = message(peer, event, payload);
            let fifo = name.ends_with(".fifo");
            let sent = queues
                .send(
                    name,
                    vec![NewMessage {
                        body,
                        attributes,
                        trace_header: None,
                        delay_seconds: None,
                        // A connection's messages stay in order.
                        group_id: fifo.then(|| peer.connection_id.clone()),
                        dedup_id: fifo.then(|| event.request_id.to_string()),
                    }],
                )
                .await
                .map_err(|e| Failure::new("queue", 502, e.message))?;
            match sent.into_iter().next() {
                Some(Ok(_)) => Ok(None),
                Some(Err(e)) => Err(Failure::new("queue", 502, e.message)),
                None => Err(Failure::new("queue", 502, "no result")),
            }
        }
        WebSocketTarget::Topic(name) => {
            let topics = targets
                .topics
                .as_deref()
                .ok_or_else(|| Failure::new("unavailable", 503, "messaging is off"))?;
            let (message, attributes) = message(peer, event, payload);
            let fifo = name.ends_with(".fifo");
            topics
                .publish(PublishInput {
                    topic_arn: topics.naming().topic_arn(name),
                    message,
                    subject: None,
                    json_structure: false,
                    attributes,
                    group_id: fifo.then(|| peer.connection_id.clone()),
                    dedup_id: fifo.then(|| event.request_id.to_string()),
                })
                .await
                .map_err(|e| Failure::new("topic", 502, e.message))?;
            Ok(None)
        }
        WebSocketTarget::Flow(flow) => {
            let body = match payload {
                Payload::Text(t) => Bytes::from(t.clone()),
                Payload::Binary(b) => b.clone(),
                Payload::None => Bytes::from(peer.request_context(event).to_string()),
            };
            let engine = &targets.flows;
            let refused = |e: crate::flows::error::FlowError| {
                let (status, _) = e.status();
                Failure::new("flow", status, e.to_string())
            };
            let payload = engine.payload(flow, body).map_err(refused)?;
            engine.start(flow, "websocket", payload).map_err(refused)?;
            Ok(None)
        }
    }
}

/// A queue message or topic publication for the event: its text and the
/// attributes naming the connection. Binary messages travel as base64 with
/// a `contentEncoding` attribute saying so.
fn message(peer: &Peer, event: &Event<'_>, payload: &Payload) -> (String, Attributes) {
    let text = |v: &str| AttributeValue {
        data_type: "String".into(),
        string_value: Some(v.to_string()),
        binary_value: None,
    };
    let mut attributes = Attributes::new();
    attributes.insert("connectionId".into(), text(&peer.connection_id));
    attributes.insert("routeKey".into(), text(event.route_key));
    attributes.insert("eventType".into(), text(event.kind.as_str()));
    let body = match payload {
        Payload::Text(t) if !t.is_empty() => t.clone(),
        Payload::Binary(b) if !b.is_empty() => {
            use base64::Engine;
            attributes.insert("contentEncoding".into(), text("base64"));
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        // SQS refuses empty bodies; lifecycle events carry their context.
        _ => peer.request_context(event).to_string(),
    };
    (body, attributes)
}

/// The headers every `http` integration request carries.
pub const CONNECTION_ID: &str = "x-gatehouse-connection-id";
pub const ROUTE_KEY: &str = "x-gatehouse-route-key";
pub const EVENT_TYPE: &str = "x-gatehouse-event-type";
pub const REQUEST_CONTEXT: &str = "x-gatehouse-request-context";

async fn post(
    targets: &Targets,
    http: &WebSocketHttp,
    peer: &Peer,
    event: &Event<'_>,
    payload: &Payload,
) -> Result<Option<Bytes>, Failure> {
    let pool = targets
        .runtime
        .pools
        .get(&http.upstream)
        .ok_or_else(|| Failure::new("unavailable", 502, "the upstream is gone"))?;
    let index = pool
        .pick(Some(peer.connection_id.as_bytes()), &[])
        .ok_or_else(|| Failure::new("unavailable", 503, "no healthy target"))?;
    let client = pool
        .client()
        .map_err(|e| Failure::new("unavailable", 502, e))?;
    let (body, content_type) = match payload {
        Payload::Text(t) => (Bytes::from(t.clone()), "text/plain; charset=utf-8"),
        Payload::Binary(b) => (b.clone(), "application/octet-stream"),
        Payload::None => (Bytes::new(), "text/plain; charset=utf-8"),
    };
    let mut request = client
        .post(pool.target_url(index, &http.path))
        .timeout(http.timeout)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(CONNECTION_ID, &peer.connection_id)
        .header(ROUTE_KEY, event.route_key)
        .header(EVENT_TYPE, event.kind.as_str())
        .header("x-request-id", event.request_id)
        .header(REQUEST_CONTEXT, peer.request_context(event).to_string());
    for (name, value) in &peer.forward {
        request = request.header(name, value);
    }
    let response = match request.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            pool.report_failure(index);
            let kind = if e.is_timeout() { "timeout" } else { "connect" };
            let status = if e.is_timeout() { 504 } else { 502 };
            return Err(Failure::new(kind, status, e.to_string()));
        }
    };
    let status = response.status().as_u16();
    if status >= 500 {
        pool.report_failure(index);
    } else {
        pool.report_success(index);
    }
    if !(200..300).contains(&status) {
        // A `$connect` backend refuses a client with its 4xx; anything
        // else is the backend failing.
        let refused = if (400..500).contains(&status) && event.kind == EventType::Connect {
            status
        } else {
            502
        };
        return Err(Failure::new(
            "status",
            refused,
            format!("the backend answered {status}"),
        ));
    }
    if !http.respond {
        return Ok(None);
    }
    let reply = read_limited(response, MAX_REPLY)
        .await
        .map_err(|e| Failure::new("response", 502, e))?;
    Ok((!reply.is_empty()).then_some(reply))
}

/// A backend's reply travels to the client as one message: API Gateway's
/// limit for a message.
const MAX_REPLY: usize = 128 * 1024;

async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Bytes, String> {
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if out.len() + chunk.len() > limit {
            return Err(format!("the backend's reply is larger than {limit} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}
