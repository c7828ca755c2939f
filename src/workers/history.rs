//! Each worker's recent batches, newest last, for the admin API: a bounded
//! ring in memory (the queue itself is the durable record of what is left).

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::VecDeque;

/// Batches kept per worker.
pub const KEPT: usize = 200;

#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    /// RFC 3339.
    pub at: String,
    pub seconds: f64,
    pub messages: usize,
    pub failed: usize,
    /// `success`, `partial`, `failure` or `timeout`.
    pub outcome: &'static str,
    /// Why it failed, or the command's exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A command's stdout and stderr (each up to its `output_limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

#[derive(Default)]
pub struct History {
    batches: Mutex<VecDeque<Batch>>,
}

impl History {
    pub fn record(&self, batch: Batch) {
        let mut batches = self.batches.lock();
        if batches.len() == KEPT {
            batches.pop_front();
        }
        batches.push_back(batch);
    }

    /// The newest `limit`, newest first.
    pub fn newest(&self, limit: usize) -> Vec<Batch> {
        self.batches
            .lock()
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }
}
