//! The admin listener (default 127.0.0.1:9180): `/metrics` for Prometheus,
//! `/healthz` (the process is up), `/readyz` (a valid config is loaded and
//! the gateway is serving), the keys API under `/keys` and the flows API
//! under `/flows`. Both APIs want the admin token when one is configured.
//! The web console (`console`) answers under `/console`, reading through
//! the same handlers.

pub mod console;
pub mod flows;
pub mod keys;

use crate::gateway::State;
use crate::request_id;
use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

pub struct AdminApp {
    pub state: Arc<State>,
    /// The web console under `/console`.
    pub console: Arc<console::Console>,
    /// Queue workers (`/workers`).
    pub workers: Arc<crate::workers::Workers>,
    /// Jobs (`/jobs`).
    pub jobs: Arc<crate::jobs::Jobs>,
}

#[async_trait]
impl ServeHttp for AdminApp {
    /// Every answer carries `X-Request-Id`, and every error body its
    /// `request_id`, as the gateway's do.
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let request_id = session
            .req_header()
            .headers
            .get(request_id::HEADER)
            .and_then(|v| request_id::accept(v.as_bytes()))
            .map_or_else(request_id::generate, str::to_string);
        let mut resp = self.answer(session).await;
        with_request_id(&mut resp, &request_id);
        resp
    }
}

impl AdminApp {
    async fn answer(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let api = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
        if api("/console") {
            return self.console.answer(&self.state, session).await;
        }
        if api("/keys") || api("/flows") || api("/workers") || api("/jobs") {
            if let Some(refused) = self.check_token(session) {
                return refused;
            }
            return if api("/keys") {
                self.keys(session, &path).await
            } else if api("/workers") {
                self.workers(session, &path)
            } else if api("/jobs") {
                self.jobs(session, &path).await
            } else {
                self.flows(session, &path).await
            };
        }
        match path.as_str() {
            "/metrics" => {
                self.state.refresh_upstream_gauges();
                if let Some(queues) = &self.state.queues {
                    // Queue depth as of this scrape (bounded: a store that
                    // does not answer keeps the last values).
                    let refresh = crate::messaging::metrics::refresh(
                        queues.as_ref(),
                        crate::messaging::clock::now_ms(),
                    );
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), refresh).await;
                }
                respond(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    self.state.metrics.render(),
                )
            }
            "/healthz" => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
            "/readyz" => {
                let runtime = self.state.runtime.load();
                if let Some(pg) = &self.state.shared {
                    // A node that cannot reach the shared store is taken
                    // out of the load balancer's rotation.
                    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), pg.ping());
                    let why = match ping.await {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(e.to_string()),
                        Err(_) => Some("the store did not answer within 2s".to_string()),
                    };
                    if let Some(why) = why {
                        return json(
                            StatusCode::SERVICE_UNAVAILABLE,
                            serde_json::json!({"status": "unavailable", "store": why}),
                        );
                    }
                }
                json(
                    StatusCode::OK,
                    serde_json::json!({
                        "status": "ready",
                        "config_generation": runtime.generation,
                        "apis": runtime.config.apis.len(),
                        "upstreams": runtime.pools.len(),
                    }),
                )
            }
            _ => json(
                StatusCode::NOT_FOUND,
                serde_json::json!({"message": "no such admin endpoint", "code": "NotFound"}),
            ),
        }
    }

    /// The 401 to answer when an admin token is configured and the request
    /// does not carry it.
    fn check_token(&self, session: &ServerSession) -> Option<Response<Vec<u8>>> {
        let token = self.state.runtime.load().config.admin_token.clone()?;
        let presented = session
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented.is_some_and(|p| crate::secret::equal(p.as_bytes(), token.as_bytes())) {
            return None;
        }
        Some(json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"message": "admin token required", "code": "Unauthorized"}),
        ))
    }

    /// `GET /workers`: every worker with its live numbers;
    /// `GET /workers/NAME/batches?limit=N`: its recent batches, newest first.
    fn workers(&self, session: &ServerSession, path: &str) -> Response<Vec<u8>> {
        let req = session.req_header();
        let limit = limit(req, crate::workers::history::KEPT);
        let rest = path.trim_start_matches("/workers").trim_matches('/');
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        let not_found = |message: String| {
            json(
                StatusCode::NOT_FOUND,
                serde_json::json!({"message": message, "code": "NotFound"}),
            )
        };
        if req.method != http::Method::GET {
            return json(
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({"message": "the workers API is read-only", "code": "MethodNotAllowed"}),
            );
        }
        match parts.as_slice() {
            [] => json(
                StatusCode::OK,
                serde_json::json!({"workers": self.workers.list()}),
            ),
            [name, "batches"] => match self.workers.batches(name, limit) {
                Some(batches) => json(StatusCode::OK, serde_json::json!({"batches": batches})),
                None => not_found(format!("no worker `{name}`")),
            },
            _ => not_found("no such workers endpoint".into()),
        }
    }

    /// `POST /jobs` (`{"definition", "parameters"?, "array_size"?,
    /// "priority"?}`: 202 with the ids), `GET /jobs?status=S&limit=N`,
    /// `GET /jobs/ID`, `POST /jobs/ID/cancel`.
    async fn jobs(&self, session: &mut ServerSession, path: &str) -> Response<Vec<u8>> {
        let method = session.req_header().method.clone();
        let limit = limit(session.req_header(), 1000);
        let wanted = session.req_header().uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "status")
                .map(|(_, v)| v.into_owned())
        });
        let rest = path
            .trim_start_matches("/jobs")
            .trim_matches('/')
            .to_string();
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        let error = |status: StatusCode, code: &str, message: String| {
            json(
                status,
                serde_json::json!({"message": message, "code": code}),
            )
        };
        let store = &self.jobs.store;
        let failed = |e: crate::store::StoreError| {
            tracing::warn!(error = %e, "job store request failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "the job store is unavailable".into(),
            )
        };
        match (method.as_str(), parts.as_slice()) {
            ("GET", []) => {
                let wanted = match wanted.as_deref().map(crate::jobs::status).transpose() {
                    Ok(w) => w,
                    Err(why) => return error(StatusCode::BAD_REQUEST, "BadRequest", why),
                };
                match store.jobs(wanted, limit).await {
                    Ok(jobs) => json(
                        StatusCode::OK,
                        serde_json::json!({"jobs": jobs.iter().map(crate::jobs::describe).collect::<Vec<_>>()}),
                    ),
                    Err(e) => failed(e),
                }
            }
            ("POST", []) => {
                let Some(body) = read_bytes(session, 64 * 1024).await else {
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "PayloadTooLarge",
                        "the body is larger than 64 KiB".into(),
                    );
                };
                let req: crate::jobs::Submit = match serde_json::from_slice(&body) {
                    Ok(r) => r,
                    Err(e) => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            format!("the body: {e}"),
                        )
                    }
                };
                match self.jobs.submit(req).await {
                    Ok(ids) => json(StatusCode::ACCEPTED, serde_json::json!({"job_ids": ids})),
                    Err(crate::jobs::SubmitError::Invalid(why)) => {
                        error(StatusCode::BAD_REQUEST, "BadRequest", why)
                    }
                    Err(crate::jobs::SubmitError::Store(e)) => failed(e),
                }
            }
            ("GET", [id]) => match store.job(id).await {
                Ok(Some(job)) => json(StatusCode::OK, crate::jobs::describe(&job)),
                Ok(None) => error(StatusCode::NOT_FOUND, "NotFound", format!("no job {id}")),
                Err(e) => failed(e),
            },
            ("POST", [id, "cancel"]) => {
                use crate::store::jobs::Cancelled;
                let now = crate::messaging::clock::now_ms();
                match store
                    .cancel(id, "cancelled through the admin API", now)
                    .await
                {
                    Ok(Some(Cancelled::Stopped)) => {
                        json(StatusCode::OK, serde_json::json!({"cancelled": "stopped"}))
                    }
                    Ok(Some(Cancelled::Requested)) => json(
                        StatusCode::OK,
                        serde_json::json!({"cancelled": "requested"}),
                    ),
                    Ok(Some(Cancelled::TooLate)) => error(
                        StatusCode::CONFLICT,
                        "AlreadyFinished",
                        format!("job {id} has already finished"),
                    ),
                    Ok(None) => error(StatusCode::NOT_FOUND, "NotFound", format!("no job {id}")),
                    Err(e) => failed(e),
                }
            }
            _ => error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "no such jobs endpoint".into(),
            ),
        }
    }

    async fn flows(&self, session: &mut ServerSession, path: &str) -> Response<Vec<u8>> {
        let method = session.req_header().method.clone();
        let limit = limit(session.req_header(), 1000);
        // A run's records: as much as a gateway request body may carry.
        let body_limit = self.state.runtime.load().config.limits.max_body_bytes as usize;
        let rest = path.trim_start_matches("/flows").trim_start_matches('/');
        let parts: Vec<String> = rest
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let request = match (method.as_str(), parts.as_slice()) {
            ("GET", []) => flows::Request::List,
            ("GET", [name]) => flows::Request::Show(name.to_string()),
            ("GET", [name, "runs"]) => flows::Request::Runs(name.to_string(), limit),
            ("GET", [name, "runs", id]) => flows::Request::Run(name.to_string(), id.to_string()),
            ("POST", [name, "activate"]) => flows::Request::Activate(name.to_string()),
            ("POST", [name, "runs"]) => match read_bytes(session, body_limit).await {
                Some(body) => flows::Request::Start(name.to_string(), body),
                None => {
                    return json(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        serde_json::json!({"message": format!("the body is larger than {body_limit} bytes"), "code": "PayloadTooLarge"}),
                    )
                }
            },
            _ => {
                return json(
                    StatusCode::NOT_FOUND,
                    serde_json::json!({"message": "no such flows endpoint", "code": "NotFound"}),
                )
            }
        };
        let (status, body) = flows::handle(&self.state.flows, request).await;
        json(status, body)
    }

    async fn keys(&self, session: &mut ServerSession, path: &str) -> Response<Vec<u8>> {
        let method = session.req_header().method.clone();
        let rest = path.trim_start_matches("/keys").trim_start_matches('/');
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        let request = match (method.as_str(), parts.as_slice()) {
            ("GET", []) => keys::Request::List,
            ("POST", []) => match read_json(session).await {
                Some(body) => keys::Request::Create(body),
                None => {
                    return json(
                        StatusCode::BAD_REQUEST,
                        serde_json::json!({"message": "body must be a JSON object under 64 KiB", "code": "BadRequest"}),
                    )
                }
            },
            ("DELETE", [id]) => keys::Request::Revoke(id),
            ("GET", [id, "usage"]) => keys::Request::Usage(id),
            _ => {
                return json(
                    StatusCode::NOT_FOUND,
                    serde_json::json!({"message": "no such keys endpoint", "code": "NotFound"}),
                )
            }
        };
        let (status, body) = keys::handle(&self.state, request).await;
        json(status, body)
    }
}

async fn read_bytes(session: &mut ServerSession, limit: usize) -> Option<bytes::Bytes> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = session.read_request_body().await {
        body.extend_from_slice(&chunk);
        if body.len() > limit {
            return None;
        }
    }
    Some(body.into())
}

async fn read_json(session: &mut ServerSession) -> Option<serde_json::Value> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = session.read_request_body().await {
        body.extend_from_slice(&chunk);
        if body.len() > 64 * 1024 {
            return None;
        }
    }
    if body.is_empty() {
        return Some(serde_json::json!({}));
    }
    serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .filter(serde_json::Value::is_object)
}

/// Adds the request id: as a header always, and into an error's JSON body.
fn with_request_id(resp: &mut Response<Vec<u8>>, id: &str) {
    if let Ok(value) = http::HeaderValue::from_str(id) {
        resp.headers_mut().insert(request_id::HEADER, value);
    }
    if resp.status().as_u16() < 400 {
        return;
    }
    let Ok(serde_json::Value::Object(mut body)) = serde_json::from_slice(resp.body()) else {
        return;
    };
    body.insert("request_id".into(), id.into());
    let bytes = serde_json::Value::Object(body).to_string().into_bytes();
    resp.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(bytes.len()),
    );
    *resp.body_mut() = bytes;
}

/// The `limit` query parameter: 20 unless given, within 1..=`most`.
fn limit(req: &pingora::http::RequestHeader, most: usize) -> usize {
    req.uri
        .query()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "limit")
                .and_then(|(_, v)| v.parse::<usize>().ok())
        })
        .unwrap_or(20)
        .clamp(1, most)
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<Vec<u8>> {
    respond(status, "application/json", body.to_string().into_bytes())
}

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .unwrap_or_default()
}
