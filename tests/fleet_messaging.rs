//! Fleet mode, messaging: queues shared by three nodes through PostgreSQL.

mod common;

use common::fleet::Fleet;

use std::time::{Duration, Instant};

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
