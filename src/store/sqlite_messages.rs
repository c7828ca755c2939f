//! The SQLite `MessageStore`: queues, messages, deduplication records, topics,
//! subscriptions and pending deliveries in `data/gatehouse.db`, next to the
//! keys. It has its own connection, owned by the journal's writer thread.
//! With a key ring, the bodies and attributes of messages in queues with
//! `SqsManagedSseEnabled` or `KmsMasterKeyId` are sealed as they are written
//! (`crate::sealing`); memory holds them in the clear.

use super::{Result, StoreError};
use crate::messaging::journal::{DeliveryRecord, Op, QueueRecord, SubscriptionRecord, TopicRecord};
use crate::messaging::message::{AttributeValue, Attributes, Message, Stage};
use crate::messaging::store::{MessageStore, Snapshot, StoredDedup, StoredMessage};
use crate::sealing::KeyRing;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rusqlite::{params, Connection};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

pub struct SqliteMessageStore {
    conn: Connection,
    /// Expired deduplication rows are swept every this many commits.
    commits: u64,
    sealer: Option<Sealer>,
}

/// The key ring, and the key each sealed queue uses (kept current from the
/// queue records the journal writes).
struct Sealer {
    ring: KeyRing,
    queue_keys: HashMap<u64, String>,
    /// Topics with a `KmsMasterKeyId`: their pending deliveries are sealed.
    topic_keys: HashMap<String, String>,
}

impl Sealer {
    fn track_topic(&mut self, t: &TopicRecord) {
        match self.ring.key_for(&t.attributes) {
            Some(key) => self.topic_keys.insert(t.arn.clone(), key),
            None => self.topic_keys.remove(&t.arn),
        };
    }

    /// A pending delivery's body, sealed when its topic is (a subscription
    /// ARN is its topic's ARN and an id).
    fn seal_delivery(&self, subscription_arn: &str, body: &str) -> Option<String> {
        let (topic, _) = subscription_arn.rsplit_once(':')?;
        let key = self.topic_keys.get(topic)?;
        Some(self.ring.seal(key, body.as_bytes()))
    }

    fn track(&mut self, q: &QueueRecord) {
        match self.ring.key_for(&q.attributes) {
            Some(key) => self.queue_keys.insert(q.id, key),
            None => self.queue_keys.remove(&q.id),
        };
    }

    fn seal(&self, queue_id: u64, text: &str) -> Option<String> {
        let key = self.queue_keys.get(&queue_id)?;
        Some(self.ring.seal(key, text.as_bytes()))
    }
}

/// A stored value as written: sealed ones opened with the ring.
fn unseal(sealer: Option<&Sealer>, stored: String) -> Result<String> {
    if !crate::sealing::is_sealed(&stored) {
        return Ok(stored);
    }
    let ring = sealer.map(|s| &s.ring).ok_or_else(|| {
        StoreError::Database(
            "the store holds sealed messages, and messaging.encryption is not configured".into(),
        )
    })?;
    ring.open(&stored).map_err(StoreError::Database)
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Database(format!("stored JSON: {e}"))
}

impl SqliteMessageStore {
    /// Opens the database (migrated by `SqliteStore::open`). With `fsync`
    /// every commit reaches the disk (survives power loss); without, commits
    /// survive a process crash but the OS may lose the last ones on power loss.
    pub fn open(path: &Path, fsync: bool) -> Result<SqliteMessageStore> {
        let conn = super::sqlite::connect(path)?;
        conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })
            .map_err(db)?;
        Ok(SqliteMessageStore {
            conn,
            commits: 0,
            sealer: None,
        })
    }

    /// Seals messages of encrypted queues with `ring` (and opens sealed
    /// ones when loading).
    pub fn sealing_with(mut self, ring: Option<KeyRing>) -> SqliteMessageStore {
        self.sealer = ring.map(|ring| Sealer {
            ring,
            queue_keys: HashMap::new(),
            topic_keys: HashMap::new(),
        });
        self
    }
}

/// Attributes as stored: JSON with binary values in base64.
fn encode_attributes(attributes: &Attributes) -> String {
    let map: BTreeMap<&String, serde_json::Value> = attributes
        .iter()
        .map(|(k, v)| {
            let mut o = serde_json::Map::new();
            o.insert("t".into(), v.data_type.clone().into());
            if let Some(s) = &v.string_value {
                o.insert("s".into(), s.clone().into());
            }
            if let Some(b) = &v.binary_value {
                o.insert("b".into(), STANDARD.encode(b).into());
            }
            (k, serde_json::Value::Object(o))
        })
        .collect();
    serde_json::to_string(&map).unwrap_or_default()
}

fn decode_attributes(text: &str) -> Result<Attributes> {
    let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(text).map_err(json_err)?;
    map.into_iter()
        .map(|(k, v)| {
            let field = |f: &str| v.get(f).and_then(|x| x.as_str()).map(str::to_string);
            let binary = match field("b") {
                Some(b) => Some(
                    STANDARD
                        .decode(b)
                        .map_err(|e| StoreError::Database(format!("stored attribute: {e}")))?,
                ),
                None => None,
            };
            Ok((
                k,
                AttributeValue {
                    data_type: field("t").unwrap_or_default(),
                    string_value: field("s"),
                    binary_value: binary,
                },
            ))
        })
        .collect()
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(json_err)
}

impl MessageStore for SqliteMessageStore {
    fn load(&mut self, now: i64) -> anyhow::Result<Snapshot> {
        let c = &self.conn;
        c.execute("DELETE FROM mq_dedup WHERE expires_at <= ?1", [now])
            .map_err(db)?;
        // Rows of queues that are gone (ops recorded after a DeleteQueue by a
        // crashed older version) must not join a queue that reuses the id.
        c.execute_batch(
            "DELETE FROM mq_messages WHERE queue_id NOT IN (SELECT id FROM mq_queues);
             DELETE FROM mq_dedup WHERE queue_id NOT IN (SELECT id FROM mq_queues);",
        )
        .map_err(db)?;
        let mut snapshot = Snapshot::default();
        let mut stmt = c
            .prepare("SELECT id, name, attributes, tags, created_at, modified_at FROM mq_queues ORDER BY id")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(db)?;
        for row in rows {
            let (id, name, attributes, tags, created_at, modified_at) = row.map_err(db)?;
            let record = QueueRecord {
                id: id as u64,
                name,
                attributes: from_json(&attributes)?,
                tags: from_json(&tags)?,
                created_at,
                modified_at,
            };
            if let Some(sealer) = &mut self.sealer {
                sealer.track(&record);
            }
            snapshot.queues.push(record);
        }
        let sealer = self.sealer.as_ref();
        let mut stmt = c
            .prepare(
                "SELECT seq, queue_id, message_id, body, attributes, trace_header, sent_at, group_id, \
                 dedup_id, receive_count, first_receive_at, visible_at, nonce, origin \
                 FROM mq_messages ORDER BY seq",
            )
            .map_err(db)?;
        let mut rows = stmt.query([]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            let text = |i: usize| r.get::<_, Option<String>>(i).map_err(db);
            let int = |i: usize| r.get::<_, i64>(i).map_err(db);
            let attributes = match text(4)? {
                Some(a) => decode_attributes(&unseal(sealer, a)?)?,
                None => Attributes::new(),
            };
            let body = unseal(sealer, text(3)?.unwrap_or_default())?;
            snapshot.messages.push(StoredMessage {
                queue_id: int(1)? as u64,
                origin: r.get::<_, Option<i64>>(13).map_err(db)?.map(|o| o as u64),
                message: Message {
                    seq: int(0)? as u64,
                    id: text(2)?.unwrap_or_default().into(),
                    body: body.into(),
                    attributes: Arc::new(attributes),
                    trace_header: text(5)?.map(Into::into),
                    sent_at: int(6)?,
                    group_id: text(7)?.map(Into::into),
                    dedup_id: text(8)?.map(Into::into),
                    receive_count: int(9)? as u32,
                    first_receive_at: r.get(10).map_err(db)?,
                    visible_at: int(11)?,
                    nonce: int(12)? as u64,
                    stage: Stage::Ready,
                },
            });
        }
        let mut stmt = c
            .prepare("SELECT queue_id, key, expires_at, message_id, seq FROM mq_dedup")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StoredDedup {
                    queue_id: r.get::<_, i64>(0)? as u64,
                    key: r.get(1)?,
                    expires_at: r.get(2)?,
                    message_id: r.get(3)?,
                    seq: r.get::<_, i64>(4)? as u64,
                })
            })
            .map_err(db)?;
        snapshot.dedup = rows.collect::<rusqlite::Result<_>>().map_err(db)?;
        let mut stmt = c
            .prepare("SELECT arn, name, attributes, tags FROM mq_topics ORDER BY name")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(db)?;
        for row in rows {
            let (arn, name, attributes, tags) = row.map_err(db)?;
            let record = TopicRecord {
                arn,
                name,
                attributes: from_json(&attributes)?,
                tags: from_json(&tags)?,
            };
            if let Some(sealer) = &mut self.sealer {
                sealer.track_topic(&record);
            }
            snapshot.topics.push(record);
        }
        let mut stmt = c
            .prepare("SELECT arn, topic_arn, protocol, endpoint, attributes, confirm_token FROM mq_subscriptions ORDER BY rowid")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get::<_, String>(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(db)?;
        for row in rows {
            let (arn, topic_arn, protocol, endpoint, attributes, confirm_token) =
                row.map_err(db)?;
            snapshot.subscriptions.push(SubscriptionRecord {
                arn,
                topic_arn,
                protocol,
                endpoint,
                attributes: from_json(&attributes)?,
                confirm_token,
            });
        }
        let mut stmt = c
            .prepare("SELECT id, subscription_arn, body, due_at, attempts, message_id, kind FROM mq_deliveries ORDER BY id")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(DeliveryRecord {
                    id: r.get::<_, i64>(0)? as u64,
                    subscription_arn: r.get(1)?,
                    body: r.get(2)?,
                    due_at: r.get(3)?,
                    attempts: r.get(4)?,
                    message_id: r.get(5)?,
                    kind: r.get(6)?,
                })
            })
            .map_err(db)?;
        for delivery in rows {
            let mut delivery = delivery.map_err(db)?;
            delivery.body = unseal(self.sealer.as_ref(), delivery.body)?;
            snapshot.deliveries.push(delivery);
        }
        Ok(snapshot)
    }

    fn apply(&mut self, ops: &[Op]) -> anyhow::Result<()> {
        let tx = self.conn.transaction().map_err(db)?;
        for op in ops {
            apply_one(&tx, op, self.sealer.as_mut()).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        self.commits += 1;
        if self.commits.is_multiple_of(1000) {
            let now = crate::messaging::clock::now_ms();
            self.conn
                .execute("DELETE FROM mq_dedup WHERE expires_at <= ?1", [now])
                .map_err(db)?;
        }
        Ok(())
    }
}

fn apply_one(c: &Connection, op: &Op, sealer: Option<&mut Sealer>) -> rusqlite::Result<()> {
    match op {
        Op::PutQueue(q) => {
            if let Some(sealer) = sealer {
                sealer.track(q);
            }
            c.prepare_cached(
                "INSERT OR REPLACE INTO mq_queues (id, name, attributes, tags, created_at, modified_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                q.id as i64,
                q.name,
                to_json(&q.attributes),
                to_json(&q.tags),
                q.created_at,
                q.modified_at
            ])?;
        }
        Op::DeleteQueue(id) => {
            let id = *id as i64;
            c.execute("DELETE FROM mq_messages WHERE queue_id = ?1", [id])?;
            c.execute("DELETE FROM mq_dedup WHERE queue_id = ?1", [id])?;
            c.execute("DELETE FROM mq_queues WHERE id = ?1", [id])?;
        }
        Op::Purge(id) => {
            c.execute("DELETE FROM mq_messages WHERE queue_id = ?1", [*id as i64])?;
        }
        Op::Insert {
            queue_id,
            message: m,
            origin,
        } => {
            let mut attributes =
                (!m.attributes.is_empty()).then(|| encode_attributes(&m.attributes));
            let mut body: std::borrow::Cow<'_, str> = std::borrow::Cow::Borrowed(&m.body);
            if let Some(sealer) = sealer.as_deref() {
                if let Some(sealed) = sealer.seal(*queue_id, &m.body) {
                    body = sealed.into();
                    attributes = attributes.and_then(|a| sealer.seal(*queue_id, &a));
                }
            }
            c.prepare_cached(
                "INSERT OR REPLACE INTO mq_messages (seq, queue_id, message_id, body, attributes, trace_header, \
                 sent_at, group_id, dedup_id, receive_count, first_receive_at, visible_at, nonce, origin) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                m.seq as i64,
                *queue_id as i64,
                &*m.id,
                &*body,
                attributes,
                m.trace_header.as_deref(),
                m.sent_at,
                m.group_id.as_deref(),
                m.dedup_id.as_deref(),
                m.receive_count,
                m.first_receive_at,
                m.visible_at,
                m.nonce as i64,
                origin.map(|o| o as i64),
            ])?;
        }
        Op::Update {
            seq,
            visible_at,
            receive_count,
            first_receive_at,
            nonce,
        } => {
            c.prepare_cached(
                "UPDATE mq_messages SET visible_at = ?2, receive_count = ?3, first_receive_at = ?4, nonce = ?5 \
                 WHERE seq = ?1",
            )?
            .execute(params![
                *seq as i64,
                visible_at,
                receive_count,
                first_receive_at,
                *nonce as i64
            ])?;
        }
        Op::Delete(seq) => {
            c.prepare_cached("DELETE FROM mq_messages WHERE seq = ?1")?
                .execute([*seq as i64])?;
        }
        Op::Move {
            seq,
            queue_id,
            origin,
            visible_at,
            receive_count,
        } => {
            c.prepare_cached(
                "UPDATE mq_messages SET queue_id = ?2, origin = ?3, visible_at = ?4, receive_count = ?5 WHERE seq = ?1",
            )?
            .execute(params![
                *seq as i64,
                *queue_id as i64,
                origin.map(|o| o as i64),
                visible_at,
                receive_count
            ])?;
        }
        Op::Dedup {
            queue_id,
            key,
            expires_at,
            message_id,
            seq,
        } => {
            c.prepare_cached(
                "INSERT OR REPLACE INTO mq_dedup (queue_id, key, expires_at, message_id, seq) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![*queue_id as i64, key, expires_at, message_id, *seq as i64])?;
        }
        Op::PutTopic(t) => {
            if let Some(sealer) = sealer {
                sealer.track_topic(t);
            }
            c.prepare_cached(
                "INSERT OR REPLACE INTO mq_topics (arn, name, attributes, tags) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![t.arn, t.name, to_json(&t.attributes), to_json(&t.tags)])?;
        }
        Op::DeleteTopic(arn) => {
            c.execute("DELETE FROM mq_subscriptions WHERE topic_arn = ?1", [arn])?;
            c.execute("DELETE FROM mq_topics WHERE arn = ?1", [arn])?;
        }
        Op::PutSubscription(s) => {
            c.prepare_cached(
                "INSERT OR REPLACE INTO mq_subscriptions (arn, topic_arn, protocol, endpoint, attributes, confirm_token) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                s.arn,
                s.topic_arn,
                s.protocol,
                s.endpoint,
                to_json(&s.attributes),
                s.confirm_token
            ])?;
        }
        Op::DeleteSubscription(arn) => {
            c.execute("DELETE FROM mq_subscriptions WHERE arn = ?1", [arn])?;
            c.execute(
                "DELETE FROM mq_deliveries WHERE subscription_arn = ?1",
                [arn],
            )?;
        }
        Op::PutDelivery(d) => {
            let sealed = sealer.and_then(|s| s.seal_delivery(&d.subscription_arn, &d.body));
            let body = sealed.as_deref().unwrap_or(&d.body);
            c.prepare_cached(
                "INSERT OR REPLACE INTO mq_deliveries (id, subscription_arn, body, due_at, attempts, message_id, kind) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                d.id as i64,
                d.subscription_arn,
                body,
                d.due_at,
                d.attempts,
                d.message_id,
                d.kind
            ])?;
        }
        Op::DeleteDelivery(id) => {
            c.prepare_cached("DELETE FROM mq_deliveries WHERE id = ?1")?
                .execute([*id as i64])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::SqliteMessageStore;
    use crate::messaging::broker::{Broker, BrokerOptions, ReceiveRequest};
    use crate::messaging::queue::NewMessage;
    use crate::messaging::queues::Queues;
    use crate::messaging::queues_conformance::{conformance, test_naming};

    fn open(path: &std::path::Path) -> Broker {
        let store = SqliteMessageStore::open(path, false).unwrap();
        Broker::open(
            Box::new(store),
            BrokerOptions {
                naming: test_naming(),
                allow_private_endpoints: false,
                flows: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn sqlite_passes_the_message_store_suite() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteMessageStore::open(&dir.path().join("gatehouse.db"), false).unwrap();
        crate::messaging::store::conformance(&mut store);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_broker_over_sqlite_passes_the_queue_suite() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open(&dir.path().join("gatehouse.db"));
        conformance(&broker, "sqlite").await;
        broker.close();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_broker_over_sqlite_passes_the_topic_and_outbox_suite() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open(&dir.path().join("gatehouse.db"));
        crate::messaging::pubsub_conformance::conformance(&broker, &broker, &broker, "sqlite")
            .await;
        broker.close();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queues_and_messages_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        let broker = open(&path);
        broker
            .create_queue("kept", Default::default(), Default::default())
            .await
            .unwrap();
        let message = NewMessage {
            body: "durable".into(),
            ..Default::default()
        };
        Queues::send(&broker, "kept", vec![message]).await.unwrap();
        broker.close();
        drop(broker);
        let again = open(&path);
        let got = Queues::receive(
            &again,
            "kept",
            &ReceiveRequest {
                max: 10,
                visibility: Some(30),
                wait_seconds: Some(0),
                attempt_id: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(&*got[0].message.body, "durable");
    }
}
