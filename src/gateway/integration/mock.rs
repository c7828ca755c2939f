//! The `mock` integration: the gateway answers by itself, as API Gateway's
//! MOCK integration does. The body is a template filled from the request.

use crate::config::body_template::RequestView;
use crate::config::model::{MockIntegration, Route};
use crate::request_id;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

/// Writes the mock response for `route` to the client.
pub async fn respond(
    session: &mut Session,
    mock: &MockIntegration,
    route: &Route,
    ctx: &crate::gateway::proxy::Ctx,
) -> pingora::Result<()> {
    let (request_id, params) = (ctx.request_id(), ctx.params());
    let req = session.req_header();
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let body = mock.body.render(&RequestView {
        request_id,
        method: req.method.as_str(),
        path: req.uri.path(),
        query: req.uri.query(),
        params,
        header: &header,
    });
    let head_only = req.method == http::Method::HEAD;
    let mut resp = ResponseHeader::build(mock.status, Some(mock.headers.len() + 2))?;
    for (name, value) in &mock.headers {
        resp.insert_header(name.clone(), value.clone())?;
    }
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    resp.insert_header(request_id::HEADER, request_id)?;
    for (name, value) in ctx.extra_headers() {
        resp.append_header(*name, value.clone())?;
    }
    crate::gateway::headers::apply(&mut resp, &route.response_headers)?;
    session
        .write_response_header(Box::new(resp), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// Writes a JSON answer the gateway made itself (the publish integrations),
/// with the route's response headers.
pub async fn respond_json(
    session: &mut Session,
    route: &Route,
    ctx: &crate::gateway::proxy::Ctx,
    status: u16,
    json: serde_json::Value,
) -> pingora::Result<()> {
    let body = Bytes::from(json.to_string());
    let mut resp = ResponseHeader::build(status, Some(4))?;
    resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    resp.insert_header(request_id::HEADER, ctx.request_id())?;
    for (name, value) in ctx.extra_headers() {
        resp.append_header(*name, value.clone())?;
    }
    crate::gateway::headers::apply(&mut resp, &route.response_headers)?;
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(body), true).await?;
    Ok(())
}
