//! The `mock` integration: the gateway answers by itself, as API Gateway's
//! MOCK integration does. The body is a template filled from the request.

use crate::config::body_template::RequestView;
use crate::config::model::{MockIntegration, Route};
use crate::config::path_template::Params;
use crate::gateway::ctx::Ctx;
use crate::gateway::respond::Reply;
use pingora::proxy::Session;

pub fn answer<'a>(
    route: &'a Route,
    mock: &MockIntegration,
    session: &Session,
    ctx: &Ctx,
) -> Reply<'a> {
    Reply::made(
        route,
        mock.status,
        mock.headers.clone(),
        body(mock, session, ctx),
    )
}

/// The mock's body, filled from the request.
pub fn body(mock: &MockIntegration, session: &Session, ctx: &Ctx) -> bytes::Bytes {
    body_for(mock, session, ctx.request_id(), None, ctx.params())
}

/// The mock's body, filled from `session`'s request under `request_id`
/// (for a WebSocket API: the upgrade request, and the message's id).
pub fn body_for(
    mock: &MockIntegration,
    session: &Session,
    request_id: &str,
    connection_id: Option<&str>,
    params: &Params,
) -> bytes::Bytes {
    let req = session.req_header();
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    mock.body.render(&RequestView {
        request_id,
        connection_id,
        method: req.method.as_str(),
        path: req.uri.path(),
        query: req.uri.query(),
        params,
        header: &header,
    })
}
