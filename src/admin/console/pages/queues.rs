//! Queues and topics: each queue's depth (visible, in flight, delayed,
//! oldest message), send and receive rates, its dead-letter queue with a
//! redrive button, a purge button; each topic's subscriptions and their
//! delivery outcomes.

use super::{age, button, count, decode, done, enc, Visit};
use crate::messaging::error::ApiError;
use http::Response;
use maud::{html, Markup};
use std::collections::BTreeMap;

struct Row {
    name: String,
    depth: Option<crate::messaging::queues::Depth>,
    dead_letter_queue: Option<String>,
    /// Queues whose redrive policy names this one.
    sources: Vec<String>,
}

pub async fn show(visit: &Visit<'_>) -> Response<Vec<u8>> {
    let content = match (&visit.state.queues, &visit.state.topics) {
        (Some(queues), Some(topics)) => {
            let rows = rows(queues.as_ref()).await;
            let rates = visit.console.history.lock().queue_rates();
            html! {
                (super::notice(visit))
                h2 { "Queues" }
                (queue_table(visit, &rows, &rates))
                h2 { "Topics" }
                (topic_table(topics.as_ref(), visit.state.outbox.as_deref()).await)
            }
        }
        _ => html! { p.muted { "Messaging is off (messaging.enabled: false)." } },
    };
    crate::admin::console::layout::page(visit, "queues", "Queues and topics", Some(2), content)
}

async fn rows(queues: &dyn crate::messaging::queues::Queues) -> Vec<Row> {
    let names = queues.list_queues(None).await.unwrap_or_default();
    let mut rows = Vec::new();
    for name in names {
        let depth = queues.depth(&name).await.ok();
        let dead_letter_queue = queues
            .get_attributes(&name, &["RedrivePolicy".to_string()])
            .await
            .ok()
            .and_then(|a| a.get("RedrivePolicy").cloned())
            .and_then(|p| crate::config::queue_settings::parse_redrive(&p).ok())
            .and_then(|p| {
                queues
                    .naming()
                    .name_from_arn(&p.dead_letter_target_arn, "sqs")
                    .map(str::to_string)
            });
        let sources = queues.dead_letter_sources(&name).await.unwrap_or_default();
        rows.push(Row {
            name,
            depth,
            dead_letter_queue,
            sources,
        });
    }
    rows
}

fn queue_table(visit: &Visit<'_>, rows: &[Row], rates: &BTreeMap<String, (f64, f64)>) -> Markup {
    let now = chrono::Utc::now().timestamp_millis();
    html! {
        @if rows.is_empty() {
            p.muted { "No queues yet." }
        } @else {
            table #queues {
                thead { tr {
                    th { "Queue" } th.num { "Visible" } th.num { "In flight" } th.num { "Delayed" }
                    th.num { "Oldest" } th.num { "Sent/s" } th.num { "Received/s" } th { "Dead letters" } th { "" }
                } }
                tbody {
                    @for row in rows {
                        @let (sent, received) = rates.get(&row.name).copied().unwrap_or_default();
                        tr data-queue=(row.name) {
                            td.mono { (row.name) }
                            @match &row.depth {
                                Some(d) => {
                                    td.num.visible { (count(d.visible)) }
                                    td.num.in-flight { (count(d.in_flight)) }
                                    td.num.delayed { (count(d.delayed)) }
                                    td.num { (d.oldest_sent_at.map_or("-".to_string(), |t| age((now - t).max(0) / 1000))) }
                                }
                                None => { td.num colspan="4" { span.bad { "unavailable" } } }
                            }
                            td.num { (format!("{sent:.1}")) }
                            td.num { (format!("{received:.1}")) }
                            td {
                                @if let Some(dlq) = &row.dead_letter_queue { "→ " span.mono { (dlq) } }
                                @if !row.sources.is_empty() {
                                    span.muted { "dead-letter queue of " }
                                    span.mono { (row.sources.join(", ")) }
                                }
                            }
                            td {
                                @if !row.sources.is_empty() {
                                    (button(visit, &format!("/console/queues/{}/redrive", enc(&row.name)), "Redrive", false, None))
                                    " "
                                }
                                (button(visit, &format!("/console/queues/{}/purge", enc(&row.name)), "Purge", true,
                                    Some(&format!("Delete every message in {}? This cannot be undone.", row.name))))
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn topic_table(
    topics: &dyn crate::messaging::pubsub::Topics,
    outbox: Option<&dyn crate::messaging::pubsub::Outbox>,
) -> Markup {
    let arns = topics.list_topics().await.unwrap_or_default();
    let outcomes = delivery_outcomes();
    let waiting = match outbox {
        Some(o) => o.pending().await.unwrap_or_default(),
        None => Default::default(),
    };
    let mut blocks = Vec::new();
    for arn in arns {
        let subs = topics
            .list_subscriptions(Some(&arn))
            .await
            .unwrap_or_default();
        blocks.push((arn, subs));
    }
    html! {
        @if blocks.is_empty() {
            p.muted { "No topics yet." }
        } @else {
            table #topics {
                thead { tr {
                    th { "Topic" } th { "Subscription" } th { "Filter policy" } th { "State" }
                    th.num { "Delivered" } th.num { "Retried" } th.num { "Failed" } th.num { "Waiting" }
                } }
                tbody {
                    @for (arn, subs) in &blocks {
                        @let name = arn.rsplit(':').next().unwrap_or(arn);
                        @if subs.is_empty() {
                            tr { td.mono { (name) } td.muted colspan="7" { "no subscriptions" } }
                        }
                        @for sub in subs {
                            @let key = (arn.clone(), sub.record.protocol.clone());
                            @let o = outcomes.get(&key).copied().unwrap_or_default();
                            tr data-subscription={ (sub.record.protocol) ":" (sub.record.endpoint) } {
                                td.mono { (name) }
                                td.mono { (sub.record.protocol) ": " (sub.record.endpoint) }
                                td.mono.filter { (sub.record.attributes.get("FilterPolicy").map_or("-", String::as_str)) }
                                td { @if sub.confirmed() { "confirmed" } @else { span.warn { "pending confirmation" } } }
                                td.num { (count(o.0)) }
                                td.num { (count(o.1)) }
                                td.num { (count(o.2)) }
                                td.num.waiting { (count(waiting.get(&sub.record.arn).copied().unwrap_or(0))) }
                            }
                        }
                    }
                }
            }
            p.muted { "Delivery counts are per topic and protocol since this node started; waiting: deliveries stored for their next attempt (sqs subscriptions are delivered at once)." }
        }
    }
}

/// (topic, protocol) -> (delivered, retried, failed), from the counters.
fn delivery_outcomes() -> BTreeMap<(String, String), (u64, u64, u64)> {
    let mut out: BTreeMap<(String, String), (u64, u64, u64)> = BTreeMap::new();
    let all = crate::admin::console::traffic::series(
        &crate::messaging::metrics::DELIVERIES,
        &["topic", "protocol", "outcome"],
    );
    for (labels, n) in all {
        let entry = out
            .entry((labels[0].clone(), labels[1].clone()))
            .or_default();
        match labels[2].as_str() {
            "delivered" => entry.0 += n,
            "retried" => entry.1 += n,
            "failed" => entry.2 += n,
            _ => {}
        }
    }
    out
}

pub async fn redrive(visit: &Visit<'_>, name: &str) -> Response<Vec<u8>> {
    let Some(queues) = &visit.state.queues else {
        return done("/console/queues", "error", "Messaging is off.");
    };
    let name = decode(name);
    let arn = queues.naming().queue_arn(&name);
    match queues.start_move_task(&arn, None, None).await {
        Ok(_) => done(
            "/console/queues",
            "ok",
            &format!("Redrive of {name} started: its messages go back to their source queues."),
        ),
        Err(e) => failed(&e),
    }
}

pub async fn purge(visit: &Visit<'_>, name: &str) -> Response<Vec<u8>> {
    let Some(queues) = &visit.state.queues else {
        return done("/console/queues", "error", "Messaging is off.");
    };
    let name = decode(name);
    match queues.purge(&name).await {
        Ok(()) => done("/console/queues", "ok", &format!("{name} was purged.")),
        Err(e) => failed(&e),
    }
}

fn failed(e: &ApiError) -> Response<Vec<u8>> {
    done("/console/queues", "error", &e.message)
}
