//! The client's IP: the peer address, or, when the peer is a trusted proxy,
//! the right-most address in `X-Forwarded-For` that is not itself trusted.
//! Anything a client writes to the left of that is ignored: it could be forged.

use ipnet::IpNet;
use std::net::IpAddr;

pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut last = peer;
    for part in forwarded_for.unwrap_or("").rsplit(',') {
        let Ok(ip) = part.trim().parse::<IpAddr>() else {
            break;
        };
        if !is_trusted(&ip) {
            return Some(ip);
        }
        last = ip;
    }
    Some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        // Untrusted peer: its own address, whatever the header says.
        assert_eq!(
            client_ip(Some(ip("203.0.113.7")), Some("1.2.3.4"), &trusted),
            Some(ip("203.0.113.7"))
        );
        // Trusted peer: the right-most untrusted hop.
        assert_eq!(
            client_ip(
                Some(ip("10.0.0.2")),
                Some("6.6.6.6, 198.51.100.4, 10.0.0.9"),
                &trusted
            ),
            Some(ip("198.51.100.4"))
        );
        // Trusted peer, no header: the peer.
        assert_eq!(client_ip(Some(ip("::1")), None, &trusted), Some(ip("::1")));
        // Garbage stops the walk.
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), Some("junk, 10.0.0.3"), &trusted),
            Some(ip("10.0.0.3"))
        );
    }
}
