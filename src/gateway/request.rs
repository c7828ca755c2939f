//! Reading the request: host, client address, the checks made before
//! routing, the body when a policy needs it whole, and the client identity
//! that mTLS proves.

use super::errors::GatewayError;
use super::policy;
use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::Result;

/// 431 for oversized headers, 413 for a declared body over the limit, 400 for
/// dot segments (`/a/../b`, also percent-encoded): the gateway routes on the
/// path as written, so a path an upstream would resolve elsewhere is refused.
pub fn check_request(
    req: &RequestHeader,
    limits: &crate::config::model::Limits,
) -> Option<GatewayError> {
    let target_len = req.uri.path_and_query().map_or(1, |p| p.as_str().len())
        + req.uri.authority().map_or(0, |a| a.as_str().len());
    let header_bytes: usize = req
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + target_len;
    if header_bytes > limits.max_header_bytes {
        return Some(GatewayError::HeadersTooLarge {
            limit: limits.max_header_bytes,
        });
    }
    if req.uri.path().split('/').any(is_dot_segment) {
        return Some(GatewayError::BadRequest(
            "path contains `.` or `..` segments".into(),
        ));
    }
    let declared = req
        .headers
        .get(http::header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
    match declared {
        Some(None) => Some(GatewayError::BadRequest("invalid Content-Length".into())),
        Some(Some(n)) if n > limits.max_body_bytes => Some(GatewayError::PayloadTooLarge {
            limit: limits.max_body_bytes,
        }),
        _ => None,
    }
}

/// Reads the whole body (at most `limit` bytes) and checks it against the
/// route's schema. The bytes stay in pingora's retry buffer, from which the
/// proxy sends them upstream.
pub async fn check_body_against_schema(
    session: &mut Session,
    already_read: &mut Option<Bytes>,
    rules: &crate::config::model::Validation,
    limit: u64,
) -> Result<std::result::Result<(), GatewayError>> {
    let body = match already_read.clone() {
        Some(b) if b.len() as u64 <= limit => b,
        Some(_) => return Ok(Err(GatewayError::PayloadTooLarge { limit })),
        None => match read_body(session, limit).await? {
            Some(b) => {
                *already_read = Some(b.clone());
                b
            }
            None => return Ok(Err(GatewayError::PayloadTooLarge { limit })),
        },
    };
    let violations = policy::validate::check_body(rules, &body);
    if violations.is_empty() {
        Ok(Ok(()))
    } else {
        Ok(Err(GatewayError::ValidationFailed(violations)))
    }
}

/// Reads the whole request body before the upstream is contacted, keeping it
/// in pingora's retry buffer, from which the proxy sends it upstream.
/// `None`: the body is larger than `limit` (and the connection will close).
pub async fn read_body(session: &mut Session, limit: u64) -> Result<Option<Bytes>> {
    session.enable_retry_buffering();
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = session.read_request_body().await? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > limit {
            session.set_keepalive(None);
            return Ok(None);
        }
    }
    Ok(Some(body.freeze()))
}

/// On mTLS connections, the client certificate's subject and SANs go
/// upstream; elsewhere the headers are removed, so a client cannot claim an
/// identity it did not prove.
pub fn forward_client_identity(session: &Session, upstream: &mut RequestHeader) -> Result<()> {
    const SUBJECT: &str = "x-client-cert-subject";
    const SAN: &str = "x-client-cert-san";
    upstream.remove_header(SUBJECT);
    upstream.remove_header(SAN);
    let identity = session
        .digest()
        .and_then(|d| d.ssl_digest.as_ref())
        .and_then(|s| s.extension.get::<crate::tls::ClientIdentity>());
    if let Some(id) = identity {
        if let Ok(v) = http::HeaderValue::from_str(&id.subject) {
            upstream.insert_header(SUBJECT, v)?;
        }
        if let Ok(v) = http::HeaderValue::from_str(&id.sans.join(", ")) {
            upstream.insert_header(SAN, v)?;
        }
    }
    Ok(())
}

pub fn peer_ip(session: &Session) -> Option<std::net::IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// `.` or `..`, with any dot possibly written `%2e`.
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[0] == b'%' && rest[1] == b'2' && (rest[2] | 0x20) == b'e'
        {
            rest = &rest[3..];
        } else {
            return false;
        }
        dots += 1;
    }
    matches!(dots, 1 | 2)
}

/// The Host header (or HTTP/2 :authority) as sent, port included.
pub fn request_host_raw(req: &RequestHeader) -> &str {
    req.uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            req.headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
        })
        .unwrap_or("")
}

/// The host for routing: lowercase, without port.
pub fn request_host(req: &RequestHeader) -> String {
    let raw = request_host_raw(req);
    let without_port = if raw.starts_with('[') {
        // `[v6]:port`; a bracket that never closes is kept as written.
        raw.find(']').map_or(raw, |end| &raw[..=end])
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, _)| h)
    };
    without_port.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::{is_dot_segment, request_host, RequestHeader};

    #[test]
    fn hosts_from_clients() {
        for (given, host) in [
            ("API.example.com:8080", "api.example.com"),
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
            ("[unclosed", "[unclosed"),
            ("", ""),
        ] {
            let mut req = RequestHeader::build("GET", b"/", None).unwrap();
            req.insert_header("host", given).unwrap();
            assert_eq!(request_host(&req), host, "{given}");
        }
    }

    #[test]
    fn dot_segments() {
        for s in [".", "..", "%2e", "%2E%2e", ".%2e", "%2e."] {
            assert!(is_dot_segment(s), "{s}");
        }
        for s in ["", "...", "a", ".a", "..a", "%2f", "%2", "file.txt"] {
            assert!(!is_dot_segment(s), "{s}");
        }
    }
}
