//! Real HTTP upstreams on 127.0.0.1:0, in-process (axum).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub name: String,
    /// What /health answers: 200 when true, 503 when false.
    pub healthy: Arc<AtomicBool>,
    /// Requests seen, /health excluded.
    pub hits: Arc<AtomicUsize>,
}

impl Upstream {
    pub fn address(&self) -> String {
        self.addr.to_string()
    }
}

#[derive(Clone)]
struct Shared {
    name: String,
    healthy: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
}

/// An upstream that echoes the request as JSON, with a few extra endpoints:
/// `/health`, `/slow/{ms}`, `/status/{code}`, `/ws` (WebSocket echo).
pub async fn start(name: &str) -> Upstream {
    let shared = Shared {
        name: name.to_string(),
        healthy: Arc::new(AtomicBool::new(true)),
        hits: Arc::new(AtomicUsize::new(0)),
    };
    let app = Router::new()
        .route("/health", get(health))
        .route("/slow/{ms}", any(slow))
        .route("/status/{code}", any(status))
        .route("/ws", get(ws))
        .fallback(echo)
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Upstream {
        addr,
        name: name.to_string(),
        healthy: shared.healthy,
        hits: shared.hits,
    }
}

async fn health(State(s): State<Shared>) -> StatusCode {
    if s.healthy.load(Ordering::SeqCst) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn echo(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    // Repeated headers are joined, so tests can see appended values.
    let headers: HashMap<String, String> = headers
        .keys()
        .map(|k| {
            let values: Vec<&str> = headers
                .get_all(k)
                .iter()
                .map(|v| v.to_str().unwrap_or(""))
                .collect();
            (k.as_str().to_string(), values.join(", "))
        })
        .collect();
    axum::Json(serde_json::json!({
        "server": s.name,
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "headers": headers,
        "body_len": body.len(),
    }))
    .into_response()
}

async fn slow(State(s): State<Shared>, Path(ms): Path<u64>) -> String {
    s.hits.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    format!("slept {ms}ms on {}", s.name)
}

async fn status(
    State(s): State<Shared>,
    Path(code): Path<u16>,
    _q: Query<HashMap<String, String>>,
) -> StatusCode {
    s.hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

async fn ws(ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(4 << 20)
        .on_upgrade(|mut socket: WebSocket| async move {
            while let Some(Ok(msg)) = socket.recv().await {
                let reply = match msg {
                    Message::Text(t) => Message::Text(t),
                    Message::Binary(b) => Message::Binary(b),
                    Message::Close(_) => break,
                    _ => continue,
                };
                if socket.send(reply).await.is_err() {
                    break;
                }
            }
        })
}

/// A port with nothing listening: connections are refused.
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}
