//! The SQS load: producers send batches, consumers receive and delete them,
//! and every message carries its own send time so the consumer can measure
//! end-to-end latency (send call started -> receive call answered).
//!
//! Producers are closed-loop (one call in flight each), optionally paced to
//! a total rate, and never run more than `max_backlog` messages ahead of the
//! consumers: a steady state measures the whole cycle, not how fast a backlog
//! can grow. The run ends when every acknowledged message has been received,
//! or at the drain deadline, which reports the rest as lost.

use super::latency::{Samples, Summary};
use super::sqs_client::{Keys, SqsClient};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub struct LoadOptions {
    pub endpoint: String,
    pub region: String,
    pub keys: Option<Keys>,
    pub fifo: bool,
    /// FIFO message groups, spread over the producers.
    pub groups: usize,
    pub producers: usize,
    pub consumers: usize,
    /// Messages per SendMessageBatch, ReceiveMessage and DeleteMessageBatch (1-10).
    pub batch: usize,
    pub duration: Duration,
    /// Total messages per second over all producers; None sends flat out.
    pub rate: Option<u64>,
    pub body_size: usize,
    pub max_backlog: usize,
    pub wait_seconds: u32,
    /// How long consumers may take, after the producers stop, to receive the rest.
    pub drain_timeout: Duration,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub endpoint: String,
    pub queue: String,
    /// Messages whose send was acknowledged.
    pub sent: u64,
    /// Distinct messages received.
    pub received: u64,
    pub deleted: u64,
    pub duplicates: u64,
    /// FIFO only: messages received before an earlier one of their group.
    pub out_of_order: u64,
    /// Acknowledged but never received before the drain deadline.
    pub lost: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// From the first send to the last delete.
    pub seconds: f64,
    /// Distinct messages through the whole send-receive-delete cycle per second.
    pub messages_per_second: f64,
    pub offered_rate: Option<u64>,
    pub end_to_end: Summary,
    pub send_call: Summary,
    pub receive_call: Summary,
    pub delete_call: Summary,
}

impl Report {
    /// The report for a terminal.
    pub fn human(&self) -> String {
        let line = |name: &str, s: &Summary| {
            format!(
                "{name:<12} p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  ({} samples)\n",
                s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.count
            )
        };
        let mut out = format!(
            "{} queue {}\n{:.0} messages/s through send-receive-delete ({} sent, {} received, {} deleted in {:.2} s{})\n",
            self.endpoint,
            self.queue,
            self.messages_per_second,
            self.sent,
            self.received,
            self.deleted,
            self.seconds,
            self.offered_rate
                .map(|r| format!(", offered {r}/s"))
                .unwrap_or_default()
        );
        out.push_str(&line("end-to-end", &self.end_to_end));
        out.push_str(&line("send call", &self.send_call));
        out.push_str(&line("receive call", &self.receive_call));
        out.push_str(&line("delete call", &self.delete_call));
        out.push_str(&format!(
            "duplicates {}  out of order {}  lost {}  errors {}\n",
            self.duplicates, self.out_of_order, self.lost, self.errors
        ));
        if let Some(e) = &self.first_error {
            out.push_str(&format!("first error: {e}\n"));
        }
        out
    }
}

struct Shared {
    /// One per endpoint (nodes of a fleet); task `i` uses `i % len`.
    clients: Vec<SqsClient>,
    queue_url: String,
    fifo: bool,
    start: Instant,
    next_seq: AtomicU64,
    sent: AtomicU64,
    deleted: AtomicU64,
    producing: AtomicBool,
    /// One permit per message the producers may still send ahead.
    backlog: Semaphore,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    seen: Mutex<Seen>,
    last_delete_us: AtomicU64,
}

#[derive(Default)]
struct Seen {
    received: Vec<u64>, // bitset by sequence number
    distinct: u64,
    duplicates: u64,
    last_in_group: HashMap<u32, u64>,
    out_of_order: u64,
}

impl Seen {
    /// Notes a receipt; false if it is a duplicate.
    fn note(&mut self, seq: u64, group: u32, fifo: bool) -> bool {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if self.received.len() <= word {
            self.received.resize(word + 1024, 0);
        }
        if self.received[word] & (1 << bit) != 0 {
            self.duplicates += 1;
            return false;
        }
        self.received[word] |= 1 << bit;
        self.distinct += 1;
        if fifo {
            let last = self.last_in_group.entry(group).or_insert(0);
            if seq < *last {
                self.out_of_order += 1;
            }
            *last = seq.max(*last);
        }
        true
    }
}

impl Shared {
    fn client(&self, task: usize) -> &SqsClient {
        &self.clients[task % self.clients.len()]
    }

    fn micros(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn error(&self, e: impl std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock();
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }
}

pub async fn run(options: LoadOptions) -> anyhow::Result<Report> {
    anyhow::ensure!((1..=10).contains(&options.batch), "--batch must be 1 to 10");
    anyhow::ensure!(
        options.producers > 0 && options.consumers > 0,
        "--producers and --consumers must be at least 1"
    );
    // Several endpoints (comma-separated): nodes of one fleet sharing the
    // queue; producers and consumers are spread over them.
    let clients = options
        .endpoint
        .split(',')
        .map(|e| SqsClient::new(e.trim(), &options.region, options.keys.clone()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = &clients[0];
    let queue = format!(
        "gatehouse-bench-{}{}",
        fastrand::u32(..),
        if options.fifo { ".fifo" } else { "" }
    );
    let mut attributes = json!({"VisibilityTimeout": "60"});
    if options.fifo {
        attributes["FifoQueue"] = json!("true");
    }
    let created = client
        .call(
            "CreateQueue",
            &json!({"QueueName": queue, "Attributes": attributes}),
        )
        .await?;
    let queue_url = created["QueueUrl"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("CreateQueue answered without a QueueUrl"))?
        .to_string();

    let shared = Arc::new(Shared {
        clients,
        queue_url,
        fifo: options.fifo,
        start: Instant::now(),
        next_seq: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        deleted: AtomicU64::new(0),
        producing: AtomicBool::new(true),
        backlog: Semaphore::new(options.max_backlog.max(options.batch)),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        seen: Mutex::new(Seen::default()),
        last_delete_us: AtomicU64::new(0),
    });
    let body_size = options.body_size;
    let per_producer_groups = (options.groups / options.producers).max(1);
    let batch_interval = options.rate.map(|rate| {
        let batches_per_second = rate as f64 / options.batch as f64 / options.producers as f64;
        Duration::from_secs_f64(1.0 / batches_per_second.max(0.001))
    });
    let producers: Vec<_> = (0..options.producers)
        .map(|index| {
            let shared = shared.clone();
            let plan = ProducerPlan {
                index,
                producers: options.producers,
                groups: per_producer_groups,
                batch: options.batch,
                body_size,
                interval: batch_interval,
                until: shared.start + options.duration,
            };
            tokio::spawn(produce(shared, plan))
        })
        .collect();
    let consumers: Vec<_> = (0..options.consumers)
        .map(|index| {
            let shared = shared.clone();
            let (batch, wait) = (options.batch, options.wait_seconds);
            tokio::spawn(consume(shared, index, batch, wait))
        })
        .collect();

    let mut send_call = Samples::default();
    for producer in producers {
        send_call.merge(producer.await?);
    }
    shared.producing.store(false, Ordering::SeqCst);
    let drain = tokio::time::sleep(options.drain_timeout);
    tokio::pin!(drain);
    let mut end_to_end = Samples::default();
    let mut receive_call = Samples::default();
    let mut delete_call = Samples::default();
    let mut consumers = futures_util::future::join_all(consumers);
    tokio::select! {
        results = &mut consumers => {
            for result in results {
                let (e2e, receive, delete) = result?;
                end_to_end.merge(e2e);
                receive_call.merge(receive);
                delete_call.merge(delete);
            }
        }
        _ = &mut drain => shared.error("drain deadline passed with messages outstanding"),
    }

    let _ = shared
        .client(0)
        .call("DeleteQueue", &json!({"QueueUrl": shared.queue_url}))
        .await;
    let sent = shared.sent.load(Ordering::SeqCst);
    let first_error = shared.first_error.lock().clone();
    let seen = shared.seen.lock();
    let seconds = shared.last_delete_us.load(Ordering::SeqCst) as f64 / 1e6;
    Ok(Report {
        endpoint: options.endpoint,
        queue,
        sent,
        received: seen.distinct,
        deleted: shared.deleted.load(Ordering::SeqCst),
        duplicates: seen.duplicates,
        out_of_order: seen.out_of_order,
        lost: sent.saturating_sub(seen.distinct),
        errors: shared.errors.load(Ordering::SeqCst),
        first_error,
        seconds,
        messages_per_second: if seconds > 0.0 {
            seen.distinct as f64 / seconds
        } else {
            0.0
        },
        offered_rate: options.rate,
        end_to_end: end_to_end.summary(),
        send_call: send_call.summary(),
        receive_call: receive_call.summary(),
        delete_call: delete_call.summary(),
    })
}

struct ProducerPlan {
    index: usize,
    producers: usize,
    groups: usize,
    batch: usize,
    body_size: usize,
    interval: Option<Duration>,
    until: Instant,
}

/// Sends batches until `until`; returns the send calls' latencies.
async fn produce(shared: Arc<Shared>, plan: ProducerPlan) -> Samples {
    let mut calls = Samples::default();
    let mut ticker = plan.interval.map(|every| {
        let mut t = tokio::time::interval(every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        t
    });
    let mut counter = 0usize;
    while Instant::now() < plan.until {
        if let Some(ticker) = &mut ticker {
            ticker.tick().await;
        }
        // Bounded by the end of the run: consumers that stop receiving (a
        // server gone) must not leave the producers waiting forever.
        let until = tokio::time::Instant::from_std(plan.until);
        let Ok(Ok(permits)) =
            tokio::time::timeout_at(until, shared.backlog.acquire_many(plan.batch as u32)).await
        else {
            break;
        };
        permits.forget();
        let first = shared
            .next_seq
            .fetch_add(plan.batch as u64, Ordering::Relaxed);
        let started = shared.micros();
        let entries: Vec<Value> = (0..plan.batch)
            .map(|i| {
                // Each producer owns its groups, so a group's sequence numbers
                // rise in the order they are sent and FIFO order is checkable.
                let group = plan.index + plan.producers * (counter % plan.groups);
                counter += 1;
                let seq = first + i as u64;
                let mut body = format!("{seq} {started} {group} ");
                while body.len() < plan.body_size {
                    body.push('x');
                }
                let mut entry = json!({"Id": i.to_string(), "MessageBody": body});
                if shared.fifo {
                    entry["MessageGroupId"] = json!(format!("g{group}"));
                    entry["MessageDeduplicationId"] = json!(seq.to_string());
                }
                entry
            })
            .collect();
        let result = shared
            .client(plan.index)
            .call(
                "SendMessageBatch",
                &json!({"QueueUrl": shared.queue_url, "Entries": entries}),
            )
            .await;
        calls.record(shared.micros() - started);
        let acknowledged = match result {
            Ok(answer) => {
                if let Some(failed) = answer["Failed"].as_array().filter(|f| !f.is_empty()) {
                    shared.error(format!("SendMessageBatch entry failed: {}", failed[0]));
                }
                answer["Successful"].as_array().map_or(0, |s| s.len())
            }
            Err(e) => {
                shared.error(e);
                0
            }
        };
        shared.sent.fetch_add(acknowledged as u64, Ordering::SeqCst);
        shared.backlog.add_permits(plan.batch - acknowledged);
    }
    calls
}

/// Receives and deletes until every acknowledged message has been seen.
async fn consume(
    shared: Arc<Shared>,
    index: usize,
    batch: usize,
    wait: u32,
) -> (Samples, Samples, Samples) {
    let (mut e2e, mut receive_calls, mut delete_calls) =
        (Samples::default(), Samples::default(), Samples::default());
    loop {
        if !shared.producing.load(Ordering::SeqCst)
            && shared.seen.lock().distinct >= shared.sent.load(Ordering::SeqCst)
        {
            break;
        }
        let started = shared.micros();
        let answer = shared
            .client(index)
            .call(
                "ReceiveMessage",
                &json!({
                    "QueueUrl": shared.queue_url,
                    "MaxNumberOfMessages": batch,
                    "WaitTimeSeconds": wait,
                }),
            )
            .await;
        let received_at = shared.micros();
        receive_calls.record(received_at - started);
        let messages = match answer {
            Ok(mut answer) => match answer["Messages"].take() {
                Value::Array(messages) => messages,
                _ => Vec::new(),
            },
            Err(e) => {
                shared.error(e);
                // A failing endpoint would otherwise be retried in a hot loop.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let mut entries = Vec::with_capacity(messages.len());
        let mut strangers = 0;
        {
            let mut seen = shared.seen.lock();
            for (i, message) in messages.iter().enumerate() {
                entries
                    .push(json!({"Id": i.to_string(), "ReceiptHandle": message["ReceiptHandle"]}));
                match parse_body(message["Body"].as_str().unwrap_or("")) {
                    Some((seq, sent_at, group)) => {
                        if seen.note(seq, group, shared.fifo) {
                            e2e.record(received_at.saturating_sub(sent_at));
                        }
                    }
                    None => strangers += 1,
                }
            }
        }
        if strangers > 0 {
            shared.error(format!(
                "received {strangers} message(s) this load did not send"
            ));
        }
        let started = shared.micros();
        let answer = shared
            .client(index)
            .call(
                "DeleteMessageBatch",
                &json!({"QueueUrl": shared.queue_url, "Entries": entries}),
            )
            .await;
        let done = shared.micros();
        delete_calls.record(done - started);
        match answer {
            Ok(answer) => {
                let deleted = answer["Successful"].as_array().map_or(0, |s| s.len());
                shared.deleted.fetch_add(deleted as u64, Ordering::SeqCst);
                if let Some(failed) = answer["Failed"].as_array().filter(|f| !f.is_empty()) {
                    shared.error(format!("DeleteMessageBatch entry failed: {}", failed[0]));
                }
            }
            Err(e) => shared.error(e),
        }
        shared.last_delete_us.fetch_max(done, Ordering::SeqCst);
        shared.backlog.add_permits(messages.len());
    }
    (e2e, receive_calls, delete_calls)
}

/// `seq sent_at_us group padding`, as `produce` writes bodies.
fn parse_body(body: &str) -> Option<(u64, u64, u32)> {
    let mut fields = body.split(' ');
    let seq = fields.next()?.parse().ok()?;
    let sent_at = fields.next()?.parse().ok()?;
    let group = fields.next()?.parse().ok()?;
    Some((seq, sent_at, group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_counts_duplicates_and_fifo_order() {
        let mut seen = Seen::default();
        assert!(seen.note(5, 1, true));
        assert!(seen.note(70_000, 2, true));
        assert!(!seen.note(5, 1, true));
        assert!(seen.note(3, 1, true)); // earlier in group 1 than 5
        assert_eq!(
            (seen.distinct, seen.duplicates, seen.out_of_order),
            (3, 1, 1)
        );
        assert_eq!(parse_body("12 345 6 xxxx"), Some((12, 345, 6)));
        assert_eq!(parse_body("hello"), None);
    }
}
