//! Flow metrics, registered into the admin listener's registry when the
//! server runs (the CLI keeps them unregistered).

use crate::store::flows::RunRecord;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

pub struct FlowMetrics {
    pub runs: IntCounterVec,
    pub records: IntCounterVec,
    pub bytes: IntCounterVec,
    pub duration: HistogramVec,
    pub deactivated: IntGaugeVec,
    pub skipped_ticks: IntCounterVec,
}

/// Seconds: a second to an hour.
const RUN_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0];

impl FlowMetrics {
    pub fn new() -> FlowMetrics {
        FlowMetrics {
            runs: IntCounterVec::new(
                Opts::new(
                    "flow_runs_total",
                    "Finished flow runs, by flow, trigger and status",
                ),
                &["flow", "trigger", "status"],
            )
            .expect("static metric definition"),
            records: IntCounterVec::new(
                Opts::new(
                    "flow_records_total",
                    "Records by flow and outcome: read, filtered, invalid, written",
                ),
                &["flow", "outcome"],
            )
            .expect("static metric definition"),
            bytes: IntCounterVec::new(
                Opts::new(
                    "flow_bytes_written_total",
                    "Bytes committed to destinations, by flow",
                ),
                &["flow"],
            )
            .expect("static metric definition"),
            duration: HistogramVec::new(
                HistogramOpts::new("flow_run_duration_seconds", "Run time, by flow")
                    .buckets(RUN_BUCKETS.to_vec()),
                &["flow"],
            )
            .expect("static metric definition"),
            deactivated: IntGaugeVec::new(
                Opts::new(
                    "flow_deactivated",
                    "1 while a flow's schedule is deactivated after consecutive failures",
                ),
                &["flow"],
            )
            .expect("static metric definition"),
            skipped_ticks: IntCounterVec::new(
                Opts::new(
                    "flow_schedule_skipped_total",
                    "Schedule ticks skipped, by flow and reason (running, deactivated, claimed: another node fired it)",
                ),
                &["flow", "reason"],
            )
            .expect("static metric definition"),
        }
    }

    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.runs.clone()),
            Box::new(self.records.clone()),
            Box::new(self.bytes.clone()),
            Box::new(self.duration.clone()),
            Box::new(self.deactivated.clone()),
            Box::new(self.skipped_ticks.clone()),
        ]
    }

    pub fn observe(&self, run: &RunRecord, seconds: f64) {
        let flow = run.flow.as_str();
        self.runs
            .with_label_values(&[flow, &run.trigger, run.status.as_str()])
            .inc();
        for (outcome, n) in [
            ("read", run.records_read),
            ("filtered", run.records_filtered),
            ("invalid", run.records_invalid),
            ("written", run.records_written),
        ] {
            self.records.with_label_values(&[flow, outcome]).inc_by(n);
        }
        self.bytes
            .with_label_values(&[flow])
            .inc_by(run.bytes_written);
        self.duration.with_label_values(&[flow]).observe(seconds);
    }
}

impl Default for FlowMetrics {
    fn default() -> Self {
        Self::new()
    }
}
