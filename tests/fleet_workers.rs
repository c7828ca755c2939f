//! Fleet mode, queue workers: two nodes run the same worker on one queue in
//! PostgreSQL; together they process every message once (each batch
//! succeeds, so nothing may come back), spread over both nodes.

mod common;

use common::fleet::Fleet;
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test]
async fn workers_on_two_nodes_share_a_queue_without_doubles() {
    // The receiver counts each message id, and which node's request it was.
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let shared = seen.clone();
    let app = axum::Router::new().fallback(axum::routing::post(move |body: String| {
        let shared = shared.clone();
        async move {
            let batch: Value = serde_json::from_str(&body).unwrap();
            for record in batch["Records"].as_array().unwrap() {
                let id = record["messageId"].as_str().unwrap().to_string();
                *shared.lock().entry(id).or_default() += 1;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            "{}"
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let fleet = Fleet::start_with(2, "workers", move |dir| {
        let config = dir.join("gatehouse.yaml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&format!(
            "  queues:\n    fleet-work: {{}}\nupstreams:\n  receiver:\n    targets:\n      - address: {addr}\n"
        ));
        std::fs::write(&config, text).unwrap();
        std::fs::create_dir_all(dir.join("workers")).unwrap();
        std::fs::write(
            dir.join("workers/shared.yaml"),
            "queue: fleet-work\nbatch_size: 5\nconcurrency: {min: 2, max: 2}\nhttp: {upstream: receiver}\n",
        )
        .unwrap();
    });
    let sqs = common::aws::sqs(fleet.node(0));
    let url = format!("{}/000000000000/fleet-work", fleet.node(0).messaging_url());
    for chunk in 0..40 {
        let entries: Vec<_> = (0..10)
            .map(|i| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(format!("{}", chunk * 10 + i))
                    .build()
                    .unwrap()
            })
            .collect();
        sqs.send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().len() < 400 {
        assert!(
            Instant::now() < deadline,
            "only {} of 400 processed",
            seen.lock().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let doubles: Vec<_> = seen
        .lock()
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(doubles.is_empty(), "processed twice: {doubles:?}");
    // Both nodes took part.
    for node in &fleet.nodes {
        let v: Value = common::client()
            .get(node.admin_url("/workers"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let processed = v["workers"][0]["processed"].as_u64().unwrap();
        assert!(processed > 0, "a node processed nothing");
    }
    fleet.drop_schema().await;
}
