//! The answers a listener writes itself, straight on the socket, before any
//! handler has the connection: the JSON error shape every Gatehouse HTTP
//! answer has (`{"message", "code", "request_id"}`), then close.

use crate::request_id;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// A client that does not read its refusal is not waited for long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a listener refuses a connection or a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A head that is not HTTP/1.x (why).
    Malformed(String),
    /// The head did not arrive in time.
    Timeout,
    /// The head is over the limit (bytes).
    HeadTooLarge { limit: usize },
    /// The listener is at its connection cap.
    Full,
    /// The client address is at its connection cap.
    PerIp,
}

impl Refusal {
    fn status(&self) -> (u16, &'static str) {
        match self {
            Refusal::Malformed(_) => (400, "Bad Request"),
            Refusal::Timeout => (408, "Request Timeout"),
            Refusal::PerIp => (429, "Too Many Requests"),
            Refusal::HeadTooLarge { .. } => (431, "Request Header Fields Too Large"),
            Refusal::Full => (503, "Service Unavailable"),
        }
    }

    /// The same codes the gateway's own answers use for these statuses.
    fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "BadRequest",
            Refusal::Timeout => "RequestTimeout",
            Refusal::HeadTooLarge { .. } => "RequestHeaderFieldsTooLarge",
            Refusal::Full | Refusal::PerIp => "TooManyConnections",
        }
    }

    fn message(&self) -> String {
        match self {
            Refusal::Malformed(why) => why.clone(),
            Refusal::Timeout => "the request was not received in time".into(),
            Refusal::HeadTooLarge { limit } => {
                format!("request headers are larger than {limit} bytes")
            }
            Refusal::Full => "too many connections; try again shortly".into(),
            Refusal::PerIp => "too many connections from this address".into(),
        }
    }
}

/// Writes `refusal` as a complete `Connection: close` response and shuts
/// the write side. Failures are ignored: the connection is being dropped.
pub async fn write<S: AsyncWrite + Unpin + ?Sized>(stream: &mut S, refusal: &Refusal) {
    let bytes = encode(refusal, &request_id::generate());
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(&bytes).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
}

fn encode(refusal: &Refusal, request_id: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "message": refusal.message(),
        "code": refusal.code(),
        "request_id": request_id,
    })
    .to_string();
    let (status, reason) = refusal.status();
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n{}: {request_id}\r\n\r\n",
        body.len(),
        request_id::HEADER,
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_whole_json_response() {
        let bytes = encode(&Refusal::Timeout, "abc");
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
