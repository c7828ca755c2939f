//! Integrations: what answers a matched route, behind one `answer`.
//!
//! `mock` answers at once; `publish` (the `queue` and `topic` integrations)
//! answers once the message is stored; `flow` starts a run and answers 202
//! with its id (`config::signature` checks webhook senders' HMACs first);
//! `http` hands the request to pingora's proxy loop (which also carries
//! WebSocket upgrades).

pub mod flow;
pub mod http;
pub mod job;
pub mod mock;
pub mod publish;
pub mod publish_body;

use super::ctx::Ctx;
use super::errors::GatewayError;
use super::respond::Reply;
use super::{body, Runtime, State};
use crate::config::model::{Integration, Route};
use pingora::proxy::Session;

/// What the route's integration did with the request.
pub enum Outcome<'a> {
    /// The gateway answers itself.
    Answer(Reply<'a>),
    /// The integration answered on the connection itself (a WebSocket API
    /// held it until it closed).
    Done,
    /// Proxy to the upstream pool set in the context.
    Proxy,
}

pub async fn answer<'a>(
    state: &std::sync::Arc<State>,
    runtime: &std::sync::Arc<Runtime>,
    route: &'a Route,
    session: &mut Session,
    ctx: &mut Ctx,
) -> pingora::Result<Outcome<'a>> {
    let answered = |result: Result<serde_json::Value, GatewayError>, status, ctx: &Ctx| {
        Outcome::Answer(match result {
            Ok(json) => Reply::json(route, status, json),
            Err(err) => Reply::error(err, ctx.request_id()),
        })
    };
    Ok(match &route.integration {
        Integration::Mock(m) => Outcome::Answer(mock::answer(route, m, session, ctx)),
        Integration::WebSocket(w) => {
            match crate::gateway::websocket::connection::serve(w, state, runtime, session, ctx)
                .await?
            {
                Ok(()) => Outcome::Done,
                Err(err) => Outcome::Answer(Reply::error(err, ctx.request_id())),
            }
        }
        Integration::Publish(target) => {
            let payloads = state.payloads.as_deref();
            let result = match publish_body::read(session, ctx, payloads).await? {
                Ok(body) => match (&state.topics, &state.queues) {
                    (Some(topics), Some(queues)) => {
                        let to = publish::Targets {
                            topics: topics.as_ref(),
                            queues: queues.as_ref(),
                            payloads,
                        };
                        let (params, id) = (ctx.params(), ctx.request_id());
                        publish::deliver(&to, session, target, params, id, body).await
                    }
                    _ => Err(GatewayError::Internal),
                },
                Err(err) => Err(err),
            };
            answered(result, 200, ctx)
        }
        Integration::Flow(target) => {
            let result = match body::whole(session, ctx).await? {
                Ok(body) => {
                    let headers = &session.req_header().headers;
                    flow::start(&state.flows, target, headers, body)
                }
                Err(err) => Err(err),
            };
            answered(result, 202, ctx)
        }
        Integration::Job(target) => {
            let result = match body::whole(session, ctx).await? {
                Ok(body) => {
                    let config = &runtime.config;
                    job::submit(state.jobs.as_ref(), config, target, ctx.params(), body).await
                }
                Err(err) => Err(err),
            };
            answered(result, 202, ctx)
        }
        Integration::Http(h) => {
            ctx.pool = runtime.pools.get(&h.upstream).cloned();
            ctx.deadline = route.timeouts.total.map(|t| ctx.started + t);
            ctx.websocket = session.is_upgrade_req();
            if ctx.websocket {
                session.set_read_timeout(Some(route.timeouts.websocket_idle));
            } else if ctx.body.is_none() && body::buffered_before_upstream(session.req_header()) {
                if let Err(err) = body::whole(session, ctx).await? {
                    return Ok(Outcome::Answer(Reply::error(err, ctx.request_id())));
                }
            }
            Outcome::Proxy
        }
    })
}
