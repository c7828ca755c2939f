//! `workers/<worker>.yaml` exactly as written (the file name is the worker
//! id). `config/workers.rs` checks these and builds `model::WorkerSpec`.

use super::units::{ByteSize, HumanDuration};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A queue worker, as a Lambda event-source mapping: batches from a queue
/// to an HTTP endpoint, a command or jobs. Exactly one of `http`, `command`
/// and `job`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerFile {
    pub description: Option<String>,
    /// Default true; a disabled worker does not poll.
    pub enabled: Option<bool>,
    /// A queue under `messaging.queues`.
    pub queue: String,
    /// Messages per batch, 1-10. Default 10.
    pub batch_size: Option<u32>,
    /// Wait up to this long to fill a batch (Lambda's
    /// MaximumBatchingWindowInSeconds), 0-5m. Default 0.
    pub batch_window: Option<HumanDuration>,
    /// The batch's messages stay invisible to others this long; it must
    /// cover the target's timeout. Default 30s.
    pub visibility_timeout: Option<HumanDuration>,
    /// Pollers: `min` (default 1) to `max` (default 5), scaled by the
    /// backlog.
    pub concurrency: Option<ConcurrencyRaw>,
    /// Read `{"batchItemFailures":[{"itemIdentifier":...}]}` from the answer
    /// and delete only the others (Lambda's ReportBatchItemFailures).
    /// Default true.
    pub report_batch_item_failures: Option<bool>,
    pub http: Option<WorkerHttpRaw>,
    pub command: Option<CommandRaw>,
    /// Submit a job per message (the message body as one of its parameters).
    pub job: Option<JobTargetRaw>,
}

/// A job per message: a definition in `jobs/`, and the parameter the
/// message body fills.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobTargetRaw {
    pub definition: String,
    /// A parameter of the definition. Default `message`.
    pub parameter: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyRaw {
    pub min: Option<u32>,
    pub max: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerHttpRaw {
    /// The name of a pool under `upstreams:` in gatehouse.yaml.
    pub upstream: String,
    /// Default `/`.
    pub path: Option<String>,
    /// Default 30s.
    pub timeout: Option<HumanDuration>,
}

/// A program to run per batch (the batch on stdin as JSON). Never through a
/// shell unless `shell` is given instead of `program`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRaw {
    /// The program: an absolute path, or a name looked up in `env.PATH`.
    pub program: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// A script for `/bin/sh -c` (instead of `program`): only when asked.
    pub shell: Option<String>,
    /// The whole environment the command gets: nothing of Gatehouse's own.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Relative to the config folder. Default: the config folder.
    pub working_dir: Option<String>,
    /// Killed after this. Default 30s.
    pub timeout: Option<HumanDuration>,
    /// RLIMIT_CPU: CPU seconds the command may use.
    pub cpu_seconds: Option<u64>,
    /// RLIMIT_AS: the address space the command may map.
    pub memory: Option<ByteSize>,
    /// stdout and stderr kept for the history, each. Default 64KiB.
    pub output_limit: Option<ByteSize>,
}
