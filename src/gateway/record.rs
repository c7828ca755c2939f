//! After the response: the request's metrics and its access log line.

use super::access_log::Entry;
use super::ctx::Ctx;
use super::request::request_host_raw;
use super::State;
use pingora::proxy::Session;
use pingora::Error;
use std::time::SystemTime;

pub fn request(state: &State, session: &Session, error: Option<&Error>, ctx: &Ctx) {
    let status = session.response_written().map_or(0, |r| r.status.as_u16());
    let (api, route) = ctx
        .route
        .as_ref()
        // Unrouted requests (404, 405, refusals before routing) still get
        // labels a query can match.
        .map_or(("-", "-"), |r| (r.api.as_str(), r.id.as_str()));
    let elapsed = ctx.started.elapsed();
    state
        .metrics
        .observe_request(api, route, status, elapsed.as_secs_f64());

    let peer = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip());
    if let Some(policy) = ctx.denied_by {
        let reason = ctx
            .denied_rule
            .as_deref()
            .or(ctx.denied_reason)
            .unwrap_or("-");
        state.denials.record(peer, policy, reason);
    }

    if !state.access_log.enabled() {
        return;
    }
    let req = session.req_header();
    let upstream = ctx
        .target()
        .map_or("", |(pool, i)| pool.targets[i].spec.address.as_str());
    let client = peer.map(|ip| ip.to_string()).unwrap_or_default();
    let time = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    state.access_log.log(&Entry {
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
        error: error.map(|e| e.etype().as_str()),
        denied_by: ctx.denied_by,
        rule: ctx.denied_rule.as_deref(),
    });
}
