//! Checks `workers/<id>.yaml` and builds the worker's spec: the queue must be
//! declared, the batch within Lambda's limits, the visibility timeout long
//! enough for the target's timeout, and exactly one target.

use super::diagnostics::Reporter;
use super::model::{Config, WorkerSpec, WorkerTarget};
use super::worker_raw::WorkerFile;
use std::path::Path;
use std::time::Duration;

pub fn worker(
    id: &str,
    raw: WorkerFile,
    root: &Path,
    settings: &Config,
    r: &mut Reporter,
) -> Option<WorkerSpec> {
    let declared: Vec<&str> = settings
        .messaging
        .as_ref()
        .map(|m| m.queues.iter().map(|q| q.name.as_str()).collect())
        .unwrap_or_default();
    if settings.messaging.is_none() {
        r.error(
            "queue",
            "a worker reads a queue: the messaging API is off (messaging.enabled: false)",
        );
    } else if !declared.contains(&raw.queue.as_str()) {
        r.error(
            "queue",
            format!(
                "no queue `{}` is declared under `messaging.queues` in gatehouse.yaml{}",
                raw.queue,
                super::de::did_you_mean(&raw.queue, &declared)
            ),
        );
    }
    let batch_size = raw.batch_size.unwrap_or(10);
    if !(1..=10).contains(&batch_size) {
        r.error(
            "batch_size",
            format!("{batch_size}: a batch holds 1 to 10 messages"),
        );
    }
    let batch_window = raw.batch_window.map_or(Duration::ZERO, |d| d.0);
    if batch_window > Duration::from_secs(300) {
        r.error("batch_window", "at most 5m (Lambda's limit)");
    }
    let visibility_timeout = raw
        .visibility_timeout
        .map_or(Duration::from_secs(30), |d| d.0);
    if visibility_timeout < Duration::from_secs(1)
        || visibility_timeout > Duration::from_secs(43_200)
    {
        r.error("visibility_timeout", "between 1s and 12h (SQS's limits)");
    }
    let (min, max) = raw.concurrency.as_ref().map_or((1, 5), |c| {
        (
            c.min.unwrap_or(1),
            c.max.unwrap_or(c.min.unwrap_or(1).max(5)),
        )
    });
    if min == 0 || max < min || max > 1000 {
        r.error(
            "concurrency",
            format!("min {min}, max {max}: need 1 <= min <= max <= 1000"),
        );
    }
    let target = match (raw.http, raw.command, raw.job) {
        (Some(http), None, None) => {
            if !settings.upstreams.contains_key(&http.upstream) {
                let known: Vec<&str> = settings.upstreams.keys().map(String::as_str).collect();
                r.error(
                    "http.upstream",
                    format!(
                        "unknown upstream `{}`{}; upstreams are defined under `upstreams:` in gatehouse.yaml",
                        http.upstream,
                        super::de::did_you_mean(&http.upstream, &known)
                    ),
                );
            }
            let path = http.path.unwrap_or_else(|| "/".into());
            if !path.starts_with('/') || path.contains(['#', ' ']) {
                r.error("http.path", format!("`{path}`: a path starting with `/`"));
            }
            WorkerTarget::Http {
                upstream: http.upstream,
                path,
                timeout: http.timeout.map_or(Duration::from_secs(30), |d| d.0),
            }
        }
        (None, Some(c), None) => {
            WorkerTarget::Command(super::command::command(c, root, "command", r)?)
        }
        (None, None, Some(job)) => {
            let parameter = job.parameter.unwrap_or_else(|| "message".into());
            match settings.job_definitions.get(&job.definition) {
                None => {
                    let known: Vec<&str> = settings
                        .job_definitions
                        .keys()
                        .map(String::as_str)
                        .collect();
                    r.error(
                        "job.definition",
                        format!(
                            "no job definition `{}` in jobs/{}",
                            job.definition,
                            super::de::did_you_mean(&job.definition, &known)
                        ),
                    );
                }
                Some(def) if !def.parameters.contains_key(&parameter) => r.error(
                    "job",
                    format!(
                        "`{}` has no parameter `{parameter}` (declare it under `parameters`)",
                        job.definition
                    ),
                ),
                Some(_) => {}
            }
            WorkerTarget::Job {
                definition: job.definition,
                parameter,
            }
        }
        _ => {
            r.error(
                "",
                "a worker has exactly one target: `http`, `command` or `job`",
            );
            return None;
        }
    };
    if target.timeout() > visibility_timeout {
        r.error(
            "visibility_timeout",
            format!(
                "{visibility_timeout:?} is shorter than the target's timeout ({:?}): a batch still running would be received again",
                target.timeout()
            ),
        );
    }
    Some(WorkerSpec {
        id: id.to_string(),
        enabled: raw.enabled.unwrap_or(true),
        queue: raw.queue,
        batch_size: batch_size.clamp(1, 10) as usize,
        batch_window,
        visibility_timeout,
        min_concurrency: min.max(1) as usize,
        max_concurrency: max.max(min).max(1) as usize,
        report_batch_item_failures: raw.report_batch_item_failures.unwrap_or(true),
        target,
    })
}
