//! The policy chain, run in `request_filter` after routing, first deny wins:
//!
//! ```text
//! CORS preflight (answered before anything else) -> WAF -> API key -> JWT
//!   -> authorizer -> rate limit -> validate -> integration
//! ```
//!
//! WAF, auth and request validation slot in ahead of and after the rate limit
//! as they land. Each policy owns its file; the settings live in
//! `config::model::Policies`, the run-time state (rate-limit buckets) here.

pub mod api_key;
pub mod authorizer;
pub mod chain;
pub mod client_ip;
pub mod cors;
pub mod jwks;
pub mod jwt;
pub mod quota;
pub mod rate_limit;
pub mod validate;
pub mod waf;

use crate::config::model::{Api, Authorizer, JwtKeys, RateLimit};
use crate::store::rate_limits::RateLimits;
use rate_limit::RateGate;
use std::sync::Arc;

/// The JWKS key caches of one config generation, one per URL, carried over
/// reloads so a reload does not refetch every key set.
#[derive(Default)]
pub struct JwksCaches {
    entries: Vec<Arc<jwks::JwksCache>>,
}

impl JwksCaches {
    pub fn build(apis: &[Api], previous: Option<&JwksCaches>) -> JwksCaches {
        let mut entries: Vec<Arc<jwks::JwksCache>> = Vec::new();
        let policies = apis
            .iter()
            .flat_map(|a| &a.routes)
            .filter_map(|r| r.policies.jwt.as_ref());
        for policy in policies {
            let JwtKeys::Jwks {
                url,
                ttl,
                min_refresh,
            } = &policy.keys
            else {
                continue;
            };
            if entries.iter().any(|c| c.url == *url) {
                continue;
            }
            let reused = previous.and_then(|p| p.for_url(url)).cloned();
            entries.push(
                reused.unwrap_or_else(|| Arc::new(jwks::JwksCache::new(url, *ttl, *min_refresh))),
            );
        }
        JwksCaches { entries }
    }

    pub fn for_url(&self, url: &str) -> Option<&Arc<jwks::JwksCache>> {
        self.entries.iter().find(|c| c.url == url)
    }
}

/// The authorizer clients of one config generation (their decision caches
/// survive reloads when the policy is unchanged).
#[derive(Default)]
pub struct Authorizers {
    entries: Vec<Arc<authorizer::AuthorizerClient>>,
}

impl Authorizers {
    pub fn build(apis: &[Api], previous: Option<&Authorizers>) -> Authorizers {
        let mut entries: Vec<Arc<authorizer::AuthorizerClient>> = Vec::new();
        let specs = apis
            .iter()
            .flat_map(|a| &a.routes)
            .filter_map(|r| r.policies.authorizer.as_ref());
        for spec in specs {
            if entries.iter().any(|c| Arc::ptr_eq(&c.spec, spec)) {
                continue;
            }
            let reused = previous
                .and_then(|p| p.entries.iter().find(|c| *c.spec == **spec))
                .cloned();
            entries
                .push(reused.unwrap_or_else(|| Arc::new(authorizer::AuthorizerClient::new(spec))));
        }
        Authorizers { entries }
    }

    /// By identity first; a reused client carries an equal spec from the
    /// previous generation.
    fn for_policy(&self, spec: &Arc<Authorizer>) -> Option<&Arc<authorizer::AuthorizerClient>> {
        self.entries
            .iter()
            .find(|c| Arc::ptr_eq(&c.spec, spec) || *c.spec == **spec)
    }
}

/// Who the authentication policies say the caller is, for rate-limit keys.
#[derive(Default)]
pub struct Identity {
    pub api_key: Option<String>,
    pub jwt_subject: Option<String>,
}

/// What authentication yields: headers for the upstream, and the identity.
#[derive(Default)]
pub struct Authenticated {
    pub forward: jwt::Forward,
    pub identity: Identity,
}

/// Runs the authentication policies (JWT, then the authorizer) of `route`. Async: a JWKS fetch may
/// be needed. On success, the headers to set upstream.
pub async fn authenticate(
    runtime: &Runtime,
    keys: &api_key::KeyRing,
    route: &Route,
    req: &Request<'_>,
    metrics: &Metrics,
    extra: &mut ExtraHeaders,
) -> Result<Authenticated, Denied> {
    let mut forward = Vec::new();
    let mut identity = Identity::default();
    if let Some(policy) = &route.policies.api_key {
        let presented = req.get(policy.header.as_str()).map(str::trim);
        let result = keys
            .admit(policy, &runtime.config.usage_plans, presented)
            .await;
        let result = result.map(|admitted| {
            extra.extend(admitted.headers);
            identity.api_key = Some(admitted.key.record.id.clone());
            // The key never travels upstream; its identity does.
            vec![
                (policy.header.clone(), None),
                (
                    http::HeaderName::from_static("x-api-key-id"),
                    admitted.key.id_header.clone(),
                ),
                (
                    http::HeaderName::from_static("x-api-key-name"),
                    admitted.key.name_header.clone(),
                ),
            ]
        });
        forward.extend(decided(result, "api_key", metrics)?);
    }
    if let Some(policy) = &route.policies.jwt {
        let cache = match &policy.keys {
            JwtKeys::Jwks { url, .. } => runtime.jwks.for_url(url),
            JwtKeys::Static(_) => None,
        };
        let result = jwt::authenticate_cached(policy, cache, req.header, &runtime.verified_tokens)
            .await
            .map(|verified| {
                identity.jwt_subject = verified.subject;
                verified.forward
            });
        forward.extend(decided(result, "jwt", metrics)?);
    }
    if let Some(spec) = &route.policies.authorizer {
        let result = match runtime.authorizers.for_policy(spec) {
            Some(client) => {
                let forwarded = req.get("x-forwarded-for");
                let ip = client_ip::client_ip(req.peer, forwarded, &runtime.config.trusted_proxies);
                client.authorize(route, req.header, ip).await
            }
            None => Err(GatewayError::AuthUnavailable),
        };
        forward.extend(decided(result, "authorizer", metrics)?);
    }
    Ok(Authenticated { forward, identity })
}

fn decided(
    result: Result<jwt::Forward, GatewayError>,
    policy: &'static str,
    metrics: &Metrics,
) -> Result<jwt::Forward, Denied> {
    let outcome = if result.is_ok() { "allow" } else { "deny" };
    metrics.decision(policy, outcome);
    result.map_err(|error| Denied { error, policy })
}

/// The rate limiters of one config generation, one per distinct policy
/// (an API-level policy is one budget shared by the API's routes).
#[derive(Default)]
pub struct Limiters {
    entries: Vec<(Arc<RateLimit>, Arc<RateGate>)>,
}

impl Limiters {
    /// Builds limiters for `apis`. Buckets are named by the API and the
    /// policy's rate and key, so identical policies of one API share them
    /// and a reload finds the same buckets (no fresh burst for everyone).
    pub fn build(apis: &[Api], limits: &dyn RateLimits) -> Limiters {
        let mut entries: Vec<(Arc<RateLimit>, Arc<RateGate>)> = Vec::new();
        for api in apis {
            for route in &api.routes {
                let Some(spec) = &route.policies.rate_limit else {
                    continue;
                };
                if entries.iter().any(|(s, _)| Arc::ptr_eq(s, spec)) {
                    continue;
                }
                let name = format!(
                    "route:{}:{}/{}ms/{}:{:?}",
                    api.id,
                    spec.count,
                    spec.period.as_millis(),
                    spec.burst,
                    spec.key
                );
                entries.push((spec.clone(), Arc::new(RateGate::new(limits, &name, spec))));
            }
        }
        Limiters { entries }
    }

    pub fn for_policy(&self, spec: &Arc<RateLimit>) -> Option<&Arc<RateGate>> {
        self.entries
            .iter()
            .find(|(s, _)| Arc::ptr_eq(s, spec))
            .map(|(_, l)| l)
    }

    /// Drops idle keys so memory follows the active clients, not every
    /// client ever seen.
    pub fn evict_idle(&self) {
        for (_, limiter) in &self.entries {
            limiter.evict_idle();
        }
    }

    pub fn tracked_keys(&self) -> usize {
        self.entries.iter().map(|(_, l)| l.tracked_keys()).sum()
    }
}

use super::errors::GatewayError;
use super::Runtime;
use crate::config::model::{RateKey, Route};
use crate::metrics::Metrics;
use http::{HeaderValue, Method};
use pingora::http::RequestHeader;
use std::net::IpAddr;

/// Response headers a policy wants on whatever answer the request gets.
pub type ExtraHeaders = Vec<(&'static str, HeaderValue)>;

/// A refusal: the error to answer with and the policy that refused.
pub struct Denied {
    pub error: GatewayError,
    pub policy: &'static str,
}

/// The WAF, first in the chain. `Err` carries the refusal and the rule that
/// matched (for the log only).
pub async fn inspect(
    runtime: &Runtime,
    route: &Route,
    req: &Request<'_>,
    body: Option<&[u8]>,
    metrics: &Metrics,
) -> Result<(), (Denied, String)> {
    let Some(set) = &route.policies.waf else {
        return Ok(());
    };
    let ip = client_ip::client_ip(
        req.peer,
        req.get("x-forwarded-for"),
        &runtime.config.trusted_proxies,
    );
    // The metric is labelled by the rule alone (`crs:949110`); the score
    // and the contributing rules after it are for the log line.
    let count = |rule: &str, action: &str| {
        let rule = rule.split(' ').next().unwrap_or(rule);
        metrics
            .waf_matches
            .with_label_values(&[&set.name, rule, action])
            .inc();
    };
    match waf::evaluate(set, req.header, body, ip, &runtime.waf_rates).await {
        waf::Outcome::Pass(counted) => {
            counted.iter().for_each(|r| count(r, "count"));
            metrics.decision("waf", "pass");
            Ok(())
        }
        waf::Outcome::Allow(rule) => {
            count(&rule, "allow");
            metrics.decision("waf", "allow");
            Ok(())
        }
        waf::Outcome::Block(rule) => {
            count(&rule, "block");
            metrics.decision("waf", "block");
            let denied = Denied {
                error: GatewayError::WafBlocked,
                policy: "waf",
            };
            Err((denied, rule))
        }
    }
}

/// What the request looks like to the policies.
pub struct Request<'a> {
    pub header: &'a RequestHeader,
    pub peer: Option<IpAddr>,
}

impl Request<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.header.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A CORS preflight for `route`: `Some(Ok(headers))` to answer 204 with,
/// `Some(Err(_))` to refuse, `None` when this is not a preflight the route's
/// CORS policy handles (the request then goes through normal routing).
pub fn preflight(
    route: &Route,
    req: &Request<'_>,
    metrics: &Metrics,
) -> Option<Result<ExtraHeaders, Denied>> {
    let cors_policy = route.policies.cors.as_ref()?;
    let origin = req.get("origin")?;
    let requested = req
        .get("access-control-request-method")
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())?;
    let verdict = cors::preflight(cors_policy, origin, &requested, &route.methods);
    let outcome = if verdict.is_some() {
        "preflight"
    } else {
        "deny"
    };
    metrics.decision("cors", outcome);
    Some(verdict.ok_or(Denied {
        error: GatewayError::CorsRejected,
        policy: "cors",
    }))
}

/// Runs the chain for a routed request. Headers the policies want on the
/// response go into `extra`, on success and on refusal alike.
pub async fn check(
    runtime: &Runtime,
    route: &Route,
    req: &Request<'_>,
    identity: &Identity,
    metrics: &Metrics,
    extra: &mut ExtraHeaders,
) -> Result<(), Denied> {
    if let (Some(cors_policy), Some(origin)) = (&route.policies.cors, req.get("origin")) {
        extra.extend(cors::response(cors_policy, origin));
    }
    if let Some(spec) = &route.policies.rate_limit {
        let Some(limiter) = runtime.limiters.for_policy(spec) else {
            return Ok(());
        };
        let client = || {
            client_ip::client_ip(
                req.peer,
                req.get("x-forwarded-for"),
                &runtime.config.trusted_proxies,
            )
            .map(|ip| ip.to_string())
            .unwrap_or_default()
        };
        let key = match &spec.key {
            RateKey::ClientIp => client(),
            RateKey::Route => format!("{}/{}", route.api, route.id),
            // Requests without the header share the client-IP bucket space.
            RateKey::Header(name) => match req.get(name.as_str()) {
                Some(v) => format!("h:{v}"),
                None => client(),
            },
            RateKey::ApiKey => match &identity.api_key {
                Some(id) => format!("k:{id}"),
                None => client(),
            },
            RateKey::JwtSubject => match &identity.jwt_subject {
                Some(sub) => format!("s:{sub}"),
                None => client(),
            },
        };
        let standing = limiter.check(&key).await;
        extra.extend(limiter.headers(&standing));
        let outcome = if standing.allowed { "allow" } else { "deny" };
        metrics.decision("rate_limit", outcome);
        if !standing.allowed {
            return Err(Denied {
                error: GatewayError::RateLimited,
                policy: "rate_limit",
            });
        }
    }
    if let Some(rules) = &route.policies.validate {
        let violations = validate::check_head(rules, req.header);
        let limit = validate::body_limit(rules, runtime.config.limits.max_body_bytes);
        let declared = req
            .get("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            metrics.decision("validate", "deny");
            return Err(Denied {
                error: GatewayError::PayloadTooLarge { limit },
                policy: "validate",
            });
        }
        if !violations.is_empty() {
            metrics.decision("validate", "deny");
            return Err(Denied {
                error: GatewayError::ValidationFailed(violations),
                policy: "validate",
            });
        }
    }
    Ok(())
}
