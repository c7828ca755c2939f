//! Queue workers against the real server: messages sent with the AWS SDK,
//! batches POSTed to an in-test HTTP receiver or piped to a small Python
//! command. Success, partial batch failures, failures into the DLQ,
//! timeouts, command crashes, FIFO order under concurrency, scaling with a
//! backlog, and kill -9 mid-batch.

mod common;

use axum::extract::State;
use axum::http::StatusCode;
use common::{eventually, get_json, Gatehouse, Options};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// One batch the receiver was sent.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    event: Value,
    at: Instant,
}

impl Seen {
    fn bodies(&self) -> Vec<String> {
        self.event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["body"].as_str().unwrap().to_string())
            .collect()
    }
}

#[derive(Default)]
struct Receiver {
    log: Mutex<Vec<Seen>>,
    changed: Notify,
    /// FIFO groups being processed now, and overlaps seen.
    in_flight: Mutex<HashSet<String>>,
    overlaps: Mutex<Vec<String>>,
    /// `fail-once` bodies already failed.
    failed_once: Mutex<HashSet<String>>,
}

impl Receiver {
    /// Waits (up to 30s) until `check` holds for the log.
    async fn until<T>(&self, what: &str, check: impl Fn(&[Seen]) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.changed.notified();
            if let Some(v) = check(&self.log.lock()) {
                return v;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}");
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    fn bodies(&self, path: &str) -> Vec<String> {
        self.log
            .lock()
            .iter()
            .filter(|s| s.path == path)
            .flat_map(Seen::bodies)
            .collect()
    }
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    uri: axum::http::Uri,
    body: String,
) -> (StatusCode, String) {
    let event: Value = serde_json::from_str(&body).unwrap();
    let path = uri.path().to_string();
    let seen = Seen {
        path: path.clone(),
        event: event.clone(),
        at: Instant::now(),
    };
    // Recorded on arrival: a worker may give up before the answer.
    r.log.lock().push(seen);
    r.changed.notify_waiters();
    let answer = match path.as_str() {
        "/fail" => (StatusCode::INTERNAL_SERVER_ERROR, String::new()),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            (StatusCode::OK, String::new())
        }
        "/busy" => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            (StatusCode::OK, String::new())
        }
        "/ordered" => {
            let group = event["Records"][0]["attributes"]["MessageGroupId"]
                .as_str()
                .unwrap()
                .to_string();
            if !r.in_flight.lock().insert(group.clone()) {
                r.overlaps.lock().push(group.clone());
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
            r.in_flight.lock().remove(&group);
            (StatusCode::OK, String::new())
        }
        "/partial" => {
            let mut failures = Vec::new();
            for record in event["Records"].as_array().unwrap() {
                let body = record["body"].as_str().unwrap();
                if body.starts_with("fail-once") && r.failed_once.lock().insert(body.to_string()) {
                    failures.push(json!({"itemIdentifier": record["messageId"]}));
                }
            }
            (
                StatusCode::OK,
                json!({ "batchItemFailures": failures }).to_string(),
            )
        }
        _ => (StatusCode::OK, "{}".to_string()),
    };
    answer
}

async fn receiver() -> (String, Arc<Receiver>) {
    let r = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .fallback(axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr.to_string(), r)
}

struct Setup {
    gh: Gatehouse,
    receiver: Arc<Receiver>,
    out: tempfile::TempDir,
}

async fn start() -> Setup {
    let (addr, receiver) = receiver().await;
    let out = tempfile::tempdir().unwrap();
    let gh = Gatehouse::start(
        "workers",
        &[
            ("RECEIVER", addr),
            ("OUT_DIR", out.path().display().to_string()),
        ],
    );
    Setup { gh, receiver, out }
}

async fn send(gh: &Gatehouse, queue: &str, bodies: &[String], group: Option<&str>) {
    let sqs = common::aws::sqs(gh);
    let url = format!("{}/000000000000/{queue}", gh.messaging_url());
    for chunk in bodies.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mut e = aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(b);
                if let Some(g) = group {
                    e = e.message_group_id(g);
                }
                e.build().unwrap()
            })
            .collect();
        let out = sqs
            .send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(out.failed.is_empty(), "{:?}", out.failed);
    }
}

/// Messages left on `queue`, visible or in flight.
async fn left(gh: &Gatehouse, queue: &str) -> u64 {
    let attrs = common::aws::sqs(gh)
        .get_queue_attributes()
        .queue_url(format!("{}/000000000000/{queue}", gh.messaging_url()))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let n = |k: aws_sdk_sqs::types::QueueAttributeName| -> u64 { attrs[&k].parse().unwrap() };
    n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        + n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
}

async fn batches(gh: &Gatehouse, worker: &str) -> Vec<Value> {
    let v = get_json(&gh.admin_url(&format!("/workers/{worker}/batches?limit=200"))).await;
    v["batches"].as_array().cloned().unwrap_or_default()
}

/// Waits (up to 30s) for a batch of `worker` with `outcome`.
async fn batch_with(gh: &Gatehouse, worker: &str, outcome: &str) -> Value {
    let what = format!("a {outcome} batch of {worker}");
    eventually(&what, Duration::from_secs(30), || async {
        batches(gh, worker)
            .await
            .into_iter()
            .find(|b| b["outcome"] == outcome)
    })
    .await
}

/// Waits (up to 10s) for `queue` to hold nothing, visible or in flight.
async fn drained(gh: &Gatehouse, queue: &str) {
    let what = format!("{queue} to drain");
    eventually(&what, Duration::from_secs(10), || async {
        (left(gh, queue).await == 0).then_some(())
    })
    .await
}

/// Every message reaches the endpoint once, in Lambda's event shape, and
/// is deleted; the admin API and the metrics count them.
#[tokio::test]
async fn an_http_worker_gets_lambdas_event_and_its_successes_are_deleted() {
    let s = start().await;
    let bodies: Vec<String> = (0..25).map(|i| format!("job-{i}")).collect();
    send(&s.gh, "jobs", &bodies, None).await;
    s.receiver
        .until("25 jobs", |log| {
            let n: usize = log
                .iter()
                .filter(|x| x.path == "/ok")
                .map(|x| x.bodies().len())
                .sum();
            (n >= 25).then_some(())
        })
        .await;
    let mut seen = s.receiver.bodies("/ok");
    seen.sort();
    let mut want = bodies.clone();
    want.sort();
    assert_eq!(seen, want, "each message once");
    let log = s.receiver.log.lock().clone();
    let first = &log.iter().find(|x| x.path == "/ok").unwrap().event["Records"][0];
    assert_eq!(first["eventSource"], "aws:sqs");
    assert_eq!(
        first["eventSourceARN"],
        "arn:aws:sqs:us-east-1:000000000000:jobs"
    );
    assert_eq!(first["awsRegion"], "us-east-1");
    assert_eq!(first["attributes"]["ApproximateReceiveCount"], "1");
    let body = first["body"].as_str().unwrap();
    assert_eq!(
        first["md5OfBody"].as_str().unwrap(),
        gatehouse::messaging::message::md5_hex(body.as_bytes())
    );
    assert!(first["receiptHandle"]
        .as_str()
        .is_some_and(|h| !h.is_empty()));
    assert!(log.iter().all(|x| x.bodies().len() <= 10));
    // Deleted: nothing left, visible or not.
    drained(&s.gh, "jobs").await;
    let list = get_json(&s.gh.admin_url("/workers")).await;
    let worker = list["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "to-http")
        .unwrap()
        .clone();
    assert_eq!(worker["processed"], 25, "{worker}");
    assert_eq!(worker["failed"], 0);
    let metrics = s.gh.metrics().await;
    assert!(
        metrics.contains(
            r#"gatehouse_worker_messages_total{outcome="processed",worker="to-http"} 25"#
        ),
        "{metrics}"
    );
    assert!(
        !metrics.contains("gatehouse_gatehouse_"),
        "a doubled prefix"
    );
}

/// `batchItemFailures` deletes only the others; the failed ones come back
/// after their visibility timeout and succeed.
#[tokio::test]
async fn partial_batch_failures_retry_only_the_failed_messages() {
    let s = start().await;
    let bodies: Vec<String> = ["ok-1", "fail-once-2", "ok-3", "fail-once-4", "ok-5"]
        .iter()
        .map(|b| b.to_string())
        .collect();
    send(&s.gh, "partial", &bodies, None).await;
    s.receiver
        .until("the retries", |log| {
            let n = log
                .iter()
                .filter(|x| x.path == "/partial")
                .flat_map(Seen::bodies)
                .filter(|b| b.starts_with("fail-once"))
                .count();
            (n >= 4).then_some(())
        })
        .await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for b in s.receiver.bodies("/partial") {
        *counts.entry(b).or_default() += 1;
    }
    assert_eq!(counts["ok-1"], 1);
    assert_eq!(counts["ok-3"], 1);
    assert_eq!(counts["ok-5"], 1);
    assert_eq!(counts["fail-once-2"], 2);
    assert_eq!(counts["fail-once-4"], 2);
    let partial = batch_with(&s.gh, "partial", "partial").await;
    assert_eq!(partial["failed"], 2, "{partial}");
    drained(&s.gh, "partial").await;
}

/// A batch that keeps failing (500) goes to the queue's DLQ after
/// maxReceiveCount (2) receives.
#[tokio::test]
async fn failing_batches_reach_the_dead_letter_queue() {
    let s = start().await;
    send(&s.gh, "failing", &["doomed".to_string()], None).await;
    let sqs = common::aws::sqs(&s.gh);
    let dlq = format!("{}/000000000000/failing-dlq", s.gh.messaging_url());
    let deadline = Instant::now() + Duration::from_secs(30);
    let moved = loop {
        let got = sqs
            .receive_message()
            .queue_url(&dlq)
            .wait_time_seconds(5)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if let Some(m) = got.into_iter().next() {
            break m;
        }
        assert!(Instant::now() < deadline, "nothing reached the DLQ");
    };
    assert_eq!(moved.body.as_deref(), Some("doomed"));
    assert_eq!(s.receiver.bodies("/fail"), vec!["doomed", "doomed"]);
    let failed = batch_with(&s.gh, "failing", "failure").await;
    assert_eq!(failed["detail"], "the endpoint answered 500");
}

/// An endpoint slower than the worker's timeout: the batch times out and
/// its message comes back once its visibility (2s) ends, not before.
#[tokio::test]
async fn slow_endpoints_time_out_and_the_message_returns() {
    let s = start().await;
    send(&s.gh, "slow", &["tortoise".to_string()], None).await;
    let times = s
        .receiver
        .until("a second attempt", |log| {
            let at: Vec<Instant> = log
                .iter()
                .filter(|x| x.path == "/slow")
                .map(|x| x.at)
                .collect();
            (at.len() >= 2).then_some(at)
        })
        .await;
    assert!(
        times[1] - times[0] >= Duration::from_millis(1900),
        "received again while its visibility held: {:?}",
        times[1] - times[0]
    );
    let timed_out = batch_with(&s.gh, "slow", "timeout").await;
    assert_eq!(timed_out["messages"], 1);
}

/// The command target: the event on stdin, only the listed environment,
/// batchItemFailures on stdout, a crash (exit 3) and a hang (killed at the
/// timeout) fail the batch, and their messages stay on the queue.
#[tokio::test]
async fn command_workers_run_without_a_shell_or_our_environment() {
    let s = start().await;
    send(
        &s.gh,
        "scripted",
        &["fine".to_string(), "bad".to_string()],
        None,
    )
    .await;
    let partial = batch_with(&s.gh, "scripted", "partial").await;
    assert_eq!(partial["failed"], 1, "{partial}");
    let records: Vec<Value> = std::fs::read_dir(s.out.path())
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    let fine = records.iter().find(|r| r["body"] == "fine").unwrap();
    assert_eq!(fine["source"], "aws:sqs");
    // Nothing of Gatehouse's environment (RECEIVER, PATH, HOME...): only
    // what the definition lists (LC_ALL keeps Python from adding LC_CTYPE).
    assert_eq!(fine["env"], json!(["GREETING", "LC_ALL", "OUT_DIR"]));
    assert!(partial["stdout"]
        .as_str()
        .unwrap()
        .contains("batchItemFailures"));

    send(&s.gh, "scripted", &["crash".to_string()], None).await;
    let crashed = batch_with(&s.gh, "scripted", "failure").await;
    assert_eq!(crashed["detail"], "exit code 3", "{crashed}");
    send(&s.gh, "scripted", &["hang".to_string()], None).await;
    let hung = batch_with(&s.gh, "scripted", "timeout").await;
    assert_eq!(hung["detail"], "killed after 1s", "{hung}");
    assert!(left(&s.gh, "scripted").await >= 3);
}

/// A FIFO queue under three pollers: each group's messages arrive in order
/// and no group is ever in two batches at once.
#[tokio::test]
async fn fifo_groups_stay_in_order_under_concurrency() {
    let s = start().await;
    for group in ["a", "b", "c"] {
        let bodies: Vec<String> = (0..12).map(|i| format!("{group}-{i:02}")).collect();
        send(&s.gh, "ordered.fifo", &bodies, Some(group)).await;
    }
    s.receiver
        .until("36 ordered messages", |log| {
            let n: usize = log
                .iter()
                .filter(|x| x.path == "/ordered")
                .map(|x| x.bodies().len())
                .sum();
            (n >= 36).then_some(())
        })
        .await;
    let mut by_group: HashMap<String, Vec<String>> = HashMap::new();
    for b in s.receiver.bodies("/ordered") {
        by_group.entry(b[..1].to_string()).or_default().push(b);
    }
    for (group, got) in by_group {
        let want: Vec<String> = (0..12).map(|i| format!("{group}-{i:02}")).collect();
        assert_eq!(got, want, "group {group} out of order");
    }
    assert!(
        s.receiver.overlaps.lock().is_empty(),
        "a group was in two batches at once"
    );
}

/// Pollers grow while batches come back full (a backlog of 300, batch size
/// 1, each taking 100ms) and shrink back to `min` once the queue drains.
#[tokio::test]
async fn pollers_scale_with_the_backlog_and_back_down() {
    let s = start().await;
    let bodies: Vec<String> = (0..300).map(|i| format!("b{i}")).collect();
    send(&s.gh, "backlog", &bodies, None).await;
    let pollers = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(r#"gatehouse_worker_pollers{worker="backlog"}"#))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    eventually("4 pollers", Duration::from_secs(30), || async {
        (pollers(&s.gh.metrics().await) == 4).then_some(())
    })
    .await;
    s.receiver
        .until("the backlog drained", |log| {
            (log.iter().filter(|x| x.path == "/busy").count() >= 300).then_some(())
        })
        .await;
    eventually("pollers back to 1", Duration::from_secs(30), || async {
        (pollers(&s.gh.metrics().await) == 1).then_some(())
    })
    .await;
    let mut seen = s.receiver.bodies("/busy");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 300);
}

/// kill -9 while a batch is at the endpoint: nothing is lost. After a
/// restart the message comes back once its visibility (2s) has passed and
/// is processed; it was not handed out again while its visibility held.
#[tokio::test]
async fn a_killed_server_loses_no_message() {
    let s = start().await;
    send(&s.gh, "slow", &["survivor".to_string()], None).await;
    let first = s
        .receiver
        .until("the first attempt", |log| {
            log.iter().find(|x| x.path == "/slow").map(|x| x.at)
        })
        .await;
    let env: Vec<(String, String)> = s.gh.env.clone();
    let dir = s.gh.kill_hard();
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let gh = Gatehouse::launch(
        dir,
        &Options {
            env,
            ..Default::default()
        },
    );
    let again = s
        .receiver
        .until("the attempt after the restart", |log| {
            let at: Vec<Instant> = log
                .iter()
                .filter(|x| x.path == "/slow")
                .map(|x| x.at)
                .collect();
            (at.len() >= 2).then(|| at[1])
        })
        .await;
    assert!(
        again - first >= Duration::from_millis(1900),
        "{:?}",
        again - first
    );
    assert!(s.receiver.bodies("/slow").iter().all(|b| b == "survivor"));
    drop(gh);
}

/// Workers follow reloads: a new file starts a worker, a changed one
/// restarts it with its new settings, a removed one stops it.
#[tokio::test]
async fn workers_follow_config_reloads() {
    let s = start().await;
    s.gh.write(
        "workers/late.yaml",
        "queue: backlog\nbatch_size: 1\nhttp: {upstream: receiver, path: /late}\n",
    );
    // `backlog` already has a worker: the new one shares the queue. Send
    // after the reload, and the new worker's path shows it took part.
    assert!(s.gh.reload().await);
    let ids = || async {
        let v = get_json(&s.gh.admin_url("/workers")).await;
        v["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(ids().await.contains(&"late".to_string()));
    let bodies: Vec<String> = (0..200).map(|i| format!("late-{i}")).collect();
    send(&s.gh, "backlog", &bodies, None).await;
    s.receiver
        .until("the new worker's first batch", |log| {
            log.iter().any(|x| x.path == "/late").then_some(())
        })
        .await;
    // Removed: it stops, and the other worker drains the rest.
    std::fs::remove_file(s.gh.dir.path().join("workers/late.yaml")).unwrap();
    assert!(s.gh.reload().await);
    assert!(!ids().await.contains(&"late".to_string()));
    s.receiver
        .until("all 200", |log| {
            let n = log
                .iter()
                .filter(|x| x.path == "/late" || x.path == "/busy")
                .flat_map(Seen::bodies)
                .filter(|b| b.starts_with("late-"))
                .collect::<HashSet<_>>()
                .len();
            (n == 200).then_some(())
        })
        .await;
    eventually(
        "the removed worker to stop",
        Duration::from_secs(10),
        || async {
            let metrics = s.gh.metrics().await;
            metrics
                .contains(r#"gatehouse_worker_pollers{worker="late"} 0"#)
                .then_some(())
        },
    )
    .await;
    let late_after_stop = s.receiver.bodies("/late").len();
    send(&s.gh, "backlog", &["after".to_string()], None).await;
    s.receiver
        .until("the remaining worker takes it", |log| {
            log.iter()
                .any(|x| x.path == "/busy" && x.bodies() == vec!["after".to_string()])
                .then_some(())
        })
        .await;
    assert_eq!(s.receiver.bodies("/late").len(), late_after_stop);
}
