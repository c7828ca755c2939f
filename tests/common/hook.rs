//! An HTTP endpoint for SNS subscriptions: it records every post and
//! answers 500 to the next `failures` of them (set at start, changed with
//! `refuse`), then 200.

use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub struct Hook {
    pub url: String,
    posts: mpsc::UnboundedReceiver<(http::HeaderMap, String)>,
    failures: Arc<AtomicUsize>,
}

pub async fn start(path: &str, failures: usize) -> Hook {
    let (tx, posts) = mpsc::unbounded_channel();
    let remaining = Arc::new(AtomicUsize::new(failures));
    let failing = remaining.clone();
    let app = axum::Router::new().route(
        path,
        axum::routing::post(move |headers: http::HeaderMap, body: String| {
            let (tx, remaining) = (tx.clone(), failing.clone());
            async move {
                let _ = tx.send((headers, body));
                let fail = remaining
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if fail {
                    http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Hook {
        url,
        posts,
        failures: remaining,
    }
}

impl Hook {
    /// Answers 500 to the next `n` posts.
    pub fn refuse(&self, n: usize) {
        self.failures.store(n, Ordering::SeqCst);
    }

    /// Subscribes this endpoint to `topic` with retries a second apart (so
    /// tests need not wait SNS's 20 s), and confirms the subscription with
    /// the token the confirmation brings.
    pub async fn subscribe_confirmed(
        &mut self,
        sns: &aws_sdk_sns::Client,
        topic: &str,
        limit: Duration,
    ) {
        sns.subscribe()
            .topic_arn(topic)
            .protocol("http")
            .endpoint(&self.url)
            .attributes(
                "DeliveryPolicy",
                r#"{"healthyRetryPolicy":{"numRetries":30,"minDelayTarget":1,"maxDelayTarget":1}}"#,
            )
            .send()
            .await
            .unwrap();
        let (_, confirmation) = self.next_within(limit).await;
        sns.confirm_subscription()
            .topic_arn(topic)
            .token(confirmation["Token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
    }

    /// Forgets the posts received so far.
    pub fn drain(&mut self) {
        while self.posts.try_recv().is_ok() {}
    }

    /// The next post: its headers and body (JSON when it parses).
    pub async fn next(&mut self) -> (http::HeaderMap, Value) {
        self.next_within(Duration::from_secs(10)).await
    }

    /// `next`, waiting up to `limit` (a fleet's deliveries take a claim
    /// round trip through PostgreSQL, slow on a loaded machine).
    pub async fn next_within(&mut self, limit: Duration) -> (http::HeaderMap, Value) {
        let (headers, body) = tokio::time::timeout(limit, self.posts.recv())
            .await
            .unwrap_or_else(|_| panic!("no delivery within {limit:?}"))
            .unwrap();
        (
            headers,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }
}
