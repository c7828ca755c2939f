//! The `mock` integration: the gateway answers by itself, as API Gateway's
//! MOCK integration does. The body is a template filled from the request.

use crate::config::body_template::RequestView;
use crate::config::model::{MockIntegration, Route};
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

/// The mock's body, filled from the request (for a WebSocket API, the
/// upgrade request).
pub fn body(mock: &MockIntegration, session: &Session, ctx: &Ctx) -> bytes::Bytes {
    let req = session.req_header();
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    mock.body.render(&RequestView {
        request_id: ctx.request_id(),
        method: req.method.as_str(),
        path: req.uri.path(),
        query: req.uri.query(),
        params: ctx.params(),
        header: &header,
    })
}
