//! SNS topics, subscriptions and the delivery outbox in PostgreSQL, shared
//! by every node. The rules (checks, filter policies, fan-out, envelopes)
//! are `messaging::sns`'s own functions; publishing sends to the queues
//! through `PgQueues` and stores http(s)/flow deliveries in `mq_deliveries`,
//! which every node's delivery worker claims from (a claim is a lease:
//! `claimed_until`), retries and completes.

use super::api::{api_error, json_of, map_of, pg_error};
use super::queues::PgQueues;
use super::{now_ms, Postgres};
use crate::config::queue_settings::AttributeMap;
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::journal::{DeliveryRecord, SubscriptionRecord, TopicRecord};
use crate::messaging::names::Naming;
use crate::messaging::pubsub::{Outbox, Topics};
use crate::messaging::queue::DEDUP_WINDOW_MS;
use crate::messaging::queues::{Queues, Tags};
use crate::messaging::sns::flow_target::FlowDoor;
use crate::messaging::sns::publish::{
    check_publish, fan_out, first_outcome, matching, may_send, Checked, PublishInput, Published,
    Stamp,
};
use crate::messaging::sns::topics::{
    check_new_topic, check_subscribe, check_topic_attribute, confirmation, invalid,
    new_subscription, subscription_attributes_of, subscription_not_found, topic_attributes_of,
    topic_not_found, with_subscription_attribute, Endpoints, Subscription, Topic,
};
use std::sync::Arc;
use tokio_postgres::Row;

/// The outbox's waiters use this key in the notice channel (queue ids are
/// positive).
const OUTBOX: i64 = -1;

pub struct PgTopics {
    pg: Postgres,
    queues: Arc<PgQueues>,
    naming: Naming,
    allow_private: bool,
    flows: Option<FlowDoor>,
    /// Seals the pending deliveries of topics with a KmsMasterKeyId.
    ring: Option<crate::sealing::KeyRing>,
}

fn topic_of(row: &Row) -> Topic {
    let name: String = row.get(1);
    Topic {
        fifo: name.ends_with(".fifo"),
        record: TopicRecord {
            arn: row.get(0),
            name,
            attributes: map_of(row.get(2)),
            tags: map_of(row.get(3)),
        },
    }
}

const SUBSCRIPTION_COLUMNS: &str = "arn, topic_arn, protocol, endpoint, attributes, confirm_token";

fn subscription_of(row: &Row) -> Subscription {
    Subscription::from_record(SubscriptionRecord {
        arn: row.get(0),
        topic_arn: row.get(1),
        protocol: row.get(2),
        endpoint: row.get(3),
        attributes: map_of(row.get(4)),
        confirm_token: row.get(5),
    })
}

/// A pending delivery; a sealed body is opened with `ring`.
fn delivery_of(row: &Row, ring: Option<&crate::sealing::KeyRing>) -> ApiResult<DeliveryRecord> {
    let stored: String = row.get(2);
    let body = if crate::sealing::is_sealed(&stored) {
        let ring = ring.ok_or_else(|| {
            ApiError::internal("a delivery is sealed and messaging.encryption is not configured")
        })?;
        ring.open(&stored).map_err(ApiError::internal)?
    } else {
        stored
    };
    Ok(DeliveryRecord {
        id: row.get::<_, i64>(0) as u64,
        subscription_arn: row.get(1),
        body,
        due_at: row.get(3),
        attempts: row.get::<_, i32>(4).max(0) as u32,
        message_id: row.get(5),
        kind: row.get(6),
    })
}

impl PgTopics {
    pub fn new(queues: Arc<PgQueues>, allow_private: bool, flows: Option<FlowDoor>) -> PgTopics {
        PgTopics {
            pg: queues.postgres().clone(),
            naming: queues.naming().clone(),
            ring: queues.key_ring().cloned(),
            queues,
            allow_private,
            flows,
        }
    }

    async fn client(&self) -> ApiResult<deadpool_postgres::Object> {
        self.pg.client().await.map_err(api_error)
    }

    async fn insert_deliveries(
        &self,
        client: &impl deadpool_postgres::GenericClient,
        deliveries: &[DeliveryRecord],
        topic: &TopicRecord,
    ) -> ApiResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        // A topic with a KmsMasterKeyId keeps its pending deliveries sealed.
        let key = self
            .ring
            .as_ref()
            .and_then(|ring| Some((ring, ring.key_for(&topic.attributes)?)));
        let subs: Vec<&str> = deliveries
            .iter()
            .map(|d| d.subscription_arn.as_str())
            .collect();
        let bodies: Vec<String> = deliveries
            .iter()
            .map(|d| match &key {
                Some((ring, key)) => ring.seal(key, d.body.as_bytes()),
                None => d.body.clone(),
            })
            .collect();
        let due: Vec<i64> = deliveries.iter().map(|d| d.due_at).collect();
        let ids: Vec<&str> = deliveries.iter().map(|d| d.message_id.as_str()).collect();
        let kinds: Vec<&str> = deliveries.iter().map(|d| d.kind.as_str()).collect();
        client
            .execute(
                "INSERT INTO mq_deliveries (subscription_arn, body, due_at, attempts, message_id, kind)
                 SELECT s, b, d, 0, m, k FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[]) AS x(s, b, d, m, k)",
                &[&subs, &bodies, &due, &ids, &kinds],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn update_topic(
        &self,
        arn: &str,
        change: impl FnOnce(&mut TopicRecord) -> ApiResult<()> + Send,
        missing: fn() -> ApiError,
    ) -> ApiResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let row = tx
            .query_opt(
                "SELECT arn, name, attributes, tags FROM mq_topics WHERE arn = $1 FOR UPDATE",
                &[&arn],
            )
            .await
            .map_err(pg_error)?
            .ok_or_else(missing)?;
        let mut topic = topic_of(&row);
        change(&mut topic.record)?;
        tx.execute(
            "UPDATE mq_topics SET attributes = $2, tags = $3 WHERE arn = $1",
            &[
                &arn,
                &json_of(&topic.record.attributes),
                &json_of(&topic.record.tags),
            ],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)
    }
}

#[async_trait::async_trait]
impl Topics for PgTopics {
    fn naming(&self) -> &Naming {
        &self.naming
    }

    async fn create_topic(
        &self,
        name: &str,
        attributes: AttributeMap,
        tags: Tags,
    ) -> ApiResult<String> {
        check_new_topic(name, &attributes)?;
        let arn = self.naming.topic_arn(name);
        let client = self.client().await?;
        let inserted = client
            .query_opt(
                "INSERT INTO mq_topics (arn, name, attributes, tags) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (arn) DO NOTHING RETURNING arn",
                &[&arn, &name, &json_of(&attributes), &json_of(&tags)],
            )
            .await
            .map_err(pg_error)?;
        if inserted.is_none() {
            let existing = self.topic(&arn).await?;
            if attributes
                .iter()
                .any(|(k, v)| existing.record.attributes.get(k) != Some(v))
            {
                return Err(invalid(
                    "Invalid parameter: Attributes Reason: Topic already exists with different attributes",
                ));
            }
        }
        Ok(arn)
    }

    async fn delete_topic(&self, arn: &str) -> ApiResult<()> {
        let client = self.client().await?;
        // Subscriptions go with it; deleting a missing topic succeeds.
        client
            .execute("DELETE FROM mq_topics WHERE arn = $1", &[&arn])
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn list_topics(&self) -> ApiResult<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT arn FROM mq_topics ORDER BY arn", &[])
            .await
            .map_err(pg_error)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn topic(&self, arn: &str) -> ApiResult<Topic> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT arn, name, attributes, tags FROM mq_topics WHERE arn = $1")
            .await
            .map_err(pg_error)?;
        let row = client
            .query_opt(&stmt, &[&arn])
            .await
            .map_err(pg_error)?
            .ok_or_else(topic_not_found)?;
        Ok(topic_of(&row))
    }

    async fn topic_attributes(&self, arn: &str) -> ApiResult<AttributeMap> {
        let topic = self.topic(arn).await?;
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE confirm_token IS NULL), count(*) FILTER (WHERE confirm_token IS NOT NULL)
                 FROM mq_subscriptions WHERE topic_arn = $1",
                &[&arn],
            )
            .await
            .map_err(pg_error)?;
        let (confirmed, pending): (i64, i64) = (row.get(0), row.get(1));
        Ok(topic_attributes_of(
            &topic,
            &self.naming,
            confirmed as usize,
            pending as usize,
        ))
    }

    async fn set_topic_attribute(&self, arn: &str, name: &str, value: String) -> ApiResult<()> {
        let fifo = self.topic(arn).await?.fifo;
        check_topic_attribute(name, &value, fifo, false)?;
        let name = name.to_string();
        self.update_topic(
            arn,
            move |t| {
                t.attributes.insert(name, value);
                Ok(())
            },
            topic_not_found,
        )
        .await
    }

    async fn tag_topic(&self, arn: &str, tags: Tags) -> ApiResult<()> {
        self.update_topic(
            arn,
            move |t| {
                t.tags.extend(tags);
                check_tag_quota(&t.tags)
            },
            resource_not_found,
        )
        .await
    }

    async fn untag_topic(&self, arn: &str, keys: &[String]) -> ApiResult<()> {
        let keys = keys.to_vec();
        self.update_topic(
            arn,
            move |t| {
                t.tags.retain(|k, _| !keys.contains(k));
                Ok(())
            },
            resource_not_found,
        )
        .await
    }

    async fn subscribe(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
        attributes: AttributeMap,
    ) -> ApiResult<Subscription> {
        let topic = self.topic(topic_arn).await?;
        let queue_fifo = match protocol {
            "sqs" => self
                .queues
                .queue_settings_by_arn(endpoint)
                .await?
                .map(|s| s.fifo),
            _ => None,
        };
        let endpoints = Endpoints {
            allow_private: self.allow_private,
            flows: self.flows.as_ref(),
        };
        check_subscribe(
            &topic,
            protocol,
            endpoint,
            &attributes,
            queue_fifo,
            &endpoints,
        )
        .await?;
        let record = new_subscription(topic_arn, protocol, endpoint, attributes);
        let token = record.confirm_token.clone();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // The topic row serializes subscribes: the same endpoint again
        // returns the existing subscription, on any node.
        tx.execute(
            "SELECT 1 FROM mq_topics WHERE arn = $1 FOR UPDATE",
            &[&topic_arn],
        )
        .await
        .map_err(pg_error)?;
        let existing = tx
            .query_opt(
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM mq_subscriptions
                     WHERE topic_arn = $1 AND protocol = $2 AND endpoint = $3"
                ),
                &[&topic_arn, &protocol, &endpoint],
            )
            .await
            .map_err(pg_error)?;
        if let Some(row) = existing {
            return Ok(subscription_of(&row));
        }
        tx.execute(
            "INSERT INTO mq_subscriptions (arn, topic_arn, protocol, endpoint, attributes, confirm_token)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &record.arn,
                &record.topic_arn,
                &record.protocol,
                &record.endpoint,
                &json_of(&record.attributes),
                &record.confirm_token,
            ],
        )
        .await
        .map_err(pg_error)?;
        if let Some(token) = &token {
            let version =
                crate::messaging::sns::signing::signature_version(&topic.record.attributes);
            let delivery = confirmation(&self.naming, &record, token, version);
            self.insert_deliveries(&tx, &[delivery], &topic.record)
                .await?;
        }
        tx.commit().await.map_err(pg_error)?;
        self.pg.listener().announce(OUTBOX);
        Ok(Subscription::from_record(record))
    }

    async fn confirm_subscription(&self, topic_arn: &str, token: &str) -> ApiResult<String> {
        self.topic(topic_arn).await?;
        let client = self.client().await?;
        let row = client
            .query_opt(
                "UPDATE mq_subscriptions SET confirm_token = NULL
                 WHERE topic_arn = $1 AND confirm_token = $2 RETURNING arn",
                &[&topic_arn, &token],
            )
            .await
            .map_err(pg_error)?
            .ok_or_else(|| invalid("Invalid token"))?;
        Ok(row.get(0))
    }

    async fn unsubscribe(&self, arn: &str) -> ApiResult<()> {
        let client = self.client().await?;
        let deleted = client
            .execute("DELETE FROM mq_subscriptions WHERE arn = $1", &[&arn])
            .await
            .map_err(pg_error)?;
        if deleted == 0 {
            return Err(subscription_not_found());
        }
        Ok(())
    }

    async fn subscription(&self, arn: &str) -> ApiResult<Subscription> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM mq_subscriptions WHERE arn = $1"),
                &[&arn],
            )
            .await
            .map_err(pg_error)?
            .ok_or_else(subscription_not_found)?;
        Ok(subscription_of(&row))
    }

    async fn list_subscriptions(&self, topic_arn: Option<&str>) -> ApiResult<Vec<Subscription>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM mq_subscriptions
                 WHERE $1::text IS NULL OR topic_arn = $1 ORDER BY arn"
            ))
            .await
            .map_err(pg_error)?;
        let rows = client.query(&stmt, &[&topic_arn]).await.map_err(pg_error)?;
        Ok(rows.iter().map(subscription_of).collect())
    }

    async fn subscription_attributes(&self, arn: &str) -> ApiResult<AttributeMap> {
        let sub = self.subscription(arn).await?;
        Ok(subscription_attributes_of(&sub, &self.naming))
    }

    async fn set_subscription_attribute(
        &self,
        arn: &str,
        name: &str,
        value: String,
    ) -> ApiResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM mq_subscriptions WHERE arn = $1 FOR UPDATE"
                ),
                &[&arn],
            )
            .await
            .map_err(pg_error)?
            .ok_or_else(subscription_not_found)?;
        let changed = with_subscription_attribute(&subscription_of(&row), name, value)?;
        tx.execute(
            "UPDATE mq_subscriptions SET attributes = $2 WHERE arn = $1",
            &[&arn, &json_of(&changed.record.attributes)],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)
    }

    async fn publish(&self, input: PublishInput) -> ApiResult<Published> {
        let topic = self.topic(&input.topic_arn).await?;
        let Checked {
            per_protocol,
            dedup_id,
        } = check_publish(&input, &topic)?;
        let mut message_id = uuid::Uuid::from_u128(fastrand::u128(..)).to_string();
        let now = now_ms();
        let mut seq = None;
        if let Some(dedup) = &dedup_id {
            // Claims the deduplication id unless a live claim holds it: then
            // this is the same message, answered as the first was.
            let client = self.client().await?;
            let row = client
                .query_one(
                    "WITH claim AS (
                       INSERT INTO mq_topic_dedup AS d (topic_arn, dedup_id, expires_at, message_id, seq)
                       VALUES ($1, $2, $3, $4, nextval('mq_seq'))
                       ON CONFLICT (topic_arn, dedup_id) DO UPDATE
                         SET expires_at = excluded.expires_at, message_id = excluded.message_id, seq = excluded.seq
                         WHERE d.expires_at <= $5
                       RETURNING message_id, seq, true AS fresh)
                     SELECT * FROM claim
                     UNION ALL
                     SELECT message_id, seq, false FROM mq_topic_dedup
                       WHERE topic_arn = $1 AND dedup_id = $2 AND NOT EXISTS (SELECT 1 FROM claim)",
                    &[&topic.record.arn, dedup, &(now + DEDUP_WINDOW_MS), &message_id, &now],
                )
                .await
                .map_err(pg_error)?;
            let (id, s, fresh): (String, i64, bool) = (row.get(0), row.get(1), row.get(2));
            if !fresh {
                return Ok(Published {
                    message_id: id,
                    sequence_number: Some(crate::messaging::broker::sequence_number(s as u64)),
                });
            }
            message_id = id;
            seq = Some(s as u64);
        }
        let subscriptions = matching(
            self.list_subscriptions(Some(&input.topic_arn)).await?,
            &input,
        );
        let fanout = fan_out(
            &self.naming,
            &input,
            crate::messaging::sns::signing::signature_version(&topic.record.attributes),
            &subscriptions,
            Stamp {
                message_id: &message_id,
                seq,
                dedup_id: dedup_id.as_deref(),
                now,
            },
            per_protocol.as_ref(),
        );
        let topic_arn = input.topic_arn.as_str();
        let sends = fanout.sends.iter().map(|(arn, new)| async move {
            let Some(name) = self.naming.name_from_arn(arn, "sqs") else {
                return;
            };
            if !may_send(self.queues.as_ref(), name, topic_arn).await {
                return;
            }
            let outcome = first_outcome(self.queues.send(name, vec![new.clone()]).await);
            crate::messaging::metrics::fan_out(topic_arn, outcome.is_ok());
            if let Err(e) = outcome {
                tracing::warn!(queue = %name, error = %e, "sns fan-out to a queue failed");
            }
        });
        futures_util::future::join_all(sends).await;
        crate::messaging::metrics::PUBLISHED
            .with_label_values(&[&input.topic_arn])
            .inc();
        if !fanout.deliveries.is_empty() {
            let client = self.client().await?;
            self.insert_deliveries(&client, &fanout.deliveries, &topic.record)
                .await?;
            self.pg.listener().announce(OUTBOX);
        }
        Ok(Published {
            message_id,
            sequence_number: seq.map(crate::messaging::broker::sequence_number),
        })
    }
}

fn resource_not_found() -> ApiError {
    ApiError::new(ErrorKind::ResourceNotFound, "Resource does not exist")
}

fn check_tag_quota(tags: &Tags) -> ApiResult<()> {
    if tags.len() > 50 {
        return Err(ApiError::new(
            ErrorKind::InvalidParameter,
            "Could not complete request: tag quota of per resource exceeded",
        ));
    }
    Ok(())
}

/// Every node's worker claims from one table: a claim sets `claimed_until`,
/// so no other worker takes the delivery until it lapses (a worker that died
/// mid-attempt), unless `retry` or `complete` settles it first.
#[async_trait::async_trait]
impl Outbox for PgTopics {
    async fn claim_due(
        &self,
        now: i64,
        lease_ms: i64,
        max: usize,
    ) -> ApiResult<(Vec<DeliveryRecord>, Option<i64>)> {
        let client = self.client().await?;
        let rows = client
            .query(
                "WITH due AS (
                   SELECT id FROM mq_deliveries WHERE due_at <= $1 AND claimed_until <= $1
                   ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
                 UPDATE mq_deliveries d SET claimed_until = $1 + $2 FROM due WHERE d.id = due.id
                 RETURNING d.id, d.subscription_arn, d.body, d.due_at, d.attempts, d.message_id, d.kind",
                &[&now, &lease_ms, &(max as i64)],
            )
            .await
            .map_err(pg_error)?;
        let next: Option<i64> = client
            .query_one(
                "SELECT min(greatest(due_at, claimed_until)) FROM mq_deliveries",
                &[],
            )
            .await
            .map_err(pg_error)?
            .get(0);
        let ring = self.ring.as_ref();
        let due = rows
            .iter()
            .map(|r| delivery_of(r, ring))
            .collect::<ApiResult<_>>()?;
        Ok((due, next))
    }

    async fn retry(&self, record: DeliveryRecord) -> ApiResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE mq_deliveries SET due_at = $2, attempts = $3, claimed_until = 0 WHERE id = $1",
                &[
                    &(record.id as i64),
                    &record.due_at,
                    &(record.attempts.min(i32::MAX as u32) as i32),
                ],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn complete(&self, id: u64) -> ApiResult<()> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM mq_deliveries WHERE id = $1", &[&(id as i64)])
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn changed(&self) {
        self.pg.listener().waiter(OUTBOX).notified().await
    }

    async fn pending(&self) -> ApiResult<std::collections::BTreeMap<String, u64>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT subscription_arn, count(*) FROM mq_deliveries
                 WHERE claimed_until <= $1 GROUP BY subscription_arn",
                &[&now_ms()],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use crate::messaging::queues_conformance::test_naming;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_topics_and_outbox_pass_the_suite() {
        let pg = testing::open("topics").await;
        let queues = Arc::new(PgQueues::new(pg.clone(), test_naming()));
        let topics = PgTopics::new(queues.clone(), false, None);
        crate::messaging::pubsub_conformance::conformance(&topics, &topics, queues.as_ref(), "pg")
            .await;
        testing::drop_schema(&pg).await;
    }
}
