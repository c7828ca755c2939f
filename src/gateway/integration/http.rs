//! The `http` integration: choosing the peer and shaping the upstream request.

use crate::config::model::{HashOn, Route, Timeouts};
use crate::config::path_template::Params;
use crate::gateway::upstream::Pool;
use pingora::upstreams::peer::HttpPeer;
use std::time::{Duration, Instant};

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
