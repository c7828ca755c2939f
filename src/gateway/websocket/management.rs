//! The `@connections` API, wire-compatible with AWS's
//! `ApiGatewayManagementApi`: backends send to a connected client
//! (`POST /@connections/{id}`, the body is the message), describe it
//! (`GET`) or disconnect it (`DELETE`), with boto3's
//! `apigatewaymanagementapi` client or any AWS SDK pointed at the
//! messaging listener (`endpoint_url`, optionally with a stage path:
//! `http://127.0.0.1:9324/prod`). Requests are signed with SigV4 against
//! the messaging access keys; without keys (open mode, loopback only) they
//! need no signature. Errors are REST-JSON: `{"message"}` with the type in
//! `x-amzn-ErrorType`, `GoneException` (410) for a connection that is not
//! open anywhere.

use crate::messaging::sigv4;
use crate::store::connections::{Connections, PostError};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use http::{Request, StatusCode};
use std::collections::HashMap;
use std::sync::Arc;

/// API Gateway's limit for one posted message.
pub const MAX_MESSAGE: usize = 128 * 1024;

pub struct Management {
    pub connections: Arc<dyn Connections>,
    /// Access key -> secret (the messaging listener's); empty: open.
    pub secrets: HashMap<String, String>,
    /// The listener's limits (the body deadline follows reloads).
    pub limits: crate::listener::pingora_app::LimitsSource,
}

pub fn router(m: Arc<Management>) -> axum::Router {
    axum::Router::new()
        .route(
            "/@connections/{id}",
            post(send).get(describe).delete(disconnect),
        )
        .route(
            "/{stage}/@connections/{id}",
            post(send_staged)
                .get(describe_staged)
                .delete(disconnect_staged),
        )
        .with_state(m)
}

async fn send(
    State(m): State<Arc<Management>>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> Response {
    handle(&m, Action::Send, &id, req).await
}

async fn describe(
    State(m): State<Arc<Management>>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> Response {
    handle(&m, Action::Describe, &id, req).await
}

async fn disconnect(
    State(m): State<Arc<Management>>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> Response {
    handle(&m, Action::Disconnect, &id, req).await
}

async fn send_staged(
    State(m): State<Arc<Management>>,
    Path((_, id)): Path<(String, String)>,
    req: Request<Body>,
) -> Response {
    handle(&m, Action::Send, &id, req).await
}

async fn describe_staged(
    State(m): State<Arc<Management>>,
    Path((_, id)): Path<(String, String)>,
    req: Request<Body>,
) -> Response {
    handle(&m, Action::Describe, &id, req).await
}

async fn disconnect_staged(
    State(m): State<Arc<Management>>,
    Path((_, id)): Path<(String, String)>,
    req: Request<Body>,
) -> Response {
    handle(&m, Action::Disconnect, &id, req).await
}

#[derive(Clone, Copy)]
enum Action {
    Send,
    Describe,
    Disconnect,
}

async fn handle(m: &Management, action: Action, id: &str, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let limit = match action {
        Action::Send => MAX_MESSAGE,
        // GET and DELETE carry no body; a few bytes of slack for clients
        // that send an empty JSON object.
        _ => 1024,
    };
    let body_timeout = (m.limits)().body_timeout;
    let body = match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLargeException",
                &format!("The message is larger than {MAX_MESSAGE} bytes."),
            )
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "BadRequestException",
                "The request body did not arrive in time.",
            )
        }
    };
    if !m.secrets.is_empty() {
        if let Err(e) = sigv4::verify_received(&parts, &body, &m.secrets) {
            tracing::debug!(error = %e, "@connections request refused");
            return error(StatusCode::FORBIDDEN, "ForbiddenException", &e.message);
        }
    }
    match action {
        Action::Send => match m.connections.post(id, body).await {
            Ok(()) => empty(StatusCode::OK),
            Err(e) => post_error(e),
        },
        Action::Disconnect => match m.connections.disconnect(id).await {
            Ok(()) => empty(StatusCode::NO_CONTENT),
            Err(e) => post_error(e),
        },
        Action::Describe => match m.connections.describe(id).await {
            Ok(Some(info)) => {
                let json = serde_json::json!({
                    "connectedAt": crate::messaging::clock::iso8601(info.connected_at),
                    "lastActiveAt": crate::messaging::clock::iso8601(info.last_active_at),
                    "identity": {
                        "sourceIp": info.source_ip,
                        "userAgent": info.user_agent,
                    },
                });
                Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "application/json")
                    .body(Body::from(json.to_string()))
                    .unwrap_or_default()
            }
            Ok(None) => post_error(PostError::Gone),
            Err(e) => post_error(PostError::Store(e)),
        },
    }
}

fn post_error(e: PostError) -> Response {
    match e {
        PostError::Gone => error(StatusCode::GONE, "GoneException", "The connection is gone."),
        PostError::Full => error(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            "The connection's client is not reading its messages; retry later.",
        ),
        PostError::Store(e) => {
            tracing::warn!(error = %e, "@connections request failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerErrorException",
                "The connection store is unavailable; retry shortly.",
            )
        }
    }
}

fn empty(status: StatusCode) -> Response {
    Response::builder()
        .status(status)
        .body(Body::empty())
        .unwrap_or_default()
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-errortype", kind)
        .body(Body::from(
            serde_json::json!({ "message": message }).to_string(),
        ))
        .unwrap_or_default()
}
