//! The answers a listener writes itself, straight on the socket, before any
//! handler has the connection: Gatehouse's JSON error shape, then close.

use crate::gateway::errors::GatewayError;
use crate::gateway::request_id;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// A client that does not read its refusal is not waited for long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Writes `err` as a complete `Connection: close` response and shuts the
/// write side. Failures are ignored: the connection is being dropped anyway.
pub async fn write<S: AsyncWrite + Unpin + ?Sized>(stream: &mut S, err: &GatewayError) {
    let request_id = request_id::generate();
    let bytes = encode(err, &request_id);
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(&bytes).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
}

fn encode(err: &GatewayError, request_id: &str) -> Vec<u8> {
    let body = err.body(request_id);
    let status = err.status();
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n{}: {request_id}\r\n\r\n",
        body.len(),
        request_id::HEADER,
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_whole_json_response() {
        let bytes = encode(&GatewayError::RequestTimeout, "abc");
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{head}"
        );
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["code"], "RequestTimeout");
        assert_eq!(json["request_id"], "abc");
    }
}
