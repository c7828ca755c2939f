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

/// What a valid token yields: headers for the upstream and its subject.
#[derive(Clone)]
pub struct Verified {
    pub forward: Forward,
    pub subject: Option<String>,
}

/// Tokens already verified, with what they let through, until they expire
/// (at most a minute): clients send the same token many times, and checking a
/// signature and parsing claims is the costly part.
#[derive(Default)]
pub struct VerifiedTokens {
    entries: std::sync::Mutex<std::collections::HashMap<(usize, String), (u64, Verified)>>,
}

/// Cached verifications at most; past it the cache starts over.
const VERIFIED_CAPACITY: usize = 10_000;
/// Longest a verification is reused, so a JWKS key rotation or policy change
/// is seen soon.
const VERIFIED_TTL_SECS: u64 = 60;

impl VerifiedTokens {
    /// The policy is told apart by its address: a cache belongs to one
    /// config generation, whose policies do not move.
    fn get(&self, policy: &Jwt, token: &str) -> Option<Verified> {
        let entries = self.entries.lock().ok()?;
        let (until, verified) = entries.get(&(policy as *const Jwt as usize, token.to_string()))?;
        (jsonwebtoken::get_current_timestamp() < *until).then(|| verified.clone())
    }

    fn put(&self, policy: &Jwt, token: &str, exp: u64, verified: &Verified) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= VERIFIED_CAPACITY {
            entries.clear();
        }
        let until = exp.min(jsonwebtoken::get_current_timestamp() + VERIFIED_TTL_SECS);
        entries.insert(
            (policy as *const Jwt as usize, token.to_string()),
            (until, verified.clone()),
        );
    }
}

/// `authenticate`, answered from `cache` when this token passed before.
pub async fn authenticate_cached(
    jwt: &Jwt,
    jwks: Option<&Arc<JwksCache>>,
    req: &RequestHeader,
    cache: &VerifiedTokens,
) -> Result<Verified, GatewayError> {
    let token = bearer_token(req).ok_or(GatewayError::Unauthorized(None))?;
    if let Some(verified) = cache.get(jwt, token) {
        return Ok(verified);
    }
    let (verified, exp) = verify(jwt, jwks, token).await?;
    cache.put(jwt, token, exp, &verified);
    Ok(verified)
}

/// Verifies `token`; on success, what it yields and its `exp`.
async fn verify(
    jwt: &Jwt,
    jwks: Option<&Arc<JwksCache>>,
    token: &str,
) -> Result<(Verified, u64), GatewayError> {
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
    let forward = jwt
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
        .collect();
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(now);
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((Verified { forward, subject }, exp))
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
