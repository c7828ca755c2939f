//! Outbound requests to SaaS APIs refuse loopback, private and link-local
//! addresses (where cloud metadata and internal services live) unless a flow
//! allows them. Literal addresses are checked before the request, names
//! after DNS, by the client's resolver, so a redirect or a next-page URL
//! pointing inside is refused too.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};

pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// Checks a URL before it is requested: http(s), and no internal literal
/// address unless allowed.
pub fn check_url(url: &reqwest::Url, allow_private: bool) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{} is not an http(s) URL", redact(url)));
    }
    let Some(host) = url.host() else {
        return Err(format!("{} has no host", redact(url)));
    };
    if allow_private {
        return Ok(());
    }
    let internal = match host {
        url::Host::Ipv4(ip) => is_internal(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => is_internal(IpAddr::V6(ip)),
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
    };
    if internal {
        return Err(format!(
            "{} is a loopback, private or link-local address; set allow_private_network: true in the flow to allow it",
            redact(url)
        ));
    }
    Ok(())
}

/// A URL fit for logs and errors: no query (API keys travel there), no user info.
pub fn redact(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// Resolves names and drops internal addresses; a name with nothing left
/// fails to resolve.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_internal(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{host} resolves only to loopback, private or link-local addresses"
                )
                .into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused() {
        let check = |u: &str, allow| check_url(&reqwest::Url::parse(u).unwrap(), allow);
        assert!(check("http://127.0.0.1:8080/x", false).is_err());
        assert!(check("http://169.254.169.254/latest/meta-data", false).is_err());
        assert!(check("http://10.1.2.3/", false).is_err());
        assert!(check("http://[::1]/", false).is_err());
        assert!(check("http://localhost/", false).is_err());
        assert!(check("ftp://example.com/", true).is_err());
        assert!(check("https://api.example.com/v1", false).is_ok());
        assert!(check("http://127.0.0.1:8080/x", true).is_ok());
        let url = reqwest::Url::parse("https://user:pw@api.example.com/v1?api_key=secret").unwrap();
        assert_eq!(redact(&url), "https://api.example.com/v1");
    }
}
