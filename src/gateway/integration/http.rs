//! The `http` integration: choosing the peer and shaping the upstream request.

use crate::config::model::{Balance, HashOn, Route, Timeouts};
use crate::config::path_template::Params;
use crate::gateway::ctx::Ctx;
use crate::gateway::errors::GatewayError;
use crate::gateway::headers;
use crate::gateway::request::{forward_client_identity, request_host_raw};
use crate::gateway::upstream::Pool;
use crate::request_id;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use std::time::{Duration, Instant};

/// Picks the target for this attempt (skipping those that failed already)
/// and the connection settings for it.
pub fn choose_peer(session: &mut Session, ctx: &mut Ctx) -> Result<HttpPeer, GatewayError> {
    let (Some(pool), Some(route)) = (ctx.pool.clone(), ctx.route.clone()) else {
        return Err(GatewayError::Internal);
    };
    let index = {
        let req = session.req_header();
        let header = |name: &str| req.headers.get(name).map(|v| v.as_bytes());
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string());
        let key = match &pool.spec.balance {
            Balance::ConsistentHash(on) => {
                hash_key(on, &header, client_ip.as_deref()).map(<[u8]>::to_vec)
            }
            _ => None,
        };
        pool.pick(key.as_deref(), &ctx.failed)
    };
    let Some(index) = index else {
        return Err(if ctx.failed.is_empty() {
            GatewayError::NoHealthyUpstream
        } else {
            GatewayError::UpstreamUnavailable
        });
    };
    ctx.current = Some(index);
    let sending = if ctx.websocket {
        Sending::WebSocket
    } else if session.is_body_done() {
        Sending::Whole
    } else {
        let client_read_timeout = ctx.runtime.as_ref().map_or(Duration::from_secs(60), |r| {
            r.config.limits.client_read_timeout
        });
        Sending::Streaming {
            client_read_timeout,
        }
    };
    Ok(peer(&pool, index, &route.timeouts, ctx.deadline, sending))
}

/// The upstream request: the rewritten path, Host, `X-Forwarded-*`, the
/// request id, what the auth policies forward, and the route's header rules.
pub fn rewrite_request(
    session: &Session,
    upstream: &mut RequestHeader,
    ctx: &Ctx,
    tls: bool,
) -> pingora::Result<()> {
    let (Some(route), Some((pool, index))) = (ctx.route.as_ref(), ctx.target()) else {
        return Ok(());
    };
    let req = session.req_header();
    if let Some(path) = upstream_path(route, &ctx.params, req.uri.path(), req.uri.query()) {
        let uri = path.parse::<http::Uri>().map_err(|_| {
            GatewayError::BadRequest("request path cannot be rewritten".into()).into_pingora()
        })?;
        upstream.set_uri(uri);
    }
    let original_host = request_host_raw(req).to_string();
    if !pool.spec.preserve_host {
        upstream.insert_header(http::header::HOST, pool.targets[index].host_header.clone())?;
    } else if upstream.headers.get(http::header::HOST).is_none() {
        // HTTP/2 clients send :authority instead of Host.
        upstream.insert_header(http::header::HOST, &original_host)?;
    }
    let client_ip = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_string());
    if let Some(ip) = client_ip {
        let forwarded = match req.headers.get("x-forwarded-for") {
            Some(prev) => format!("{}, {ip}", String::from_utf8_lossy(prev.as_bytes())),
            None => ip,
        };
        upstream.insert_header("x-forwarded-for", forwarded)?;
    }
    upstream.insert_header("x-forwarded-proto", if tls { "https" } else { "http" })?;
    if !original_host.is_empty() {
        upstream.insert_header("x-forwarded-host", original_host)?;
    }
    upstream.insert_header(request_id::HEADER, &ctx.request_id)?;
    if ctx.body.is_some() {
        // The body was read here (after our own 100 Continue): the
        // upstream gets it whole and has nothing to agree to.
        upstream.remove_header(&http::header::EXPECT);
    }
    forward_client_identity(session, upstream)?;
    for (name, value) in &ctx.upstream_headers {
        match value {
            Some(v) => upstream.insert_header(name.clone(), v.clone())?,
            None => {
                upstream.remove_header(name);
            }
        }
    }
    headers::apply(upstream, &route.request_headers)
}

/// How the request's body reaches the upstream, which decides what the
/// upstream read timeout may cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    /// Nothing left to wait for from the client (no body, or read whole).
    Whole,
    /// The body streams from the client; it may pause up to this long
    /// between reads.
    Streaming { client_read_timeout: Duration },
    /// An upgraded connection: reads happen whenever either side speaks.
    WebSocket,
}

/// The connection settings for one attempt at `pool.targets[index]`.
pub fn peer(
    pool: &Pool,
    index: usize,
    timeouts: &Timeouts,
    deadline: Option<Instant>,
    sending: Sending,
) -> HttpPeer {
    let target = &pool.targets[index].spec;
    let (tls, sni) = match &pool.spec.tls {
        Some(t) => (true, t.sni.clone().unwrap_or_else(|| target.host.clone())),
        None => (false, String::new()),
    };
    let mut peer = HttpPeer::new(target.socket, tls, sni);
    peer.group_key = pool.reuse_key;
    let remaining = deadline.map(|d| {
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    });
    let cap = |d: Duration| remaining.map_or(d, |r| d.min(r));
    let o = &mut peer.options;
    o.connection_timeout = Some(cap(timeouts.connect));
    o.total_connection_timeout = Some(cap(timeouts.connect));
    // pingora's upstream read timer runs while the body streams up, so a
    // client pausing within its own read timeout would look like a slow
    // upstream: while streaming, the timer is at least the client's.
    let read = match sending {
        Sending::Whole => timeouts.read,
        Sending::Streaming {
            client_read_timeout,
        } => timeouts
            .read
            .max(client_read_timeout + Duration::from_secs(1)),
        Sending::WebSocket => timeouts.websocket_idle,
    };
    o.read_timeout = Some(match sending {
        Sending::WebSocket => read,
        _ => cap(read),
    });
    o.write_timeout = Some(match sending {
        Sending::WebSocket => timeouts.websocket_idle,
        _ => timeouts.read,
    });
    o.idle_timeout = Some(pool.idle_timeout());
    if let Some(t) = &pool.spec.tls {
        o.verify_cert = t.verify;
        o.verify_hostname = t.verify;
        o.ca = pool.ca.clone();
    }
    peer
}

/// The path (and query) sent upstream when it differs from the request's:
/// the rewrite template filled from the params, or the request path with the
/// base path removed. `None` means the request URI goes up unchanged.
pub fn upstream_path(
    route: &Route,
    params: &Params,
    path: &str,
    query: Option<&str>,
) -> Option<String> {
    let mut out = match &route.integration {
        crate::config::model::Integration::Http(h) if h.rewrite.is_some() => h
            .rewrite
            .as_ref()
            .map(|t| t.render(params))
            .unwrap_or_default(),
        _ if route.strip_base_path && route.base_segments > 0 => {
            strip_segments(path, route.base_segments).to_string()
        }
        _ => return None,
    };
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

fn strip_segments(path: &str, n: usize) -> &str {
    let mut rest = path;
    for _ in 0..n {
        let trimmed = rest.strip_prefix('/').unwrap_or(rest);
        rest = match trimmed.find('/') {
            Some(i) => &trimmed[i..],
            None => "",
        };
    }
    if rest.is_empty() {
        "/"
    } else {
        rest
    }
}

/// The consistent-hash key for a request, if the pool hashes and the request has one.
pub fn hash_key<'a>(
    on: &HashOn,
    header: &dyn Fn(&str) -> Option<&'a [u8]>,
    client_ip: Option<&'a str>,
) -> Option<&'a [u8]> {
    match on {
        HashOn::Header(name) => header(name.as_str()),
        HashOn::Cookie(name) => header("cookie").and_then(|c| cookie_value(c, name)),
        HashOn::ClientIp => client_ip.map(str::as_bytes),
    }
}

fn cookie_value<'a>(header: &'a [u8], name: &str) -> Option<&'a [u8]> {
    header.split(|b| *b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|b| *b == b'=')?;
        (&pair[..eq] == name.as_bytes()).then(|| &pair[eq + 1..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_base_segments() {
        assert_eq!(strip_segments("/demo/hello", 1), "/hello");
        assert_eq!(strip_segments("/demo", 1), "/");
        assert_eq!(strip_segments("/a/b/c/d", 2), "/c/d");
    }

    #[test]
    fn cookies() {
        assert_eq!(cookie_value(b"a=1; sid=xyz; b=2", "sid"), Some(&b"xyz"[..]));
        assert_eq!(cookie_value(b"a=1", "sid"), None);
    }
}
