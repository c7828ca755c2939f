//! The broker: every queue (and, in `topics`, every topic), a cheap `Clone`
//! handle shared by the messaging API, the gateway's queue and topic
//! integrations and the background sweeper. State lives in memory, guarded
//! per queue; every change goes through the journal before it is answered.

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

    /// Creates a queue, or returns the existing one when every given
    /// attribute matches (CreateQueue is idempotent in SQS).
    pub async fn create_queue(
        &self,
        name: &str,
        attributes: AttributeMap,
        tags: BTreeMap<String, String>,
    ) -> ApiResult<String> {
        let fifo = settings::check_queue_name(name).map_err(ApiError::invalid)?;
        if let Some(v) = attributes.get("FifoQueue") {
            if (v == "true") != fifo {
                return Err(ApiError::invalid(
                    "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.",
                ));
            }
        }
        for (k, v) in &attributes {
            settings::check(k, v, fifo, true)?;
        }
        self.check_redrive(&attributes, fifo)?;
        check_tags(&tags)?;
        let url = self.queue_url(name);
        let committed = self.insert_queue(name, fifo, attributes, tags)?;
        if let Some(committed) = committed {
            committed.wait().await.map_err(journal_failed)?;
        }
        Ok(url)
    }

    /// Adds the queue unless it exists; `None` when it already did.
    fn insert_queue(
        &self,
        name: &str,
        fifo: bool,
        attributes: AttributeMap,
        tags: BTreeMap<String, String>,
    ) -> ApiResult<Option<super::journal::Committed>> {
        let mut queues = self.inner.queues.write();
        if let Some(existing) = queues.get(name) {
            let differs = existing.unjournaled(|q| {
                attributes
                    .iter()
                    .find(|(k, v)| q.attributes.get(*k) != Some(*v))
                    .map(|(k, _)| k.clone())
            });
            if let Some(k) = differs {
                return Err(ApiError::new(
                    ErrorKind::QueueNameExists,
                    format!("A queue already exists with the same name and a different value for attribute {k}"),
                ));
            }
            return Ok(None);
        }
        let mut all = settings::defaults(fifo);
        all.extend(attributes);
        let now = unix_secs();
        let record = QueueRecord {
            id: self.inner.next_queue_id.fetch_add(1, Ordering::SeqCst),
            name: name.to_string(),
            attributes: all,
            tags,
            created_at: now,
            modified_at: now,
        };
        let committed = self
            .inner
            .journal
            .commit(vec![Op::PutQueue(record.clone())]);
        let cell = self.cell(Queue::new(record, self.inner.naming.queue_arn(name)));
        queues.insert(name.to_string(), cell);
        Ok(Some(committed))
    }

    /// A redrive policy must name an existing queue of the same type.
    fn check_redrive(&self, attributes: &AttributeMap, fifo: bool) -> ApiResult<()> {
        let Some(policy) = attributes.get("RedrivePolicy").filter(|p| !p.is_empty()) else {
            return Ok(());
        };
        let policy = settings::parse_redrive(policy)
            .map_err(|why| ApiError::new(ErrorKind::InvalidAttributeValue, why))?;
        let invalid = |why: &str| {
            ApiError::new(
                ErrorKind::InvalidAttributeValue,
                format!("Value {{\"deadLetterTargetArn\":\"{}\",\"maxReceiveCount\":\"{}\"}} for parameter RedrivePolicy is invalid. Reason: {why}",
                    policy.dead_letter_target_arn, policy.max_receive_count),
            )
        };
        let Some(dlq) = self.queue_by_arn(&policy.dead_letter_target_arn) else {
            return Err(invalid("Dead letter target does not exist."));
        };
        if dlq.unjournaled(|q| q.is_fifo()) != fifo {
            return Err(invalid(
                "Dead-letter target owner queue and source queue must be of the same type (standard or FIFO).",
            ));
        }
        Ok(())
    }

    pub fn list_queues(&self, prefix: Option<&str>) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .queues
            .read()
            .keys()
            .filter(|n| prefix.is_none_or(|p| n.starts_with(p)))
            .cloned()
            .collect();
        names.sort();
        names
    }

    pub async fn delete_queue(&self, cell: &QueueCell) -> ApiResult<()> {
        let (_, committed) = {
            let mut queues = self.inner.queues.write();
            if queues.get(&cell.name).is_some_and(|c| c.id == cell.id) {
                queues.remove(&cell.name);
            }
            // Under the queue's lock: a send that got the cell before the
            // delete either records its insert before DeleteQueue or sees
            // `deleted` and fails, so no message outlives its queue.
            cell.change_committed(&self.inner.journal, |_, ops| {
                cell.deleted.store(true, Ordering::SeqCst);
                ops.push(Op::DeleteQueue(cell.id));
            })
        };
        cell.notify.notify_waiters();
        wait(committed).await
    }

    /// The attribute map plus the computed ones, filtered by `names` (`All`
    /// for every one). Unknown names are an error.
    pub fn get_attributes(&self, cell: &QueueCell, names: &[String]) -> ApiResult<AttributeMap> {
        for n in names {
            if !settings::is_known(n) {
                return Err(ApiError::new(
                    ErrorKind::InvalidAttributeName,
                    format!("Unknown Attribute {n}."),
                ));
            }
        }
        cell.unjournaled(|q| Self::attributes_of(q, names))
    }

    fn attributes_of(q: &mut Queue, names: &[String]) -> ApiResult<AttributeMap> {
        let counts: Counts = q.counts(now_ms());
        let mut all = q.attributes.clone();
        all.insert("QueueArn".into(), q.arn.clone());
        all.insert(
            "ApproximateNumberOfMessages".into(),
            counts.ready.to_string(),
        );
        all.insert(
            "ApproximateNumberOfMessagesNotVisible".into(),
            counts.inflight.to_string(),
        );
        all.insert(
            "ApproximateNumberOfMessagesDelayed".into(),
            counts.delayed.to_string(),
        );
        all.insert("CreatedTimestamp".into(), q.created_at.to_string());
        all.insert("LastModifiedTimestamp".into(), q.modified_at.to_string());
        if names.iter().any(|n| n == "All") {
            return Ok(all);
        }
        Ok(all.into_iter().filter(|(k, _)| names.contains(k)).collect())
    }

    pub async fn set_attributes(
        &self,
        cell: &QueueCell,
        attributes: AttributeMap,
    ) -> ApiResult<()> {
        let fifo = cell.unjournaled(|q| q.is_fifo());
        for (k, v) in &attributes {
            settings::check(k, v, fifo, false)?;
        }
        self.check_redrive(&attributes, fifo)?;
        let (_, committed) = cell.change_committed(&self.inner.journal, |q, ops| {
            let mut all = q.attributes.clone();
            for (k, v) in attributes {
                if v.is_empty()
                    && matches!(
                        k.as_str(),
                        "RedrivePolicy" | "RedriveAllowPolicy" | "Policy"
                    )
                {
                    all.remove(&k);
                } else {
                    all.insert(k, v);
                }
            }
            q.set_attributes(all, unix_secs());
            ops.push(Op::PutQueue(q.record()));
        });
        // A shorter wait or delay may concern waiting receivers.
        cell.notify.notify_waiters();
        wait(committed).await
    }

    /// Sends a batch; each entry succeeds or fails on its own. Every message
    /// is checked here (body characters, attribute names, types and count),
    /// whoever sends it: the SQS API, a gateway route, an SNS fan-out.
    pub async fn send(
        &self,
        cell: &QueueCell,
        batch: Vec<NewMessage>,
    ) -> ApiResult<Vec<ApiResult<SendOk>>> {
        let now = now_ms();
        let mut results = Vec::with_capacity(batch.len());
        let mut fresh = 0;
        let (sent, committed) = cell.change_committed(&self.inner.journal, |q, ops| {
            if cell.deleted.load(Ordering::SeqCst) {
                return Err(ApiError::no_queue());
            }
            let fifo = q.is_fifo();
            for new in batch {
                if let Err(e) =
                    check_body(&new.body).and_then(|()| check_attributes(&new.attributes))
                {
                    results.push(Err(e));
                    continue;
                }
                let md5_of_attributes = md5_of_attributes(&new.attributes);
                let md5_of_body = super::message::md5_hex(new.body.as_bytes());
                let seq = self.next_seq();
                let id: Arc<str> = new_message_id().into();
                let result = q.send(new, seq, id, now, ops).map_err(ApiError::from).map(
                    |(sent, duplicate)| {
                        if !duplicate {
                            fresh += 1;
                        }
                        SendOk {
                            message_id: sent.message_id.to_string(),
                            md5_of_body,
                            md5_of_attributes,
                            sequence_number: fifo.then(|| sequence_number(sent.seq)),
                        }
                    },
                );
                results.push(result);
            }
            Ok(())
        });
        sent?;
        wait(committed).await?;
        for _ in 0..fresh {
            cell.notify.notify_one();
        }
        Ok(results)
    }

    /// Receives, waiting up to the wait time for a message to arrive or
    /// become visible. The waiter sleeps on the queue's `Notify` and on the
    /// queue's next timer; there is no polling loop.
    pub async fn receive(
        &self,
        cell: &QueueCell,
        req: &ReceiveRequest,
    ) -> ApiResult<Vec<Delivery>> {
        let wait = req
            .wait_seconds
            .unwrap_or_else(|| cell.unjournaled(|q| q.settings.wait_seconds));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait as u64);
        loop {
            let notified = cell.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (got, next_due) = self.receive_now(cell, req).await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty()
                || now >= deadline
                || cell.deleted.load(Ordering::SeqCst)
                || self.inner.closing.load(Ordering::SeqCst)
            {
                return Ok(got);
            }
            let wake = next_due
                .map(|due| {
                    let ms = (due - now_ms()).max(1) as u64;
                    now + Duration::from_millis(ms)
                })
                .map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn receive_now(
        &self,
        cell: &QueueCell,
        req: &ReceiveRequest,
    ) -> ApiResult<(Vec<Delivery>, Option<i64>)> {
        let now = now_ms();
        let redrive = cell.unjournaled(|q| q.settings.redrive.clone());
        let dlq = redrive
            .as_ref()
            .and_then(|r| self.queue_by_arn(&r.dead_letter_target_arn));
        let max_receive = redrive
            .filter(|_| dlq.is_some())
            .map(|r| r.max_receive_count);
        let (received, next_due, fifo) = cell.change(&self.inner.journal, |q, ops| {
            let visibility = req.visibility.unwrap_or(q.settings.visibility_timeout);
            let received = q.receive(
                req.max,
                visibility,
                max_receive,
                req.attempt_id.as_deref(),
                now,
                ops,
            );
            (received, q.next_due(), q.is_fifo())
        });
        let changed = !received.messages.is_empty() || !received.dead.is_empty();
        if let (Some(dlq), false) = (&dlq, received.dead.is_empty()) {
            self.dead_letter(dlq, received.dead, cell.id, now);
        }
        if changed {
            self.barrier().await?;
        }
        let deliveries = received
            .messages
            .into_iter()
            .map(|message| Delivery {
                receipt: Receipt {
                    queue_id: cell.id,
                    seq: message.seq,
                    nonce: message.nonce,
                }
                .encode(),
                message,
                fifo,
            })
            .collect();
        Ok((deliveries, next_due))
    }

    fn dead_letter(&self, dlq: &QueueCell, dead: Vec<Message>, origin: u64, now: i64) {
        dlq.change(&self.inner.journal, |d, ops| {
            for message in dead {
                d.accept_moved(message, Some(origin), now, ops);
            }
        });
        dlq.notify.notify_waiters();
    }

    /// Deletes by receipt handle; each entry succeeds or fails on its own.
    pub async fn delete(
        &self,
        cell: &QueueCell,
        handles: &[String],
    ) -> ApiResult<Vec<ApiResult<()>>> {
        let mut results = Vec::with_capacity(handles.len());
        let mut released = false;
        cell.change(&self.inner.journal, |q, ops| {
            for handle in handles {
                let result = Receipt::decode(handle).and_then(|r| Ok(q.delete(&r, ops)?));
                released |= matches!(result, Ok(true));
                results.push(result.map(|_| ()));
            }
        });
        if released {
            self.barrier().await?;
            // Deleting unblocks a FIFO group.
            cell.notify.notify_one();
        }
        Ok(results)
    }

    pub async fn change_visibility(
        &self,
        cell: &QueueCell,
        entries: &[(String, u32)],
    ) -> ApiResult<Vec<ApiResult<()>>> {
        let now = now_ms();
        let results: Vec<ApiResult<()>> = cell.change(&self.inner.journal, |q, ops| {
            entries
                .iter()
                .map(|(handle, timeout)| {
                    if *timeout > 43_200 {
                        return Err(ApiError::invalid(format!(
                            "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200."
                        )));
                    }
                    let receipt = Receipt::decode(handle)?;
                    Ok(q.change_visibility(&receipt, *timeout, now, ops)?)
                })
                .collect()
        });
        if results.iter().any(Result::is_ok) {
            self.barrier().await?;
            cell.notify.notify_waiters();
        }
        Ok(results)
    }

    pub async fn purge(&self, cell: &QueueCell) -> ApiResult<()> {
        cell.change(&self.inner.journal, |q, ops| q.purge(now_ms(), ops))?;
        self.barrier().await
    }

    pub async fn tag(&self, cell: &QueueCell, tags: BTreeMap<String, String>) -> ApiResult<()> {
        check_tags(&tags)?;
        self.update_tags(cell, |t| t.extend(tags)).await
    }

    pub async fn untag(&self, cell: &QueueCell, keys: &[String]) -> ApiResult<()> {
        self.update_tags(cell, |t| t.retain(|k, _| !keys.contains(k)))
            .await
    }

    async fn update_tags(
        &self,
        cell: &QueueCell,
        change: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> ApiResult<()> {
        let (changed, committed) = cell.change_committed(&self.inner.journal, |q, ops| {
            let mut tags = q.tags.clone();
            change(&mut tags);
            if tags.len() > 50 {
                return Err(ApiError::invalid("Too many tags: a queue has at most 50."));
            }
            q.tags = tags;
            ops.push(Op::PutQueue(q.record()));
            Ok(())
        });
        changed?;
        wait(committed).await
    }

    /// Queues whose redrive policy names this one.
    pub fn dead_letter_sources(&self, cell: &QueueCell) -> Vec<String> {
        let arn = cell.unjournaled(|q| q.arn.clone());
        let queues: Vec<Arc<QueueCell>> = self.inner.queues.read().values().cloned().collect();
        let mut names: Vec<String> = queues
            .iter()
            .filter(|c| {
                c.state
                    .lock()
                    .settings
                    .redrive
                    .as_ref()
                    .is_some_and(|r| r.dead_letter_target_arn == arn)
            })
            .map(|c| c.name.clone())
            .collect();
        names.sort();
        names
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

fn new_message_id() -> String {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
        .into_uuid()
        .to_string()
}

fn check_tags(tags: &BTreeMap<String, String>) -> ApiResult<()> {
    if tags.len() > 50 {
        return Err(ApiError::invalid("Too many tags: a queue has at most 50."));
    }
    for (k, v) in tags {
        if k.is_empty() || k.len() > 128 || v.len() > 256 {
            return Err(ApiError::invalid(format!(
                "Tag {k}: keys are 1-128 characters and values at most 256."
            )));
        }
    }
    Ok(())
}
