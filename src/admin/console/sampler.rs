//! Feeds the console's history: once a second, the gateway's and the
//! messaging engine's counters summed over their labels (a walk over a few
//! hundred series: microseconds, far under 1% of a core).

use super::history::{History, Totals};
use super::traffic::label;
use crate::gateway::State;
use parking_lot::Mutex;
use prometheus::core::Collector;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Samples until the state is gone.
pub async fn run(state: Weak<State>, history: Arc<Mutex<History>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else { return };
        let totals = totals(&state.metrics);
        let queues = queue_counters();
        let waf = super::traffic::waf_blocks_by_group(&state.metrics);
        let now = chrono::Utc::now().timestamp();
        let mut history = history.lock();
        history.record(now, totals);
        history.record_queues(now, queues);
        history.record_waf(now, waf);
    }
}

pub fn totals(m: &crate::metrics::Metrics) -> Totals {
    let mut t = Totals {
        connections: m.active_connections.get(),
        ..Totals::default()
    };
    for family in m.requests.collect() {
        for metric in family.get_metric() {
            let n = metric.get_counter().value() as u64;
            t.requests += n;
            let status = label(metric, "status");
            if status.starts_with('5') {
                t.server_errors += n;
            } else if status.starts_with('4') {
                t.client_errors += n;
            }
        }
    }
    for family in m.latency.collect() {
        for metric in family.get_metric() {
            let h = metric.get_histogram();
            let buckets = h.get_bucket();
            if t.latency_buckets.len() < buckets.len() + 1 {
                t.latency_buckets.resize(buckets.len() + 1, 0);
            }
            for (sum, b) in t.latency_buckets.iter_mut().zip(buckets) {
                *sum += b.cumulative_count();
            }
            if let Some(inf) = t.latency_buckets.last_mut() {
                *inf += h.sample_count();
            }
        }
    }
    for family in m.policy_decisions.collect() {
        for metric in family.get_metric() {
            let n = metric.get_counter().value() as u64;
            let (policy, outcome) = (label(metric, "policy"), label(metric, "outcome"));
            match (policy.as_str(), outcome.as_str()) {
                ("waf", "deny" | "block") => t.waf_blocks += n,
                ("rate_limit", "deny") => t.rate_limited += n,
                ("api_key" | "jwt" | "authorizer", "deny") => t.auth_denied += n,
                _ => {}
            }
        }
    }
    t.messages_in =
        sum(&crate::messaging::metrics::SENT) + sum(&crate::messaging::metrics::PUBLISHED);
    t.messages_out = sum(&crate::messaging::metrics::RECEIVED);
    t
}

/// Per queue: (sent, received) counters.
pub fn queue_counters() -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut out: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for (counter, sent) in [
        (&*crate::messaging::metrics::SENT, true),
        (&*crate::messaging::metrics::RECEIVED, false),
    ] {
        for family in counter.collect() {
            for metric in family.get_metric() {
                let entry = out.entry(label(metric, "queue")).or_default();
                let n = metric.get_counter().value() as u64;
                if sent {
                    entry.0 = n;
                } else {
                    entry.1 = n;
                }
            }
        }
    }
    out
}

fn sum(counter: &prometheus::IntCounterVec) -> u64 {
    counter
        .collect()
        .iter()
        .flat_map(|f| f.get_metric())
        .map(|m| m.get_counter().value() as u64)
        .sum()
}
