//! Where the journal writes: `MessageStore` is the seam (SQLite is the
//! embedded default, `store::sqlite_messages`, which `store::open` picks),
//! and `MemoryMessageStore` is its in-memory twin.

use super::journal::{DeliveryRecord, Op, QueueRecord, SubscriptionRecord, TopicRecord};
use super::message::Message;
use std::collections::BTreeMap;

/// A store failure, with the store's own words.
pub type Result<T> = anyhow::Result<T>;

/// A message as stored, with its queue and, for dead-lettered ones, the queue
/// it came from.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub queue_id: u64,
    pub message: Message,
    pub origin: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDedup {
    pub queue_id: u64,
    pub key: String,
    pub expires_at: i64,
    pub message_id: String,
    pub seq: u64,
}

/// Everything the broker needs to start: the durable state.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub queues: Vec<QueueRecord>,
    /// In sequence order.
    pub messages: Vec<StoredMessage>,
    pub dedup: Vec<StoredDedup>,
    pub topics: Vec<TopicRecord>,
    pub subscriptions: Vec<SubscriptionRecord>,
    pub deliveries: Vec<DeliveryRecord>,
}

pub trait MessageStore: Send {
    fn load(&mut self, now: i64) -> Result<Snapshot>;
    /// Applies ops in order, all or none.
    fn apply(&mut self, ops: &[Op]) -> Result<()>;
}

/// The in-memory twin: applies ops to a `Snapshot`.
#[derive(Default)]
pub struct MemoryMessageStore {
    queues: BTreeMap<u64, QueueRecord>,
    messages: BTreeMap<u64, StoredMessage>,
    dedup: BTreeMap<(u64, String), StoredDedup>,
    topics: BTreeMap<String, TopicRecord>,
    subscriptions: BTreeMap<String, SubscriptionRecord>,
    deliveries: BTreeMap<u64, DeliveryRecord>,
}

impl MessageStore for MemoryMessageStore {
    fn load(&mut self, now: i64) -> Result<Snapshot> {
        self.dedup.retain(|_, d| d.expires_at > now);
        let queues = &self.queues;
        self.messages
            .retain(|_, m| queues.contains_key(&m.queue_id));
        self.dedup.retain(|(q, _), _| queues.contains_key(q));
        Ok(Snapshot {
            queues: self.queues.values().cloned().collect(),
            messages: self.messages.values().cloned().collect(),
            dedup: self.dedup.values().cloned().collect(),
            topics: self.topics.values().cloned().collect(),
            subscriptions: self.subscriptions.values().cloned().collect(),
            deliveries: self.deliveries.values().cloned().collect(),
        })
    }

    fn apply(&mut self, ops: &[Op]) -> Result<()> {
        for op in ops {
            match op {
                Op::PutQueue(q) => {
                    self.queues.insert(q.id, q.clone());
                }
                Op::DeleteQueue(id) => {
                    self.queues.remove(id);
                    self.messages.retain(|_, m| m.queue_id != *id);
                    self.dedup.retain(|(q, _), _| q != id);
                }
                Op::Purge(id) => self.messages.retain(|_, m| m.queue_id != *id),
                Op::Insert {
                    queue_id,
                    message,
                    origin,
                } => {
                    self.messages.insert(
                        message.seq,
                        StoredMessage {
                            queue_id: *queue_id,
                            message: message.clone(),
                            origin: *origin,
                        },
                    );
                }
                Op::Update {
                    seq,
                    visible_at,
                    receive_count,
                    first_receive_at,
                    nonce,
                } => {
                    if let Some(m) = self.messages.get_mut(seq) {
                        m.message.visible_at = *visible_at;
                        m.message.receive_count = *receive_count;
                        m.message.first_receive_at = *first_receive_at;
                        m.message.nonce = *nonce;
                    }
                }
                Op::Delete(seq) => {
                    self.messages.remove(seq);
                }
                Op::Move {
                    seq,
                    queue_id,
                    origin,
                    visible_at,
                    receive_count,
                } => {
                    if let Some(m) = self.messages.get_mut(seq) {
                        m.queue_id = *queue_id;
                        m.origin = *origin;
                        m.message.visible_at = *visible_at;
                        m.message.receive_count = *receive_count;
                    }
                }
                Op::Dedup {
                    queue_id,
                    key,
                    expires_at,
                    message_id,
                    seq,
                } => {
                    self.dedup.insert(
                        (*queue_id, key.clone()),
                        StoredDedup {
                            queue_id: *queue_id,
                            key: key.clone(),
                            expires_at: *expires_at,
                            message_id: message_id.clone(),
                            seq: *seq,
                        },
                    );
                }
                Op::PutTopic(t) => {
                    self.topics.insert(t.arn.clone(), t.clone());
                }
                Op::DeleteTopic(arn) => {
                    self.topics.remove(arn);
                    self.subscriptions.retain(|_, s| &s.topic_arn != arn);
                }
                Op::PutSubscription(s) => {
                    self.subscriptions.insert(s.arn.clone(), s.clone());
                }
                Op::DeleteSubscription(arn) => {
                    self.subscriptions.remove(arn);
                }
                Op::PutDelivery(d) => {
                    self.deliveries.insert(d.id, d.clone());
                }
                Op::DeleteDelivery(id) => {
                    self.deliveries.remove(id);
                }
            }
        }
        Ok(())
    }
}

/// The suite every `MessageStore` passes (the twin here, SQLite in
/// `store::sqlite_messages`): what is applied is what loads, in order, and
/// deletes, moves, purges and expired dedup records are gone.
#[cfg(test)]
pub(crate) fn conformance(store: &mut dyn MessageStore) {
    use super::message::{Message, Stage};
    use std::sync::Arc;
    let queue = |id: u64, name: &str| QueueRecord {
        id,
        name: name.into(),
        attributes: [("VisibilityTimeout".to_string(), "30".to_string())].into(),
        tags: [("team".to_string(), "edge".to_string())].into(),
        created_at: 1_700_000_000,
        modified_at: 1_700_000_001,
    };
    let message = |seq: u64, body: &str| Message {
        seq,
        id: format!("m-{seq}").into(),
        body: body.into(),
        attributes: Arc::new(Default::default()),
        trace_header: None,
        sent_at: 1_700_000_000_000 + seq as i64,
        group_id: Some("g".into()),
        dedup_id: None,
        receive_count: 0,
        first_receive_at: None,
        visible_at: 0,
        nonce: 0,
        stage: Stage::Ready,
    };
    let insert = |queue_id, seq, body: &str| Op::Insert {
        queue_id,
        message: message(seq, body),
        origin: None,
    };
    store
        .apply(&[
            Op::PutQueue(queue(1, "orders")),
            Op::PutQueue(queue(2, "orders-dlq")),
            Op::PutQueue(queue(3, "gone")),
            insert(1, 10, "a"),
            insert(1, 11, "b"),
            insert(1, 12, "c"),
            insert(3, 13, "lost with its queue"),
            Op::Update {
                seq: 11,
                visible_at: 1_700_000_030_000,
                receive_count: 2,
                first_receive_at: Some(1_700_000_000_500),
                nonce: 7,
            },
            Op::Delete(10),
            Op::Move {
                seq: 12,
                queue_id: 2,
                origin: Some(1),
                visible_at: 0,
                receive_count: 3,
            },
            Op::DeleteQueue(3),
            Op::Dedup {
                queue_id: 1,
                key: "fresh".into(),
                expires_at: 2_000_000_000_000,
                message_id: "m-11".into(),
                seq: 11,
            },
            Op::Dedup {
                queue_id: 1,
                key: "stale".into(),
                expires_at: 1,
                message_id: "m-10".into(),
                seq: 10,
            },
        ])
        .unwrap();
    let snapshot = store.load(1_700_000_000_000).unwrap();
    let names: Vec<&str> = snapshot.queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["orders", "orders-dlq"]);
    assert_eq!(snapshot.queues[0], queue(1, "orders"));
    let messages: Vec<(u64, u64, &str)> = snapshot
        .messages
        .iter()
        .map(|m| (m.queue_id, m.message.seq, &*m.message.body))
        .collect();
    assert_eq!(messages, [(1, 11, "b"), (2, 12, "c")]);
    let b = &snapshot.messages[0].message;
    assert_eq!(
        (b.receive_count, b.nonce, b.visible_at),
        (2, 7, 1_700_000_030_000)
    );
    assert_eq!(b.first_receive_at, Some(1_700_000_000_500));
    assert_eq!(snapshot.messages[1].origin, Some(1));
    assert_eq!(snapshot.messages[1].message.receive_count, 3);
    let keys: Vec<&str> = snapshot.dedup.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["fresh"]);
    // A purge empties one queue only.
    store.apply(&[Op::Purge(1)]).unwrap();
    let snapshot = store.load(1_700_000_000_000).unwrap();
    assert_eq!(snapshot.messages.len(), 1);
    assert_eq!(snapshot.messages[0].queue_id, 2);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_in_memory_twin_passes_the_suite() {
        super::conformance(&mut super::MemoryMessageStore::default());
    }
}
