//! `gatehouse bench console`: what the console's history costs, in
//! process: one sample (every counter of the gateway and the messaging
//! engine summed over its labels, per-queue counters, the ring updated),
//! as the sampler takes it once a second, on a registry with many routes
//! and queues. Prints microseconds per sample and the share of one core.

use crate::admin::console::history::History;
use crate::admin::console::sampler;
use crate::metrics::{Metrics, LATENCY_BUCKETS};

#[derive(clap::Args)]
pub struct ConsoleArgs {
    /// Routes with traffic (each with four status codes).
    #[arg(long, default_value_t = 200)]
    pub routes: usize,
    /// Queues with sends and receives.
    #[arg(long, default_value_t = 100)]
    pub queues: usize,
    #[arg(long, default_value_t = 2_000)]
    pub iterations: usize,
}

pub fn run(args: ConsoleArgs) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    for r in 0..args.routes {
        let route = format!("GET /route/{r}");
        for status in [200, 201, 404, 503] {
            metrics.observe_request("bench", &route, status, 0.002);
        }
        metrics.decision("waf", "block");
    }
    for q in 0..args.queues {
        let queue = format!("bench-queue-{q}");
        crate::messaging::metrics::SENT
            .with_label_values(&[&queue])
            .inc();
        crate::messaging::metrics::RECEIVED
            .with_label_values(&[&queue])
            .inc();
    }
    let mut history = History::new(LATENCY_BUCKETS);
    let mut now = 0i64;
    let (mean, p99) = super::latency::per_call(args.iterations, || {
        now += 1;
        let totals = sampler::totals(&metrics);
        let queues = sampler::queue_counters();
        history.record(now, totals);
        history.record_queues(now, queues);
    });
    println!(
        "one sample with {} routes x 4 statuses and {} queues: {mean:.1} µs (p99 of batches {p99:.1}), {:.4}% of a core at one sample per second",
        args.routes,
        args.queues,
        mean / 1e4
    );
    Ok(())
}
