//! The policy chain as data: `CHAIN` lists the steps in the order they run,
//! and `run` walks it; the first step that refuses ends the request.
//!
//! ```text
//! WafBody       read the body when the route's WAF inspects bodies (413/403)
//! Inspect       the WAF's rules and managed groups (403)
//! Authenticate  API key + usage plan, JWT, custom authorizer (401/403/429)
//! Check         IP allow/deny, rate limit, header/query validation (403/429/400)
//! ValidateBody  the JSON schema of the body (400/413)
//! ```

use super::{api_key::KeyRing, Identity, Request};
use crate::config::model::Route;
use crate::gateway::ctx::Ctx;
use crate::gateway::errors::GatewayError;
use crate::gateway::request::{check_body_against_schema, peer_ip};
use crate::gateway::{body, Runtime};
use crate::metrics::Metrics;
use pingora::proxy::Session;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    WafBody,
    Inspect,
    Authenticate,
    Check,
    ValidateBody,
}

pub const CHAIN: [Step; 5] = [
    Step::WafBody,
    Step::Inspect,
    Step::Authenticate,
    Step::Check,
    Step::ValidateBody,
];

/// Why the chain stopped a request.
pub struct Refusal {
    pub error: GatewayError,
    /// The policy that refused, for the access log (None: the request
    /// itself failed, e.g. its body was too slow).
    pub policy: Option<&'static str>,
    /// The WAF rule that matched: logged, never sent to the client.
    pub rule: Option<String>,
}

impl Refusal {
    fn by(policy: &'static str, error: GatewayError) -> Refusal {
        Refusal {
            error,
            policy: Some(policy),
            rule: None,
        }
    }
}

/// What the chain needs besides the request.
pub struct Env<'a> {
    pub runtime: &'a Runtime,
    pub route: &'a Route,
    pub keys: &'a KeyRing,
    pub metrics: &'a Metrics,
}

/// Runs every step in order; the first refusal.
pub async fn run(
    env: &Env<'_>,
    session: &mut Session,
    ctx: &mut Ctx,
) -> pingora::Result<Option<Refusal>> {
    let mut identity = Identity::default();
    for step in CHAIN {
        let refusal = match step {
            Step::WafBody => waf_body(env, session, ctx).await?,
            Step::Inspect => inspect(env, session, ctx).await,
            Step::Authenticate => authenticate(env, session, ctx, &mut identity).await,
            Step::Check => check(env, session, ctx, &identity).await,
            Step::ValidateBody => validate_body(env, session, ctx).await?,
        };
        if refusal.is_some() {
            return Ok(refusal);
        }
    }
    Ok(None)
}

fn request(session: &Session) -> Request<'_> {
    Request {
        header: session.req_header(),
        peer: peer_ip(session),
    }
}

/// Reads the body when the route's WAF inspects bodies.
async fn waf_body(
    env: &Env<'_>,
    session: &mut Session,
    ctx: &mut Ctx,
) -> pingora::Result<Option<Refusal>> {
    let Some(set) = &env.route.policies.waf else {
        return Ok(None);
    };
    let Some(limit) = set.inspect_body else {
        return Ok(None);
    };
    if !super::validate::has_body(session.req_header()) {
        return Ok(None);
    }
    let declared = session
        .get_header(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let oversize = |error: GatewayError| {
        env.metrics.decision("waf", "block");
        Some(Refusal {
            error,
            policy: Some("waf"),
            rule: Some("oversize".into()),
        })
    };
    if declared.is_some_and(|n| n > limit) {
        if !set.block_oversize {
            return Ok(None); // passed on uninspected, as configured
        }
        // The body stays unread: the connection cannot be reused.
        session.set_keepalive(None);
        return Ok(oversize(GatewayError::WafBlocked));
    }
    Ok(
        match body::read_whole(session, limit, ctx.body_deadline()).await? {
            Ok(body) => {
                ctx.body = Some(body);
                None
            }
            // A chunked body past the limit was partly read and cannot be
            // replayed: it is refused whatever `oversize` says.
            Err(err @ GatewayError::PayloadTooLarge { .. }) => oversize(err),
            Err(error) => Some(Refusal {
                error,
                policy: None,
                rule: None,
            }),
        },
    )
}

async fn inspect(env: &Env<'_>, session: &Session, ctx: &Ctx) -> Option<Refusal> {
    let body = ctx.body.as_deref();
    let verdict =
        super::inspect(env.runtime, env.route, &request(session), body, env.metrics).await;
    verdict.err().map(|(denied, rule)| Refusal {
        error: denied.error,
        policy: Some(denied.policy),
        rule: Some(rule),
    })
}

async fn authenticate(
    env: &Env<'_>,
    session: &Session,
    ctx: &mut Ctx,
    identity: &mut Identity,
) -> Option<Refusal> {
    let request = request(session);
    let extra = &mut ctx.extra_headers;
    let auth = super::authenticate(
        env.runtime,
        env.keys,
        env.route,
        &request,
        env.metrics,
        extra,
    )
    .await;
    match auth {
        Ok(authenticated) => {
            ctx.upstream_headers = authenticated.forward;
            *identity = authenticated.identity;
            None
        }
        Err(denied) => Some(Refusal::by(denied.policy, denied.error)),
    }
}

async fn check(
    env: &Env<'_>,
    session: &Session,
    ctx: &mut Ctx,
    identity: &Identity,
) -> Option<Refusal> {
    let request = request(session);
    let extra = &mut ctx.extra_headers;
    super::check(
        env.runtime,
        env.route,
        &request,
        identity,
        env.metrics,
        extra,
    )
    .await
    .err()
    .map(|denied| Refusal::by(denied.policy, denied.error))
}

async fn validate_body(
    env: &Env<'_>,
    session: &mut Session,
    ctx: &mut Ctx,
) -> pingora::Result<Option<Refusal>> {
    let Some(rules) = &env.route.policies.validate else {
        return Ok(None);
    };
    if !super::validate::wants_body(rules, session.req_header()) {
        return Ok(None);
    }
    let max = env.runtime.config.limits.max_body_bytes;
    let limit = super::validate::body_limit(rules, max);
    let deadline = ctx.body_deadline();
    let checked = check_body_against_schema(session, &mut ctx.body, rules, limit, deadline).await?;
    Ok(checked.err().map(|error| {
        env.metrics.decision("validate", "deny");
        Refusal::by("validate", error)
    }))
}
