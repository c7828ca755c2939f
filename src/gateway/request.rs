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
    if let Some(why) = super::path_check::refuse(req.uri.path(), limits.allow_encoded_slashes) {
        return Some(GatewayError::BadRequest(why.into()));
    }
    if let Err(why) = check_host(req) {
        return Some(GatewayError::BadRequest(why.into()));
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

/// Reads the whole body (at most `limit` bytes, by `deadline`) and checks
/// it against the route's schema.
pub async fn check_body_against_schema(
    session: &mut Session,
    already_read: &mut Option<Bytes>,
    rules: &crate::config::model::Validation,
    limit: u64,
    deadline: std::time::Instant,
) -> Result<std::result::Result<(), GatewayError>> {
    let body = match already_read.clone() {
        Some(b) if b.len() as u64 <= limit => b,
        Some(_) => return Ok(Err(GatewayError::PayloadTooLarge { limit })),
        None => match super::body::read_whole(session, limit, deadline).await? {
            Ok(b) => {
                *already_read = Some(b.clone());
                b
            }
            Err(e) => return Ok(Err(e)),
        },
    };
    let violations = policy::validate::check_body(rules, &body);
    if violations.is_empty() {
        Ok(Ok(()))
    } else {
        Ok(Err(GatewayError::ValidationFailed(violations)))
    }
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

/// RFC 9112 requires exactly one Host in an HTTP/1.1 request, and every
/// request's authority must be a host name or IP with an optional port:
/// anything else is not routed, and never forwarded as X-Forwarded-Host.
fn check_host(req: &RequestHeader) -> std::result::Result<(), &'static str> {
    let mut hosts = req.headers.get_all(http::header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err("more than one Host header");
    }
    let authority = req.uri.authority().map(|a| a.as_str().as_bytes());
    match authority.or(host.map(|h| h.as_bytes())) {
        Some(value) if valid_authority(value) => Ok(()),
        Some(_) => Err("invalid Host header"),
        None if req.version == http::Version::HTTP_11 => Err("missing Host header"),
        None => Ok(()),
    }
}

/// `host[:port]`: a DNS name or IPv4 address, or `[IPv6]`, and a port of
/// at most 65535.
fn valid_authority(value: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(value) else {
        return false;
    };
    if text.is_empty() || text.len() > 261 {
        return false;
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("v6", Some(port)),
                None => return false,
            },
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    });
    host_ok && port_ok
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
    use super::{check_host, request_host, valid_authority, RequestHeader};

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
    fn hosts_that_are_refused() {
        for ok in [
            "a.example.com",
            "a:8080",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:443",
            "x_y",
        ] {
            assert!(valid_authority(ok.as_bytes()), "{ok}");
        }
        let long = "a".repeat(10 * 1024);
        for bad in [
            "",
            "a b",
            "a:99999",
            "a:",
            "a:x",
            "[::1",
            "[zz]:1",
            "a@b",
            "a/b",
            long.as_str(),
        ] {
            assert!(!valid_authority(bad.as_bytes()), "{bad}");
        }
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        assert_eq!(check_host(&req), Err("missing Host header"));
        req.set_version(http::Version::HTTP_10);
        assert_eq!(check_host(&req), Ok(()));
        req.append_header("host", "a").unwrap();
        req.append_header("host", "b").unwrap();
        assert_eq!(check_host(&req), Err("more than one Host header"));
    }
}
