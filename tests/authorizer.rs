//! The custom authorizer: allow/deny, forwarded context, caching, and failing
//! closed when the authorizer is slow or broken.

mod common;

use axum::http::StatusCode;
use axum::routing::post;
use common::{client, json, upstream, Gatehouse};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Allows identities "Bearer good", "good-query" and "good-cookie".
async fn authorizer() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let app = axum::Router::new()
        .route(
            "/authorize",
            post(move |axum::Json(req): axum::Json<Value>| {
                let c = c.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    let identity = req["identity"].as_str().unwrap_or("");
                    let allow = matches!(identity, "Bearer good" | "good-query" | "good-cookie");
                    axum::Json(json!({
                        "allow": allow,
                        "principal_id": "user-1",
                        "context": {"tenant": "acme", "tier": 2, "route": req["route"]}
                    }))
                }
            }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                axum::Json(json!({"allow": true}))
            }),
        )
        .route(
            "/broken",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), calls)
}

async fn setup() -> (Gatehouse, Arc<AtomicUsize>) {
    let a = upstream::start("a").await;
    let (url, calls) = authorizer().await;
    let gh = Gatehouse::start("authorizer", &[("A", a.address()), ("AUTHZ", url)]);
    (gh, calls)
}

#[tokio::test]
async fn allowed_callers_pass_with_their_context_and_decisions_are_cached() {
    let (gh, calls) = setup().await;
    let c = client();
    for _ in 0..3 {
        let resp = c
            .get(gh.url("/z/echo"))
            .header("authorization", "Bearer good")
            .header("x-auth-principal", "spoofed-admin")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let h = &json(resp).await["headers"];
        assert_eq!(h["x-auth-principal"], "user-1");
        assert_eq!(h["x-auth-tenant"], "acme");
        assert_eq!(h["x-auth-tier"], "2");
        assert_eq!(h["x-auth-route"], "GET /echo");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one call, then the cache");
    for _ in 0..3 {
        let resp = c
            .get(gh.url("/z/uncached"))
            .header("authorization", "Bearer good")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "cache_ttl 0s asks every time"
    );
}

#[tokio::test]
async fn denied_and_anonymous_callers_are_refused() {
    let (gh, _calls) = setup().await;
    let c = client();
    let resp = c
        .get(gh.url("/z/echo"))
        .header("authorization", "Bearer bad")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(json(resp).await["code"], "Forbidden");
    let resp = c.get(gh.url("/z/echo")).send().await.unwrap();
    assert_eq!(resp.status(), 401);

    assert_eq!(
        c.get(gh.url("/z/by-query?token=good-query"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(gh.url("/z/by-query?token=nope"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        c.get(gh.url("/z/by-query")).send().await.unwrap().status(),
        401
    );
    let resp = c
        .get(gh.url("/z/by-cookie"))
        .header("cookie", "theme=dark; session=good-cookie")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_slow_or_broken_authorizer_fails_closed_with_503() {
    let (gh, _calls) = setup().await;
    let c = client();
    let started = Instant::now();
    let resp = c
        .get(gh.url("/z/slow"))
        .header("authorization", "Bearer good")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(json(resp).await["code"], "AuthUnavailable");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    let resp = c
        .get(gh.url("/z/broken"))
        .header("authorization", "Bearer good")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
}
