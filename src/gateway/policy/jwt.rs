//! JWT bearer authentication: signature (static key or JWKS), exp/nbf/iat
//! with leeway, iss, aud, required claims and scopes; chosen claims are
//! forwarded upstream as headers.

use super::jwks::JwksCache;
use crate::config::model::{Jwt, JwtKeys};
use crate::gateway::errors::GatewayError;
use http::{HeaderName, HeaderValue};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Validation};
use pingora::http::RequestHeader;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Headers to set on the upstream request: `None` removes a header the
/// client may have sent itself, so forwarded claims cannot be spoofed.
pub type Forward = Vec<(HeaderName, Option<HeaderValue>)>;

pub async fn authenticate(
    jwt: &Jwt,
    jwks: Option<&Arc<JwksCache>>,
    req: &RequestHeader,
) -> Result<Forward, GatewayError> {
    let token = bearer_token(req).ok_or(GatewayError::Unauthorized(None))?;
    let invalid = |why: &str| GatewayError::Unauthorized(Some(why.to_string()));
    let header = decode_header(token).map_err(|_| invalid("malformed token"))?;
    if !jwt.algorithms.contains(&header.alg) {
        return Err(invalid("token algorithm not accepted"));
    }
    let key = match (&jwt.keys, jwks) {
        (JwtKeys::Static(key), _) => key.clone(),
        (JwtKeys::Jwks { .. }, Some(cache)) => match cache.key(header.kid.as_deref()).await {
            Ok(Some(key)) => key,
            Ok(None) => return Err(invalid("unknown key id")),
            Err(_) => return Err(GatewayError::AuthUnavailable),
        },
        (JwtKeys::Jwks { .. }, None) => return Err(GatewayError::AuthUnavailable),
    };
    let mut validation = Validation::new(header.alg);
    validation.algorithms = jwt.algorithms.clone();
    validation.leeway = jwt.leeway.as_secs();
    validation.set_required_spec_claims(&["exp"]);
    validation.validate_nbf = true;
    if let Some(iss) = &jwt.issuer {
        validation.set_issuer(&[iss]);
    }
    if jwt.audience.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(&jwt.audience);
    }
    let claims = decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| {
            invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "token expired",
                ErrorKind::ImmatureSignature => "token not yet valid",
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidAudience => "wrong audience",
                ErrorKind::InvalidAlgorithm => "token algorithm not accepted",
                ErrorKind::MissingRequiredClaim(_) => "missing required claim",
                _ => "invalid token",
            })
        })?
        .claims;
    let now = jsonwebtoken::get_current_timestamp();
    if claims
        .get("iat")
        .and_then(Value::as_u64)
        .is_some_and(|iat| iat > now + jwt.leeway.as_secs())
    {
        return Err(invalid("token issued in the future"));
    }
    if let Some(missing) = jwt
        .required_claims
        .iter()
        .find(|c| !claims.contains_key(c.as_str()))
    {
        return Err(invalid(&format!("missing claim `{missing}`")));
    }
    let granted = scopes(&claims);
    let missing: Vec<String> = jwt
        .scopes
        .iter()
        .filter(|s| !granted.contains(&s.as_str()))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(GatewayError::InsufficientScope(jwt.scopes.clone()));
    }
    Ok(jwt
        .forward_claims
        .iter()
        .map(|(claim, header)| {
            let value = claims.get(claim).and_then(|v| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                HeaderValue::from_str(&text).ok()
            });
            (header.clone(), value)
        })
        .collect())
}

fn bearer_token(req: &RequestHeader) -> Option<&str> {
    let value = req
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// `scope` as a space-separated string (RFC 8693) or `scp` as a list or string.
fn scopes(claims: &Map<String, Value>) -> Vec<&str> {
    let mut out = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => out.extend(s.split_whitespace()),
            Some(Value::Array(items)) => out.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    out
}
