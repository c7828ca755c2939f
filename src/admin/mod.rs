//! The admin listener (default 127.0.0.1:9180): `/metrics` for Prometheus,
//! `/healthz` (the process is up) and `/readyz` (a valid config is loaded and
//! the gateway is serving).

pub mod metrics;

use crate::gateway::State;
use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

pub struct AdminApp {
    pub state: Arc<State>,
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        match path.as_str() {
            "/metrics" => {
                self.state.refresh_upstream_gauges();
                respond(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    self.state.metrics.render(),
                )
            }
            "/healthz" => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
            "/readyz" => {
                let runtime = self.state.runtime.load();
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
