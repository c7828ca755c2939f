//! Routing: specificity, methods, hosts, rewrites, header rules, forwarding headers.

mod common;

use common::{client, json, upstream, Gatehouse};
use serde_json::Value;

async fn setup() -> (Gatehouse, upstream::Upstream, upstream::Upstream) {
    let a = upstream::start("users").await;
    let b = upstream::start("files").await;
    let gh = Gatehouse::start(
        "routing",
        &[("UPSTREAM_A", a.address()), ("UPSTREAM_B", b.address())],
    );
    (gh, a, b)
}

#[tokio::test]
async fn most_specific_route_wins_and_paths_are_rewritten() {
    let (gh, a, _b) = setup().await;
    let c = client();

    // A literal beats a param: the mock answers, the upstream is not called.
    let resp = c.get(gh.url("/api/users/me")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-api"], "main");
    assert_eq!(json(resp).await, serde_json::json!({"who": "me"}));
    assert_eq!(a.hits.load(std::sync::atomic::Ordering::SeqCst), 0);

    // A param beats a greedy param; the rewrite uses the captured value and keeps the query.
    let v = json(c.get(gh.url("/api/users/42?x=1&y=2")).send().await.unwrap()).await;
    assert_eq!(v["server"], "users");
    assert_eq!(v["path"], "/v1/users/42");
    assert_eq!(v["query"], "x=1&y=2");

    // The greedy route takes deeper paths; the base path is stripped.
    let v = json(c.get(gh.url("/api/users/42/posts/7")).send().await.unwrap()).await;
    assert_eq!(v["path"], "/users/42/posts/7");

    // DELETE is not allowed by the more specific GET route, so the greedy ANY route answers.
    let v = json(c.delete(gh.url("/api/users/42")).send().await.unwrap()).await;
    assert_eq!(v["method"], "DELETE");
    assert_eq!(v["path"], "/users/42");

    // strip_base_path: false keeps the whole path.
    let v = json(c.get(gh.url("/api/files/a/b.txt")).send().await.unwrap()).await;
    assert_eq!(v["server"], "files");
    assert_eq!(v["path"], "/api/files/a/b.txt");
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_are_405_with_allow() {
    let (gh, _a, _b) = setup().await;
    let c = client();

    let resp = c.get(gh.url("/api/nothing-here")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let v = json(resp).await;
    assert_eq!(v["code"], "NotFound");
    assert_eq!(v["request_id"], id.as_str());
    assert!(v["message"].is_string());

    let resp = c.put(gh.url("/api/users")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    assert_eq!(json(resp).await["code"], "MethodNotAllowed");

    let resp = c.post(gh.url("/api/files/x")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD");
}

#[tokio::test]
async fn hosts_match_exact_then_wildcard() {
    let (gh, _a, _b) = setup().await;
    let c = client();
    let get = |host: &'static str| c.get(gh.url("/users/7")).header("host", host).send();
    assert_eq!(
        json(get("api.example.com").await.unwrap()).await["tier"],
        "exact"
    );
    assert_eq!(
        json(get("API.Example.COM:8080").await.unwrap()).await["tier"],
        "exact"
    );
    let v = json(get("shop.example.com").await.unwrap()).await;
    assert_eq!(v, serde_json::json!({"tier": "wildcard", "id": "7"}));
    // The wildcard does not match the bare domain, and other hosts have no such route.
    assert_eq!(get("example.com").await.unwrap().status(), 404);
    assert_eq!(get("other.test").await.unwrap().status(), 404);
}

#[tokio::test]
async fn header_rules_and_forwarding_headers() {
    let (gh, a, _b) = setup().await;
    let c = client();
    let resp = c
        .post(gh.url("/api/users"))
        .header("x-set", "from-client")
        .header("x-add", "from-client")
        .header("x-remove-me", "secret")
        .header("x-request-id", "trace-abc-123")
        .header("x-forwarded-for", "203.0.113.9")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "trace-abc-123");
    assert_eq!(resp.headers()["x-route"], "create-user");
    assert_eq!(resp.headers()["x-api"], "main");
    assert!(resp.headers().get("server").is_none());
    let v = json(resp).await;
    let h = &v["headers"];
    assert_eq!(h["x-set"], "from-gateway");
    assert!(h.get("x-remove-me").is_none());
    assert_eq!(h["x-request-id"], "trace-abc-123");
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], gh.addr("http").to_string().as_str());
    assert_eq!(h["host"], a.address().as_str());
    assert_eq!(v["body_len"], 2);

    // The added header is appended to the client's own value.
    let resp = c
        .post(gh.url("/api/users"))
        .header("x-add", "from-client")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "generated ids are UUIDs");
    let v: Value = json(resp).await;
    assert_eq!(v["headers"]["x-request-id"], id.as_str());
    assert_eq!(v["headers"]["x-add"], "from-client, added");
}

#[tokio::test]
async fn bad_request_ids_are_replaced() {
    let (gh, _a, _b) = setup().await;
    let resp = client()
        .get(gh.url("/api/users/me"))
        .header("x-request-id", "has spaces and \"quotes\"")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36);
}

/// Sends a raw HTTP/1.1 request (clients normalise dot segments away) and
/// returns the status line and body.
async fn raw_get(gh: &Gatehouse, target: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(gh.addr("http"))
        .await
        .unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out.lines().next().unwrap_or("").to_string();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn dot_segments_are_refused_before_routing() {
    let (gh, _a, b) = setup().await;
    for target in [
        "/api/files/../../etc/passwd",
        "/api/files/%2e%2e/%2E%2E/etc/passwd",
        "/api/files/./x",
        "/api/files/.%2e/secret",
    ] {
        let (status, body) = raw_get(&gh, target).await;
        assert!(status.starts_with("HTTP/1.1 400"), "{target}: {status}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], "BadRequest", "{target}");
    }
    assert_eq!(b.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Dots inside names are fine.
    let (status, _) = raw_get(&gh, "/api/files/archive..tar.gz").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
}

#[tokio::test]
async fn mock_routes_ignore_request_bodies_without_breaking_keep_alive() {
    let (gh, _a, _b) = setup().await;
    let c = client();
    for _ in 0..3 {
        let resp = c
            .get(gh.url("/api/users/me"))
            .body(vec![b'x'; 200])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(json(resp).await["who"], "me");
    }
}
