//! API keys and usage plans: config-declared and CLI/admin-created keys,
//! revocation, plan restrictions, throttles, and quotas that survive restarts.

mod common;

use common::{client, json, upstream, Gatehouse, Options};
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "admin-test-token";

fn env(a: &upstream::Upstream) -> Vec<(&'static str, String)> {
    vec![("A", a.address()), ("ADMIN_TOKEN", ADMIN_TOKEN.to_string())]
}

/// The api_keys fixture in front of a fresh echo upstream.
async fn start() -> Gatehouse {
    let a = upstream::start("a").await;
    Gatehouse::start_with(
        "api_keys",
        Options {
            env: env(&a),
            ..Default::default()
        },
        |_| {},
    )
}

async fn get(gh: &Gatehouse, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = client().get(gh.url(path));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.send().await.unwrap()
}

/// `gatehouse keys create`, returning the printed key.
fn create_key(gh: &Gatehouse, plan: &str, name: &str) -> String {
    let out = gh.cli(&["keys", "create", "--plan", plan, "--name", name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().nth(1).unwrap().trim().to_string()
}

#[tokio::test]
async fn keys_are_required_checked_and_never_forwarded() {
    let gh = start().await;
    let resp = get(&gh, "/k/echo", None).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "ApiKey realm=\"gatehouse\", header=\"x-api-key\""
    );
    assert_eq!(json(resp).await["code"], "Unauthorized");
    let resp = get(&gh, "/k/echo", Some("gh_not_a_real_key_at_all")).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(json(resp).await["message"], "invalid API key");

    let resp = get(&gh, "/k/echo", Some("gh_declared_test_key_0001")).await;
    assert_eq!(resp.status(), 200);
    let h = &json(resp).await["headers"];
    assert!(
        h.get("x-api-key").is_none(),
        "the key itself must not reach the upstream"
    );
    assert_eq!(h["x-api-key-name"], "declared");
    assert_eq!(h["x-api-key-id"].as_str().unwrap().len(), 12);

    assert_eq!(get(&gh, "/k/open", None).await.status(), 200);

    // Plans restrict routes.
    let basic = create_key(&gh, "basic", "basic-1");
    assert_eq!(get(&gh, "/k/gold-only", Some(&basic)).await.status(), 403);
    assert_eq!(
        get(&gh, "/k/gold-only", Some("gh_declared_test_key_0001"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn quotas_run_out_and_stay_used_up_across_a_restart() {
    let a = upstream::start("a").await;
    let opts = Options {
        env: env(&a),
        ..Default::default()
    };
    let gh = Gatehouse::start_with(
        "api_keys",
        Options {
            env: env(&a),
            ..Default::default()
        },
        |_| {},
    );
    let key = create_key(&gh, "basic", "quota-1");
    for remaining in [2, 1, 0] {
        let resp = get(&gh, "/k/echo", Some(&key)).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-quota-limit"], "3");
        assert_eq!(
            resp.headers()["x-quota-remaining"],
            remaining.to_string().as_str()
        );
    }
    let resp = get(&gh, "/k/echo", Some(&key)).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(resp.headers()["x-quota-remaining"], "0");
    assert_eq!(json(resp).await["code"], "QuotaExceeded");

    // SIGTERM flushes the counts; the next process still refuses.
    let dir = gh.stop();
    let gh = Gatehouse::launch(dir, &opts);
    assert_eq!(get(&gh, "/k/echo", Some(&key)).await.status(), 429);
    let out = gh.cli(&["keys", "usage", &key]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 of 3 requests today"), "{text}");
}

#[tokio::test]
async fn plan_throttles_answer_429_with_rate_headers() {
    let gh = start().await;
    let key = create_key(&gh, "tight", "tight-1");
    assert_eq!(get(&gh, "/k/echo", Some(&key)).await.status(), 200);
    assert_eq!(get(&gh, "/k/echo", Some(&key)).await.status(), 200);
    let resp = get(&gh, "/k/echo", Some(&key)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["ratelimit-policy"], "\"default\";q=2;w=60");
    assert_eq!(resp.headers()["retry-after"], "30");
    // Another key of the same plan has its own budget.
    let other = create_key(&gh, "tight", "tight-2");
    assert_eq!(get(&gh, "/k/echo", Some(&other)).await.status(), 200);
}

#[tokio::test]
async fn revoked_keys_stop_working() {
    let gh = start().await;
    let key = create_key(&gh, "gold", "revoke-me");
    assert_eq!(get(&gh, "/k/echo", Some(&key)).await.status(), 200);
    let out = gh.cli(&["keys", "revoke", "revoke-me"]);
    assert!(out.status.success());
    // The CLI writes the store; the server notices within its 5 s lookup cache.
    let deadline = Instant::now() + Duration::from_secs(15);
    while get(&gh, "/k/echo", Some(&key)).await.status() != 403 {
        assert!(Instant::now() < deadline, "revoked key still accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = String::from_utf8(gh.cli(&["keys", "list"]).stdout).unwrap();
    assert!(
        list.lines()
            .any(|l| l.contains("revoke-me") && l.ends_with("revoked")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.contains("declared") && l.contains("config")),
        "{list}"
    );
}

#[tokio::test]
async fn the_admin_keys_api_needs_its_token() {
    let gh = start().await;
    let c = client();
    let resp = c.get(gh.admin_url("/keys")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let admin = |req: reqwest::RequestBuilder| req.bearer_auth(ADMIN_TOKEN).send();

    let resp = admin(
        c.post(gh.admin_url("/keys"))
            .json(&serde_json::json!({"plan": "nope"})),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = admin(c.post(gh.admin_url("/keys")).body("not json"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = admin(
        c.post(gh.admin_url("/keys"))
            .json(&serde_json::json!({"plan": "basic", "name": "api-made"})),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 201);
    let created = json(resp).await;
    let key = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    let resp = admin(
        c.post(gh.admin_url("/keys"))
            .json(&serde_json::json!({"plan": "basic", "name": "api-made"})),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 409);

    assert_eq!(get(&gh, "/k/echo", Some(&key)).await.status(), 200);
    let usage = json(
        admin(c.get(gh.admin_url(&format!("/keys/{id}/usage"))))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (usage["used"].as_u64(), usage["limit"].as_u64()),
        (Some(1), Some(3))
    );

    let listed = json(admin(c.get(gh.admin_url("/keys"))).await.unwrap()).await;
    let names: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["declared", "api-made"]);
    assert!(
        !listed.to_string().contains(&key),
        "listing must never show a key"
    );

    let resp = admin(c.delete(gh.admin_url(&format!("/keys/{id}"))))
        .await
        .unwrap();
    assert_eq!(json(resp).await["revoked"], true);
    // Revocation through the admin API is immediate.
    assert_eq!(get(&gh, "/k/echo", Some(&key)).await.status(), 403);
    let resp = admin(c.delete(gh.admin_url("/keys/unknown")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn rate_limits_can_be_keyed_by_api_key() {
    let gh = start().await;
    let first = create_key(&gh, "gold", "per-key-1");
    let second = create_key(&gh, "gold", "per-key-2");
    assert_eq!(get(&gh, "/k/per-key", Some(&first)).await.status(), 200);
    assert_eq!(get(&gh, "/k/per-key", Some(&first)).await.status(), 200);
    assert_eq!(get(&gh, "/k/per-key", Some(&first)).await.status(), 429);
    assert_eq!(get(&gh, "/k/per-key", Some(&second)).await.status(), 200);
}
