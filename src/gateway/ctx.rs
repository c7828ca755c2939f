//! What the gateway knows about one request as it moves through pingora's
//! phases: made by `ProxyHttp::new_ctx`, filled in by routing, the policy
//! chain and the integration, read by the response writer and the access log.

use super::errors::GatewayError;
use super::policy;
use super::upstream::Pool;
use super::Runtime;
use crate::config::model::Route;
use crate::config::path_template::Params;
use crate::metrics::{ConnectionGuard, Metrics};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Ctx {
    pub request_id: String,
    pub started: Instant,
    /// The config generation this request runs under, from its first phase.
    pub runtime: Option<Arc<Runtime>>,
    pub route: Option<Arc<Route>>,
    pub params: Params,
    pub pool: Option<Arc<Pool>>,
    /// Targets that failed to connect during this request.
    pub failed: Vec<usize>,
    pub current: Option<usize>,
    pub deadline: Option<Instant>,
    pub body_bytes: u64,
    /// The largest body this request may send: the gateway's limit, or a
    /// route's smaller one.
    pub body_limit: u64,
    pub failure: Option<GatewayError>,
    pub websocket: bool,
    pub connection: Option<Arc<ConnectionGuard>>,
    /// Headers policies add to the response, whoever answers.
    pub extra_headers: policy::ExtraHeaders,
    /// Headers the auth policy sets (or clears) on the upstream request.
    pub upstream_headers: policy::jwt::Forward,
    /// The policy that refused the request, for the access log.
    pub denied_by: Option<&'static str>,
    /// The WAF rule that blocked it: logged, never sent to the client.
    pub denied_rule: Option<String>,
    /// The refusal's error code (`InvalidApiKey`, `RateLimited`, ...).
    pub denied_reason: Option<&'static str>,
    /// The request body, when a policy or an integration read it before
    /// proxying (it is replayed to the upstream from pingora's retry buffer).
    pub body: Option<Bytes>,
    _inflight: ConnectionGuard,
}

impl Ctx {
    pub fn new(metrics: &Metrics) -> Ctx {
        Ctx {
            request_id: String::new(),
            started: Instant::now(),
            runtime: None,
            route: None,
            params: Vec::new(),
            pool: None,
            failed: Vec::new(),
            current: None,
            deadline: None,
            body_bytes: 0,
            body_limit: u64::MAX,
            failure: None,
            websocket: false,
            connection: None,
            extra_headers: Vec::new(),
            upstream_headers: Vec::new(),
            denied_by: None,
            denied_rule: None,
            denied_reason: None,
            body: None,
            _inflight: ConnectionGuard::new(&metrics.inflight_requests),
        }
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn extra_headers(&self) -> &policy::ExtraHeaders {
        &self.extra_headers
    }

    /// When the whole request body must have arrived: `client_body_timeout`
    /// after the head (this context is made once the head is read).
    pub fn body_deadline(&self) -> Instant {
        let timeout = self.runtime.as_ref().map_or(Duration::from_secs(60), |r| {
            r.config.limits.client_body_timeout
        });
        self.started + timeout
    }

    /// The upstream target this request is on, if any.
    pub fn target(&self) -> Option<(&Arc<Pool>, usize)> {
        Some((self.pool.as_ref()?, self.current?))
    }
}
