//! Flows: AppFlow-like ingestion. A flow pulls records from a source, puts
//! each through its tasks, and writes files to an object store. See
//! `design.md` for the watermark and idempotency invariants.
//!
//! Module map, in the order a record meets them:
//! - a checked flow is `config::flow_spec::FlowSpec` (built by `config/flows.rs`,
//!   with `config::flow_presets` for SaaS APIs)
//! - `source`: http (pagination, auth, retries, SSRF guard) and webhook bodies
//! - `admit`: each record once per run (by id), and how far the watermark got
//! - `watermark`: incremental sync
//! - `tasks`: map, merge, mask, truncate, arithmetic, cast, default, filter, validate
//! - `sink`: object stores, key templates, JSONL/CSV/Parquet files, the manifest
//! - `run`: one run from source to commit (runs and flow state are kept
//!   behind `store::flows::FlowStore`)
//! - `engine`: which flows exist, run locks, deactivation; `schedule`: cron and rate triggers
//! - `metrics`: runs, records and deactivations for /metrics

pub mod admit;
pub mod engine;
pub mod error;
pub mod events;
pub mod metrics;
pub mod record;
pub mod run;
pub mod schedule;
pub mod sink;
pub mod source;
pub mod tasks;
pub mod watermark;
