//! The messaging listener: one HTTP endpoint speaking three protocols.
//!
//! ```text
//! request -> read body (bounded) -> which protocol?
//!   X-Amz-Target: AmazonSQS.X        SQS JSON 1.0 -> sqs::apply -> JSON
//!   Action=X (form or query), SQS X  SQS Query    -> sqs::apply -> XML
//!   Action=X, SNS X                  SNS Query    -> sns::apply -> XML
//! -> SigV4 check (unless open) -> apply -> encode; errors in that protocol's shape
//! ```

/// Declares one service's actions, once: `$backend` is the seam they are
/// applied to, then one line per action (name, input, output, handler).
/// It makes the `Command` enum (names for protocol detection, the parser,
/// the dispatch) and the `Output` enum (each action's typed answer, encoded
/// by the calling module's `output::encode`).
macro_rules! commands {
    ($backend:ty; $($action:ident($input:ty) -> $output:ty = $handler:ident;)*) => {
        /// An action with its parsed input.
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

            pub fn parse(action: &str, input: serde_json::Value) -> $crate::messaging::error::ApiResult<Command> {
                match action {
                    $(stringify!($action) => Ok(Command::$action($crate::messaging::api::input::parse(input)?)),)*
                    other => Err($crate::messaging::error::ApiError::new(
                        $crate::messaging::error::ErrorKind::InvalidAction,
                        format!("The action {other} is not valid for this endpoint."),
                    )),
                }
            }

            pub async fn apply(self, backend: &$backend) -> $crate::messaging::error::ApiResult<Output> {
                Ok(match self {
                    $(Command::$action(input) => Output::$action($handler(backend, input).await?),)*
                })
            }
        }

        impl Output {
            /// The JSON object the wire encoders start from.
            pub fn encode(&self) -> serde_json::Map<String, serde_json::Value> {
                match self {
                    $(Output::$action(out) => output::encode(out),)*
                }
            }
        }
    };
}

pub mod input;
pub mod query;
pub mod sns;
pub mod sqs;
pub mod xml;

use super::access::{self, Service};
use super::error::{ApiError, ErrorKind};
use super::sigv4;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use xml::Style;

/// The `Version` SNS's Query clients send.
const SNS_API_VERSION: &str = "2010-03-31";

/// Bodies past this are refused before parsing: a full batch of the largest
/// messages with JSON escaping fits.
const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

pub struct Api {
    /// SQS actions go through the queue seam, whichever backend serves it.
    pub queues: std::sync::Arc<dyn super::queues::Queues>,
    /// SNS actions go through the topic seam.
    pub topics: std::sync::Arc<dyn super::pubsub::Topics>,
    /// The listener's limits: the body deadline.
    pub limits: crate::listener::pingora_app::LimitsSource,
    /// Where refused signatures are counted (a log line each would let
    /// anyone write to the log).
    pub metrics: crate::listener::metrics::ListenerMetrics,
    /// Access key -> secret; empty means open (loopback only, checked by config).
    pub secrets: HashMap<String, String>,
    /// Access keys' principals and the resource policies they meet; None
    /// in open mode.
    pub access: Option<super::access::Access>,
    /// The key ring messages are sealed with, when configured: a queue's
    /// `KmsMasterKeyId` must name one of its keys.
    pub key_ring: Option<crate::sealing::KeyRing>,
}

enum Protocol {
    SqsJson,
    SqsQuery,
    SnsQuery,
}

pub fn router(api: Arc<Api>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(api)
}

async fn handle(State(api): State<Arc<Api>>, req: Request<Body>) -> Response {
    let request_id = uuid::Uuid::from_u128(fastrand::u128(..)).to_string();
    let (parts, body) = req.into_parts();
    // The certificate SNS signatures verify against: public, unsigned.
    if parts.method == http::Method::GET && parts.uri.path() == super::sns::signing::CERT_PATH {
        return signing_certificate(&api);
    }
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let fallback = if target.is_some() {
        Protocol::SqsJson
    } else {
        Protocol::SqsQuery
    };
    let body_timeout = (api.limits)().body_timeout;
    let body = match tokio::time::timeout(body_timeout, read_body(body)).await {
        Ok(Some(b)) => b,
        Err(_) => {
            let e = ApiError::new(
                ErrorKind::RequestTimeout,
                format!("The request body did not arrive within {body_timeout:?}."),
            );
            return error_response(&fallback, &e, &request_id);
        }
        Ok(None) => {
            let e = ApiError::new(
                ErrorKind::RequestTooLarge,
                format!("The request body is larger than {MAX_REQUEST_BYTES} bytes."),
            );
            return error_response(&fallback, &e, &request_id);
        }
    };
    let (protocol, action, input) = match read_request(&parts, &body, target) {
        Ok(found) => found,
        Err(e) => return error_response(&fallback, &e, &request_id),
    };
    // SNS subscription confirmation links are followed by the subscriber
    // unsigned: the token in the link is the credential. So is the
    // UnsubscribeURL of every notification (a GET naming the subscription),
    // as AWS's are.
    let exempt = matches!(protocol, Protocol::SnsQuery)
        && (action == "ConfirmSubscription"
            || (action == "Unsubscribe" && parts.method == http::Method::GET));
    let mut signer = None;
    if !api.secrets.is_empty() && !exempt {
        match sigv4::verify_received(&parts, &body, &api.secrets) {
            Ok(s) => signer = Some(s),
            Err(e) => {
                tracing::debug!(action = %action, error = %e, "messaging request refused");
                let refused = crate::listener::metrics::ClientError::SignatureRefused;
                api.metrics.client_error("messaging", refused);
                return error_response(&protocol, &e, &request_id);
            }
        }
    }
    let service = match protocol {
        Protocol::SqsJson | Protocol::SqsQuery => Service::Sqs,
        Protocol::SnsQuery => Service::Sns,
    };
    let naming = api.queues.naming();
    let asked = access::asked(service, &action, &input, naming);
    if let (Some(access), Some(signer)) = (&api.access, &signer) {
        let peer = parts.extensions.get::<crate::listener::hyper_app::Peer>();
        let transport = access::Transport {
            secure: peer.is_some_and(|p| p.tls),
            peer: peer.map(|p| p.addr.ip()),
        };
        let checked = access
            .check(
                &signer.access_key,
                service,
                &asked,
                &transport,
                api.queues.as_ref(),
                api.topics.as_ref(),
            )
            .await;
        if let Err(e) = checked {
            tracing::debug!(action = %action, error = %e, "messaging request refused by policy");
            return error_response(&protocol, &e, &request_id);
        }
    }
    let result = match protocol {
        Protocol::SqsJson | Protocol::SqsQuery => match check_kms_key(&api, &action, &input) {
            Ok(()) => sqs::apply(api.queues.as_ref(), &action, input).await,
            Err(e) => Err(e),
        },
        Protocol::SnsQuery => match check_kms_key(&api, &action, &input) {
            Ok(()) => sns::apply(api.topics.as_ref(), &action, input).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(out) => {
            if let Some(access) = &api.access {
                if changes_policy(&action) {
                    access.forget(&asked.resource);
                }
            }
            ok_response(&protocol, &action, &out, &request_id)
        }
        Err(e) => {
            if e.kind == ErrorKind::Internal {
                tracing::error!(action = %action, error = %e, "messaging request failed");
            } else {
                tracing::debug!(action = %action, error = %e, "messaging request refused");
            }
            error_response(&protocol, &e, &request_id)
        }
    }
}

/// Actions after which a resource's cached access policy is stale.
fn changes_policy(action: &str) -> bool {
    matches!(
        action,
        "CreateQueue"
            | "SetQueueAttributes"
            | "DeleteQueue"
            | "CreateTopic"
            | "SetTopicAttributes"
            | "DeleteTopic"
            | "AddPermission"
            | "RemovePermission"
    )
}

/// With a key ring, a queue's or topic's `KmsMasterKeyId` must name one of
/// its keys (or `alias/aws/sqs`/`alias/aws/sns`, the current key): refused
/// when the queue or topic is created or changed, rather than sealing with
/// another key than the one named.
fn check_kms_key(api: &Api, action: &str, input: &Value) -> Result<(), ApiError> {
    let Some(ring) = &api.key_ring else {
        return Ok(());
    };
    let named = match action {
        "CreateQueue" | "SetQueueAttributes" | "CreateTopic" => input
            .get("Attributes")
            .and_then(|a| a.get("KmsMasterKeyId"))
            .and_then(Value::as_str),
        "SetTopicAttributes"
            if input.get("AttributeName").and_then(Value::as_str) == Some("KmsMasterKeyId") =>
        {
            input.get("AttributeValue").and_then(Value::as_str)
        }
        _ => None,
    }
    .filter(|id| !id.is_empty());
    match named {
        Some(id) if !ring.knows(id) => Err(if action.contains("Topic") {
            ApiError::new(
                ErrorKind::InvalidParameter,
                format!("Invalid parameter: KmsMasterKeyId: the key ring holds no key {id}"),
            )
        } else {
            ApiError::new(
                ErrorKind::InvalidAttributeValue,
                format!(
                    "Invalid value for the parameter KmsMasterKeyId: the key ring holds no key {id}."
                ),
            )
        }),
        _ => Ok(()),
    }
}

/// Reads the body up to `MAX_REQUEST_BYTES`. A longer one is read on (and
/// dropped) up to four times that, so the client sees the 413 rather than a
/// reset connection; `None` when too long.
async fn read_body(mut body: Body) -> Option<bytes::Bytes> {
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return None };
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > 4 * MAX_REQUEST_BYTES {
                return None;
            }
            if seen <= MAX_REQUEST_BYTES {
                buf.extend_from_slice(&data);
            }
        }
    }
    (seen <= MAX_REQUEST_BYTES).then(|| buf.freeze())
}

/// Finds the protocol and action, and the input in the JSON shape.
fn read_request(
    parts: &http::request::Parts,
    body: &[u8],
    target: Option<String>,
) -> Result<(Protocol, String, Value), ApiError> {
    if let Some(target) = target {
        let Some(action) = target.strip_prefix("AmazonSQS.") else {
            return Err(ApiError::new(
                ErrorKind::InvalidAction,
                format!("The target {target} is not served here."),
            ));
        };
        let input: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::new(
                    ErrorKind::MalformedInput,
                    format!("The request body is not valid JSON: {e}"),
                )
            })?
        };
        if !input.is_object() {
            return Err(ApiError::new(
                ErrorKind::MalformedInput,
                "The request body must be a JSON object.",
            ));
        }
        return Ok((Protocol::SqsJson, action.to_string(), input));
    }
    let mut pairs: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let is_form = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        pairs.extend(form_urlencoded::parse(body).into_owned());
    }
    let mut map = query::nest(pairs).map_err(ApiError::invalid)?;
    let action = match map.remove("Action") {
        Some(Value::String(a)) => a,
        _ => return Err(ApiError::missing("Action")),
    };
    let version = map.remove("Version");
    // AddPermission and RemovePermission are both services' actions: SNS's
    // carry its API version or a TopicArn.
    let sns_version = version.as_ref().and_then(Value::as_str) == Some(SNS_API_VERSION);
    let for_sns = sns::Command::NAMES.contains(&action.as_str())
        && (sns_version || map.contains_key("TopicArn"));
    if !for_sns && sqs::Command::NAMES.contains(&action.as_str()) {
        let mut map = query::normalize_sqs(map);
        // Query clients post to the queue's URL rather than naming it.
        let path = parts.uri.path();
        if !map.contains_key("QueueUrl") && path.trim_matches('/').contains('/') {
            map.insert("QueueUrl".into(), path.to_string().into());
        }
        return Ok((Protocol::SqsQuery, action, Value::Object(map)));
    }
    if sns::Command::NAMES.contains(&action.as_str()) {
        return Ok((
            Protocol::SnsQuery,
            action,
            Value::Object(query::normalize_sns(map)),
        ));
    }
    Err(ApiError::new(
        ErrorKind::InvalidAction,
        format!("The action {action} is not valid for this endpoint."),
    ))
}

fn ok_response(
    protocol: &Protocol,
    action: &str,
    out: &Map<String, Value>,
    request_id: &str,
) -> Response {
    let (content_type, body) = match protocol {
        Protocol::SqsJson => (
            "application/x-amz-json-1.0",
            serde_json::to_string(out).unwrap_or_else(|_| "{}".into()),
        ),
        Protocol::SqsQuery => (
            "text/xml",
            xml::response(Style::Sqs, action, out, request_id),
        ),
        Protocol::SnsQuery => (
            "text/xml",
            xml::response(Style::Sns, action, out, request_id),
        ),
    };
    respond(StatusCode::OK, content_type, body, request_id)
}

fn signing_certificate(api: &Api) -> Response {
    let (status, body) = match &api.topics.naming().signer {
        Some(signer) => (StatusCode::OK, signer.cert_pem().to_string()),
        None => (StatusCode::NOT_FOUND, String::new()),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    response
}

fn error_response(protocol: &Protocol, e: &ApiError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = match protocol {
        Protocol::SqsJson => {
            let body = serde_json::json!({
                "__type": format!("com.amazonaws.sqs#{}", e.type_name()),
                "message": e.message,
            });
            respond(
                status,
                "application/x-amz-json-1.0",
                body.to_string(),
                request_id,
            )
        }
        Protocol::SqsQuery => respond(
            status,
            "text/xml",
            xml::error(
                Style::Sqs,
                e.fault(),
                e.query_code(),
                &e.message,
                request_id,
            ),
            request_id,
        ),
        Protocol::SnsQuery => respond(
            status,
            "text/xml",
            xml::error(Style::Sns, e.fault(), e.type_name(), &e.message, request_id),
            request_id,
        ),
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{};{}", e.query_code(), e.fault())) {
        response.headers_mut().insert("x-amzn-query-error", v);
    }
    response
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: String,
    request_id: &str,
) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}
