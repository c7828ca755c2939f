//! The policy chain through the real server: rate limits and CORS.

mod common;

use common::{client, json, upstream, Gatehouse};

async fn setup() -> (Gatehouse, upstream::Upstream) {
    let a = upstream::start("a").await;
    let gh = Gatehouse::start("policies", &[("A", a.address())]);
    (gh, a)
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn the_sixth_request_in_a_burst_of_five_gets_429_with_rate_limit_headers() {
    let (gh, _a) = setup().await;
    let c = client();
    let get = || {
        c.get(gh.url("/p/limited"))
            .header("x-forwarded-for", "198.51.100.1")
            .send()
    };
    for remaining in (0..5).rev() {
        let resp = get().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            header(&resp, "x-ratelimit-remaining"),
            remaining.to_string()
        );
        assert_eq!(header(&resp, "ratelimit-policy"), "\"default\";q=5;w=60");
    }
    let resp = get().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(header(&resp, "retry-after"), "12");
    assert_eq!(header(&resp, "ratelimit"), "\"default\";r=0;t=12");
    assert_eq!(header(&resp, "x-ratelimit-limit"), "5");
    assert_eq!(header(&resp, "x-ratelimit-remaining"), "0");
    let id = header(&resp, "x-request-id").to_string();
    let body = json(resp).await;
    assert_eq!(body["code"], "TooManyRequests");
    assert_eq!(body["request_id"], id.as_str());

    // Another client (behind the trusted proxy) has its own bucket.
    let other = c
        .get(gh.url("/p/limited"))
        .header("x-forwarded-for", "198.51.100.2")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);

    let line = gh.wait_stdout(&id).await;
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(entry["status"], 429);
    assert_eq!(entry["denied_by"], "rate_limit");
    let metrics = gh.metrics().await;
    let decisions: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("gatehouse_policy_decisions_total"))
        .collect();
    assert!(
        decisions.contains(
            &"gatehouse_policy_decisions_total{outcome=\"deny\",policy=\"rate_limit\"} 1"
        ),
        "{decisions:?}"
    );
    assert!(
        decisions.contains(
            &"gatehouse_policy_decisions_total{outcome=\"allow\",policy=\"rate_limit\"} 6"
        ),
        "{decisions:?}"
    );
}

#[tokio::test]
async fn header_keys_and_shared_api_budgets() {
    let (gh, _a) = setup().await;
    let c = client();
    let as_user = |u: &'static str| c.get(gh.url("/p/by-header")).header("x-user", u).send();
    assert_eq!(as_user("alice").await.unwrap().status(), 200);
    assert_eq!(as_user("alice").await.unwrap().status(), 200);
    assert_eq!(as_user("alice").await.unwrap().status(), 429);
    assert_eq!(as_user("bob").await.unwrap().status(), 200);

    // The API-level limit is one budget across its routes, per client.
    let get = |path: &'static str| {
        c.get(gh.url(path))
            .header("x-forwarded-for", "203.0.113.5")
            .send()
    };
    assert_eq!(get("/s/a").await.unwrap().status(), 200);
    assert_eq!(get("/s/b").await.unwrap().status(), 200);
    assert_eq!(get("/s/a").await.unwrap().status(), 200);
    assert_eq!(get("/s/b").await.unwrap().status(), 429);
    // A route can opt out.
    for _ in 0..5 {
        let resp = get("/s/free").await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn cors_preflights_are_answered_by_the_gateway() {
    let (gh, a) = setup().await;
    let c = client();
    let preflight = |origin: &'static str, method: &'static str| {
        c.request(reqwest::Method::OPTIONS, gh.url("/p/echo"))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let resp = preflight("https://app.example.com", "POST").await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        header(&resp, "access-control-allow-origin"),
        "https://app.example.com"
    );
    assert_eq!(header(&resp, "access-control-allow-methods"), "POST");
    assert_eq!(
        header(&resp, "access-control-allow-headers"),
        "content-type, x-api-key"
    );
    assert_eq!(header(&resp, "access-control-allow-credentials"), "true");
    assert_eq!(header(&resp, "access-control-max-age"), "300");
    assert_eq!(header(&resp, "vary"), "Origin");

    let resp = preflight("https://eu.shop.test", "POST").await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        header(&resp, "access-control-allow-origin"),
        "https://eu.shop.test"
    );

    for (origin, method) in [
        ("https://evil.test", "POST"),
        ("https://app.example.com", "DELETE"),
    ] {
        let resp = preflight(origin, method).await.unwrap();
        let expected = if method == "DELETE" { 405 } else { 403 };
        assert_eq!(resp.status(), expected, "{origin} {method}");
        assert!(resp.headers().get("access-control-allow-origin").is_none());
    }
    let resp = preflight("https://evil.test", "POST").await.unwrap();
    assert_eq!(json(resp).await["code"], "CorsRejected");
    // Preflights never reach the upstream.
    assert_eq!(a.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cors_headers_on_actual_responses_only_for_allowed_origins() {
    let (gh, _a) = setup().await;
    let c = client();
    let resp = c
        .post(gh.url("/p/echo"))
        .header("origin", "https://app.example.com")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "access-control-allow-origin"),
        "https://app.example.com"
    );
    assert_eq!(
        header(&resp, "access-control-expose-headers"),
        "x-request-id"
    );

    let resp = c
        .post(gh.url("/p/echo"))
        .header("origin", "https://evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    // CORS turned off for one route: no preflight handling, no headers.
    let resp = c
        .request(reqwest::Method::OPTIONS, gh.url("/p/plain"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let resp = c
        .get(gh.url("/p/plain"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn request_validation_lists_every_violation() {
    let (gh, a) = setup().await;
    let c = client();
    let order = |body: &'static str| {
        c.post(gh.url("/p/orders"))
            .header("x-tenant", "t1")
            .header("content-type", "application/json; charset=utf-8")
            .body(body)
            .send()
    };
    // A valid body reaches the upstream whole.
    let valid = r#"{"item":"book","quantity":2}"#;
    let resp = order(valid).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["body_len"], valid.len());

    let resp = order(r#"{"item":"","quantity":0,"gift":true}"#)
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v = json(resp).await;
    assert_eq!(v["code"], "ValidationFailed");
    let violations: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(
        violations.iter().any(|m| m.starts_with("body/item:")),
        "{violations:?}"
    );
    assert!(
        violations.iter().any(|m| m.starts_with("body/quantity:")),
        "{violations:?}"
    );
    assert!(
        violations.iter().any(|m| m.contains("gift")),
        "{violations:?}"
    );

    for bad in [
        "not json",
        "{\"item\": \"x\", \"quantity\": 1",
        "\u{0}\u{1}",
    ] {
        let resp = order(bad).await.unwrap();
        assert_eq!(resp.status(), 400, "{bad:?}");
        let v = json(resp).await;
        assert!(
            v["violations"][0]
                .as_str()
                .unwrap()
                .starts_with("body is not valid JSON"),
            "{v}"
        );
    }
    // Invalid UTF-8 is not JSON either.
    let resp = c
        .post(gh.url("/p/orders"))
        .header("x-tenant", "t1")
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, b'{', b'}'])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Head violations are reported together.
    let resp = c
        .post(gh.url("/p/orders"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v = json(resp).await;
    assert_eq!(
        v["violations"],
        serde_json::json!([
            "header `x-tenant` is required",
            "content type `text/plain` is not accepted; use application/json"
        ])
    );

    // Schema-checked bodies are capped at 64 KiB.
    let big = format!("{{\"item\":\"{}\",\"quantity\":1}}", "x".repeat(70 * 1024));
    let resp = c
        .post(gh.url("/p/orders"))
        .header("x-tenant", "t1")
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(
        a.hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "only the valid order went upstream"
    );
}

#[tokio::test]
async fn required_query_and_per_route_body_limits() {
    let (gh, _a) = setup().await;
    let c = client();
    let resp = c.get(gh.url("/p/search")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        json(resp).await["violations"][0],
        "query parameter `q` is required"
    );
    let resp = c.get(gh.url("/p/search?q=rust")).send().await.unwrap();
    assert_eq!(json(resp).await["q"], "rust");

    let resp = c
        .post(gh.url("/p/upload"))
        .body(vec![b'a'; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = c
        .post(gh.url("/p/upload"))
        .body(vec![b'a'; 101])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // Chunked, so only counting the bytes can catch it.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..4).map(|_| Ok(vec![b'c'; 60])).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let resp = c.post(gh.url("/p/upload")).body(body).send().await.unwrap();
    assert_eq!(resp.status(), 413);
}
