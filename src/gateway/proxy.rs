//! The one `impl ProxyHttp`: pingora calls these phases in order, and each
//! delegates to the module that owns the decision. `design.md` draws the
//! whole path of a request.
//!
//! ```text
//! request_filter ---------- request id, limits (431/413/400), https redirect,
//!   |                       CORS preflight, router (404/405),
//!   |                       policy::chain (first deny wins),
//!   |                       integration::answer (mock, queue/topic, flow answer here)
//!   v
//! request_body_filter ----- body size limit for streamed bodies (413)
//! upstream_peer ----------- integration::http::choose_peer (502 if none healthy)
//!   | fail_to_connect: passive failure, retry another target if idempotent
//!   v
//! upstream_request_filter - integration::http::rewrite_request
//! upstream_response_filter  passive health from the upstream's status
//! response_filter --------- X-Request-Id, policy headers, response header rules
//! fail_to_proxy ----------- any error -> respond::error (502/504/...)
//! logging ----------------- record::request (metrics + access log)
//! ```
//!
//! Every answer the gateway makes itself goes through `respond`.

use super::ctx::Ctx;
use super::errors::GatewayError;
use super::headers;
use super::integration::{self, http as http_integration, Outcome};
use super::policy::{self, chain};
use super::request::{check_request, peer_ip, request_host};
use super::respond::{self, Reply};
use super::router::Match;
use super::upstream::Pool;
use super::{Runtime, State};
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
use std::time::Instant;

pub struct Gateway {
    pub state: Arc<State>,
    /// Whether this service's listeners terminate TLS.
    pub tls: bool,
    /// Local ports of plain listeners that redirect to HTTPS.
    pub redirect_ports: Vec<u16>,
    /// Port of the first TLS listener, for redirects.
    pub https_port: Option<u16>,
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::new(&self.state.metrics)
    }

    /// Decides everything that does not need an upstream. `Ok(true)` means a
    /// response was written here and pingora stops.
    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let runtime = self.state.runtime.load_full();
        self.begin(session, ctx, &runtime);
        if let Some(err) = check_request(session.req_header(), &runtime.config.limits) {
            // The body was not read: the connection cannot be reused.
            session.set_keepalive(None);
            return respond::error(session, ctx, err).await;
        }
        if let Some(location) = self.https_redirect(session) {
            let reply = Reply::redirect(&location, &ctx.request_id);
            return respond::send(session, ctx, reply).await;
        }
        let host = request_host(session.req_header());
        if let Some(answered) = self.cors_preflight(session, ctx, &runtime, &host).await {
            return answered;
        }
        let req = session.req_header();
        let (route, params) = match runtime.router.find(&host, &req.method, req.uri.path()) {
            Match::Found(route, params) => (route, params),
            Match::MethodNotAllowed(allow) => {
                let err = GatewayError::MethodNotAllowed(allow);
                return respond::error(session, ctx, err).await;
            }
            Match::NotFound => return respond::error(session, ctx, GatewayError::NotFound).await,
        };
        ctx.route = Some(route.clone());
        ctx.params = params;
        let limits = &runtime.config.limits;
        ctx.body_limit = route
            .policies
            .validate
            .as_ref()
            .map_or(limits.max_body_bytes, |v| {
                policy::validate::body_limit(v, limits.max_body_bytes)
            });

        let env = chain::Env {
            runtime: &runtime,
            route: &route,
            keys: &self.state.keys,
            metrics: &self.state.metrics,
        };
        if let Some(refusal) = chain::run(&env, session, ctx).await? {
            ctx.denied_by = refusal.policy;
            ctx.denied_rule = refusal.rule;
            ctx.denied_reason = Some(refusal.error.code());
            return respond::error(session, ctx, refusal.error).await;
        }
        match integration::answer(&self.state, &runtime, &route, session, ctx).await? {
            Outcome::Answer(reply) => respond::send(session, ctx, reply).await,
            Outcome::Done => Ok(true),
            Outcome::Proxy => Ok(false),
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
                return Err(fail(ctx, GatewayError::PayloadTooLarge { limit }));
            }
        }
        Ok(())
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        match http_integration::choose_peer(session, ctx) {
            Ok(peer) => Ok(Box::new(peer)),
            Err(err) => Err(fail(ctx, err)),
        }
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let Some((pool, index)) = ctx.target() else {
            return e;
        };
        let pool = pool.clone();
        self.passive_failure(&pool, index);
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
        http_integration::rewrite_request(session, upstream, ctx, self.tls)
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some((pool, index)) = ctx.target() {
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
            if let Some((pool, index)) = ctx.target() {
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
            if let Err(write_err) = respond::error(session, ctx, err).await {
                tracing::debug!(error = %write_err, "could not send error response");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        super::record::request(&self.state, session, e, ctx);
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

/// Keeps `err` for `fail_to_proxy` and hands pingora its form.
fn fail(ctx: &mut Ctx, err: GatewayError) -> Box<Error> {
    let pe = err.into_pingora();
    ctx.failure = Some(err);
    pe
}

impl Gateway {
    /// The request id, the connection gauge, and the listener's timeouts
    /// for this request.
    fn begin(&self, session: &mut Session, ctx: &mut Ctx, runtime: &Arc<Runtime>) {
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
            Ok(headers) => respond::send(session, ctx, Reply::preflight(headers)).await,
            Err(denied) => {
                ctx.denied_by = Some(denied.policy);
                ctx.denied_reason = Some(denied.error.code());
                respond::error(session, ctx, denied.error).await
            }
        })
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
