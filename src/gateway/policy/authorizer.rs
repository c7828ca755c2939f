//! The custom authorizer: Gatehouse asks an HTTP endpoint whether a caller
//! may pass, as API Gateway asks a Lambda authorizer.
//!
//! Request: `POST url` with `{"identity", "method", "path", "api", "route",
//! "source_ip"}`. Answer: `{"allow": bool, "principal_id": "...",
//! "context": {...}}`. Decisions are cached per identity for `cache_ttl`. An
//! authorizer that is down, slow, or answers anything else fails closed: 503
//! within `timeout`.

use super::jwt::Forward;
use crate::config::model::{Authorizer, IdentitySource, Route};
use crate::gateway::errors::GatewayError;
use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Cached decisions at most; past it, expired ones go, then all.
const CACHE_CAPACITY: usize = 10_000;

pub struct AuthorizerClient {
    pub spec: Arc<Authorizer>,
    client: crate::outbound::Client,
    cache: Mutex<HashMap<String, (Instant, Arc<Decision>)>>,
}

#[derive(Debug)]
pub struct Decision {
    allow: bool,
    /// Headers for the upstream: the principal and the context.
    headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Deserialize)]
struct Answer {
    allow: bool,
    #[serde(default)]
    principal_id: Option<String>,
    #[serde(default)]
    context: serde_json::Map<String, serde_json::Value>,
}

const HEADER_PREFIX: &str = "x-auth-";

impl AuthorizerClient {
    pub fn new(spec: &Arc<Authorizer>) -> AuthorizerClient {
        let client =
            crate::outbound::Client::build(crate::outbound::client(spec.timeout), "authorizers");
        AuthorizerClient {
            spec: spec.clone(),
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn authorize(
        &self,
        route: &Route,
        req: &RequestHeader,
        source_ip: Option<IpAddr>,
    ) -> Result<Forward, GatewayError> {
        let identity =
            identity(&self.spec.identity, req).ok_or(GatewayError::Unauthorized(None))?;
        // Cached by digest: a fixed 64 bytes per entry however long the
        // identity, and no caller's token kept in memory as written.
        let digest = crate::hex::sha256_hex(identity.as_bytes());
        let decision = match self.cached(&digest) {
            Some(d) => d,
            None => {
                let d = Arc::new(self.ask(identity, route, req, source_ip).await?);
                self.remember(digest, d.clone());
                d
            }
        };
        if !decision.allow {
            return Err(GatewayError::AccessDenied);
        }
        // Clear every x-auth-* header the client sent, then set ours.
        let mut forward: Forward = req
            .headers
            .keys()
            .filter(|k| k.as_str().starts_with(HEADER_PREFIX))
            .map(|k| (k.clone(), None))
            .collect();
        forward.extend(
            decision
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone()))),
        );
        Ok(forward)
    }

    fn cached(&self, digest: &str) -> Option<Arc<Decision>> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(digest)
            .filter(|(expires, _)| Instant::now() < *expires)
            .map(|(_, d)| d.clone())
    }

    fn remember(&self, digest: String, decision: Arc<Decision>) {
        if self.spec.cache_ttl.is_zero() {
            return;
        }
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_CAPACITY {
            let now = Instant::now();
            cache.retain(|_, (expires, _)| now < *expires);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(digest, (Instant::now() + self.spec.cache_ttl, decision));
    }

    async fn ask(
        &self,
        identity: &str,
        route: &Route,
        req: &RequestHeader,
        source_ip: Option<IpAddr>,
    ) -> Result<Decision, GatewayError> {
        let body = serde_json::json!({
            "identity": identity,
            "method": req.method.as_str(),
            "path": req.uri.path(),
            "api": route.api,
            "route": route.id,
            "source_ip": source_ip.map(|ip| ip.to_string()),
        });
        let unavailable = |why: String| {
            tracing::warn!(url = %self.spec.url, error = %why, "authorizer failed; denying");
            GatewayError::AuthUnavailable
        };
        let resp = self
            .client
            .get()
            .map_err(unavailable)?
            .post(&self.spec.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("status {}", resp.status())));
        }
        let answer: Answer = resp.json().await.map_err(|e| unavailable(e.to_string()))?;
        Ok(decision(answer))
    }
}

fn decision(answer: Answer) -> Decision {
    let mut headers = Vec::new();
    if let Some(p) = answer
        .principal_id
        .and_then(|p| HeaderValue::from_str(&p).ok())
    {
        headers.push((HeaderName::from_static("x-auth-principal"), p));
    }
    for (key, value) in answer.context {
        let name: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let text = match value {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(format!("{HEADER_PREFIX}{name}")),
            HeaderValue::from_str(&text),
        ) {
            headers.push((n, v));
        }
    }
    Decision {
        allow: answer.allow,
        headers,
    }
}

fn identity<'a>(source: &IdentitySource, req: &'a RequestHeader) -> Option<&'a str> {
    let value = match source {
        IdentitySource::Header(h) => req.headers.get(h).and_then(|v| v.to_str().ok()),
        IdentitySource::Query(name) => req.uri.query().and_then(|q| {
            q.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == name).then_some(v)
            })
        }),
        IdentitySource::Cookie(name) => req
            .headers
            .get(http::header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|c| {
                c.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    (k == name).then_some(v)
                })
            }),
    };
    value.map(str::trim).filter(|v| !v.is_empty())
}
