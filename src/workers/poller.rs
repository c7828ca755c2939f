//! One poller: receive a batch, hand it to the target, delete what
//! succeeded, record the outcome; again, until told to stop.

use super::event::{self, Verdict};
use super::history::Batch;
use super::metrics::WorkerMetrics;
use super::Shared;
use crate::config::model::{WorkerSpec, WorkerTarget};
use crate::gateway::State;
use crate::messaging::broker::{Delivery, ReceiveRequest};
use crate::messaging::queues::Queues;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What a worker's pollers share.
pub struct Ctx {
    pub spec: Arc<WorkerSpec>,
    pub queues: Arc<dyn Queues>,
    /// The gateway's state: its current pools (health-checked, following
    /// reloads) serve `http` targets.
    pub state: Weak<State>,
    pub shared: Arc<Shared>,
    pub metrics: WorkerMetrics,
    /// Where `job` targets submit.
    pub jobs: Arc<dyn crate::store::jobs::JobStore>,
}

/// Receives wait at most this long, so a stop is noticed soon.
const LONG_POLL_SECONDS: u32 = 1;

pub async fn poll(ctx: Arc<Ctx>, stop: watch::Receiver<bool>) {
    let mut refused_since: Option<Instant> = None;
    while !*stop.borrow() {
        let batch = match receive(&ctx).await {
            Ok(batch) => {
                refused_since = None;
                batch
            }
            Err(e) => {
                // Said once per minute of trouble, not per attempt.
                if refused_since.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(worker = %ctx.spec.id, queue = %ctx.spec.queue, error = %e, "worker cannot receive");
                    refused_since = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if !batch.is_empty() {
            process(&ctx, batch).await;
        }
    }
}

/// Up to `batch_size` messages: what one long poll brings, topped up until
/// `batch_window` has passed or the batch is full.
async fn receive(ctx: &Ctx) -> Result<Vec<Delivery>, String> {
    let spec = &ctx.spec;
    let visibility = spec.visibility_timeout.as_secs().max(1) as u32;
    let ask = |max: usize, wait: u32| ReceiveRequest {
        max,
        visibility: Some(visibility),
        wait_seconds: Some(wait),
        attempt_id: None,
    };
    let mut batch = ctx
        .queues
        .receive(&spec.queue, &ask(spec.batch_size, LONG_POLL_SECONDS))
        .await
        .map_err(|e| e.message)?;
    let shared = &ctx.shared;
    if batch.is_empty() {
        shared.empty.fetch_add(1, Ordering::Relaxed);
        return Ok(batch);
    }
    shared.nonempty.fetch_add(1, Ordering::Relaxed);
    let window_ends = Instant::now() + spec.batch_window;
    while batch.len() < spec.batch_size && Instant::now() < window_ends {
        let left = window_ends.saturating_duration_since(Instant::now());
        let wait = left.as_secs().clamp(0, u64::from(LONG_POLL_SECONDS)) as u32;
        let more = ctx
            .queues
            .receive(&spec.queue, &ask(spec.batch_size - batch.len(), wait))
            .await
            .map_err(|e| e.message)?;
        if more.is_empty() && wait == 0 {
            tokio::time::sleep(left.min(Duration::from_millis(50))).await;
        }
        batch.extend(more);
    }
    if batch.len() == spec.batch_size {
        shared.full.fetch_add(1, Ordering::Relaxed);
    }
    Ok(batch)
}

/// The target's answer, and what the history shows of it.
struct Answer {
    verdict: Verdict,
    timed_out: bool,
    detail: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
}

async fn process(ctx: &Ctx, batch: Vec<Delivery>) {
    let spec = &ctx.spec;
    let started = Instant::now();
    let at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let naming = ctx.queues.naming();
    let event = event::event(&batch, &naming.queue_arn(&spec.queue), &naming.region);
    let event = serde_json::to_vec(&event).unwrap_or_default();
    let ids: Vec<&str> = batch.iter().map(|d| d.message.id.as_ref()).collect();
    let answer = match &spec.target {
        WorkerTarget::Job {
            definition,
            parameter,
        } => submit_jobs(ctx, &batch, definition, parameter).await,
        _ => call(ctx, event, &ids).await,
    };
    let failed: HashSet<String> = match &answer.verdict {
        Verdict::AllSucceeded => HashSet::new(),
        Verdict::Partial(failed) => failed.clone(),
        Verdict::Failed(_) => ids.iter().map(|s| s.to_string()).collect(),
    };
    let keep = event::to_keep(&batch, &failed);
    let done: Vec<String> = batch
        .iter()
        .zip(&keep)
        .filter(|(_, keep)| !**keep)
        .map(|(d, _)| d.receipt.clone())
        .collect();
    let mut left = keep.iter().filter(|k| **k).count();
    if !done.is_empty() {
        match ctx.queues.delete(&spec.queue, &done).await {
            Ok(results) => left += results.iter().filter(|r| r.is_err()).count(),
            Err(e) => {
                // They come back after their visibility timeout: at least
                // once, never lost.
                tracing::warn!(worker = %spec.id, error = %e.message, "worker cannot delete a processed batch");
                left = batch.len();
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let outcome = match (&answer.verdict, answer.timed_out) {
        (_, true) => "timeout",
        (Verdict::Failed(_), _) => "failure",
        (Verdict::Partial(_), _) => "partial",
        (Verdict::AllSucceeded, _) => "success",
    };
    let processed = batch.len() - left;
    let m = &ctx.metrics;
    m.batches.with_label_values(&[&spec.id, outcome]).inc();
    m.messages
        .with_label_values(&[&spec.id, "processed"])
        .inc_by(processed as u64);
    m.messages
        .with_label_values(&[&spec.id, "failed"])
        .inc_by(left as u64);
    m.seconds.with_label_values(&[&spec.id]).observe(seconds);
    let shared = &ctx.shared;
    shared.batches.fetch_add(1, Ordering::Relaxed);
    shared
        .processed
        .fetch_add(processed as u64, Ordering::Relaxed);
    shared.failed.fetch_add(left as u64, Ordering::Relaxed);
    if outcome != "success" {
        tracing::info!(worker = %spec.id, outcome, messages = batch.len(), failed = left, detail = answer.detail.as_deref().unwrap_or(""), "worker batch");
    }
    shared.history.record(Batch {
        at,
        seconds,
        messages: batch.len(),
        failed: left,
        outcome,
        detail: answer.detail,
        stdout: answer.stdout,
        stderr: answer.stderr,
    });
}

/// A job per message, its body as `parameter`: a message whose job could
/// not be stored stays for a retry.
async fn submit_jobs(ctx: &Ctx, batch: &[Delivery], definition: &str, parameter: &str) -> Answer {
    let Some(config) = ctx.state.upgrade().map(|s| s.runtime.load().config.clone()) else {
        return Answer {
            verdict: Verdict::Failed("shutting down".into()),
            timed_out: false,
            detail: Some("shutting down".into()),
            stdout: None,
            stderr: None,
        };
    };
    let mut failed = HashSet::new();
    let mut why = None;
    for d in batch {
        let req = crate::jobs::Submit {
            definition: definition.to_string(),
            parameters: [(parameter.to_string(), d.message.body.to_string())].into(),
            array_size: None,
            priority: None,
        };
        if let Err(e) = crate::jobs::submit(ctx.jobs.as_ref(), &config, req).await {
            failed.insert(d.message.id.to_string());
            why = Some(e.to_string());
        }
    }
    Answer {
        verdict: if failed.is_empty() {
            Verdict::AllSucceeded
        } else {
            Verdict::Partial(failed)
        },
        timed_out: false,
        detail: why,
        stdout: None,
        stderr: None,
    }
}

async fn call(ctx: &Ctx, event: Vec<u8>, ids: &[&str]) -> Answer {
    let spec = &ctx.spec;
    let judge = |body: &[u8]| {
        if spec.report_batch_item_failures {
            event::verdict(body, ids)
        } else {
            Verdict::AllSucceeded
        }
    };
    let failed = |why: String, timed_out: bool| Answer {
        verdict: Verdict::Failed(why.clone()),
        timed_out,
        detail: Some(why),
        stdout: None,
        stderr: None,
    };
    match &spec.target {
        WorkerTarget::Http {
            upstream,
            path,
            timeout,
        } => {
            let pool = ctx
                .state
                .upgrade()
                .and_then(|s| s.runtime.load().pools.get(upstream).cloned());
            let Some(pool) = pool else {
                return failed(format!("no upstream `{upstream}`"), false);
            };
            match super::http::post(&pool, path, *timeout, event).await {
                Ok(body) => {
                    let verdict = judge(&body);
                    let detail = match &verdict {
                        Verdict::Failed(why) => Some(why.clone()),
                        _ => None,
                    };
                    Answer {
                        verdict,
                        timed_out: false,
                        detail,
                        stdout: None,
                        stderr: None,
                    }
                }
                Err(why) => {
                    let timed_out = why.starts_with("no answer within");
                    failed(why, timed_out)
                }
            }
        }
        WorkerTarget::Job { .. } => failed("a job target submits, it is not called".into(), false),
        WorkerTarget::Command(command) => match crate::jobs::command::run(command, &event).await {
            Err(e) => failed(format!("cannot start the command: {e}"), false),
            Ok(ran) => {
                let text = |b: &[u8]| Some(String::from_utf8_lossy(b).into_owned());
                let (stdout, stderr) = (text(&ran.stdout), text(&ran.stderr));
                let (verdict, detail) = if ran.timed_out {
                    let why = format!("killed after {:?}", command.timeout);
                    (Verdict::Failed(why.clone()), Some(why))
                } else {
                    match ran.exit_code {
                        Some(0) => {
                            let verdict = judge(&ran.stdout);
                            let detail = match &verdict {
                                Verdict::Failed(why) => Some(why.clone()),
                                _ => None,
                            };
                            (verdict, detail)
                        }
                        Some(code) => {
                            let why = format!("exit code {code}");
                            (Verdict::Failed(why.clone()), Some(why))
                        }
                        None => {
                            let why = "killed by a signal (a resource limit?)".to_string();
                            (Verdict::Failed(why.clone()), Some(why))
                        }
                    }
                };
                Answer {
                    verdict,
                    timed_out: ran.timed_out,
                    detail,
                    stdout,
                    stderr,
                }
            }
        },
    }
}
