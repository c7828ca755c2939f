//! Dead-letter queue redrive: StartMessageMoveTask moves a dead-letter
//! queue's messages back to the queues they came from (or to a named
//! destination) at an optional rate, in the background;
//! ListMessageMoveTasks and CancelMessageMoveTask watch and stop it.

use super::broker::{Broker, QueueCell};
use super::clock::now_ms;
use super::error::{ApiError, ApiResult, ErrorKind};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Messages moved per step when no rate is set.
const STEP: usize = 100;

pub struct MoveTask {
    pub handle: String,
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub rate: Option<u32>,
    pub started_at: i64,
    pub to_move: u64,
    pub moved: AtomicU64,
    status: Mutex<(&'static str, Option<String>)>,
    cancel: AtomicBool,
}

impl MoveTask {
    /// RUNNING, COMPLETED, CANCELLING, CANCELLED or FAILED, and why it failed.
    pub fn status(&self) -> (&'static str, Option<String>) {
        self.status.lock().clone()
    }

    fn finish(&self, status: &'static str, reason: Option<String>) {
        *self.status.lock() = (status, reason);
    }
}

#[derive(Default)]
pub struct MoveTasks {
    tasks: Mutex<Vec<Arc<MoveTask>>>,
}

impl MoveTasks {
    /// The tasks of a source queue, newest first.
    pub fn list(&self, source_arn: &str) -> Vec<Arc<MoveTask>> {
        let mut tasks: Vec<_> = self
            .tasks
            .lock()
            .iter()
            .filter(|t| t.source_arn == source_arn)
            .cloned()
            .collect();
        tasks.reverse();
        tasks
    }

    pub fn cancel(&self, handle: &str) -> ApiResult<u64> {
        let task = self
            .tasks
            .lock()
            .iter()
            .find(|t| t.handle == handle)
            .cloned();
        match task {
            Some(t) if t.status().0 == "RUNNING" => {
                t.cancel.store(true, Ordering::SeqCst);
                t.finish("CANCELLING", None);
                Ok(t.moved.load(Ordering::SeqCst))
            }
            _ => Err(ApiError::new(
                ErrorKind::ResourceNotFound,
                "The resource that you specified for the TaskHandle parameter doesn't exist.",
            )),
        }
    }
}

pub fn start(
    broker: &Broker,
    source_arn: &str,
    destination_arn: Option<String>,
    rate: Option<u32>,
) -> ApiResult<String> {
    let not_found = || {
        ApiError::new(
            ErrorKind::ResourceNotFound,
            "The resource that you specified for the SourceArn parameter doesn't exist.",
        )
    };
    let source = broker.queue_by_arn(source_arn).ok_or_else(not_found)?;
    if broker.dead_letter_sources(&source).is_empty() {
        return Err(ApiError::invalid(
            "Source queue must be configured as a Dead Letter Queue.",
        ));
    }
    let destination = match &destination_arn {
        Some(arn) => Some(broker.queue_by_arn(arn).ok_or_else(|| {
            ApiError::new(
                ErrorKind::ResourceNotFound,
                "The resource that you specified for the DestinationArn parameter doesn't exist.",
            )
        })?),
        None => None,
    };
    if let Some(r) = rate.filter(|r| !(1..=500).contains(r)) {
        return Err(ApiError::invalid(format!(
            "Value {r} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and 500."
        )));
    }
    let mut tasks = broker.moves().tasks.lock();
    if tasks
        .iter()
        .any(|t| t.source_arn == source_arn && t.status().0 == "RUNNING")
    {
        return Err(ApiError::new(
            ErrorKind::UnsupportedOperation,
            "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
        ));
    }
    let to_move = source.unjournaled(|q| q.counts(now_ms()).ready);
    let handle = base64_handle(source_arn);
    let task = Arc::new(MoveTask {
        handle: handle.clone(),
        source_arn: source_arn.to_string(),
        destination_arn,
        rate,
        started_at: now_ms(),
        to_move,
        moved: AtomicU64::new(0),
        status: Mutex::new(("RUNNING", None)),
        cancel: AtomicBool::new(false),
    });
    tasks.push(task.clone());
    drop(tasks);
    tokio::spawn(run(broker.clone(), source, destination, task));
    Ok(handle)
}

fn base64_handle(source_arn: &str) -> String {
    use base64::Engine;
    let raw = format!("{}:{source_arn}", uuid::Uuid::from_u128(fastrand::u128(..)));
    base64::engine::general_purpose::STANDARD.encode(raw)
}

async fn run(
    broker: Broker,
    source: Arc<QueueCell>,
    destination: Option<Arc<QueueCell>>,
    task: Arc<MoveTask>,
) {
    let step = task.rate.map_or(STEP, |r| r as usize);
    loop {
        if task.cancel.load(Ordering::SeqCst) {
            task.finish("CANCELLED", None);
            return;
        }
        let started = tokio::time::Instant::now();
        // Out of the dead-letter queue in memory only: the move is
        // journalled by `accept_moved` on the queue that takes each message.
        let batch = source.unjournaled(|q| q.take_ready(step, now_ms()));
        if batch.is_empty() {
            task.finish("COMPLETED", None);
            return;
        }
        let mut by_target: HashMap<u64, Vec<_>> = HashMap::new();
        let mut failed = None;
        for (message, origin) in batch {
            let target = match &destination {
                Some(d) => Some(d.clone()),
                None => origin.and_then(|id| broker.queue_by_id(id)),
            };
            match target {
                Some(t) => by_target.entry(t.id).or_default().push((t, message)),
                None => {
                    // Nowhere to go: back into the dead-letter queue.
                    failed = Some("The message's source queue no longer exists.".to_string());
                    source.change(broker.journal(), |s, ops| {
                        s.accept_moved(message, origin, now_ms(), ops)
                    });
                }
            }
        }
        for (_, entries) in by_target {
            let target = entries[0].0.clone();
            let n = entries.len() as u64;
            target.change(broker.journal(), |t, ops| {
                for (_, message) in entries {
                    t.accept_moved(message, None, now_ms(), ops);
                }
            });
            target.notify.notify_waiters();
            task.moved.fetch_add(n, Ordering::SeqCst);
        }
        if let Err(e) = broker.barrier().await {
            task.finish("FAILED", Some(e.message));
            return;
        }
        if let Some(reason) = failed {
            task.finish("FAILED", Some(reason));
            return;
        }
        if task.rate.is_some() {
            tokio::time::sleep_until(started + Duration::from_secs(1)).await;
        }
    }
}
