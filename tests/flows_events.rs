//! Flow events chain work: runs publish FlowRunStarted / FlowRunSucceeded /
//! FlowRunFailed to a topic, `trigger.after` starts the next flow, and the
//! topic's queue feeds a worker: webhook -> flow -> flow -> topic -> worker.

mod common;

use common::{client, Gatehouse};
use parking_lot::Mutex;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The flow events the worker delivered, with their message attributes.
#[derive(Default)]
struct Delivered {
    events: Mutex<Vec<(Value, Value)>>,
}

async fn receiver() -> (String, Arc<Delivered>) {
    let got = Arc::new(Delivered::default());
    let shared = got.clone();
    let app = axum::Router::new().fallback(axum::routing::post(move |body: String| {
        let shared = shared.clone();
        async move {
            let batch: Value = serde_json::from_str(&body).unwrap();
            for record in batch["Records"].as_array().unwrap() {
                let event: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
                shared
                    .events
                    .lock()
                    .push((event, record["messageAttributes"].clone()));
            }
            "{}"
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr.to_string(), got)
}

/// Waits (up to 30s) for an event of `kind` for `flow`.
async fn event(got: &Delivered, kind: &str, flow: &str) -> (Value, Value) {
    let what = format!("{kind} for {flow}");
    common::eventually(&what, Duration::from_secs(30), || async {
        got.events
            .lock()
            .iter()
            .find(|(e, _)| e["type"] == kind && e["flow"] == flow)
            .cloned()
    })
    .await
}

#[tokio::test]
async fn a_webhook_run_chains_into_the_next_flow_and_its_events_reach_a_worker() {
    let (addr, got) = receiver().await;
    let gh = Gatehouse::start("flows_events", &[("RECEIVER", addr)]);
    let resp = client()
        .post(gh.admin_url("/flows/extract/runs"))
        .body(r#"{"items":[{"id":1},{"id":2},{"id":3}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let run: Value = resp.json().await.unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_string();

    let (started, attributes) = event(&got, "FlowRunStarted", "extract").await;
    assert_eq!(started["run_id"], run_id.as_str());
    assert_eq!(attributes["eventType"]["stringValue"], "FlowRunStarted");
    assert_eq!(attributes["flow"]["stringValue"], "extract");
    let (done, _) = event(&got, "FlowRunSucceeded", "extract").await;
    assert_eq!(done["run_id"], run_id.as_str());
    assert_eq!(done["status"], "Successful");
    assert_eq!(done["records"]["written"], 3);
    let keys = done["output_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{done}");
    assert!(gh
        .dir
        .path()
        .join("data/lake")
        .join(keys[0].as_str().unwrap())
        .is_file());
    assert!(done["error"].is_null());

    // `load` runs after `extract` succeeded.
    let (next, _) = event(&got, "FlowRunStarted", "load").await;
    assert_eq!(next["trigger"], "after:extract");
    let (loaded, _) = event(&got, "FlowRunSucceeded", "load").await;
    assert_eq!(loaded["trigger"], "after:extract");

    // A run that fails says so, with its error.
    let resp = client()
        .post(gh.admin_url("/flows/broken/runs"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let (failed, attributes) = event(&got, "FlowRunFailed", "broken").await;
    assert_eq!(failed["status"], "Error");
    assert!(
        failed["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{failed}"
    );
    assert_eq!(attributes["eventType"]["stringValue"], "FlowRunFailed");
    // Nothing runs after a failure.
    assert!(!got
        .events
        .lock()
        .iter()
        .any(|(e, _)| e["trigger"] == "after:broken"));
}
