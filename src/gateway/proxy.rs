//! The one `impl ProxyHttp`: pingora calls these phases in this order, and
//! each delegates to the module that owns the decision.
//!
//! ```text
//! request_filter ---- request id, limits (431/413), https redirect,
//!   |                  router (404/405), mock integration answers here
//!   v
//! request_body_filter  body size limit for chunked bodies (413)
//! upstream_peer ------ pool + balancer pick a target (502 if none healthy)
//!   | fail_to_connect: passive failure, retry another target if idempotent
//!   v
//! upstream_request_filter  path rewrite, Host, X-Forwarded-*, header rules
//! upstream_response_filter passive health from the upstream's status
//! response_filter ---- X-Request-Id, response header rules
//! fail_to_proxy ------ any error -> JSON body via errors.rs (502/504/...)
//! logging ------------ metrics + access log
//! ```

use super::access_log::Entry;
use super::body;
use super::errors::GatewayError;
use super::headers;
use super::integration::{http as http_integration, mock};
use super::policy;
use super::request::{
    check_body_against_schema, check_request, forward_client_identity, peer_ip, request_host,
    request_host_raw,
};
use super::router::Match;
use super::upstream::Pool;
use super::{Runtime, State};
use crate::config::model::{Balance, Integration, Route};
use crate::config::path_template::Params;
use crate::metrics::ConnectionGuard;
use crate::request_id;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, Result};
use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub struct Gateway {
    pub state: Arc<State>,
    /// Whether this service's listeners terminate TLS.
    pub tls: bool,
    /// Local ports of plain listeners that redirect to HTTPS.
    pub redirect_ports: Vec<u16>,
    /// Port of the first TLS listener, for redirects.
    pub https_port: Option<u16>,
}

/// Per-request state, created by pingora for every request.
pub struct Ctx {
    request_id: String,
    started: Instant,
    runtime: Option<Arc<Runtime>>,
    route: Option<Arc<Route>>,
    params: Params,
    pool: Option<Arc<Pool>>,
    /// Targets that failed to connect during this request.
    failed: Vec<usize>,
    current: Option<usize>,
    deadline: Option<Instant>,
    body_bytes: u64,
    /// The largest body this request may send: the gateway's limit, or a
    /// route's smaller one.
    body_limit: u64,
    failure: Option<GatewayError>,
    websocket: bool,
    connection: Option<Arc<ConnectionGuard>>,
    /// Headers policies add to the response, whoever answers.
    extra_headers: policy::ExtraHeaders,
    /// Headers the auth policy sets (or clears) on the upstream request.
    upstream_headers: policy::jwt::Forward,
    /// The policy that refused the request, for the access log.
    denied_by: Option<&'static str>,
    /// The WAF rule that blocked it: logged, never sent to the client.
    denied_rule: Option<String>,
    /// The request body, when a policy read it before proxying (it is
    /// replayed to the upstream from pingora's retry buffer).
    body: Option<Bytes>,
    _inflight: ConnectionGuard,
}

impl Ctx {
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
    fn body_deadline(&self) -> Instant {
        let timeout = self.runtime.as_ref().map_or(Duration::from_secs(60), |r| {
            r.config.limits.client_body_timeout
        });
        self.started + timeout
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
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
            body: None,
            _inflight: ConnectionGuard::new(&self.state.metrics.inflight_requests),
        }
    }

    /// Decides everything that does not need an upstream. `Ok(true)` means a
    /// response was written here and pingora stops.
    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let runtime = self.state.runtime.load_full();
        ctx.request_id = session
            .get_header(request_id::HEADER)
            .and_then(|v| request_id::accept(v.as_bytes()))
            .map_or_else(request_id::generate, str::to_string);
        if ctx.connection.is_none() {
            ctx.connection = Some(Arc::new(ConnectionGuard::new(
                &self.state.metrics.active_connections,
            )));
        }
        let limits = &runtime.config.limits;
        // pingora has already decided from the request whether the client
        // keeps the connection (HTTP/1.0 only with `Connection: keep-alive`,
        // never after `Connection: close`); only then does it get our timeout.
        if session.get_keepalive().is_some() {
            session.set_keepalive(Some(limits.keepalive_timeout.as_secs().max(1)));
        }
        session.set_read_timeout(Some(limits.client_read_timeout));
        ctx.runtime = Some(runtime.clone());

        if let Some(err) = check_request(session.req_header(), limits) {
            // The body was not read: the connection cannot be reused.
            session.set_keepalive(None);
            return self.answer_error(session, ctx, err).await;
        }
        if let Some(location) = self.https_redirect(session) {
            let mut resp = ResponseHeader::build(308, Some(4))?;
            resp.insert_header(http::header::LOCATION, location)?;
            resp.insert_header(http::header::CONTENT_LENGTH, 0)?;
            resp.insert_header(request_id::HEADER, &ctx.request_id)?;
            session.write_response_header(Box::new(resp), true).await?;
            return Ok(true);
        }

        let host = request_host(session.req_header());
        if let Some(answered) = self.cors_preflight(session, ctx, &runtime, &host).await {
            return answered;
        }
        let req = session.req_header();
        let (route, params) = match runtime.router.find(&host, &req.method, req.uri.path()) {
            Match::Found(route, params) => (route, params),
            Match::MethodNotAllowed(allow) => {
                return self
                    .answer_error(session, ctx, GatewayError::MethodNotAllowed(allow))
                    .await
            }
            Match::NotFound => {
                return self
                    .answer_error(session, ctx, GatewayError::NotFound)
                    .await
            }
        };
        ctx.route = Some(route.clone());
        ctx.params = params;
        ctx.body_limit = route
            .policies
            .validate
            .as_ref()
            .map_or(limits.max_body_bytes, |v| {
                policy::validate::body_limit(v, limits.max_body_bytes)
            });

        if let Some(answered) = self.run_policies(session, ctx, &runtime, &route).await? {
            return Ok(answered);
        }

        match &route.integration {
            Integration::Mock(mock) => {
                mock::respond(session, mock, &route, ctx).await?;
                Ok(true)
            }
            Integration::Publish(target) => self.publish(session, ctx, &route, target).await,
            Integration::Flow(target) => self.start_flow(session, ctx, &route, target).await,
            Integration::Http(h) => {
                ctx.pool = runtime.pools.get(&h.upstream).cloned();
                ctx.deadline = route.timeouts.total.map(|t| ctx.started + t);
                ctx.websocket = session.is_upgrade_req();
                if ctx.websocket {
                    session.set_read_timeout(Some(route.timeouts.websocket_idle));
                } else if ctx.body.is_none() && body::buffered_before_upstream(session.req_header())
                {
                    if let Err(err) = self.whole_body(session, ctx).await? {
                        return self.answer_error(session, ctx, err).await;
                    }
                }
                Ok(false)
            }
        }
    }

    /// Counts body bytes as they arrive; chunked bodies have no length up front.
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if ctx.websocket {
            return Ok(());
        }
        if let Some(chunk) = body.as_ref() {
            ctx.body_bytes += chunk.len() as u64;
            let limit = ctx.body_limit;
            if ctx.body_bytes > limit {
                let err = GatewayError::PayloadTooLarge { limit };
                let pe = err.into_pingora();
                ctx.failure = Some(err);
                return Err(pe);
            }
        }
        Ok(())
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let (Some(pool), Some(route)) = (ctx.pool.clone(), ctx.route.clone()) else {
            ctx.failure = Some(GatewayError::Internal);
            return Err(GatewayError::Internal.into_pingora());
        };
        let index = {
            let req = session.req_header();
            let header = |name: &str| req.headers.get(name).map(|v| v.as_bytes());
            let client_ip = session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip().to_string());
            let key = match &pool.spec.balance {
                Balance::ConsistentHash(on) => {
                    http_integration::hash_key(on, &header, client_ip.as_deref())
                        .map(<[u8]>::to_vec)
                }
                _ => None,
            };
            pool.pick(key.as_deref(), &ctx.failed)
        };
        let Some(index) = index else {
            let err = if ctx.failed.is_empty() {
                GatewayError::NoHealthyUpstream
            } else {
                GatewayError::UpstreamUnavailable
            };
            let pe = err.into_pingora();
            ctx.failure = Some(err);
            return Err(pe);
        };
        ctx.current = Some(index);
        let sending = if ctx.websocket {
            http_integration::Sending::WebSocket
        } else if session.is_body_done() {
            http_integration::Sending::Whole
        } else {
            let runtime = ctx.runtime.as_ref();
            let client_read_timeout = runtime.map_or(Duration::from_secs(60), |r| {
                r.config.limits.client_read_timeout
            });
            http_integration::Sending::Streaming {
                client_read_timeout,
            }
        };
        Ok(Box::new(http_integration::peer(
            &pool,
            index,
            &route.timeouts,
            ctx.deadline,
            sending,
        )))
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let (Some(pool), Some(index)) = (ctx.pool.as_ref(), ctx.current) else {
            return e;
        };
        self.passive_failure(pool, index);
        ctx.failed.push(index);
        let idempotent = session.req_header().method.is_idempotent();
        let retries_left = (ctx.failed.len() as u32) <= pool.spec.retries;
        let before_deadline = ctx.deadline.is_none_or(|d| Instant::now() < d);
        if idempotent && retries_left && before_deadline && ctx.failed.len() < pool.targets.len() {
            e.set_retry(true);
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let (Some(route), Some(pool), Some(index)) =
            (ctx.route.as_ref(), ctx.pool.as_ref(), ctx.current)
        else {
            return Ok(());
        };
        let req = session.req_header();
        let path =
            http_integration::upstream_path(route, &ctx.params, req.uri.path(), req.uri.query());
        if let Some(path) = path {
            let uri = path.parse::<http::Uri>().map_err(|_| {
                GatewayError::BadRequest("request path cannot be rewritten".into()).into_pingora()
            })?;
            upstream.set_uri(uri);
        }

        let original_host = request_host_raw(req).to_string();
        if !pool.spec.preserve_host {
            upstream.insert_header(http::header::HOST, pool.targets[index].host_header.clone())?;
        } else if upstream.headers.get(http::header::HOST).is_none() {
            // HTTP/2 clients send :authority instead of Host.
            upstream.insert_header(http::header::HOST, &original_host)?;
        }
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string());
        if let Some(ip) = client_ip {
            let forwarded = match session.req_header().headers.get("x-forwarded-for") {
                Some(prev) => format!("{}, {ip}", String::from_utf8_lossy(prev.as_bytes())),
                None => ip,
            };
            upstream.insert_header("x-forwarded-for", forwarded)?;
        }
        upstream.insert_header("x-forwarded-proto", if self.tls { "https" } else { "http" })?;
        if !original_host.is_empty() {
            upstream.insert_header("x-forwarded-host", original_host)?;
        }
        upstream.insert_header(request_id::HEADER, &ctx.request_id)?;
        if ctx.body.is_some() {
            // The body was read here (after our own 100 Continue): the
            // upstream gets it whole and has nothing to agree to.
            upstream.remove_header(&http::header::EXPECT);
        }
        forward_client_identity(session, upstream)?;
        for (name, value) in &ctx.upstream_headers {
            match value {
                Some(v) => upstream.insert_header(name.clone(), v.clone())?,
                None => {
                    upstream.remove_header(name);
                }
            }
        }
        headers::apply(upstream, &route.request_headers)
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let (Some(pool), Some(index)) = (ctx.pool.as_ref(), ctx.current) {
            match upstream_response.status.as_u16() {
                // An early 5xx while the client is still sending may be the
                // upstream giving up on that client, not a sign of ill health.
                502..=504 if session.is_body_done() => self.passive_failure(pool, index),
                502..=504 => {}
                _ => pool.report_success(index),
            }
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        response.insert_header(request_id::HEADER, &ctx.request_id)?;
        for (name, value) in &ctx.extra_headers {
            response.append_header(*name, value.clone())?;
        }
        if let Some(route) = &ctx.route {
            headers::apply(response, &route.response_headers)?;
        }
        Ok(())
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let err = ctx
            .failure
            .clone()
            .or_else(|| GatewayError::from_pingora(e));
        let Some(mut err) = err else {
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        };
        // While the client's body is still streaming, the upstream is waiting
        // for the client: its silence or its giving up is the client's doing.
        let waiting_for_client = !session.is_body_done();
        if waiting_for_client && err == GatewayError::UpstreamTimeout {
            err = GatewayError::RequestTimeout;
        }
        // Timeouts and broken responses after connecting count against the
        // target, once it had the whole request.
        let upstream_failed =
            err == GatewayError::UpstreamTimeout || e.esource() == &pingora::ErrorSource::Upstream;
        if upstream_failed && !waiting_for_client {
            if let (Some(pool), Some(index)) = (ctx.pool.as_ref(), ctx.current) {
                if !ctx.failed.contains(&index) {
                    self.passive_failure(pool, index);
                }
            }
        }
        let status = err.status();
        if session.response_written().is_none() {
            // The request body may be unread: tell the client this connection
            // ends here rather than let its next request hit a closed socket.
            session.set_keepalive(None);
            if let Err(write_err) = self.answer_error(session, ctx, err).await {
                tracing::debug!(error = %write_err, "could not send error response");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let (api, route) = ctx
            .route
            .as_ref()
            // Unrouted requests (404, 405, refusals before routing) still
            // get labels a query can match.
            .map_or(("-", "-"), |r| (r.api.as_str(), r.id.as_str()));
        let elapsed = ctx.started.elapsed();
        self.state
            .metrics
            .observe_request(api, route, status, elapsed.as_secs_f64());

        if !self.state.access_log.enabled() {
            return;
        }
        let req = session.req_header();
        let upstream = match (ctx.pool.as_ref(), ctx.current) {
            (Some(p), Some(i)) => p.targets[i].spec.address.as_str(),
            _ => "",
        };
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let time = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let error = e.map(|e| e.etype().as_str());
        self.state.access_log.log(&Entry {
            time: &time,
            request_id: &ctx.request_id,
            client: &client,
            method: req.method.as_str(),
            host: request_host_raw(req),
            path: req.uri.path(),
            api,
            route,
            status,
            latency_ms: (elapsed.as_micros() as f64) / 1000.0,
            upstream,
            bytes_in: session.body_bytes_read(),
            bytes_out: session.body_bytes_sent(),
            error,
            denied_by: ctx.denied_by,
            rule: ctx.denied_rule.as_deref(),
        });
    }

    /// A client that hangs up mid-request is routine, not an error worth a
    /// log line per occurrence; it still shows in the access log.
    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, error: &Error) -> bool {
        error.esource() == &pingora::ErrorSource::Downstream
            && matches!(
                error.etype(),
                pingora::ErrorType::ConnectionClosed
                    | pingora::ErrorType::ReadError
                    | pingora::ErrorType::WriteError
            )
    }

    /// No downstream modules: pingora's default adds a (disabled) compression
    /// module whose hooks would still run on every request.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    fn persist_connection_context(
        &self,
        _session: &Session,
        ctx: &Ctx,
    ) -> Option<Box<dyn Any + Send + Sync>> {
        ctx.connection
            .clone()
            .map(|c| Box::new(c) as Box<dyn Any + Send + Sync>)
    }

    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        ctx: &mut Ctx,
        prev: Box<dyn Any + Send + Sync>,
    ) {
        if let Ok(guard) = prev.downcast::<Arc<ConnectionGuard>>() {
            ctx.connection = Some(*guard);
        }
    }
}

impl Gateway {
    /// Writes a JSON error response for `err` and records it for logging.
    /// The `queue` and `topic` integrations: the body (already read if a
    /// policy needed it) becomes a message; 200 with its MessageId.
    async fn publish(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: &Route,
        target: &crate::config::model::PublishIntegration,
    ) -> Result<bool> {
        let (Some(broker), Some(queues)) =
            (self.state.messaging.clone(), self.state.queues.clone())
        else {
            return self
                .answer_error(session, ctx, GatewayError::Internal)
                .await;
        };
        let body = match self.whole_body(session, ctx).await? {
            Ok(body) => body,
            Err(err) => return self.answer_error(session, ctx, err).await,
        };
        let answer = super::integration::publish::deliver(
            &broker,
            queues.as_ref(),
            session,
            target,
            ctx.params(),
            ctx.request_id(),
            body,
        )
        .await;
        self.answer_json(session, ctx, route, 200, answer).await
    }

    /// The `flow` integration: 202 with the run id once the run has started.
    async fn start_flow(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: &Route,
        target: &crate::config::model::FlowIntegration,
    ) -> Result<bool> {
        let body = match self.whole_body(session, ctx).await? {
            Ok(body) => body,
            Err(err) => return self.answer_error(session, ctx, err).await,
        };
        let answer = super::integration::flow::start(
            &self.state.flows,
            target,
            &session.req_header().headers,
            body,
        );
        self.answer_json(session, ctx, route, 202, answer).await
    }

    /// An integration's outcome: its JSON with `status`, or its error.
    async fn answer_json(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        route: &Route,
        status: u16,
        answer: std::result::Result<serde_json::Value, GatewayError>,
    ) -> Result<bool> {
        match answer {
            Ok(json) => {
                super::integration::mock::respond_json(session, route, ctx, status, json).await?;
                Ok(true)
            }
            Err(e) => self.answer_error(session, ctx, e).await,
        }
    }

    /// The request body, whole (already read if a policy needed it), kept
    /// for the upstream; or the answer when it is too large or too slow.
    async fn whole_body(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
    ) -> Result<std::result::Result<Bytes, GatewayError>> {
        if let Some(b) = &ctx.body {
            return Ok(Ok(b.clone()));
        }
        let read = body::read_whole(session, ctx.body_limit, ctx.body_deadline()).await?;
        if let Ok(b) = &read {
            ctx.body = Some(b.clone());
        }
        Ok(read)
    }

    async fn answer_error(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        err: GatewayError,
    ) -> Result<bool> {
        if ctx.request_id.is_empty() {
            ctx.request_id = request_id::generate();
        }
        let body = err.body(&ctx.request_id);
        let mut resp = ResponseHeader::build(err.status(), Some(4))?;
        resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
        resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
        resp.insert_header(request_id::HEADER, &ctx.request_id)?;
        for (name, value) in &ctx.extra_headers {
            resp.append_header(*name, value.clone())?;
        }
        for (name, value) in err.headers() {
            resp.append_header(*name, value.clone())?;
        }
        if let Some(challenge) = err.www_authenticate() {
            resp.insert_header(http::header::WWW_AUTHENTICATE, challenge)?;
        }
        if let GatewayError::MethodNotAllowed(allow) = &err {
            let list: Vec<&str> = allow.iter().map(|m| m.as_str()).collect();
            resp.insert_header(http::header::ALLOW, list.join(", "))?;
        }
        let head_only = session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(resp), head_only)
            .await?;
        if !head_only {
            session
                .write_response_body(Some(Bytes::from(body)), true)
                .await?;
        }
        ctx.failure = Some(err);
        Ok(true)
    }

    /// The policy chain: the WAF (reading the body first if it inspects
    /// bodies), authentication (async: JWKS, authorizer), the checks that only
    /// look at the request, then body validation. `Some(answered)` when a
    /// policy refused and the response is written.
    async fn run_policies(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        runtime: &Runtime,
        route: &Route,
    ) -> Result<Option<bool>> {
        let limits = &runtime.config.limits;
        let metrics = &self.state.metrics;
        if let Some(set) = &route.policies.waf {
            if let Some(refusal) = self.read_body_for_waf(session, ctx, set).await? {
                return Ok(Some(refusal));
            }
        }
        let request = policy::Request {
            header: session.req_header(),
            peer: peer_ip(session),
        };
        let body = ctx.body.clone();
        if let Err((denied, rule)) =
            policy::inspect(runtime, route, &request, body.as_deref(), metrics)
        {
            ctx.denied_by = Some(denied.policy);
            ctx.denied_rule = Some(rule);
            return self
                .answer_error(session, ctx, denied.error)
                .await
                .map(Some);
        }
        let keys = &self.state.keys;
        let extra = &mut ctx.extra_headers;
        let auth = policy::authenticate(runtime, keys, route, &request, metrics, extra).await;
        let verdict = match auth {
            Ok(authenticated) => {
                ctx.upstream_headers = authenticated.forward;
                let identity = &authenticated.identity;
                policy::check(
                    runtime,
                    route,
                    &request,
                    identity,
                    metrics,
                    &mut ctx.extra_headers,
                )
            }
            Err(denied) => Err(denied),
        };
        if let Err(denied) = verdict {
            ctx.denied_by = Some(denied.policy);
            return self
                .answer_error(session, ctx, denied.error)
                .await
                .map(Some);
        }
        if let Some(rules) = &route.policies.validate {
            if policy::validate::wants_body(rules, session.req_header()) {
                let limit = policy::validate::body_limit(rules, limits.max_body_bytes);
                let deadline = ctx.body_deadline();
                if let Err(err) =
                    check_body_against_schema(session, &mut ctx.body, rules, limit, deadline)
                        .await?
                {
                    ctx.denied_by = Some("validate");
                    self.state.metrics.decision("validate", "deny");
                    return self.answer_error(session, ctx, err).await.map(Some);
                }
            }
        }

        Ok(None)
    }

    /// Reads the body when the route's WAF inspects bodies. `Some(answer)`
    /// when the request was refused (too large to inspect).
    async fn read_body_for_waf(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        set: &crate::config::waf::RuleSet,
    ) -> Result<Option<bool>> {
        let Some(limit) = set.inspect_body else {
            return Ok(None);
        };
        if !policy::validate::has_body(session.req_header()) {
            return Ok(None);
        }
        let declared = session
            .get_header(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let oversize = |ctx: &mut Ctx| {
            ctx.denied_by = Some("waf");
            ctx.denied_rule = Some("oversize".into());
            self.state.metrics.decision("waf", "block");
        };
        if declared.is_some_and(|n| n > limit) {
            if !set.block_oversize {
                return Ok(None); // passed on uninspected, as configured
            }
            oversize(ctx);
            session.set_keepalive(None);
            return self
                .answer_error(session, ctx, GatewayError::WafBlocked)
                .await
                .map(Some);
        }
        match body::read_whole(session, limit, ctx.body_deadline()).await? {
            Ok(body) => {
                ctx.body = Some(body);
                Ok(None)
            }
            // A chunked body past the limit was partly read and cannot be
            // replayed: it is refused whatever `oversize` says.
            Err(err @ GatewayError::PayloadTooLarge { .. }) => {
                oversize(ctx);
                self.answer_error(session, ctx, err).await.map(Some)
            }
            Err(err) => self.answer_error(session, ctx, err).await.map(Some),
        }
    }

    /// Answers a CORS preflight when the route the browser asks about has a
    /// CORS policy. `None`: not such a preflight; route as usual.
    async fn cors_preflight(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        runtime: &Runtime,
        host: &str,
    ) -> Option<Result<bool>> {
        let req = session.req_header();
        if req.method != http::Method::OPTIONS {
            return None;
        }
        let requested = req
            .headers
            .get("access-control-request-method")
            .and_then(|m| http::Method::from_bytes(m.as_bytes()).ok())?;
        let Match::Found(route, _) = runtime.router.find(host, &requested, req.uri.path()) else {
            return None;
        };
        let request = policy::Request {
            header: req,
            peer: peer_ip(session),
        };
        let verdict = policy::preflight(&route, &request, &self.state.metrics)?;
        ctx.route = Some(route);
        Some(match verdict {
            Ok(headers) => self.answer_preflight(session, ctx, headers).await,
            Err(denied) => {
                ctx.denied_by = Some(denied.policy);
                self.answer_error(session, ctx, denied.error).await
            }
        })
    }

    async fn answer_preflight(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        headers: policy::ExtraHeaders,
    ) -> Result<bool> {
        let mut resp = ResponseHeader::build(204, Some(headers.len() + 2))?;
        for (name, value) in headers {
            resp.append_header(name, value)?;
        }
        resp.insert_header(http::header::CONTENT_LENGTH, 0)?;
        resp.insert_header(request_id::HEADER, &ctx.request_id)?;
        session.write_response_header(Box::new(resp), true).await?;
        Ok(true)
    }

    fn https_redirect(&self, session: &Session) -> Option<String> {
        if self.tls || self.redirect_ports.is_empty() {
            return None;
        }
        let local_port = session.server_addr()?.as_inet()?.port();
        if !self.redirect_ports.contains(&local_port) {
            return None;
        }
        let host = request_host(session.req_header());
        let port = match self.https_port {
            Some(443) | None => String::new(),
            Some(p) => format!(":{p}"),
        };
        let path = session
            .req_header()
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str());
        Some(format!("https://{host}{port}{path}"))
    }

    fn passive_failure(&self, pool: &Pool, index: usize) {
        if pool.report_failure(index) {
            let address = &pool.targets[index].spec.address;
            self.state
                .metrics
                .upstream_ejections
                .with_label_values(&[&pool.spec.name, address])
                .inc();
        }
    }
}
