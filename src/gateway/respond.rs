//! The one writer of every answer the gateway makes itself (errors, mock
//! answers, service integrations' JSON, CORS preflights, HTTPS redirects):
//! each is a `Reply`, and `send` adds what every answer carries, the request
//! id and, where they apply, the policies' headers and the route's response
//! header rules; a HEAD gets the head only.

use super::ctx::Ctx;
use super::errors::GatewayError;
use super::headers;
use crate::config::model::Route;
use crate::request_id;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

pub struct Reply<'a> {
    status: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    /// Adds the headers policies set (rate-limit state, CORS).
    with_policy_headers: bool,
    /// Applies this route's response header rules.
    route: Option<&'a Route>,
    /// An error, kept in the context for the access log and metrics.
    error: Option<GatewayError>,
}

fn json_type() -> (HeaderName, HeaderValue) {
    (
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )
}

impl<'a> Reply<'a> {
    /// A JSON error body: `{"message", "code", "request_id"}`.
    pub fn error(err: GatewayError, request_id: &str) -> Reply<'a> {
        let mut headers = vec![json_type()];
        for (name, value) in err.headers() {
            if let Ok(name) = HeaderName::try_from(*name) {
                headers.push((name, value.clone()));
            }
        }
        if let Some(challenge) = err.www_authenticate() {
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                headers.push((http::header::WWW_AUTHENTICATE, v));
            }
        }
        if let GatewayError::MethodNotAllowed(allow) = &err {
            let list: Vec<&str> = allow.iter().map(|m| m.as_str()).collect();
            if let Ok(v) = HeaderValue::from_str(&list.join(", ")) {
                headers.push((http::header::ALLOW, v));
            }
        }
        Reply {
            status: err.status(),
            headers,
            body: Bytes::from(err.body(request_id)),
            with_policy_headers: true,
            route: None,
            error: Some(err),
        }
    }

    /// JSON the gateway made (the queue, topic and flow integrations).
    pub fn json(route: &'a Route, status: u16, json: serde_json::Value) -> Reply<'a> {
        let body = Bytes::from(json.to_string());
        Reply::made(route, status, vec![json_type()], body)
    }

    /// An answer an integration made: the route's response header rules
    /// and the policies' headers apply.
    pub fn made(
        route: &'a Route,
        status: u16,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Reply<'a> {
        Reply {
            status,
            headers,
            body,
            with_policy_headers: true,
            route: Some(route),
            error: None,
        }
    }

    /// 204 with the CORS headers of an allowed preflight.
    pub fn preflight(cors: Vec<(&'static str, HeaderValue)>) -> Reply<'a> {
        Reply {
            status: 204,
            headers: cors
                .into_iter()
                .filter_map(|(n, v)| Some((HeaderName::try_from(n).ok()?, v)))
                .collect(),
            body: Bytes::new(),
            with_policy_headers: false,
            route: None,
            error: None,
        }
    }

    /// 308 to the HTTPS listener; a location that is no header value (it
    /// holds the request's Host and path) is the client's bad request.
    pub fn redirect(location: &str, request_id: &str) -> Reply<'a> {
        let Ok(value) = HeaderValue::from_str(location) else {
            let err = GatewayError::BadRequest("the request cannot be redirected to HTTPS".into());
            return Reply::error(err, request_id);
        };
        Reply {
            status: 308,
            headers: vec![(http::header::LOCATION, value)],
            body: Bytes::new(),
            with_policy_headers: false,
            route: None,
            error: None,
        }
    }
}

/// Writes `reply`; `Ok(true)`, pingora's "answered, stop here".
pub async fn send(session: &mut Session, ctx: &mut Ctx, reply: Reply<'_>) -> pingora::Result<bool> {
    if ctx.request_id.is_empty() {
        ctx.request_id = request_id::generate();
    }
    let mut resp = ResponseHeader::build(reply.status, Some(reply.headers.len() + 4))?;
    for (name, value) in reply.headers {
        resp.append_header(name, value)?;
    }
    resp.insert_header(http::header::CONTENT_LENGTH, reply.body.len())?;
    resp.insert_header(request_id::HEADER, &ctx.request_id)?;
    if reply.with_policy_headers {
        for (name, value) in &ctx.extra_headers {
            resp.append_header(*name, value.clone())?;
        }
    }
    if let Some(route) = reply.route {
        headers::apply(&mut resp, &route.response_headers)?;
    }
    let head_only = session.req_header().method == http::Method::HEAD || reply.body.is_empty();
    session
        .write_response_header(Box::new(resp), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(reply.body), true).await?;
    }
    if let Some(err) = reply.error {
        ctx.failure = Some(err);
    }
    Ok(true)
}

/// Writes `err` as the JSON error answer.
pub async fn error(
    session: &mut Session,
    ctx: &mut Ctx,
    err: GatewayError,
) -> pingora::Result<bool> {
    if ctx.request_id.is_empty() {
        ctx.request_id = request_id::generate();
    }
    let reply = Reply::error(err, &ctx.request_id);
    send(session, ctx, reply).await
}
