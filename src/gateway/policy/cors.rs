//! CORS: preflights answered by the gateway, and the response headers that
//! let browsers read responses from allowed origins.

use crate::config::model::{Cors, Methods, OriginPattern};
use http::{HeaderValue, Method};

pub fn origin_allowed(cors: &Cors, origin: &str) -> bool {
    if cors.any_origin {
        return true;
    }
    let origin = origin.to_ascii_lowercase();
    cors.origins.iter().any(|p| match p {
        OriginPattern::Exact(o) => *o == origin,
        OriginPattern::Wildcard { scheme, suffix } => {
            origin.strip_prefix(scheme.as_str()).is_some_and(|host| {
                host.len() > suffix.len() && host_without_port(host).ends_with(suffix.as_str())
            })
        }
    })
}

fn host_without_port(host: &str) -> &str {
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn allow_origin(cors: &Cors, origin: &str) -> HeaderValue {
    if cors.any_origin && !cors.credentials {
        HeaderValue::from_static("*")
    } else {
        HeaderValue::from_str(origin).unwrap_or_else(|_| HeaderValue::from_static("null"))
    }
}

fn join<T: AsRef<str>>(items: &[T]) -> Option<HeaderValue> {
    if items.is_empty() {
        return None;
    }
    let text: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    HeaderValue::from_str(&text.join(", ")).ok()
}

/// Headers for an answered preflight, or `None` when the origin or the
/// requested method is not allowed.
pub fn preflight(
    cors: &Cors,
    origin: &str,
    requested: &Method,
    route_methods: &Methods,
) -> Option<Vec<(&'static str, HeaderValue)>> {
    if !origin_allowed(cors, origin) {
        return None;
    }
    let methods: Vec<&str> = match (&cors.methods, route_methods) {
        (Some(list), _) | (None, Methods::Only(list)) => list.iter().map(Method::as_str).collect(),
        (None, Methods::Any) => vec!["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    };
    if !methods.contains(&requested.as_str()) {
        return None;
    }
    let mut out = vec![
        ("access-control-allow-origin", allow_origin(cors, origin)),
        ("vary", HeaderValue::from_static("Origin")),
        (
            "access-control-max-age",
            HeaderValue::from(cors.max_age.as_secs()),
        ),
    ];
    out.extend(join(&methods).map(|v| ("access-control-allow-methods", v)));
    let headers: Vec<&str> = cors.headers.iter().map(|h| h.as_str()).collect();
    out.extend(join(&headers).map(|v| ("access-control-allow-headers", v)));
    if cors.credentials {
        out.push((
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        ));
    }
    Some(out)
}

/// Headers for an actual (non-preflight) response to an allowed origin.
pub fn response(cors: &Cors, origin: &str) -> Vec<(&'static str, HeaderValue)> {
    if !origin_allowed(cors, origin) {
        return Vec::new();
    }
    let mut out = vec![
        ("access-control-allow-origin", allow_origin(cors, origin)),
        ("vary", HeaderValue::from_static("Origin")),
    ];
    let expose: Vec<&str> = cors.expose.iter().map(|h| h.as_str()).collect();
    out.extend(join(&expose).map(|v| ("access-control-expose-headers", v)));
    if cors.credentials {
        out.push((
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cors(origins: Vec<OriginPattern>) -> Cors {
        Cors {
            any_origin: false,
            origins,
            methods: None,
            headers: vec![],
            expose: vec![],
            credentials: false,
            max_age: Duration::from_secs(60),
        }
    }

    #[test]
    fn origins_match_exactly_or_by_subdomain() {
        let c = cors(vec![
            OriginPattern::Exact("https://app.example.com".into()),
            OriginPattern::Wildcard {
                scheme: "https://".into(),
                suffix: ".shop.test".into(),
            },
        ]);
        assert!(origin_allowed(&c, "https://app.example.com"));
        assert!(origin_allowed(&c, "HTTPS://APP.example.com"));
        assert!(!origin_allowed(&c, "http://app.example.com"));
        assert!(!origin_allowed(&c, "https://app.example.com.evil.test"));
        assert!(origin_allowed(&c, "https://eu.shop.test"));
        assert!(origin_allowed(&c, "https://eu.shop.test:8443"));
        assert!(!origin_allowed(&c, "https://shop.test"));
        assert!(!origin_allowed(&c, "https://evilshop.test"));
        assert!(!origin_allowed(&c, "http://eu.shop.test"));
    }
}
