//! SQS queues in PostgreSQL, shared by every node: the `Queues` seam over
//! SQL. Queue rules that do not depend on where messages live (attribute
//! and name checks, a message's size, FIFO group and deduplication id) are
//! the embedded broker's own functions; this module keeps state in tables.
//! `messages.rs` sends, receives and deletes; `moves.rs` runs redrive move
//! tasks; `sweeper.rs` is the periodic chore exactly one node runs at a time.
//! The invariants are in `store/design.md`.

mod messages;
mod moves;
pub mod sweeper;

pub use super::api::api_error;
use super::api::{json_of, map_of, pg_error};
use super::{now_ms, Postgres};
use crate::config::queue_settings::{self as settings, AttributeMap, Settings};
use crate::messaging::broker::queue_admin::{
    apply_attribute_changes, check_new_queue, check_redrive_target, check_tags, redrive_in,
};
use crate::messaging::broker::{Delivery, ReceiveRequest, SendOk};
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::metrics;
use crate::messaging::names::Naming;
use crate::messaging::queue::NewMessage;
use crate::messaging::queues::{Depth, MoveTaskStatus, Queues, Tags};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct PgQueues {
    pg: Postgres,
    naming: Naming,
    /// This node's name in leases (move tasks, the sweeper).
    node: String,
    /// Queues looked up by the message path (send, receive, delete), kept
    /// for `QUEUE_CACHE_TTL`: one round trip less per call. This node's own
    /// changes replace entries at once; another node's settings reach this
    /// one within the TTL, and a send to a queue deleted elsewhere fails on
    /// the foreign key and forgets the entry.
    cache: Arc<Mutex<HashMap<String, (Instant, QueueRow)>>>,
    /// Seals bodies and attributes of encrypted queues (`crate::sealing`),
    /// as the embedded store does.
    ring: Option<crate::sealing::KeyRing>,
}

const QUEUE_CACHE_TTL: Duration = Duration::from_secs(1);

/// A queue's visible, in-flight and delayed counts and its oldest send time
/// (`$2` is now), for GetQueueAttributes and the depth metrics alike.
macro_rules! depth_columns {
    () => {
        "count(m.seq) FILTER (WHERE m.visible_at <= $2),
         count(m.seq) FILTER (WHERE m.visible_at > $2 AND m.receive_count > 0),
         count(m.seq) FILTER (WHERE m.visible_at > $2 AND m.receive_count = 0),
         min(m.sent_at)"
    };
}

/// A queue as operations need it.
#[derive(Debug, Clone)]
struct QueueRow {
    id: i64,
    name: String,
    settings: Settings,
    attributes: AttributeMap,
}

fn unix_secs() -> i64 {
    now_ms() / 1000
}

impl PgQueues {
    pub fn new(pg: Postgres, naming: Naming) -> PgQueues {
        PgQueues {
            pg,
            naming,
            node: format!("{}-{:08x}", std::process::id(), fastrand::u32(..)),
            cache: Arc::default(),
            ring: None,
        }
    }

    /// The ring messages are sealed with, if any (topics seal with it too).
    pub fn key_ring(&self) -> Option<&crate::sealing::KeyRing> {
        self.ring.as_ref()
    }

    /// Seals messages of queues with SqsManagedSseEnabled or KmsMasterKeyId
    /// with `ring`, and opens sealed ones.
    pub fn sealing_with(mut self, ring: Option<crate::sealing::KeyRing>) -> PgQueues {
        self.ring = ring;
        self
    }

    /// The queue for the message path: from the cache while fresh.
    async fn cached_queue(&self, name: &str) -> ApiResult<QueueRow> {
        if let Some((at, row)) = self.cache.lock().get(name) {
            if at.elapsed() < QUEUE_CACHE_TTL {
                return Ok(row.clone());
            }
        }
        let row = self.queue(name).await?;
        let mut cache = self.cache.lock();
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(name.to_string(), (Instant::now(), row.clone()));
        Ok(row)
    }

    /// Forgets a cached queue (changed or deleted here, or found gone).
    fn forget(&self, name: &str) {
        self.cache.lock().remove(name);
    }

    pub fn postgres(&self) -> &Postgres {
        &self.pg
    }

    async fn client(&self) -> ApiResult<deadpool_postgres::Object> {
        self.pg.client().await.map_err(api_error)
    }

    async fn queue(&self, name: &str) -> ApiResult<QueueRow> {
        self.find_queue(name).await?.ok_or_else(ApiError::no_queue)
    }

    async fn find_queue(&self, name: &str) -> ApiResult<Option<QueueRow>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT id, name, attributes FROM mq_queues WHERE name = $1")
            .await
            .map_err(pg_error)?;
        let row = client.query_opt(&stmt, &[&name]).await.map_err(pg_error)?;
        Ok(row.map(|r| {
            let attributes = map_of(r.get(2));
            QueueRow {
                id: r.get(0),
                name: r.get(1),
                settings: Settings::from_map(&attributes),
                attributes,
            }
        }))
    }

    /// The settings of the queue an ARN names, if it is a queue here.
    pub async fn queue_settings_by_arn(&self, arn: &str) -> ApiResult<Option<Settings>> {
        Ok(self.queue_by_arn(arn).await?.map(|q| q.settings))
    }

    async fn queue_by_arn(&self, arn: &str) -> ApiResult<Option<QueueRow>> {
        match self.naming.name_from_arn(arn, "sqs") {
            Some(name) => self.find_queue(name).await,
            None => Ok(None),
        }
    }

    /// A redrive policy must name an existing queue of the same type.
    async fn check_redrive(&self, attributes: &AttributeMap, fifo: bool) -> ApiResult<()> {
        let Some(policy) = redrive_in(attributes)? else {
            return Ok(());
        };
        let dlq_fifo = self
            .queue_by_arn(&policy.dead_letter_target_arn)
            .await?
            .map(|q| q.settings.fifo);
        check_redrive_target(&policy, fifo, dlq_fifo)
    }

    async fn update_tags(
        &self,
        name: &str,
        change: impl FnOnce(&mut Tags) + Send,
    ) -> ApiResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let row = tx
            .query_opt(
                "SELECT tags FROM mq_queues WHERE name = $1 FOR UPDATE",
                &[&name],
            )
            .await
            .map_err(pg_error)?
            .ok_or_else(ApiError::no_queue)?;
        let mut tags = map_of(row.get(0));
        change(&mut tags);
        if tags.len() > 50 {
            return Err(ApiError::invalid("Too many tags: a queue has at most 50."));
        }
        tx.execute(
            "UPDATE mq_queues SET tags = $2 WHERE name = $1",
            &[&name, &json_of(&tags)],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)
    }
}

#[async_trait::async_trait]
impl Queues for PgQueues {
    fn naming(&self) -> &Naming {
        &self.naming
    }

    async fn create_queue(
        &self,
        name: &str,
        attributes: AttributeMap,
        tags: Tags,
    ) -> ApiResult<String> {
        let fifo = check_new_queue(name, &attributes)?;
        self.check_redrive(&attributes, fifo).await?;
        check_tags(&tags)?;
        let mut all = settings::defaults(fifo);
        all.extend(attributes.clone());
        let now = unix_secs();
        let client = self.client().await?;
        let inserted = client
            .query_opt(
                "INSERT INTO mq_queues (name, fifo, attributes, tags, created_at, modified_at)
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (name) DO NOTHING RETURNING id",
                &[&name, &fifo, &json_of(&all), &json_of(&tags), &now],
            )
            .await
            .map_err(pg_error)?;
        if inserted.is_none() {
            // It exists (made by this node or another): the same attributes
            // are the same queue; a different one is a clash.
            let existing = self.queue(name).await?;
            if let Some((k, _)) = attributes
                .iter()
                .find(|(k, v)| existing.attributes.get(*k) != Some(*v))
            {
                return Err(ApiError::new(
                    ErrorKind::QueueNameExists,
                    format!("A queue already exists with the same name and a different value for attribute {k}"),
                ));
            }
        }
        self.forget(name);
        Ok(self.naming.queue_url(name))
    }

    async fn delete_queue(&self, name: &str) -> ApiResult<()> {
        self.forget(name);
        let client = self.client().await?;
        // Messages, deduplication ids and attempts go with it (cascade).
        let row = client
            .query_opt(
                "DELETE FROM mq_queues WHERE name = $1 RETURNING id",
                &[&name],
            )
            .await
            .map_err(pg_error)?
            .ok_or_else(ApiError::no_queue)?;
        self.pg.listener().announce(row.get(0));
        Ok(())
    }

    async fn list_queues(&self, prefix: Option<&str>) -> ApiResult<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT name FROM mq_queues WHERE $1::text IS NULL OR starts_with(name, $1) ORDER BY name",
                &[&prefix],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn check_queue(&self, name: &str) -> ApiResult<()> {
        self.queue(name).await.map(|_| ())
    }

    async fn policy(&self, name: &str) -> ApiResult<Option<String>> {
        Ok(self
            .cached_queue(name)
            .await?
            .attributes
            .get("Policy")
            .cloned())
    }

    async fn depth(&self, name: &str) -> ApiResult<Depth> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                concat!(
                    "SELECT ",
                    depth_columns!(),
                    " FROM mq_queues q LEFT JOIN mq_messages m ON m.queue_id = q.id
                      WHERE q.name = $1 GROUP BY q.id"
                ),
                &[&name, &now_ms()],
            )
            .await
            .map_err(pg_error)?
            .ok_or_else(ApiError::no_queue)?;
        let count = |i: usize| row.get::<_, i64>(i).max(0) as u64;
        Ok(Depth {
            visible: count(0),
            in_flight: count(1),
            delayed: count(2),
            oldest_sent_at: row.get(3),
        })
    }

    async fn get_attributes(&self, name: &str, names: &[String]) -> ApiResult<AttributeMap> {
        for n in names {
            if !settings::is_known(n) {
                return Err(ApiError::new(
                    ErrorKind::InvalidAttributeName,
                    format!("Unknown Attribute {n}."),
                ));
            }
        }
        let client = self.client().await?;
        let row = client
            .query_opt(
                concat!(
                    "SELECT q.attributes, q.created_at, q.modified_at, ",
                    depth_columns!(),
                    " FROM mq_queues q LEFT JOIN mq_messages m ON m.queue_id = q.id
                      WHERE q.name = $1 GROUP BY q.id"
                ),
                &[&name, &now_ms()],
            )
            .await
            .map_err(pg_error)?
            .ok_or_else(ApiError::no_queue)?;
        let mut all = map_of(row.get(0));
        all.insert("QueueArn".into(), self.naming.queue_arn(name));
        let count = |i: usize| row.get::<_, i64>(i).to_string();
        all.insert("ApproximateNumberOfMessages".into(), count(3));
        all.insert("ApproximateNumberOfMessagesNotVisible".into(), count(4));
        all.insert("ApproximateNumberOfMessagesDelayed".into(), count(5));
        all.insert("CreatedTimestamp".into(), row.get::<_, i64>(1).to_string());
        all.insert(
            "LastModifiedTimestamp".into(),
            row.get::<_, i64>(2).to_string(),
        );
        if names.iter().any(|n| n == "All") {
            return Ok(all);
        }
        Ok(all.into_iter().filter(|(k, _)| names.contains(k)).collect())
    }

    async fn set_attributes(&self, name: &str, attributes: AttributeMap) -> ApiResult<()> {
        let queue = self.queue(name).await?;
        for (k, v) in &attributes {
            settings::check(k, v, queue.settings.fifo, false)?;
        }
        self.check_redrive(&attributes, queue.settings.fifo).await?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let row = tx
            .query_opt(
                "SELECT attributes FROM mq_queues WHERE id = $1 FOR UPDATE",
                &[&queue.id],
            )
            .await
            .map_err(pg_error)?
            .ok_or_else(ApiError::no_queue)?;
        let mut all = map_of(row.get(0));
        apply_attribute_changes(&mut all, attributes);
        tx.execute(
            "UPDATE mq_queues SET attributes = $2, modified_at = $3 WHERE id = $1",
            &[&queue.id, &json_of(&all), &unix_secs()],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        self.forget(name);
        // A shorter wait or delay may concern waiting receivers.
        self.pg.listener().announce(queue.id);
        Ok(())
    }

    async fn tags(&self, name: &str) -> ApiResult<Tags> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT tags FROM mq_queues WHERE name = $1", &[&name])
            .await
            .map_err(pg_error)?
            .ok_or_else(ApiError::no_queue)?;
        Ok(map_of(row.get(0)))
    }

    async fn tag(&self, name: &str, tags: Tags) -> ApiResult<()> {
        check_tags(&tags)?;
        self.update_tags(name, |t| t.extend(tags)).await
    }

    async fn untag(&self, name: &str, keys: &[String]) -> ApiResult<()> {
        let keys = keys.to_vec();
        self.update_tags(name, move |t| t.retain(|k, _| !keys.contains(k)))
            .await
    }

    async fn send(&self, name: &str, batch: Vec<NewMessage>) -> ApiResult<Vec<ApiResult<SendOk>>> {
        let queue = self.cached_queue(name).await?;
        let sent = self.send_to(&queue, batch).await;
        if let Ok(results) = &sent {
            let new = results.iter().filter(|r| r.is_ok()).count();
            metrics::count(&metrics::SENT, name, new);
        }
        if sent
            .as_ref()
            .is_err_and(|e| e.kind == ErrorKind::QueueDoesNotExist)
        {
            self.forget(name);
        }
        sent
    }

    async fn receive(&self, name: &str, req: &ReceiveRequest) -> ApiResult<Vec<Delivery>> {
        let queue = self.cached_queue(name).await?;
        let got = self.receive_from(&queue, req).await;
        if let Ok(got) = &got {
            metrics::count(&metrics::RECEIVED, name, got.len());
        }
        got
    }

    async fn delete(&self, name: &str, handles: &[String]) -> ApiResult<Vec<ApiResult<()>>> {
        let queue = self.cached_queue(name).await?;
        let deleted = self.delete_from(&queue, handles).await;
        if let Ok(results) = &deleted {
            let ok = results.iter().filter(|r| r.is_ok()).count();
            metrics::count(&metrics::DELETED, name, ok);
        }
        deleted
    }

    async fn change_visibility(
        &self,
        name: &str,
        entries: &[(String, u32)],
    ) -> ApiResult<Vec<ApiResult<()>>> {
        let queue = self.cached_queue(name).await?;
        self.change_visibility_in(&queue, entries).await
    }

    async fn purge(&self, name: &str) -> ApiResult<()> {
        let queue = self.queue(name).await?;
        let now = now_ms();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let allowed = tx
            .query_opt(
                "UPDATE mq_queues SET last_purge = $2 WHERE id = $1
                   AND (last_purge IS NULL OR last_purge <= $2::bigint - $3::bigint) RETURNING id",
                &[&queue.id, &now, &crate::messaging::queue::PURGE_INTERVAL_MS],
            )
            .await
            .map_err(pg_error)?;
        if allowed.is_none() {
            return Err(crate::messaging::queue::QueueError::PurgeTooSoon {
                queue: queue.name.clone(),
            }
            .into());
        }
        tx.execute("DELETE FROM mq_messages WHERE queue_id = $1", &[&queue.id])
            .await
            .map_err(pg_error)?;
        tx.execute("DELETE FROM mq_attempts WHERE queue_id = $1", &[&queue.id])
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)
    }

    async fn dead_letter_sources(&self, name: &str) -> ApiResult<Vec<String>> {
        self.queue(name).await?;
        let arn = self.naming.queue_arn(name);
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT name, attributes->>'RedrivePolicy' FROM mq_queues
                 WHERE attributes ? 'RedrivePolicy' ORDER BY name",
                &[],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows
            .iter()
            .filter(|r| {
                r.get::<_, Option<String>>(1)
                    .and_then(|p| settings::parse_redrive(&p).ok())
                    .is_some_and(|p| p.dead_letter_target_arn == arn)
            })
            .map(|r| r.get(0))
            .collect())
    }

    async fn start_move_task(
        &self,
        source_arn: &str,
        destination_arn: Option<String>,
        max_per_second: Option<u32>,
    ) -> ApiResult<String> {
        moves::start(self, source_arn, destination_arn, max_per_second).await
    }

    async fn list_move_tasks(&self, source_arn: &str) -> ApiResult<Vec<MoveTaskStatus>> {
        moves::list(self, source_arn).await
    }

    async fn cancel_move_task(&self, handle: &str) -> ApiResult<u64> {
        moves::cancel(self, handle).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use crate::messaging::queues_conformance::{conformance, test_naming};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_queue_deleted_on_another_node_is_gone_here_too() {
        let pg = testing::open("queue_cache").await;
        let (a, b) = (
            PgQueues::new(pg.clone(), test_naming()),
            PgQueues::new(pg.clone(), test_naming()),
        );
        let new = || NewMessage {
            body: "x".into(),
            ..Default::default()
        };
        a.create_queue("shared", AttributeMap::new(), Tags::new())
            .await
            .unwrap();
        a.send("shared", vec![new()]).await.unwrap(); // cached on node a
        b.delete_queue("shared").await.unwrap();
        let gone = a.send("shared", vec![new()]).await.unwrap_err();
        assert_eq!(gone.kind, ErrorKind::QueueDoesNotExist);
        // Made again elsewhere: node a finds the new queue, not the old id.
        b.create_queue("shared", AttributeMap::new(), Tags::new())
            .await
            .unwrap();
        let sent = a.send("shared", vec![new()]).await.unwrap();
        assert!(sent[0].is_ok());
        testing::drop_schema(&pg).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fifo_batch_keeps_its_order_and_answers_repeats_with_the_first() {
        let pg = testing::open("fifo_batch").await;
        let q = PgQueues::new(pg.clone(), test_naming());
        let attrs = [
            ("FifoQueue".to_string(), "true".to_string()),
            ("ContentBasedDeduplication".to_string(), "true".to_string()),
        ]
        .into();
        q.create_queue("b.fifo", attrs, Tags::new()).await.unwrap();
        let new = |body: &str| NewMessage {
            body: body.into(),
            group_id: Some("g".into()),
            ..Default::default()
        };
        let sent = q
            .send(
                "b.fifo",
                vec![new("one"), new("two"), new("one"), new("three")],
            )
            .await
            .unwrap();
        let ids: Vec<_> = sent
            .iter()
            .map(|r| r.as_ref().unwrap().message_id.clone())
            .collect();
        assert_eq!(
            ids[0], ids[2],
            "a repeat within the batch is the first message"
        );
        let seqs: Vec<_> = sent
            .iter()
            .map(|r| r.as_ref().unwrap().sequence_number.clone().unwrap())
            .collect();
        assert!(seqs[0] < seqs[1] && seqs[1] < seqs[3], "{seqs:?}");
        let got = q
            .receive(
                "b.fifo",
                &ReceiveRequest {
                    max: 10,
                    visibility: Some(30),
                    wait_seconds: Some(0),
                    attempt_id: None,
                },
            )
            .await
            .unwrap();
        let bodies: Vec<_> = got.iter().map(|d| d.message.body.to_string()).collect();
        assert_eq!(bodies, ["one", "two", "three"]);
        testing::drop_schema(&pg).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_queues_pass_the_suite() {
        let pg = testing::open("queues").await;
        let queues = PgQueues::new(pg.clone(), test_naming());
        conformance(&queues, "pg").await;
        testing::drop_schema(&pg).await;
    }
}
