//! What workers count: batches by outcome, messages deleted or left for a
//! retry, pollers running, and how long batches take.

use prometheus::core::Collector;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

#[derive(Clone)]
pub struct WorkerMetrics {
    pub batches: IntCounterVec,
    pub messages: IntCounterVec,
    pub pollers: IntGaugeVec,
    pub seconds: HistogramVec,
}

impl WorkerMetrics {
    pub fn new() -> WorkerMetrics {
        WorkerMetrics {
            batches: IntCounterVec::new(
                Opts::new(
                    "worker_batches_total",
                    "Batches a worker processed, by outcome (success, partial, failure, timeout)",
                ),
                &["worker", "outcome"],
            )
            .expect("valid metric"),
            messages: IntCounterVec::new(
                Opts::new(
                    "worker_messages_total",
                    "Messages a worker finished, by outcome (processed: deleted; failed: left for a retry)",
                ),
                &["worker", "outcome"],
            )
            .expect("valid metric"),
            pollers: IntGaugeVec::new(
                Opts::new(
                    "worker_pollers",
                    "Pollers a worker runs now (its concurrency, scaled by the backlog)",
                ),
                &["worker"],
            )
            .expect("valid metric"),
            seconds: HistogramVec::new(
                HistogramOpts::new(
                    "worker_batch_seconds",
                    "Time a batch took at its target",
                )
                .buckets(crate::metrics::LATENCY_BUCKETS.to_vec()),
                &["worker"],
            )
            .expect("valid metric"),
        }
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.batches.clone()),
            Box::new(self.messages.clone()),
            Box::new(self.pollers.clone()),
            Box::new(self.seconds.clone()),
        ]
    }
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self::new()
    }
}
