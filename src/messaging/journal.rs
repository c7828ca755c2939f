//! The write-behind journal: every change to queues, topics and messages is
//! an `Op`; a single writer thread applies them to the store in batches (one
//! transaction per batch: group commit) and then tells the waiting requests.
//! A request is answered only after its ops committed, so an acknowledged
//! send survives a crash. See `design.md`.

use super::message::Message;
use super::store::MessageStore;
use crate::config::queue_settings::AttributeMap;
use std::collections::BTreeMap;
use tokio::sync::oneshot;

/// Most ops applied in one transaction.
const MAX_BATCH: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    pub id: u64,
    pub name: String,
    pub attributes: AttributeMap,
    pub tags: BTreeMap<String, String>,
    /// Unix seconds.
    pub created_at: i64,
    pub modified_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecord {
    pub arn: String,
    pub name: String,
    pub attributes: AttributeMap,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub arn: String,
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    pub attributes: AttributeMap,
    /// Set while an http(s) subscription awaits confirmation.
    pub confirm_token: Option<String>,
}

/// A pending http(s) delivery, kept until it succeeds or is given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: u64,
    pub subscription_arn: String,
    pub body: String,
    /// Unix ms of the next attempt.
    pub due_at: i64,
    pub attempts: u32,
    pub message_id: String,
    /// `Notification` or `SubscriptionConfirmation`.
    pub kind: String,
}

#[derive(Debug, Clone)]
pub enum Op {
    PutQueue(QueueRecord),
    DeleteQueue(u64),
    Purge(u64),
    Insert {
        queue_id: u64,
        message: Message,
        /// The queue a dead-lettered message came from (for redrive).
        origin: Option<u64>,
    },
    /// A receive or a visibility change.
    Update {
        seq: u64,
        visible_at: i64,
        receive_count: u32,
        first_receive_at: Option<i64>,
        nonce: u64,
    },
    Delete(u64),
    /// To a dead-letter queue, or back from one.
    Move {
        seq: u64,
        queue_id: u64,
        origin: Option<u64>,
        visible_at: i64,
        receive_count: u32,
    },
    Dedup {
        queue_id: u64,
        key: String,
        expires_at: i64,
        message_id: String,
        seq: u64,
    },
    PutTopic(TopicRecord),
    DeleteTopic(String),
    PutSubscription(SubscriptionRecord),
    DeleteSubscription(String),
    PutDelivery(DeliveryRecord),
    DeleteDelivery(u64),
}

struct Job {
    ops: Vec<Op>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// The handle requests submit ops through. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: crossbeam_channel::Sender<Job>,
}

impl Journal {
    /// Starts the writer thread that owns the store.
    pub fn start(mut store: Box<dyn MessageStore>) -> std::io::Result<Journal> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        std::thread::Builder::new()
            .name("gatehouse-journal".into())
            .spawn(move || {
                let mut ops = Vec::new();
                let mut waiting = Vec::new();
                while let Ok(first) = rx.recv() {
                    let mut next = Some(first);
                    while let Some(job) = next.take() {
                        ops.extend(job.ops);
                        waiting.extend(job.done);
                        if ops.len() < MAX_BATCH {
                            next = rx.try_recv().ok();
                        }
                    }
                    let result = store.apply(&ops).map_err(|e| e.to_string());
                    if let Err(e) = &result {
                        tracing::error!(error = %e, ops = ops.len(), "journal commit failed");
                    }
                    ops.clear();
                    for done in waiting.drain(..) {
                        let _ = done.send(result.clone());
                    }
                }
            })?;
        Ok(Journal { tx })
    }

    /// Queues ops for the next commit without waiting for it. Call while
    /// holding the lock of the state the ops describe, so they reach the
    /// store in the order they happened.
    pub fn record(&self, ops: Vec<Op>) {
        if !ops.is_empty() {
            let _ = self.tx.send(Job { ops, done: None });
        }
    }

    /// Queues ops and returns a waiter that resolves once they (and every op
    /// recorded before them) are committed.
    pub fn commit(&self, ops: Vec<Op>) -> Committed {
        let (done, rx) = oneshot::channel();
        let _ = self.tx.send(Job {
            ops,
            done: Some(done),
        });
        Committed(rx)
    }
}

pub struct Committed(oneshot::Receiver<Result<(), String>>);

impl Committed {
    pub async fn wait(self) -> Result<(), String> {
        self.0
            .await
            .unwrap_or_else(|_| Err("the journal writer stopped".into()))
    }
}
