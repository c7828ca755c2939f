//! The `flow` integration: a webhook starts a run. The signature (if the
//! route asks for one) and, for `webhook` flows, the body's records are
//! checked before answering, so a sender learns of a bad request at once;
//! the run itself goes on in the background and the client gets 202 with
//! its id (`gatehouse flow history` and the admin API show how it ended).

use crate::config::model::FlowIntegration;
use crate::flows::engine::Engine;
use crate::flows::error::FlowError;
use crate::gateway::errors::GatewayError;
use bytes::Bytes;
use http::HeaderMap;

/// Starts the run; the JSON to answer 202 with, or the error.
pub fn start(
    engine: &Engine,
    target: &FlowIntegration,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<serde_json::Value, GatewayError> {
    if let Some(signature) = &target.signature {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        signature
            .verify(headers, &body, now)
            .map_err(GatewayError::BadSignature)?;
    }
    let payload = engine.payload(&target.flow, body).map_err(gateway_error)?;
    let run_id = engine
        .start(&target.flow, "webhook", payload)
        .map_err(gateway_error)?;
    Ok(serde_json::json!({ "flow": target.flow, "run_id": run_id }))
}

fn gateway_error(e: FlowError) -> GatewayError {
    match e.status() {
        (500, _) => {
            tracing::error!(error = %e, "flow integration failed");
            GatewayError::Internal
        }
        (status, code) => GatewayError::Refused {
            status,
            code,
            message: e.to_string(),
        },
    }
}
