//! Messaging metrics for Prometheus: counters bumped where messages move
//! (both backends and the SNS delivery worker), and queue depth gauges read
//! from the queues at each scrape (`refresh`). Queue depth is the signal
//! for alarms and for scaling consumers; `docs/prometheus/alerts.yml` has
//! the alert rules.
//!
//! Every series is labelled by queue or topic name: one series per queue
//! and counter, as CloudWatch's per-queue metrics.

use super::queues::Queues;
use prometheus::core::Collector;
use prometheus::{IntCounterVec, IntGaugeVec, Opts};
use std::sync::LazyLock;

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition")
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition")
}

pub static SENT: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "sqs_messages_sent_total",
        "Messages accepted into a queue (a FIFO duplicate answered from the deduplication window counts too)",
        &["queue"],
    )
});
pub static RECEIVED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "sqs_messages_received_total",
        "Messages handed to receivers (each receive of a message counts)",
        &["queue"],
    )
});
pub static DELETED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "sqs_messages_deleted_total",
        "DeleteMessage entries that succeeded",
        &["queue"],
    )
});
pub static MOVED_TO_DLQ: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "sqs_messages_moved_to_dlq_total",
        "Messages moved to the dead-letter queue after maxReceiveCount receives, by source queue",
        &["queue"],
    )
});
pub static PUBLISHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "sns_messages_published_total",
        "Messages published to a topic",
        &["topic"],
    )
});
pub static DELIVERIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "sns_deliveries_total",
        "Deliveries to subscriptions, by topic, protocol and outcome (delivered, retried, failed)",
        &["topic", "protocol", "outcome"],
    )
});

pub static VISIBLE: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "sqs_messages_visible",
        "Messages available for retrieval (ApproximateNumberOfMessages)",
        &["queue"],
    )
});
pub static IN_FLIGHT: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "sqs_messages_in_flight",
        "Messages received and not yet deleted (ApproximateNumberOfMessagesNotVisible)",
        &["queue"],
    )
});
pub static DELAYED: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "sqs_messages_delayed",
        "Messages not yet available because of a delay (ApproximateNumberOfMessagesDelayed)",
        &["queue"],
    )
});
pub static OLDEST_AGE: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "sqs_oldest_message_age_seconds",
        "Age of the oldest message in the queue (CloudWatch's ApproximateAgeOfOldestMessage); 0 when empty",
        &["queue"],
    )
});
pub static DLQ_DEPTH: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "sqs_dead_letter_queue_messages",
        "Messages waiting in a queue's dead-letter queue, by source queue and dead-letter queue",
        &["queue", "dead_letter_queue"],
    )
});

/// Every messaging metric, for the one registry.
pub fn collectors() -> Vec<Box<dyn Collector>> {
    vec![
        Box::new(SENT.clone()),
        Box::new(RECEIVED.clone()),
        Box::new(DELETED.clone()),
        Box::new(MOVED_TO_DLQ.clone()),
        Box::new(PUBLISHED.clone()),
        Box::new(DELIVERIES.clone()),
        Box::new(VISIBLE.clone()),
        Box::new(IN_FLIGHT.clone()),
        Box::new(DELAYED.clone()),
        Box::new(OLDEST_AGE.clone()),
        Box::new(DLQ_DEPTH.clone()),
    ]
}

/// Counts `n` into a queue's counter (no series for 0: a scrape shows
/// queues that moved messages).
pub fn count(counter: &IntCounterVec, queue: &str, n: usize) {
    if n > 0 {
        counter.with_label_values(&[queue]).inc_by(n as u64);
    }
}

/// Counts one fan-out to an SQS subscription.
pub fn fan_out(topic_arn: &str, delivered: bool) {
    delivery(
        topic_arn,
        "sqs",
        if delivered { "delivered" } else { "failed" },
    );
}

/// Counts one delivery attempt's outcome: `delivered`, `retried` or
/// `failed` (given up after the retry policy).
pub fn delivery(topic_arn: &str, protocol: &str, outcome: &str) {
    DELIVERIES
        .with_label_values(&[topic_arn, protocol, outcome])
        .inc();
}

/// Sets the depth gauges from the queues as they are now. Gauges of queues
/// deleted since the last scrape are dropped.
pub async fn refresh(queues: &dyn Queues, now_ms: i64) {
    let Ok(names) = queues.list_queues(None).await else {
        return; // the store is down: readiness says so; keep the last values
    };
    let mut depths = Vec::with_capacity(names.len());
    for name in &names {
        if let Ok(depth) = queues.depth(name).await {
            depths.push((name.as_str(), depth));
        }
    }
    for gauge in [&*VISIBLE, &*IN_FLIGHT, &*DELAYED, &*OLDEST_AGE, &*DLQ_DEPTH] {
        gauge.reset();
    }
    for (name, depth) in &depths {
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        VISIBLE.with_label_values(&[name]).set(clamp(depth.visible));
        IN_FLIGHT
            .with_label_values(&[name])
            .set(clamp(depth.in_flight));
        DELAYED.with_label_values(&[name]).set(clamp(depth.delayed));
        let age = depth
            .oldest_sent_at
            .map_or(0, |sent| (now_ms - sent).max(0) / 1000);
        OLDEST_AGE.with_label_values(&[name]).set(age);
    }
    // A source queue's dead-letter depth: its DLQ's messages, visible or not.
    let wanted = ["RedrivePolicy".to_string()];
    for (name, _) in &depths {
        let Ok(attributes) = queues.get_attributes(name, &wanted).await else {
            continue;
        };
        let Some(policy) = attributes.get("RedrivePolicy") else {
            continue;
        };
        let Some(dlq) = crate::config::queue_settings::parse_redrive(policy)
            .ok()
            .and_then(|p| {
                queues
                    .naming()
                    .name_from_arn(&p.dead_letter_target_arn, "sqs")
                    .map(str::to_string)
            })
        else {
            continue;
        };
        if let Some((_, d)) = depths.iter().find(|(n, _)| *n == dlq) {
            let total = d.visible + d.in_flight + d.delayed;
            DLQ_DEPTH
                .with_label_values(&[*name, dlq.as_str()])
                .set(i64::try_from(total).unwrap_or(i64::MAX));
        }
    }
}
