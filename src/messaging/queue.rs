//! One queue's state and the SQS rules over it: delays, visibility timeouts,
//! FIFO message groups, deduplication, retention and the dead-letter count.
//! Pure: time comes in as `now` (unix ms) and every change is appended to
//! `ops` for the journal, so the rules are unit-tested without I/O. See
//! `design.md` for the invariants.

use super::journal::{Op, QueueRecord};
use super::message::{attributes_size, Attributes, Message, Stage};
use super::receipt::Receipt;
use crate::config::queue_settings::{AttributeMap, Settings};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

/// Why a queue refused an operation: the rules' own words. The messaging
/// API maps each to its AWS error in one place (`error.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueError {
    /// Body and attributes exceed the queue's MaximumMessageSize.
    TooLong { max: usize },
    /// A FIFO queue needs a MessageGroupId.
    MissingGroupId,
    /// FIFO queues take no per-message delay.
    DelayOnFifo { delay: u32 },
    /// A FIFO queue without content-based deduplication needs an id.
    MissingDedupId,
    /// Standard queues take no deduplication id.
    DedupIdOnStandard,
    /// The receipt handle is for another queue.
    ForeignReceipt { handle: String },
    /// The message is gone or not in flight.
    NotInflight { handle: String },
    /// A purge within 60 s of the last.
    PurgeTooSoon { queue: String },
}

pub type QueueResult<T> = Result<T, QueueError>;

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueError::TooLong { max } => write!(
                f,
                "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
            ),
            QueueError::MissingGroupId => {
                write!(f, "The request must contain the parameter MessageGroupId.")
            }
            QueueError::DelayOnFifo { delay } => write!(
                f,
                "Value {delay} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."
            ),
            QueueError::MissingDedupId => write!(
                f,
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
            ),
            QueueError::DedupIdOnStandard => write!(
                f,
                "Value for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type."
            ),
            QueueError::ForeignReceipt { handle } => write!(
                f,
                "The input receipt handle \"{handle}\" is not a valid receipt handle for this queue."
            ),
            QueueError::NotInflight { handle } => write!(
                f,
                "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
            ),
            QueueError::PurgeTooSoon { queue } => write!(
                f,
                "Only one PurgeQueue operation on {queue} is allowed every 60 seconds."
            ),
        }
    }
}

/// FIFO deduplication and receive-attempt windows.
pub const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;
pub const PURGE_INTERVAL_MS: i64 = 60 * 1000;

/// A message as a client sends it.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub body: String,
    pub attributes: Attributes,
    pub trace_header: Option<String>,
    pub delay_seconds: Option<u32>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message_id: Arc<str>,
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub ready: u64,
    pub inflight: u64,
    pub delayed: u64,
}

#[derive(Debug, Default)]
pub struct Received {
    pub messages: Vec<Message>,
    /// Received more than `maxReceiveCount` times: out of this queue, for
    /// the dead-letter queue.
    pub dead: Vec<Message>,
}

#[derive(Debug, Default)]
struct Group {
    /// Every message of the group, oldest first. In-flight ones are a prefix.
    seqs: VecDeque<u64>,
    inflight: u32,
    /// The key under which the group sits in `available`, if it does.
    available_at: Option<u64>,
}

struct Attempt {
    expires_at: i64,
    receipts: Vec<(u64, u64)>,
}

pub struct Queue {
    pub id: u64,
    pub name: String,
    pub arn: String,
    pub attributes: AttributeMap,
    pub settings: Settings,
    pub tags: BTreeMap<String, String>,
    pub created_at: i64,
    pub modified_at: i64,
    messages: HashMap<u64, Message>,
    /// Where each dead-lettered message came from (for redrive to source).
    origins: HashMap<u64, u64>,
    /// Standard queues: receivable messages, oldest first. Entries whose
    /// message has gone or changed stage are skipped when popped.
    ready: VecDeque<u64>,
    /// (when, seq) for delayed and in-flight messages; stale entries (the
    /// message's `visible_at` moved) are skipped.
    timers: BinaryHeap<Reverse<(i64, u64)>>,
    /// (sent_at, seq) of every message, for retention.
    by_age: BTreeSet<(i64, u64)>,
    /// FIFO queues: message groups, and the receivable ones keyed by the
    /// sequence number of their head so the oldest group goes first.
    groups: HashMap<Arc<str>, Group>,
    available: BTreeMap<u64, Arc<str>>,
    dedup: HashMap<String, (i64, Sent)>,
    dedup_order: VecDeque<(i64, String)>,
    attempts: HashMap<String, Attempt>,
    counts: Counts,
    last_purge: Option<i64>,
}

impl Queue {
    pub fn new(record: QueueRecord, arn: String) -> Queue {
        Queue {
            id: record.id,
            name: record.name,
            arn,
            settings: Settings::from_map(&record.attributes),
            attributes: record.attributes,
            tags: record.tags,
            created_at: record.created_at,
            modified_at: record.modified_at,
            messages: HashMap::new(),
            origins: HashMap::new(),
            ready: VecDeque::new(),
            timers: BinaryHeap::new(),
            by_age: BTreeSet::new(),
            groups: HashMap::new(),
            available: BTreeMap::new(),
            dedup: HashMap::new(),
            dedup_order: VecDeque::new(),
            attempts: HashMap::new(),
            counts: Counts::default(),
            last_purge: None,
        }
    }

    pub fn record(&self) -> QueueRecord {
        QueueRecord {
            id: self.id,
            name: self.name.clone(),
            attributes: self.attributes.clone(),
            tags: self.tags.clone(),
            created_at: self.created_at,
            modified_at: self.modified_at,
        }
    }

    pub fn set_attributes(&mut self, attributes: AttributeMap, now_secs: i64) {
        self.attributes = attributes;
        self.settings = Settings::from_map(&self.attributes);
        self.modified_at = now_secs;
    }

    pub fn is_fifo(&self) -> bool {
        self.settings.fifo
    }

    /// Puts back a stored message at start-up. Its stage follows from its
    /// timestamps: a message whose timeout has not run out stays invisible.
    pub fn restore(&mut self, mut message: Message, origin: Option<u64>, now: i64) {
        message.stage = if message.visible_at <= now {
            Stage::Ready
        } else if message.receive_count == 0 {
            Stage::Delayed
        } else {
            Stage::Inflight
        };
        if let Some(origin) = origin {
            self.origins.insert(message.seq, origin);
        }
        self.admit(message);
    }

    pub fn restore_dedup(&mut self, key: String, expires_at: i64, sent: Sent) {
        self.dedup_order.push_back((expires_at, key.clone()));
        self.dedup.insert(key, (expires_at, sent));
    }

    /// Adds a message in its current stage to every index.
    fn admit(&mut self, message: Message) {
        let seq = message.seq;
        self.by_age.insert((message.sent_at, seq));
        match message.stage {
            Stage::Ready => self.counts.ready += 1,
            Stage::Inflight => self.counts.inflight += 1,
            Stage::Delayed => self.counts.delayed += 1,
        }
        if message.stage != Stage::Ready {
            self.timers.push(Reverse((message.visible_at, seq)));
        }
        let group = message.group_id.clone().filter(|_| self.settings.fifo);
        let stage = message.stage;
        self.messages.insert(seq, message);
        match group {
            Some(gid) => {
                let group = self.groups.entry(gid.clone()).or_default();
                // Restored and redriven messages may arrive out of order.
                let at = group.seqs.partition_point(|s| *s < seq);
                group.seqs.insert(at, seq);
                if stage == Stage::Inflight {
                    group.inflight += 1;
                }
                self.refresh_group(&gid);
            }
            None if stage == Stage::Ready => self.ready.push_back(seq),
            None => {}
        }
    }

    /// Validates and stores a new message. FIFO duplicates within the
    /// deduplication window return the original message instead.
    pub fn send(
        &mut self,
        mut new: NewMessage,
        seq: u64,
        message_id: Arc<str>,
        now: i64,
        ops: &mut Vec<Op>,
    ) -> QueueResult<(Sent, bool)> {
        let dedup_key = check_new(&mut new, &self.settings)?;
        if let Some(key) = &dedup_key {
            self.expire_dedup(now);
            if let Some((_, sent)) = self.dedup.get(key) {
                return Ok((sent.clone(), true));
            }
        }
        let delay = new.delay_seconds.unwrap_or(self.settings.delay_seconds) as i64;
        let message = Message {
            seq,
            id: message_id.clone(),
            body: new.body.into(),
            attributes: Arc::new(new.attributes),
            trace_header: new.trace_header.map(Into::into),
            sent_at: now,
            group_id: new.group_id.map(Into::into),
            dedup_id: new.dedup_id.map(Into::into),
            receive_count: 0,
            first_receive_at: None,
            visible_at: now + delay * 1000,
            nonce: 0,
            stage: if delay > 0 {
                Stage::Delayed
            } else {
                Stage::Ready
            },
        };
        let sent = Sent { message_id, seq };
        if let Some(key) = dedup_key {
            let expires_at = now + DEDUP_WINDOW_MS;
            ops.push(Op::Dedup {
                queue_id: self.id,
                key: key.clone(),
                expires_at,
                message_id: sent.message_id.to_string(),
                seq,
            });
            self.restore_dedup(key, expires_at, sent.clone());
        }
        ops.push(Op::Insert {
            queue_id: self.id,
            message: message.clone(),
            origin: None,
        });
        self.admit(message);
        Ok((sent, false))
    }

    fn expire_dedup(&mut self, now: i64) {
        while let Some((expires_at, _)) = self.dedup_order.front() {
            if *expires_at > now {
                break;
            }
            if let Some((_, key)) = self.dedup_order.pop_front() {
                if self.dedup.get(&key).is_some_and(|(e, _)| *e <= now) {
                    self.dedup.remove(&key);
                }
            }
        }
    }

    /// Makes due delayed and in-flight messages receivable.
    fn promote(&mut self, now: i64) {
        while let Some(Reverse((due, seq))) = self.timers.peek().copied() {
            if due > now {
                break;
            }
            self.timers.pop();
            let Some(message) = self.messages.get_mut(&seq) else {
                continue;
            };
            if message.visible_at != due || message.stage == Stage::Ready {
                continue;
            }
            let was_inflight = message.stage == Stage::Inflight;
            if was_inflight {
                self.counts.inflight -= 1;
            } else {
                self.counts.delayed -= 1;
            }
            message.stage = Stage::Ready;
            self.counts.ready += 1;
            let group = message.group_id.clone().filter(|_| self.settings.fifo);
            match group {
                Some(gid) => {
                    if let Some(g) = self.groups.get_mut(&gid) {
                        if was_inflight && g.inflight > 0 {
                            g.inflight -= 1;
                        }
                    }
                    self.refresh_group(&gid);
                }
                None => self.ready.push_back(seq),
            }
        }
    }

    /// Puts a FIFO group in or out of `available`: it is receivable when none
    /// of its messages is in flight and its oldest message is ready.
    fn refresh_group(&mut self, gid: &Arc<str>) {
        let Some(group) = self.groups.get_mut(gid) else {
            return;
        };
        if let Some(key) = group.available_at.take() {
            self.available.remove(&key);
        }
        if group.seqs.is_empty() && group.inflight == 0 {
            self.groups.remove(gid);
            return;
        }
        let head = group.seqs.front().copied();
        let head_ready = head
            .and_then(|s| self.messages.get(&s))
            .is_some_and(|m| m.stage == Stage::Ready);
        if group.inflight == 0 && head_ready {
            if let Some(head) = head {
                group.available_at = Some(head);
                self.available.insert(head, gid.clone());
            }
        }
    }

    /// The earliest moment a delayed or in-flight message becomes receivable.
    pub fn next_due(&self) -> Option<i64> {
        self.timers.peek().map(|Reverse((due, _))| *due)
    }

    /// The queue a message was moved here from by a redrive policy.
    pub fn origin_of(&self, seq: u64) -> Option<u64> {
        self.origins.get(&seq).copied()
    }

    /// When the oldest message still here was sent. A scan of the queue's
    /// messages: called per metrics scrape, not per request.
    pub fn oldest_sent_at(&self) -> Option<i64> {
        self.messages.values().map(|m| m.sent_at).min()
    }

    pub fn counts(&mut self, now: i64) -> Counts {
        self.promote(now);
        self.counts
    }

    /// Receives up to `max` messages, making them invisible for `visibility`
    /// seconds. Messages already received `max_receive` times are taken out
    /// for the dead-letter queue instead.
    pub fn receive(
        &mut self,
        max: usize,
        visibility: u32,
        max_receive: Option<u32>,
        attempt_id: Option<&str>,
        now: i64,
        ops: &mut Vec<Op>,
    ) -> Received {
        self.promote(now);
        let mut out = Received::default();
        if let Some(id) = attempt_id.filter(|_| self.settings.fifo) {
            self.attempts.retain(|_, a| a.expires_at > now);
            if let Some(previous) = self.replay_attempt(id) {
                out.messages = previous;
                return out;
            }
        }
        if self.settings.fifo {
            self.receive_fifo(max, visibility, max_receive, now, ops, &mut out);
        } else {
            while out.messages.len() < max {
                let Some(seq) = self.ready.pop_front() else {
                    break;
                };
                if self
                    .messages
                    .get(&seq)
                    .is_some_and(|m| m.stage == Stage::Ready)
                {
                    self.deliver(seq, visibility, max_receive, now, ops, &mut out);
                }
            }
        }
        if let Some(id) = attempt_id.filter(|_| self.settings.fifo) {
            let receipts = out.messages.iter().map(|m| (m.seq, m.nonce)).collect();
            self.attempts.insert(
                id.to_string(),
                Attempt {
                    expires_at: now + DEDUP_WINDOW_MS,
                    receipts,
                },
            );
        }
        out
    }

    /// A retried FIFO receive with the same attempt id gets the same
    /// messages, as long as they are all still in flight under that receive.
    fn replay_attempt(&self, id: &str) -> Option<Vec<Message>> {
        let attempt = self.attempts.get(id)?;
        attempt
            .receipts
            .iter()
            .map(|(seq, nonce)| {
                self.messages
                    .get(seq)
                    .filter(|m| m.nonce == *nonce && m.stage == Stage::Inflight)
                    .cloned()
            })
            .collect()
    }

    fn receive_fifo(
        &mut self,
        max: usize,
        visibility: u32,
        max_receive: Option<u32>,
        now: i64,
        ops: &mut Vec<Op>,
        out: &mut Received,
    ) {
        while out.messages.len() < max {
            let Some((&head, gid)) = self.available.iter().next() else {
                break;
            };
            let gid = gid.clone();
            self.available.remove(&head);
            let Some(group) = self.groups.get_mut(&gid) else {
                continue;
            };
            group.available_at = None;
            // Take from the head while messages are ready: a group's
            // messages are delivered in order, and the group stays blocked
            // while any of them is in flight.
            let mut i = 0;
            while out.messages.len() < max {
                let Some(seq) = self.groups.get(&gid).and_then(|g| g.seqs.get(i)).copied() else {
                    break;
                };
                if !self
                    .messages
                    .get(&seq)
                    .is_some_and(|m| m.stage == Stage::Ready)
                {
                    break;
                }
                if self.deliver(seq, visibility, max_receive, now, ops, out) {
                    i += 1;
                }
            }
            self.refresh_group(&gid);
        }
    }

    /// Delivers one ready message; false when it went to `dead` instead.
    fn deliver(
        &mut self,
        seq: u64,
        visibility: u32,
        max_receive: Option<u32>,
        now: i64,
        ops: &mut Vec<Op>,
        out: &mut Received,
    ) -> bool {
        let exhausted = self
            .messages
            .get(&seq)
            .is_some_and(|m| max_receive.is_some_and(|max| m.receive_count >= max));
        if exhausted {
            if let Some(message) = self.remove(seq) {
                out.dead.push(message);
            }
            return false;
        }
        let fifo = self.settings.fifo;
        let Some(message) = self.messages.get_mut(&seq) else {
            return false;
        };
        message.stage = Stage::Inflight;
        message.receive_count += 1;
        message.first_receive_at.get_or_insert(now);
        message.nonce = fastrand::u64(1..);
        message.visible_at = now + visibility as i64 * 1000;
        ops.push(Op::Update {
            seq,
            visible_at: message.visible_at,
            receive_count: message.receive_count,
            first_receive_at: message.first_receive_at,
            nonce: message.nonce,
        });
        self.timers.push(Reverse((message.visible_at, seq)));
        let group = message.group_id.clone().filter(|_| fifo);
        out.messages.push(message.clone());
        self.counts.ready -= 1;
        self.counts.inflight += 1;
        if let Some(group) = group.and_then(|g| self.groups.get_mut(&g)) {
            group.inflight += 1;
        }
        true
    }

    /// Takes a message out of every index.
    fn remove(&mut self, seq: u64) -> Option<Message> {
        let message = self.messages.remove(&seq)?;
        self.origins.remove(&seq);
        self.by_age.remove(&(message.sent_at, seq));
        match message.stage {
            Stage::Ready => self.counts.ready -= 1,
            Stage::Inflight => self.counts.inflight -= 1,
            Stage::Delayed => self.counts.delayed -= 1,
        }
        if let Some(gid) = message.group_id.clone().filter(|_| self.settings.fifo) {
            if let Some(group) = self.groups.get_mut(&gid) {
                if let Some(at) = group.seqs.iter().position(|s| *s == seq) {
                    group.seqs.remove(at);
                }
                if message.stage == Stage::Inflight && group.inflight > 0 {
                    group.inflight -= 1;
                }
            }
            self.refresh_group(&gid);
        }
        Some(message)
    }

    fn check_receipt(&self, receipt: &Receipt) -> QueueResult<()> {
        if receipt.queue_id != self.id {
            return Err(QueueError::ForeignReceipt {
                handle: receipt.encode(),
            });
        }
        Ok(())
    }

    /// Deletes the message a receipt names. A handle from an earlier receive
    /// (the message was received again since) or of a message already
    /// deleted succeeds without effect, as in SQS.
    pub fn delete(&mut self, receipt: &Receipt, ops: &mut Vec<Op>) -> QueueResult<bool> {
        self.check_receipt(receipt)?;
        let fifo = self.settings.fifo;
        let current = self
            .messages
            .get(&receipt.seq)
            .is_some_and(|m| acts_on(m.nonce, receipt.nonce, fifo) && m.receive_count > 0);
        if !current {
            return Ok(false);
        }
        self.remove(receipt.seq);
        ops.push(Op::Delete(receipt.seq));
        Ok(true)
    }

    /// Changes how long a received message stays invisible, counted from now.
    pub fn change_visibility(
        &mut self,
        receipt: &Receipt,
        timeout: u32,
        now: i64,
        ops: &mut Vec<Op>,
    ) -> QueueResult<()> {
        self.check_receipt(receipt)?;
        self.promote(now);
        let fifo = self.settings.fifo;
        let Some(message) = self
            .messages
            .get_mut(&receipt.seq)
            .filter(|m| acts_on(m.nonce, receipt.nonce, fifo) && m.stage == Stage::Inflight)
        else {
            return Err(QueueError::NotInflight {
                handle: receipt.encode(),
            });
        };
        message.visible_at = now + timeout as i64 * 1000;
        ops.push(Op::Update {
            seq: receipt.seq,
            visible_at: message.visible_at,
            receive_count: message.receive_count,
            first_receive_at: message.first_receive_at,
            nonce: message.nonce,
        });
        self.timers.push(Reverse((message.visible_at, receipt.seq)));
        self.promote(now);
        Ok(())
    }

    pub fn purge(&mut self, now: i64, ops: &mut Vec<Op>) -> QueueResult<()> {
        if self.last_purge.is_some_and(|t| now - t < PURGE_INTERVAL_MS) {
            return Err(QueueError::PurgeTooSoon {
                queue: self.name.clone(),
            });
        }
        self.last_purge = Some(now);
        self.messages.clear();
        self.origins.clear();
        self.ready.clear();
        self.timers.clear();
        self.by_age.clear();
        self.groups.clear();
        self.available.clear();
        self.attempts.clear();
        self.counts = Counts::default();
        ops.push(Op::Purge(self.id));
        Ok(())
    }

    /// Drops messages older than the retention period.
    pub fn expire(&mut self, now: i64, ops: &mut Vec<Op>) -> usize {
        let cutoff = now - self.settings.retention_seconds as i64 * 1000;
        let mut dropped = 0;
        while let Some(&(sent_at, seq)) = self.by_age.first() {
            if sent_at > cutoff {
                break;
            }
            self.remove(seq);
            ops.push(Op::Delete(seq));
            dropped += 1;
        }
        dropped
    }

    /// Accepts a message moved from another queue (to a dead-letter queue,
    /// or redriven out of one), receivable now.
    pub fn accept_moved(
        &mut self,
        mut message: Message,
        origin: Option<u64>,
        now: i64,
        ops: &mut Vec<Op>,
    ) {
        message.stage = Stage::Ready;
        message.visible_at = now;
        if origin.is_none() {
            // Redriven back: it starts counting receives afresh.
            message.receive_count = 0;
            message.first_receive_at = None;
        }
        if self.settings.fifo {
            // A FIFO dead-letter queue keeps arrival order, not send time.
            message.sent_at = now;
        }
        ops.push(Op::Move {
            seq: message.seq,
            queue_id: self.id,
            origin,
            visible_at: message.visible_at,
            receive_count: message.receive_count,
        });
        if let Some(origin) = origin {
            self.origins.insert(message.seq, origin);
        }
        self.admit(message);
    }

    /// Takes up to `max` receivable messages out (for a move task), with the
    /// queue each came from.
    pub fn take_ready(&mut self, max: usize, now: i64) -> Vec<(Message, Option<u64>)> {
        self.promote(now);
        let mut seqs: Vec<u64> = self
            .messages
            .values()
            .filter(|m| m.stage == Stage::Ready)
            .map(|m| m.seq)
            .collect();
        seqs.sort_unstable();
        seqs.truncate(max);
        seqs.into_iter()
            .filter_map(|seq| {
                let origin = self.origins.get(&seq).copied();
                self.remove(seq).map(|m| (m, origin))
            })
            .collect()
    }
}

/// The queue's rules for a new message, wherever the queue lives: its size,
/// and on FIFO queues its group, no delay, and a deduplication id. Returns
/// the deduplication key (FIFO queues), scoped to the group when the queue
/// deduplicates per group. A content-based id is filled in, since receivers
/// may ask for `MessageDeduplicationId`.
pub fn check_new(new: &mut NewMessage, settings: &Settings) -> QueueResult<Option<String>> {
    let size = new.body.len() + attributes_size(&new.attributes);
    let max = settings.maximum_message_size as usize;
    if size > max {
        return Err(QueueError::TooLong { max });
    }
    if !settings.fifo {
        if new.dedup_id.is_some() {
            return Err(QueueError::DedupIdOnStandard);
        }
        return Ok(None);
    }
    let Some(group) = &new.group_id else {
        return Err(QueueError::MissingGroupId);
    };
    if let Some(delay) = new.delay_seconds.filter(|d| *d > 0) {
        return Err(QueueError::DelayOnFifo { delay });
    }
    let dedup = match &new.dedup_id {
        Some(id) => id.clone(),
        None if settings.content_based_dedup => {
            let id = content_dedup_id(&new.body);
            new.dedup_id = Some(id.clone());
            id
        }
        None => return Err(QueueError::MissingDedupId),
    };
    Ok(Some(if settings.dedup_per_group {
        format!("{group}\u{0}{dedup}")
    } else {
        dedup
    }))
}

/// Whether a receipt handle from the receive `handle_nonce` acts on a
/// message last received as `current_nonce`. On standard queues any
/// handle of the message does, as SQS does in practice (a consumer that
/// finishes after its visibility timeout still deletes the message); on
/// FIFO queues only the latest receive's, so a consumer that lost its
/// receive cannot delete or hold a message another consumer now owns.
/// design.md explains the choice.
pub fn acts_on(current_nonce: u64, handle_nonce: u64, fifo: bool) -> bool {
    current_nonce == handle_nonce || !fifo
}

/// Content-based deduplication: the SHA-256 of the body.
fn content_dedup_id(body: &str) -> String {
    crate::hex::sha256_hex(body.as_bytes())
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
