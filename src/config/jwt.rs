//! JWT policy settings. The checks here are what stops algorithm confusion:
//! every accepted algorithm must belong to the family of the configured key,
//! so an HS256 token can never be verified with an RSA public key as secret.

use super::diagnostics::Reporter;
use super::model::{Jwt, JwtKeys};
use super::raw::JwtRaw;
use http::HeaderName;
use jsonwebtoken::{Algorithm, DecodingKey};
use std::path::Path;
use std::time::Duration;

pub fn build(raw: &JwtRaw, path: &str, routes_dir: &Path, r: &mut Reporter) -> Option<Jwt> {
    if raw.enabled == Some(false) {
        return None;
    }
    let mut algorithms = Vec::new();
    for (i, name) in raw.algorithms.iter().enumerate() {
        match name.trim().parse::<Algorithm>() {
            Ok(a) => algorithms.push(a),
            Err(_) => r.error(
                &format!("{path}.algorithms[{i}]"),
                format!("unknown algorithm `{name}`: use HS256/384/512, RS256/384/512, PS256/384/512, ES256/384 or EdDSA"),
            ),
        }
    }
    if raw.algorithms.is_empty() {
        r.error(path, "list the accepted `algorithms`, e.g. [RS256]");
        return None;
    }
    let families: Vec<_> = algorithms.iter().map(|a| a.family()).collect();
    if families.windows(2).any(|w| w[0] != w[1]) {
        r.error(
            &format!("{path}.algorithms"),
            "all algorithms must be of one family (HS, RS/PS, ES or EdDSA)",
        );
        return None;
    }
    let family = *families.first()?;
    let sources = [
        raw.secret.is_some(),
        raw.public_key.is_some(),
        raw.jwks_url.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        r.error(
            path,
            "set exactly one of `secret`, `public_key` or `jwks_url`",
        );
        return None;
    }
    let hmac = family == jsonwebtoken::AlgorithmFamily::Hmac;
    let keys = if let Some(secret) = &raw.secret {
        if !hmac {
            r.error(
                &format!("{path}.secret"),
                "a secret only verifies HS256/384/512 tokens",
            );
            return None;
        }
        if secret.len() < 32 {
            r.error(&format!("{path}.secret"), "secret is shorter than 32 bytes");
            return None;
        }
        JwtKeys::Static(DecodingKey::from_secret(secret.as_bytes()))
    } else if let Some(file) = &raw.public_key {
        if hmac {
            r.error(
                &format!("{path}.public_key"),
                "HS algorithms need a `secret`; a public key must not be used as one",
            );
            return None;
        }
        let key = std::fs::read(routes_dir.join("..").join(file))
            .map_err(|e| format!("cannot read `{file}`: {e}"))
            .and_then(|pem| {
                use jsonwebtoken::AlgorithmFamily::*;
                match family {
                    Rsa => DecodingKey::from_rsa_pem(&pem),
                    Ec => DecodingKey::from_ec_pem(&pem),
                    Ed => DecodingKey::from_ed_pem(&pem),
                    Hmac => unreachable_hmac(),
                }
                .map_err(|e| format!("`{file}` is not a PEM public key for {family:?}: {e}"))
            });
        match key {
            Ok(k) => JwtKeys::Static(k),
            Err(m) => {
                r.error(&format!("{path}.public_key"), m);
                return None;
            }
        }
    } else {
        let url = raw.jwks_url.clone().unwrap_or_default();
        if hmac {
            r.error(
                &format!("{path}.jwks_url"),
                "JWKS keys are not accepted for HS algorithms",
            );
            return None;
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            r.error(
                &format!("{path}.jwks_url"),
                format!("bad URL `{url}`: expected http(s)://"),
            );
            return None;
        }
        JwtKeys::Jwks {
            url,
            ttl: raw.jwks_ttl.map_or(Duration::from_secs(600), |d| d.0),
            min_refresh: raw
                .jwks_min_refresh
                .map_or(Duration::from_secs(30), |d| d.0),
        }
    };
    let mut forward_claims = Vec::new();
    for (claim, header) in &raw.forward_claims {
        match HeaderName::try_from(header.as_str()) {
            Ok(h) => forward_claims.push((claim.clone(), h)),
            Err(_) => r.error(
                &format!("{path}.forward_claims.{claim}"),
                format!("bad header name `{header}`"),
            ),
        }
    }
    Some(Jwt {
        algorithms,
        keys,
        issuer: raw.issuer.clone(),
        audience: raw.audience.clone(),
        leeway: raw.leeway.map_or(Duration::from_secs(60), |d| d.0),
        required_claims: raw.required_claims.clone(),
        scopes: raw.scopes.clone(),
        forward_claims,
    })
}

/// HS keys never come from PEM files; the caller has already refused them.
fn unreachable_hmac() -> jsonwebtoken::errors::Result<DecodingKey> {
    Err(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into())
}
