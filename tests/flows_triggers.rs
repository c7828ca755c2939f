//! Flows inside the running server: webhooks through routes (with GitHub and
//! Stripe signatures), SNS subscriptions with protocol `flow`, the queue
//! source, the admin API, and schedules (no overlap, deactivation after
//! failures, activation).

mod common;

use common::flows::wait_for_run;
use common::saas::Saas;
use common::{client, Gatehouse, Options};
use gatehouse::config::signature::Signature;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

/// Polls `check` every 20 ms until it returns Some, for at most 30 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn runs(gh: &Gatehouse, flow: &str) -> Vec<Value> {
    let v = json_of(
        client()
            .get(gh.admin_url(&format!("/flows/{flow}/runs?limit=100")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    v["runs"].as_array().cloned().unwrap_or_default()
}

fn lake_records(gh: &Gatehouse, run: &Value) -> Vec<Value> {
    common::flows::run_records(&gh.dir.path().join("data/lake"), run)
}

#[tokio::test]
async fn signed_webhooks_start_runs_and_bad_signatures_are_refused() {
    let gh = Gatehouse::start("flows_server", &[]);
    let c = client();
    let body = r#"{"events":[{"id":1,"type":"push"},{"id":2,"type":"issues"}]}"#;
    let good = format!(
        "sha256={}",
        Signature::sign_hex("gh-secret", body.as_bytes())
    );

    let resp = c
        .post(gh.url("/hooks/github"))
        .header("x-hub-signature-256", &good)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let answer = json_of(resp).await;
    assert_eq!(answer["flow"], "signed");
    let run = wait_for_run(&gh, "signed", answer["run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "Successful", "{run}");
    assert_eq!(run["trigger"], "webhook");
    assert_eq!(
        lake_records(&gh, &run),
        vec![
            json!({"id": 1, "kind": "push"}),
            json!({"id": 2, "kind": "issues"})
        ]
    );

    // A signature over another body, and none at all: 401, no run.
    for header in [Some(good.as_str()), None] {
        let mut req = c
            .post(gh.url("/hooks/github"))
            .body(body.replace("push", "pull"));
        if let Some(h) = header {
            req = req.header("x-hub-signature-256", h);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let err = json_of(resp).await;
        assert_eq!(err["code"], "InvalidSignature");
        let message = err["message"].as_str().unwrap().to_lowercase();
        assert!(message.contains("x-hub-signature-256"), "{err}");
    }

    // Stripe: a fresh timestamp passes, a replayed old one does not.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (t, status) in [(now, 202), (now - 600, 401)] {
        let v1 = Signature::sign_hex("whsec_test", format!("{t}.{body}").as_bytes());
        let resp = c
            .post(gh.url("/hooks/stripe"))
            .header("stripe-signature", format!("t={t},v1={v1}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "t={t}");
        if status == 202 {
            let id = json_of(resp).await["run_id"].as_str().unwrap().to_string();
            assert_eq!(
                wait_for_run(&gh, "signed", &id).await["status"],
                "Successful"
            );
        }
    }

    // A body without the records path: 400 before any run.
    let resp = c
        .post(gh.url("/hooks/plain"))
        .body(r#"{"other":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(json_of(resp).await["message"], "the body has no `events`");
    // No records, or records that are not objects: 400, no run.
    for (body, message) in [
        (
            r#"{"events":[]}"#,
            "the body holds no records: send a JSON array of objects or one object",
        ),
        (
            r#"{"events":[1,"x",null]}"#,
            "record 0 is not a JSON object: send a JSON array of objects or one object",
        ),
    ] {
        let resp = c
            .post(gh.url("/hooks/plain"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let err = json_of(resp).await;
        assert_eq!(err["code"], "BadRequest");
        assert_eq!(err["message"], message);
    }

    assert_eq!(runs(&gh, "signed").await.len(), 2);
    let metrics = gh.metrics().await;
    assert!(
        metrics.contains(
            "gatehouse_flow_runs_total{flow=\"signed\",status=\"Successful\",trigger=\"webhook\"} 2"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("gatehouse_flow_records_total{flow=\"signed\",outcome=\"written\"} 4"));
}

#[tokio::test]
async fn topic_messages_run_flows_through_flow_subscriptions() {
    let gh = Gatehouse::start("flows_server", &[]);
    let sns = common::aws::sns(&gh);
    let topic = "arn:aws:sns:us-east-1:000000000000:orders";
    sns.publish()
        .topic_arn(topic)
        .message(r#"[{"id":1,"total":5},{"id":2,"total":50}]"#)
        .send()
        .await
        .unwrap();
    let run = eventually("a topic run", || async {
        runs(&gh, "from-topic")
            .await
            .into_iter()
            .find(|r| r["status"] != "InProgress")
    })
    .await;
    assert_eq!(run["status"], "Successful", "{run}");
    assert_eq!(run["trigger"], "topic");
    assert_eq!(lake_records(&gh, &run), vec![json!({"id": 2, "total": 50})]);

    // Subscribing through the API: a known flow is confirmed at once, an
    // unknown one is refused.
    let sub = sns
        .subscribe()
        .topic_arn(topic)
        .protocol("flow")
        .endpoint("signed")
        .send()
        .await
        .unwrap();
    assert!(sub.subscription_arn().unwrap().starts_with(topic));
    let err = sns
        .subscribe()
        .topic_arn(topic)
        .protocol("flow")
        .endpoint("nope")
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert_eq!(err.meta().code(), Some("InvalidParameter"));
    assert!(err.meta().message().unwrap().contains("no flow named nope"));
}

#[tokio::test]
async fn queue_flows_take_messages_and_delete_them_after_the_commit() {
    let gh = Gatehouse::start("flows_server", &[]);
    let sqs = common::aws::sqs(&gh);
    let queue_url = format!("{}/000000000000/events", gh.messaging_url());
    for i in 0..24 {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(json!({"n": i}).to_string())
            .send()
            .await
            .unwrap();
    }
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body("not json")
        .send()
        .await
        .unwrap();

    let c = client();
    let resp = c
        .post(gh.admin_url("/flows/drain/runs"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = json_of(resp).await["run_id"].as_str().unwrap().to_string();
    let run = wait_for_run(&gh, "drain", &id).await;
    assert_eq!(run["status"], "Successful", "{run}");
    assert_eq!(run["trigger"], "on_demand");
    assert_eq!(run["records_read"], 25);
    assert_eq!(run["records_written"], 24);
    assert_eq!(run["records_invalid"], 1);
    let mut ns: Vec<i64> = lake_records(&gh, &run)
        .iter()
        .map(|r| r["n"].as_i64().unwrap())
        .collect();
    ns.sort();
    assert_eq!(ns, (0..24).collect::<Vec<_>>());

    // Deleted after the commit: nothing visible, nothing in flight.
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    use aws_sdk_sqs::types::QueueAttributeName as A;
    assert_eq!(attrs[&A::ApproximateNumberOfMessages], "0");
    assert_eq!(attrs[&A::ApproximateNumberOfMessagesNotVisible], "0");

    // An empty queue: a run that reads nothing and succeeds.
    let id = json_of(
        c.post(gh.admin_url("/flows/drain/runs"))
            .send()
            .await
            .unwrap(),
    )
    .await["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let empty = wait_for_run(&gh, "drain", &id).await;
    assert_eq!(empty["status"], "Successful");
    assert_eq!(empty["records_read"], 0);
}

#[tokio::test]
async fn the_admin_api_lists_flows_and_refuses_bad_requests() {
    let gh = Gatehouse::start("flows_server", &[]);
    let c = client();
    let list = json_of(c.get(gh.admin_url("/flows")).send().await.unwrap()).await;
    let names: Vec<&str> = list["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flow"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["drain", "from-topic", "signed"]);
    let one = json_of(c.get(gh.admin_url("/flows/drain")).send().await.unwrap()).await;
    assert_eq!(one["source"], "queue");
    assert_eq!(one["deactivated"], false);

    let missing = c.get(gh.admin_url("/flows/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(json_of(missing).await["code"], "NotFound");
    let bad = c
        .post(gh.admin_url("/flows/signed/runs"))
        .body("[1,")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(json_of(bad).await["message"]
        .as_str()
        .unwrap()
        .starts_with("the body is not JSON"));
    let no_run = c
        .get(gh.admin_url("/flows/signed/runs/20260101T000000Z-000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_run.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_never_overlap_and_deactivate_after_failures() {
    let saas = Saas::start(5).await;
    let url = saas.url();
    let gh = Gatehouse::start_with("flows_server", Options::default(), |dir| {
        let flows = dir.join("flows");
        // Each run takes 1.5 s on a 1-second schedule: ticks meet runs.
        std::fs::write(
            flows.join("ticking.yaml"),
            format!(
                "trigger: {{schedule: rate(1 second)}}\nallow_private_network: true\nsource:\n  http:\n    base_url: {url}\n    path: /generic/slow\n    records: items\n"
            ),
        )
        .unwrap();
        std::fs::write(
            flows.join("failing.yaml"),
            format!(
                "trigger: {{schedule: rate(1 second), deactivate_after_failures: 2}}\nallow_private_network: true\nsource:\n  http:\n    base_url: {url}\n    path: /no/such/endpoint\n    max_retries: 0\n"
            ),
        )
        .unwrap();
    });

    let ticking = eventually("two scheduled runs", || async {
        let done: Vec<Value> = runs(&gh, "ticking")
            .await
            .into_iter()
            .filter(|r| r["status"] != "InProgress")
            .collect();
        (done.len() >= 2).then_some(done)
    })
    .await;
    for run in &ticking {
        assert_eq!(run["status"], "Successful", "{run}");
        assert_eq!(run["trigger"], "schedule");
        assert_eq!(run["records_written"], 5);
    }
    // Newest first: each run started after the one before it ended.
    for pair in ticking.windows(2) {
        let (newer, older) = (&pair[0], &pair[1]);
        assert!(
            newer["started_at"].as_str().unwrap() >= older["ended_at"].as_str().unwrap(),
            "runs overlap: {older} and {newer}"
        );
    }

    let failing = eventually("deactivation", || async {
        let f = json_of(
            client()
                .get(gh.admin_url("/flows/failing"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        (f["deactivated"] == true).then_some(f)
    })
    .await;
    assert_eq!(failing["consecutive_failures"], 2);
    let metrics = eventually("skipped ticks", || async {
        let m = gh.metrics().await;
        (m.contains(
            "gatehouse_flow_schedule_skipped_total{flow=\"failing\",reason=\"deactivated\"}",
        ) && m
            .contains("gatehouse_flow_schedule_skipped_total{flow=\"ticking\",reason=\"running\"}"))
        .then_some(m)
    })
    .await;
    assert!(
        metrics.contains("gatehouse_flow_deactivated{flow=\"failing\"} 1"),
        "{metrics}"
    );
    let failed = runs(&gh, "failing").await;
    assert_eq!(failed.len(), 2, "no run after deactivation");
    assert!(failed.iter().all(|r| r["status"] == "Error"));
    assert!(failed[0]["error"].as_str().unwrap().contains("404"));
    gh.wait_stderr("flow deactivated after consecutive failed runs")
        .await;

    let resp = client()
        .post(gh.admin_url("/flows/failing/activate"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let f = json_of(
        client()
            .get(gh.admin_url("/flows/failing"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(f["deactivated"], false);
    assert_eq!(f["consecutive_failures"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_flow_run_from_the_cli_needs_a_body_with_records() {
    let gh = Gatehouse::start("flows_server", &[]);
    let out = gh.cli(&["flow", "run", "signed"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "flow `signed` reads its records from the webhook body: pass them with --body FILE"
        ),
        "{stderr}"
    );
    let empty = gh.dir.path().join("empty.json");
    std::fs::write(&empty, r#"{"events":[]}"#).unwrap();
    let out = gh.cli(&["flow", "run", "signed", "--body", empty.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the body holds no records"), "{stderr}");
    // Neither started a run, so neither counts towards deactivation.
    assert!(runs(&gh, "signed").await.is_empty());
}
