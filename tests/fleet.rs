//! Fleet mode: three gatehouse processes on one PostgreSQL schema and one
//! Redis key prefix (each test its own), behind no balancer: the test sends
//! round-robin itself. Keys, quotas and rate limits hold fleet-wide; a
//! revoked key is refused everywhere within a second; a node whose store is
//! unreachable refuses to start.

mod common;

use common::{client, json, Gatehouse, Options};
use std::time::{Duration, Instant};

const STORE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL: &str = "redis://127.0.0.1:6379";

struct Fleet {
    nodes: Vec<Gatehouse>,
    schema: String,
}

impl Fleet {
    fn start(n: usize, test: &str) -> Fleet {
        Fleet::start_with(n, test, |_| {})
    }

    /// As `start`, with `prepare` run on each node's folder first.
    fn start_with(
        n: usize,
        test: &str,
        prepare: impl Fn(&std::path::Path) + Clone + Send + 'static,
    ) -> Fleet {
        let schema = format!(
            "fleet_{test}_{}_{:x}",
            std::process::id(),
            fastrand::u32(..)
        );
        let env = vec![
            ("STORE_URL", STORE_URL.to_string()),
            ("STORE_SCHEMA", schema.clone()),
            ("REDIS_URL", REDIS_URL.to_string()),
            ("REDIS_PREFIX", format!("{schema}:")),
        ];
        // All at once: their migrations must not collide.
        let starting: Vec<_> = (0..n)
            .map(|_| {
                let (env, prepare) = (env.clone(), prepare.clone());
                std::thread::spawn(move || {
                    let env: Vec<(&str, String)> =
                        env.iter().map(|(k, v)| (*k, v.clone())).collect();
                    Gatehouse::start_with(
                        "fleet",
                        Options {
                            env,
                            ..Default::default()
                        },
                        prepare,
                    )
                })
            })
            .collect();
        let nodes = starting.into_iter().map(|t| t.join().unwrap()).collect();
        Fleet { nodes, schema }
    }

    fn node(&self, i: usize) -> &Gatehouse {
        &self.nodes[i % self.nodes.len()]
    }

    async fn drop_schema(&self) {
        let (pg, conn) = tokio_postgres::connect(STORE_URL, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        pg.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .await
            .unwrap();
    }
}

async fn create_key(node: &Gatehouse, plan: &str) -> (String, String) {
    let resp = client()
        .post(node.admin_url("/keys"))
        .json(&serde_json::json!({"plan": plan}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body = json(resp).await;
    (
        body["id"].as_str().unwrap().to_string(),
        body["key"].as_str().unwrap().to_string(),
    )
}

async fn get(node: &Gatehouse, path: &str, key: Option<&str>) -> u16 {
    let mut req = client().get(node.url(path));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_quotas_and_rate_limits_hold_across_three_nodes() {
    let fleet = Fleet::start(3, "limits");
    // Ready: each node reaches the store.
    for node in &fleet.nodes {
        let ready = client()
            .get(node.admin_url("/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }

    // A key created on node 0 works on nodes 1 and 2.
    let (id, key) = create_key(fleet.node(0), "metered").await;
    assert_eq!(get(fleet.node(1), "/f/metered", Some(&key)).await, 200);
    assert_eq!(get(fleet.node(2), "/f/metered", Some(&key)).await, 200);

    // The quota (30/day) is exact across the fleet: 28 more admitted in
    // all, whichever node they reach, and nothing after.
    let mut admitted = 2;
    for i in 0..60 {
        match get(fleet.node(i), "/f/metered", Some(&key)).await {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(admitted, 30);

    // A route limit of 10/min counts in Redis: 10 admitted in all.
    let mut limited = 0;
    for i in 0..30 {
        if get(fleet.node(i), "/f/limited", None).await == 200 {
            limited += 1;
        }
    }
    assert_eq!(limited, 10);

    // Revoked through node 0, refused by node 2 within a second.
    let (_, fresh) = create_key(fleet.node(0), "metered").await;
    assert_eq!(get(fleet.node(2), "/f/metered", Some(&fresh)).await, 200);
    let fresh_id = {
        let resp = client()
            .get(fleet.node(0).admin_url("/keys"))
            .send()
            .await
            .unwrap();
        let all = json(resp).await;
        all["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] != id.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let resp = client()
        .delete(fleet.node(0).admin_url(&format!("/keys/{fresh_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let revoked_at = Instant::now();
    loop {
        if get(fleet.node(2), "/f/metered", Some(&fresh)).await == 403 {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "node 2 still admits a key revoked on node 0"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fleet.drop_schema().await;
}

/// Requests from `workers` tasks, round-robin through the nodes, until
/// `stop`: how many were admitted, and how long it ran.
async fn hammer(
    fleet: &Fleet,
    path: &str,
    key: Option<&str>,
    workers: usize,
    stop: Stop,
) -> (usize, Duration) {
    let admitted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let urls: Vec<String> = fleet.nodes.iter().map(|n| n.url(path)).collect();
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (urls, admitted, sent) = (urls.clone(), admitted.clone(), sent.clone());
            let key = key.map(str::to_string);
            tokio::spawn(async move {
                let c = client();
                let mut i = w;
                loop {
                    let n = sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let go = match stop {
                        Stop::After(d) => started.elapsed() < d,
                        Stop::Count(total) => n < total,
                    };
                    if !go {
                        return;
                    }
                    let mut req = c.get(&urls[i % urls.len()]);
                    if let Some(k) = &key {
                        req = req.header("x-api-key", k);
                    }
                    let status = req.send().await.unwrap().status().as_u16();
                    assert!(status == 200 || status == 429, "status {status}");
                    if status == 200 {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (
        admitted.load(std::sync::atomic::Ordering::SeqCst),
        started.elapsed(),
    )
}

#[derive(Clone, Copy)]
enum Stop {
    After(Duration),
    Count(usize),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_and_a_quota_hold_fleet_wide_under_load() {
    let fleet = Fleet::start(3, "load");
    // 100/s with a burst of 100, for ten seconds, from 24 clients on
    // three nodes: what one node would admit, within 5%.
    let (admitted, took) = hammer(
        &fleet,
        "/f/steady",
        None,
        24,
        Stop::After(Duration::from_secs(10)),
    )
    .await;
    let expected = 100.0 * took.as_secs_f64() + 100.0;
    let off = (admitted as f64 - expected).abs() / expected;
    assert!(
        off < 0.05,
        "admitted {admitted} in {took:?}, expected about {expected:.0}"
    );
    // A 1,000/day quota, 1,200 requests at once through three nodes:
    // exactly 1,000 admitted.
    let (_, key) = create_key(fleet.node(1), "thousand").await;
    let (admitted, _) = hammer(&fleet, "/f/metered", Some(&key), 24, Stop::Count(1_200)).await;
    assert_eq!(admitted, 1_000);
    fleet.drop_schema().await;
}

#[tokio::test]
async fn serve_fails_fast_when_the_store_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&common::fixture("fleet"), dir.path());
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("-C")
        .arg(dir.path())
        .arg("serve")
        // Nothing listens on port 1.
        .env("STORE_URL", "postgres://postgres@127.0.0.1:1/test")
        .env("STORE_SCHEMA", "unreachable")
        .env("REDIS_URL", REDIS_URL)
        .env("REDIS_PREFIX", "unreachable:")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the store (PostgreSQL at 127.0.0.1:1)"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn validate_checks_the_store_and_redis_urls() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&common::fixture("fleet"), dir.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("-C")
        .arg(dir.path())
        .arg("validate")
        .env("STORE_URL", "mysql://root@127.0.0.1/test")
        .env("STORE_SCHEMA", "Bad-Name")
        .env("REDIS_URL", "http://127.0.0.1:6379")
        .env("REDIS_PREFIX", "p:")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(
            "gatehouse.yaml:12:8: store.url: expected a URL like postgres://user@host:5432/db"
        ),
        "{text}"
    );
    assert!(
        text.contains("store.schema: bad schema `Bad-Name`"),
        "{text}"
    );
    assert!(
        text.contains("rate_limits.url: expected a URL like redis://"),
        "{text}"
    );
}

mod messaging {
    use super::*;
    use crate::common;
    use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
    use std::collections::{BTreeMap, HashSet};
    use std::sync::{Arc, Mutex};

    use common::aws;

    async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
        sqs.get_queue_url()
            .queue_name(name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap()
    }

    /// Sends `bodies` in batches of ten, round-robin through the nodes.
    async fn send_round_robin(
        clients: &[aws_sdk_sqs::Client],
        queue: &str,
        bodies: Vec<(String, Option<String>)>,
    ) {
        let mut urls = Vec::new();
        for c in clients {
            urls.push(queue_url(c, queue).await);
        }
        let batches: Vec<_> = bodies.chunks(10).map(<[_]>::to_vec).collect();
        let sends = batches.into_iter().enumerate().map(|(i, batch)| {
            let (client, url) = (&clients[i % clients.len()], &urls[i % clients.len()]);
            async move {
                let entries: Vec<_> = batch
                    .iter()
                    .enumerate()
                    .map(|(j, (body, group))| {
                        let mut e = SendMessageBatchRequestEntry::builder()
                            .id(format!("m{j}"))
                            .message_body(body);
                        if let Some(g) = group {
                            e = e.message_group_id(g).message_deduplication_id(body);
                        }
                        e.build().unwrap()
                    })
                    .collect();
                let out = client
                    .send_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .unwrap();
                assert!(out.failed.is_empty(), "{:?}", out.failed);
            }
        });
        // Sixteen batches in flight at a time.
        let mut sends = futures_util::stream::iter(sends).buffer_unordered(16);
        use futures_util::StreamExt;
        while sends.next().await.is_some() {}
    }

    /// Consumers on every node receive (and delete) until `want` messages
    /// have been seen; each body in receive order, and how many times each
    /// was received.
    async fn consume(
        clients: &[aws_sdk_sqs::Client],
        queue: &str,
        per_node: usize,
        want: usize,
    ) -> (Vec<String>, BTreeMap<String, usize>) {
        let seen = Arc::new(Mutex::new((Vec::new(), BTreeMap::new())));
        let mut tasks = Vec::new();
        for client in clients {
            let url = queue_url(client, queue).await;
            for _ in 0..per_node {
                let (client, url, seen) = (client.clone(), url.clone(), seen.clone());
                tasks.push(tokio::spawn(async move {
                    let deadline = Instant::now() + Duration::from_secs(120);
                    loop {
                        if seen.lock().unwrap().0.len() >= want {
                            return;
                        }
                        assert!(Instant::now() < deadline, "consumers timed out");
                        let got = client
                            .receive_message()
                            .queue_url(&url)
                            .max_number_of_messages(10)
                            .wait_time_seconds(1)
                            .send()
                            .await
                            .unwrap();
                        let messages = got.messages.unwrap_or_default();
                        if messages.is_empty() {
                            continue;
                        }
                        {
                            // Recorded before deleting: a FIFO group's next
                            // message cannot be received before this delete.
                            let mut s = seen.lock().unwrap();
                            for m in &messages {
                                let body = m.body.clone().unwrap();
                                s.0.push(body.clone());
                                *s.1.entry(body).or_insert(0) += 1;
                            }
                        }
                        let entries: Vec<_> = messages
                            .iter()
                            .enumerate()
                            .map(|(i, m)| {
                                DeleteMessageBatchRequestEntry::builder()
                                    .id(format!("d{i}"))
                                    .receipt_handle(m.receipt_handle.clone().unwrap())
                                    .build()
                                    .unwrap()
                            })
                            .collect();
                        let out = client
                            .delete_message_batch()
                            .queue_url(&url)
                            .set_entries(Some(entries))
                            .send()
                            .await
                            .unwrap();
                        assert!(out.failed.is_empty(), "{:?}", out.failed);
                    }
                }));
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        let s = seen.lock().unwrap();
        (s.0.clone(), s.1.clone())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn fifty_thousand_messages_through_three_nodes_each_received_once() {
        let fleet = Fleet::start(3, "msgs");
        let clients: Vec<_> = fleet.nodes.iter().map(aws::sqs).collect();
        clients[0]
            .create_queue()
            .queue_name("work")
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "60",
            )
            .send()
            .await
            .unwrap();
        let bodies: Vec<_> = (0..50_000).map(|i| (format!("m{i}"), None)).collect();
        send_round_robin(&clients, "work", bodies).await;
        let (order, counts) = consume(&clients, "work", 3, 50_000).await;
        assert_eq!(order.len(), 50_000, "none received twice");
        assert_eq!(counts.len(), 50_000, "every message received");
        assert!(counts.values().all(|n| *n == 1));
        fleet.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn fifo_order_holds_per_group_across_nodes() {
        let fleet = Fleet::start(3, "fifo");
        let clients: Vec<_> = fleet.nodes.iter().map(aws::sqs).collect();
        clients[1]
            .create_queue()
            .queue_name("ordered.fifo")
            .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
            .send()
            .await
            .unwrap();
        // 20 groups of 100, interleaved; each batch goes through one node,
        // batches in order (FIFO order is the order sends are accepted).
        let bodies: Vec<_> = (0..100)
            .flat_map(|i| (0..20).map(move |g| (format!("g{g}:{i:03}"), Some(format!("g{g}")))))
            .collect();
        for (i, batch) in bodies.chunks(10).enumerate() {
            send_round_robin(&clients[i % 3..=i % 3], "ordered.fifo", batch.to_vec()).await;
        }
        let (order, counts) = consume(&clients, "ordered.fifo", 2, 2_000).await;
        assert_eq!(counts.len(), 2_000);
        assert!(counts.values().all(|n| *n == 1), "none received twice");
        let mut last: BTreeMap<&str, &str> = BTreeMap::new();
        for body in &order {
            let (group, index) = body.split_once(':').unwrap();
            if let Some(before) = last.insert(group, index) {
                assert!(before < index, "{group}: {index} after {before}");
            }
        }
        fleet.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_poll_on_one_node_wakes_when_another_node_sends() {
        let fleet = Fleet::start(2, "wake");
        let (a, b) = (aws::sqs(fleet.node(0)), aws::sqs(fleet.node(1)));
        a.create_queue().queue_name("wake").send().await.unwrap();
        let (url_a, url_b) = (queue_url(&a, "wake").await, queue_url(&b, "wake").await);
        let mut lags = Vec::new();
        for i in 0..5 {
            let waiting = {
                let (b, url_b) = (b.clone(), url_b.clone());
                tokio::spawn(async move {
                    let got = b
                        .receive_message()
                        .queue_url(url_b)
                        .wait_time_seconds(10)
                        .send()
                        .await
                        .unwrap();
                    (Instant::now(), got.messages.unwrap_or_default())
                })
            };
            // The receive is parked once node B reports a waiting long poll;
            // sending before that would not test the wake-up.
            tokio::time::sleep(Duration::from_millis(300)).await;
            a.send_message()
                .queue_url(&url_a)
                .message_body(format!("ping {i}"))
                .send()
                .await
                .unwrap();
            let sent = Instant::now();
            let (woke, messages) = waiting.await.unwrap();
            assert_eq!(messages.len(), 1);
            lags.push(woke.saturating_duration_since(sent));
            b.delete_message()
                .queue_url(&url_b)
                .receipt_handle(messages[0].receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
        }
        lags.sort();
        assert!(
            lags[2] < Duration::from_millis(100),
            "median wake lag {:?}",
            lags
        );
        fleet.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_killed_node_loses_no_acknowledged_message() {
        let mut fleet = Fleet::start(3, "kill");
        let clients: Vec<_> = fleet.nodes.iter().map(aws::sqs).collect();
        clients[0]
            .create_queue()
            .queue_name("jobs")
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "2",
            )
            .send()
            .await
            .unwrap();
        let bodies: Vec<_> = (0..3_000).map(|i| (format!("j{i}"), None)).collect();
        send_round_robin(&clients, "jobs", bodies).await;
        // Node 2 takes ten messages and dies before deleting them.
        let url = queue_url(&clients[2], "jobs").await;
        let taken = clients[2]
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        assert_eq!(taken.len(), 10);
        let killed = fleet.nodes.pop().unwrap();
        let _dir = killed.kill_hard();
        // The other two keep serving; the ten come back after their
        // visibility timeout and are received there.
        let (order, counts) = consume(&clients[..2], "jobs", 3, 3_000).await;
        assert_eq!(counts.len(), 3_000, "every acknowledged message received");
        assert_eq!(order.len(), 3_000);
        let taken: HashSet<String> = taken.into_iter().map(|m| m.body.unwrap()).collect();
        assert!(taken.iter().all(|b| counts.contains_key(b)));
        fleet.drop_schema().await;
    }
}

mod schedules {
    use super::*;
    use common::saas::Saas;
    use serde_json::Value;

    async fn runs(node: &Gatehouse, flow: &str) -> Vec<Value> {
        let resp = client()
            .get(node.admin_url(&format!("/flows/{flow}/runs?limit=200")))
            .send()
            .await
            .unwrap();
        json(resp).await["runs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn seconds(rfc3339: &str) -> f64 {
        let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
        t.timestamp_millis() as f64 / 1000.0
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_schedule_runs_once_per_tick_across_three_nodes() {
        let saas = Saas::start(5).await;
        let url = saas.url();
        let fleet = Fleet::start_with(3, "ticks", move |dir| {
            std::fs::create_dir_all(dir.join("flows")).unwrap();
            std::fs::write(
                dir.join("flows/ticking.yaml"),
                format!(
                    "trigger: {{schedule: rate(2 seconds)}}\nallow_private_network: true\nsource:\n  http:\n    base_url: {url}\n    path: /generic/items\n    records: items\n"
                ),
            )
            .unwrap();
        });
        // Every node fires every tick; the store lets one of them run it.
        let deadline = Instant::now() + Duration::from_secs(90);
        let done = loop {
            let done: Vec<Value> = runs(fleet.node(0), "ticking")
                .await
                .into_iter()
                .filter(|r| r["status"] != "InProgress")
                .collect();
            if done.len() >= 20 {
                break done;
            }
            assert!(Instant::now() < deadline, "only {} runs", done.len());
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut starts: Vec<f64> = done
            .iter()
            .map(|r| {
                assert_eq!(r["status"], "Successful", "{r}");
                assert_eq!(r["trigger"], "schedule");
                seconds(r["started_at"].as_str().unwrap())
            })
            .collect();
        starts.sort_by(f64::total_cmp);
        // One run per tick: starts two seconds apart, never two for a tick.
        for pair in starts.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap > 1.0, "two runs for one tick: {starts:?}");
            assert!(gap < 3.0, "a tick without a run: {starts:?}");
        }
        // Every node's admin API shows the same history.
        assert!(runs(fleet.node(2), "ticking").await.len() >= 20);
        fleet.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_killed_mid_run_leaves_its_lease_to_expire() {
        let saas = Saas::start(5).await;
        let url = saas.url();
        let mut fleet = Fleet::start_with(3, "lease", move |dir| {
            std::fs::create_dir_all(dir.join("flows")).unwrap();
            // Each request takes 1.5 s: a run is in progress long enough to
            // kill its node.
            std::fs::write(
                dir.join("flows/slow.yaml"),
                format!(
                    "trigger: {{schedule: rate(2 seconds)}}\nallow_private_network: true\nsource:\n  http:\n    base_url: {url}\n    path: /generic/slow\n    records: items\n"
                ),
            )
            .unwrap();
        });
        // The node that started a run is the one to kill.
        let deadline = Instant::now() + Duration::from_secs(30);
        let runner = loop {
            if let Some(i) = (0..3).find(|i| fleet.nodes[*i].count_stderr("flow run started") > 0) {
                break i;
            }
            assert!(Instant::now() < deadline, "no run started");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let killed = fleet.nodes.remove(runner);
        let _dir = killed.kill_hard();
        let killed_at = Instant::now();
        // Its run stays InProgress until the lease (30 s) lapses; then a
        // live node takes the lease, marks it interrupted and runs the
        // next tick.
        let deadline = Instant::now() + Duration::from_secs(75);
        let after = loop {
            let all = runs(&fleet.nodes[0], "slow").await;
            let interrupted = all.iter().any(|r| {
                r["status"] == "Error" && r["error"].as_str().unwrap_or("").contains("interrupted")
            });
            let succeeded = all.iter().any(|r| r["status"] == "Successful");
            if interrupted && succeeded {
                break all;
            }
            assert!(
                Instant::now() < deadline,
                "no run after the lease expired: {all:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert!(
            killed_at.elapsed() > Duration::from_secs(20),
            "the lease held"
        );
        assert!(after.iter().all(|r| r["trigger"] == "schedule"));
        fleet.drop_schema().await;
    }
}
