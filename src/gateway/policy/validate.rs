//! Request validation: required query parameters and headers, accepted
//! content types, body size, and a JSON Schema for JSON bodies. Every
//! violation is reported, not just the first.

use crate::config::model::Validation;
use pingora::http::RequestHeader;

/// Bodies checked against a schema are read in full before the upstream is
/// contacted and replayed from pingora's retry buffer, which holds 64 KiB.
pub const MAX_SCHEMA_BODY: u64 = 64 * 1024;

/// Violations visible from the request head alone.
pub fn check_head(v: &Validation, req: &RequestHeader) -> Vec<String> {
    let mut violations = Vec::new();
    let query = req.uri.query().unwrap_or("");
    for name in &v.required_query {
        let present = query
            .split('&')
            .any(|pair| pair.split_once('=').map_or(pair, |(k, _)| k) == name);
        if !present {
            violations.push(format!("query parameter `{name}` is required"));
        }
    }
    for name in &v.required_headers {
        if !req.headers.contains_key(name) {
            violations.push(format!("header `{name}` is required"));
        }
    }
    if !v.content_types.is_empty() && has_body(req) {
        let given = media_type(req);
        if !v.content_types.contains(&given) {
            violations.push(format!(
                "content type `{given}` is not accepted; use {}",
                v.content_types.join(" or ")
            ));
        }
    }
    violations
}

/// The largest body this route accepts.
pub fn body_limit(v: &Validation, gateway_limit: u64) -> u64 {
    let limit = v.max_body.unwrap_or(gateway_limit).min(gateway_limit);
    if v.schema.is_some() {
        limit.min(MAX_SCHEMA_BODY)
    } else {
        limit
    }
}

/// Whether the body must be read and checked against the schema.
pub fn wants_body(v: &Validation, req: &RequestHeader) -> bool {
    v.schema.is_some() && has_body(req)
}

pub fn check_body(v: &Validation, body: &[u8]) -> Vec<String> {
    let Some(schema) = &v.schema else {
        return Vec::new();
    };
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return vec![format!("body is not valid JSON: {e}")],
    };
    schema
        .validator
        .iter_errors(&value)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() {
                "body".to_string()
            } else {
                format!("body{at}")
            };
            format!("{at}: {e}")
        })
        .collect()
}

pub fn has_body(req: &RequestHeader) -> bool {
    let declared = req
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    match declared {
        Some(n) => n > 0,
        None => req.headers.contains_key(http::header::TRANSFER_ENCODING),
    }
}

fn media_type(req: &RequestHeader) -> String {
    req.headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default()
}
