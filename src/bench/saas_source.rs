//! `gatehouse bench source`: a synthetic SaaS list API for the flows
//! benchmark. `GET /records?cursor=N&limit=L` answers
//! `{"data": [...], "next": "N+L"}` (no `next` on the last page) with
//! records of ten fields, generated on the fly and the same on every run,
//! so the server holds no dataset and costs little next to the flow.

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

pub struct Source {
    pub records: u64,
}

const STATUSES: [&str; 4] = ["paid", "open", "refunded", "paid"];
const COUNTRIES: [&str; 5] = ["DE", "FR", "US", "JP", "BR"];

impl Source {
    /// One page as JSON text.
    pub fn page(&self, cursor: u64, limit: u64) -> String {
        let cursor = cursor.min(self.records);
        let end = cursor.saturating_add(limit).min(self.records);
        let mut out = String::with_capacity(((end - cursor) * 260 + 64) as usize);
        out.push_str("{\"data\":[");
        for i in cursor..end {
            if i > cursor {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"id\":{i},\"name\":\"Customer {i}\",\"email\":\"customer{i}@example.com\",\"status\":\"{}\",\"amount\":{}.{:02},\"currency\":\"EUR\",\"country\":\"{}\",\"items\":{},\"created_at\":\"2026-{:02}-{:02}T{:02}:{:02}:00Z\",\"note\":\"order number {i} from the benchmark source\"}}",
                STATUSES[(i % 4) as usize],
                (i * 7919) % 10_000,
                i % 100,
                COUNTRIES[(i % 5) as usize],
                1 + i % 9,
                1 + (i / 86_400) % 12,
                1 + (i / 3_600) % 28,
                (i / 60) % 24,
                i % 60,
            );
        }
        out.push(']');
        if end < self.records {
            let _ = write!(out, ",\"next\":\"{end}\"");
        }
        out.push('}');
        out
    }
}

/// Serves until the process is stopped.
pub async fn serve(address: SocketAddr, records: u64) -> anyhow::Result<()> {
    let source = Arc::new(Source { records });
    let listener = tokio::net::TcpListener::bind(address).await?;
    eprintln!(
        "{}",
        serde_json::json!({"event": "listening", "source": listener.local_addr()?.to_string(), "records": records})
    );
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let source = source.clone();
        async move { answer(&source, &req) }
    });
    axum::serve(listener, app).await?;
    Ok(())
}

fn answer(source: &Source, req: &Request<Body>) -> Response<Body> {
    let mut cursor = 0u64;
    let mut limit = 1000u64;
    if let Some(q) = req.uri().query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            match k.as_ref() {
                "cursor" => cursor = v.parse().unwrap_or(0),
                "limit" => limit = v.parse().unwrap_or(1000).clamp(1, 10_000),
                _ => {}
            }
        }
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(source.page(cursor, limit)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_json_with_ten_fields_and_a_cursor_until_the_end() {
        let s = Source { records: 25 };
        let first: serde_json::Value = serde_json::from_str(&s.page(0, 10)).unwrap();
        assert_eq!(first["data"].as_array().unwrap().len(), 10);
        assert_eq!(first["data"][0].as_object().unwrap().len(), 10);
        assert_eq!(first["next"], "10");
        let last: serde_json::Value = serde_json::from_str(&s.page(20, 10)).unwrap();
        assert_eq!(last["data"].as_array().unwrap().len(), 5);
        assert!(last.get("next").is_none());
        assert_eq!(last["data"][4]["id"], 24);
        let past: serde_json::Value = serde_json::from_str(&s.page(u64::MAX, 10)).unwrap();
        assert_eq!(past["data"].as_array().unwrap().len(), 0);
    }
}
