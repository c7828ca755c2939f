//! `gatehouse bench source`: a synthetic SaaS list API for the flows
//! benchmark. `GET /records?cursor=N&limit=L` answers
//! `{"data": [...], "next": "N+L"}` (no `next` on the last page) with
//! records of ten fields, generated on the fly and the same on every run,
//! so the server holds no dataset and costs little next to the flow.
//! `&drift=1` makes the records' shape drift as real sources do: `email`
//! null on the first five pages, `amount` a whole number on the first page,
//! `metadata` an empty object but on every 1,000th record, and a nested
//! `edited` object from the middle of the dataset on.

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
        self.page_of(cursor, limit, false)
    }

    /// One page, its records drifting in shape (see the module comment).
    pub fn page_of(&self, cursor: u64, limit: u64, drift: bool) -> String {
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
            if drift {
                drift_record(&mut out, i, self.records);
            }
        }
        out.push(']');
        if end < self.records {
            let _ = write!(out, ",\"next\":\"{end}\"");
        }
        out.push('}');
        out
    }
}

/// Rewrites the record just written (its closing brace is the last byte)
/// into its drifting shape.
fn drift_record(out: &mut String, i: u64, records: u64) {
    out.pop();
    if i < 5_000 {
        let at = out.rfind("\"email\":\"").unwrap_or(0);
        let end = out[at..].find("\",").map_or(at, |e| at + e + 2);
        out.replace_range(at..end, "\"email\":null,");
    }
    if i < 1_000 {
        let at = out.rfind("\"amount\":").unwrap_or(0) + "\"amount\":".len();
        let end = out[at..].find(',').map_or(at, |e| at + e);
        let whole = out[at..end].split('.').next().unwrap_or("0").to_string();
        out.replace_range(at..end, &whole);
    }
    if i % 1_000 == 999 {
        out.push_str(",\"metadata\":{\"tier\":\"gold\"}");
    } else {
        out.push_str(",\"metadata\":{}");
    }
    if i >= records / 2 {
        let _ = write!(
            out,
            ",\"edited\":{{\"by\":\"U{}\",\"ts\":\"{i}.000100\"}}",
            i % 7
        );
    }
    out.push('}');
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
    let mut drift = false;
    if let Some(q) = req.uri().query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            match k.as_ref() {
                "cursor" => cursor = v.parse().unwrap_or(0),
                "limit" => limit = v.parse().unwrap_or(1000).clamp(1, 10_000),
                "drift" => drift = v == "1",
                _ => {}
            }
        }
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(source.page_of(cursor, limit, drift)))
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

    #[test]
    fn drifting_pages_change_shape_as_they_go() {
        let s = Source { records: 20_000 };
        let page = |cursor| -> serde_json::Value {
            serde_json::from_str(&s.page_of(cursor, 1000, true)).unwrap()
        };
        let first = page(0);
        let r = &first["data"][1];
        assert_eq!(r["email"], serde_json::Value::Null);
        assert_eq!(r["amount"], 7919);
        assert_eq!(r["metadata"], serde_json::json!({}));
        assert!(r.get("edited").is_none());
        assert_eq!(first["data"][999]["metadata"]["tier"], "gold");
        let late = page(15_000);
        let r = &late["data"][1];
        assert_eq!(r["email"], "customer15001@example.com");
        assert!(r["amount"].is_f64());
        assert_eq!(r["edited"]["ts"], "15001.000100");
    }
}
