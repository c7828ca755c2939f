//! The broker: every queue (and, in `sns::topics`, every topic), a cheap
//! `Clone` handle shared by the messaging API, the gateway's queue and topic
//! integrations and the background sweeper. State lives in memory, guarded
//! per queue; every change goes through the journal before it is answered.
//! This file holds the state and its loading; `queue_admin.rs` the queue
//! lifecycle and settings; `messages.rs` sending, receiving and deleting.

mod messages;
pub mod queue_admin;

use super::clock::now_ms;
use super::error::{ApiError, ApiResult, ErrorKind};
use super::journal::{Journal, Op, QueueRecord};
use super::message::{check_attributes, check_body, md5_of_attributes, Message};
use super::names::Naming;
use super::queue::{Counts, NewMessage, Queue, Sent};
use super::receipt::Receipt;
use super::store::{MessageStore, Snapshot};
use crate::config::queue_settings::{self as settings, AttributeMap};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A queue and what waits on it. Its state is reached only through
/// `change` (which hands the journal entries for every change to the
/// journal under the queue's lock, so the journal holds changes in the
/// order the queue made them) and `unjournaled` (reads, and loading state
/// that is already durable).
pub struct QueueCell {
    pub id: u64,
    pub name: String,
    state: Mutex<Queue>,
    /// Long-polling receivers wait here; sends and releases wake them.
    pub notify: Notify,
    deleted: AtomicBool,
}

impl QueueCell {
    /// Changes the queue: `f` appends a journal entry for each change it
    /// makes, and they are recorded before the lock is released.
    pub fn change<T>(&self, journal: &Journal, f: impl FnOnce(&mut Queue, &mut Vec<Op>) -> T) -> T {
        let mut q = self.state.lock();
        let mut ops = Vec::new();
        let out = f(&mut q, &mut ops);
        if !ops.is_empty() {
            journal.record(ops);
        }
        out
    }

    /// As `change`, with the entries committed together: wait on the
    /// `Committed` (None when nothing changed) for durability.
    pub fn change_committed<T>(
        &self,
        journal: &Journal,
        f: impl FnOnce(&mut Queue, &mut Vec<Op>) -> T,
    ) -> (T, Option<super::journal::Committed>) {
        let mut q = self.state.lock();
        let mut ops = Vec::new();
        let out = f(&mut q, &mut ops);
        let committed = (!ops.is_empty()).then(|| journal.commit(ops));
        (out, committed)
    }

    /// Reads the queue (due timers may be brought up to date, which changes
    /// nothing durable), or loads state the journal already holds. A change
    /// that must survive a restart goes through `change`.
    pub fn unjournaled<T>(&self, f: impl FnOnce(&mut Queue) -> T) -> T {
        f(&mut self.state.lock())
    }
}

#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    naming: Naming,
    journal: Journal,
    queues: RwLock<HashMap<String, Arc<QueueCell>>>,
    next_queue_id: AtomicU64,
    next_seq: AtomicU64,
    closing: AtomicBool,
    moves: super::redrive::MoveTasks,
    sns: super::sns::topics::SnsState,
    deliveries: super::sns::delivery::Deliveries,
    allow_private_endpoints: bool,
    flows: Option<super::sns::flow_target::FlowDoor>,
}

/// What a broker is opened with besides its store.
pub struct BrokerOptions {
    pub naming: Naming,
    /// Lets http(s) subscriptions reach loopback and private addresses.
    pub allow_private_endpoints: bool,
    /// Where `flow` subscriptions deliver; None: no flows engine runs.
    pub flows: Option<super::sns::flow_target::FlowDoor>,
}

/// One message sent, as the API reports it.
#[derive(Debug, Clone)]
pub struct SendOk {
    pub message_id: String,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
    /// FIFO queues only.
    pub sequence_number: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ReceiveRequest {
    pub max: usize,
    pub visibility: Option<u32>,
    pub wait_seconds: Option<u32>,
    pub attempt_id: Option<String>,
}

/// A received message and the handle that acts on it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Message,
    pub receipt: String,
    pub fifo: bool,
    /// A message a redrive policy moved here: the queue it came from (the
    /// `DeadLetterQueueSourceArn` system attribute).
    pub dead_letter_source: Option<String>,
}

impl Delivery {
    /// The SQS system attributes this delivery has, by name, as
    /// ReceiveMessage answers them (and Lambda's event carries them).
    pub fn system_attributes(&self) -> Vec<(&'static str, String)> {
        let m = &self.message;
        let mut out = vec![
            ("SenderId", "AIDAIT2UOQQY3AUEKVGXU".to_string()),
            ("SentTimestamp", m.sent_at.to_string()),
            ("ApproximateReceiveCount", m.receive_count.to_string()),
        ];
        if let Some(first) = m.first_receive_at {
            out.push(("ApproximateFirstReceiveTimestamp", first.to_string()));
        }
        if let Some(g) = &m.group_id {
            out.push(("MessageGroupId", g.to_string()));
        }
        if self.fifo {
            out.push(("SequenceNumber", sequence_number(m.seq)));
            if let Some(dedup) = &m.dedup_id {
                out.push(("MessageDeduplicationId", dedup.to_string()));
            }
        }
        if let Some(source) = &self.dead_letter_source {
            out.push(("DeadLetterQueueSourceArn", source.clone()));
        }
        if let Some(trace) = &m.trace_header {
            out.push(("AWSTraceHeader", trace.to_string()));
        }
        out
    }
}

fn unix_secs() -> i64 {
    now_ms() / 1000
}

fn journal_failed(e: String) -> ApiError {
    ApiError::internal(format!("the message store failed: {e}"))
}

/// Waits until a change is durable (at once when nothing changed).
async fn wait(committed: Option<super::journal::Committed>) -> ApiResult<()> {
    match committed {
        Some(c) => c.wait().await.map_err(journal_failed),
        None => Ok(()),
    }
}

impl Broker {
    /// Loads the durable state and starts the journal over `store`.
    pub fn open(
        mut store: Box<dyn MessageStore>,
        options: BrokerOptions,
    ) -> anyhow::Result<Broker> {
        let BrokerOptions {
            naming,
            allow_private_endpoints,
            flows,
        } = options;
        let now = now_ms();
        let snapshot = store
            .load(now)
            .map_err(|e| anyhow::anyhow!("loading queues: {e}"))?;
        let journal = Journal::start(store)?;
        let broker = Broker {
            inner: Arc::new(Inner {
                naming,
                journal,
                queues: RwLock::new(HashMap::new()),
                next_queue_id: AtomicU64::new(1),
                next_seq: AtomicU64::new(1),
                closing: AtomicBool::new(false),
                moves: Default::default(),
                sns: Default::default(),
                deliveries: Default::default(),
                allow_private_endpoints,
                flows,
            }),
        };
        broker.restore(snapshot, now);
        Ok(broker)
    }

    fn restore(&self, snapshot: Snapshot, now: i64) {
        let inner = &self.inner;
        let mut by_id = HashMap::new();
        let mut max_queue = 0;
        for record in snapshot.queues {
            max_queue = max_queue.max(record.id);
            let cell = self.cell(Queue::new(
                record.clone(),
                inner.naming.queue_arn(&record.name),
            ));
            by_id.insert(record.id, cell.clone());
            inner.queues.write().insert(record.name, cell);
        }
        let mut max_seq = 0;
        for stored in snapshot.messages {
            max_seq = max_seq.max(stored.message.seq);
            if let Some(cell) = by_id.get(&stored.queue_id) {
                cell.unjournaled(|q| q.restore(stored.message, stored.origin, now));
            }
        }
        for d in snapshot.dedup {
            if let Some(cell) = by_id.get(&d.queue_id) {
                let sent = Sent {
                    message_id: d.message_id.into(),
                    seq: d.seq,
                };
                cell.unjournaled(|q| q.restore_dedup(d.key, d.expires_at, sent));
            }
        }
        max_seq = snapshot
            .deliveries
            .iter()
            .map(|d| d.id)
            .fold(max_seq, u64::max);
        inner.next_queue_id.store(max_queue + 1, Ordering::SeqCst);
        // Sequence numbers must keep growing across restarts even when every
        // message was consumed: start no lower than the clock (in units of
        // 1/1000 ms, far above any sustained send rate).
        let floor = now.max(0) as u64 * 1000;
        inner
            .next_seq
            .store((max_seq + 1).max(floor), Ordering::SeqCst);
        self.restore_topics(snapshot.topics, snapshot.subscriptions);
        inner.deliveries.restore(snapshot.deliveries);
    }

    fn cell(&self, queue: Queue) -> Arc<QueueCell> {
        Arc::new(QueueCell {
            id: queue.id,
            name: queue.name.clone(),
            state: Mutex::new(queue),
            notify: Notify::new(),
            deleted: AtomicBool::new(false),
        })
    }

    pub fn naming(&self) -> &Naming {
        &self.inner.naming
    }

    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    pub(crate) fn moves(&self) -> &super::redrive::MoveTasks {
        &self.inner.moves
    }

    pub(crate) fn sns(&self) -> &super::sns::topics::SnsState {
        &self.inner.sns
    }

    pub(crate) fn deliveries(&self) -> &super::sns::delivery::Deliveries {
        &self.inner.deliveries
    }

    pub fn wake_deliveries(&self) {
        self.inner.deliveries.wake();
    }

    /// Whether http(s) subscriptions may point at loopback and private
    /// addresses (off by default: SSRF).
    pub fn allow_private_endpoints(&self) -> bool {
        self.inner.allow_private_endpoints
    }

    /// Where `flow` subscriptions deliver; None outside the server.
    pub fn flows(&self) -> Option<&super::sns::flow_target::FlowDoor> {
        self.inner.flows.as_ref()
    }

    pub fn next_seq(&self) -> u64 {
        self.inner.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Waits until every op recorded so far is committed.
    pub async fn barrier(&self) -> ApiResult<()> {
        self.inner
            .journal
            .commit(Vec::new())
            .wait()
            .await
            .map_err(journal_failed)
    }

    pub fn queue_by_url(&self, url: &str) -> ApiResult<Arc<QueueCell>> {
        let name = self.inner.naming.queue_name_from_url(url)?;
        self.queue_by_name(name)
    }

    pub fn queue_by_name(&self, name: &str) -> ApiResult<Arc<QueueCell>> {
        self.inner
            .queues
            .read()
            .get(name)
            .cloned()
            .ok_or_else(ApiError::no_queue)
    }

    pub fn queue_by_arn(&self, arn: &str) -> Option<Arc<QueueCell>> {
        let name = self.inner.naming.name_from_arn(arn, "sqs")?;
        self.queue_by_name(name).ok()
    }

    pub fn queue_url(&self, name: &str) -> String {
        self.inner.naming.queue_url(name)
    }

    pub fn queue_by_id(&self, id: u64) -> Option<Arc<QueueCell>> {
        self.inner
            .queues
            .read()
            .values()
            .find(|c| c.id == id)
            .cloned()
    }

    /// Drops messages past their retention period, in every queue.
    pub fn expire(&self) -> usize {
        let now = now_ms();
        let queues: Vec<Arc<QueueCell>> = self.inner.queues.read().values().cloned().collect();
        let mut dropped = 0;
        for cell in queues {
            dropped += cell.change(&self.inner.journal, |q, ops| q.expire(now, ops));
        }
        dropped
    }

    /// Runs the retention sweeper until the process ends.
    pub fn spawn_sweeper(&self, handle: &tokio::runtime::Handle) {
        let broker = self.clone();
        handle.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let dropped = broker.expire();
                if dropped > 0 {
                    tracing::info!(dropped, "messages past their retention period deleted");
                }
            }
        });
    }

    /// Wakes every long-polling receiver so it answers now (shutdown).
    pub fn close(&self) {
        self.inner.closing.store(true, Ordering::SeqCst);
        for cell in self.inner.queues.read().values() {
            cell.notify.notify_waiters();
        }
    }
}

/// A FIFO sequence number: the message's broker-wide sequence, zero-padded
/// to the 20 digits SQS shows.
pub fn sequence_number(seq: u64) -> String {
    format!("{seq:020}")
}

pub fn new_message_id() -> String {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
        .into_uuid()
        .to_string()
}
