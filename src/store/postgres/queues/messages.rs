//! Sending, receiving (with long polling across nodes), deleting and
//! changing visibility, as SQL. Standard queues: a receive is one statement
//! (`FOR UPDATE SKIP LOCKED`, so receivers on every node take different
//! messages). FIFO queues: a receive takes a transaction-scoped advisory
//! lock per message group before looking inside it, so two nodes never
//! deliver from the same group at once; a group with a message in flight
//! is skipped.

use super::{pg_error, PgQueues, QueueRow};
use crate::messaging::broker::{new_message_id, sequence_number, Delivery, ReceiveRequest, SendOk};
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::message::{
    check_attributes, check_body, md5_hex, md5_of_attributes, Attributes, Message, Stage,
};
use crate::messaging::queue::{check_new, NewMessage, QueueError, DEDUP_WINDOW_MS};
use crate::messaging::receipt::Receipt;
use crate::sealing::KeyRing;
use crate::store::postgres::now_ms;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::Row;

const MESSAGE_COLUMNS: &str = "m.seq, m.message_id, m.body, m.attributes, m.trace_header, m.sent_at, m.group_id, m.dedup_id, m.receive_count, m.first_receive_at, m.visible_at, m.nonce, m.origin";

/// A message as read, with the queue a redrive policy moved it from.
type Read = (Message, Option<i64>);

/// A message row; values sealed at rest are opened with `ring`.
fn message(row: &Row, ring: Option<&KeyRing>) -> ApiResult<Read> {
    let open = |stored: &str| -> ApiResult<String> {
        if !crate::sealing::is_sealed(stored) {
            return Ok(stored.to_string());
        }
        let ring = ring.ok_or_else(|| {
            ApiError::internal("a message is sealed and messaging.encryption is not configured")
        })?;
        ring.open(stored).map_err(ApiError::internal)
    };
    let attributes: Attributes = match row.get::<_, Option<serde_json::Value>>(3) {
        Some(serde_json::Value::String(sealed)) => {
            serde_json::from_str(&open(&sealed)?).unwrap_or_default()
        }
        Some(a) => serde_json::from_value(a).unwrap_or_default(),
        None => Attributes::new(),
    };
    let message = Message {
        seq: row.get::<_, i64>(0) as u64,
        id: Arc::from(row.get::<_, &str>(1)),
        body: Arc::from(open(row.get::<_, &str>(2))?),
        attributes: Arc::new(attributes),
        trace_header: row.get::<_, Option<&str>>(4).map(Arc::from),
        sent_at: row.get(5),
        group_id: row.get::<_, Option<&str>>(6).map(Arc::from),
        dedup_id: row.get::<_, Option<&str>>(7).map(Arc::from),
        receive_count: row.get::<_, i32>(8).max(0) as u32,
        first_receive_at: row.get(9),
        visible_at: row.get(10),
        nonce: row.get::<_, i64>(11) as u64,
        stage: Stage::Inflight,
    };
    Ok((message, row.get(12)))
}

/// How a queue's bodies and attributes are written: sealed when the queue
/// is encrypted (SqsManagedSseEnabled or KmsMasterKeyId, with a key ring).
struct Storing<'a> {
    key: Option<(&'a KeyRing, String)>,
}

impl Storing<'_> {
    fn body(&self, text: &str) -> String {
        match &self.key {
            Some((ring, key)) => ring.seal(key, text.as_bytes()),
            None => text.to_string(),
        }
    }

    /// Attributes as the jsonb column holds them: an object, or when sealed
    /// a string holding the sealed object.
    fn attributes(&self, attributes: &Attributes) -> Option<serde_json::Value> {
        if attributes.is_empty() {
            return None;
        }
        Some(match &self.key {
            Some((ring, key)) => serde_json::Value::String(
                ring.seal(
                    key,
                    serde_json::to_string(attributes)
                        .unwrap_or_default()
                        .as_bytes(),
                ),
            ),
            None => serde_json::to_value(attributes).unwrap_or_default(),
        })
    }
}

/// Received messages with the handles that act on them; `sources` names
/// the queues moved messages came from.
fn deliveries(
    queue: &QueueRow,
    messages: Vec<Read>,
    sources: &HashMap<i64, String>,
) -> Vec<Delivery> {
    messages
        .into_iter()
        .map(|(message, origin)| Delivery {
            dead_letter_source: origin.and_then(|id| sources.get(&id).cloned()),
            receipt: Receipt {
                queue_id: queue.id as u64,
                seq: message.seq,
                nonce: message.nonce,
            }
            .encode(),
            message,
            fifo: queue.settings.fifo,
        })
        .collect()
}

/// An insert into a queue deleted meanwhile (by any node) breaks the
/// foreign key: that is the queue not existing, not a store failure.
fn insert_error(e: tokio_postgres::Error) -> ApiError {
    if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) {
        return ApiError::no_queue();
    }
    pg_error(e)
}

/// A receive's nonce: positive, so it fits the column and a fresh row's 0
/// never matches.
fn new_nonce() -> i64 {
    fastrand::i64(1..)
}

impl PgQueues {
    /// The ARNs of the queues moved messages came from (no query when none
    /// was moved).
    async fn source_queues(&self, messages: &[Read]) -> ApiResult<HashMap<i64, String>> {
        let mut ids: Vec<i64> = messages.iter().filter_map(|(_, o)| *o).collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        ids.sort_unstable();
        ids.dedup();
        let client = self.client().await?;
        let rows = client
            .query("SELECT id, name FROM mq_queues WHERE id = ANY($1)", &[&ids])
            .await
            .map_err(pg_error)?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0),
                    self.naming.queue_arn(r.get::<_, &str>(1)),
                )
            })
            .collect())
    }

    fn storing(&self, queue: &QueueRow) -> Storing<'_> {
        Storing {
            key: self
                .ring
                .as_ref()
                .and_then(|ring| Some((ring, ring.key_for(&queue.attributes)?))),
        }
    }

    pub(super) async fn send_to(
        &self,
        queue: &QueueRow,
        batch: Vec<NewMessage>,
    ) -> ApiResult<Vec<ApiResult<SendOk>>> {
        let now = now_ms();
        let fifo = queue.settings.fifo;
        // Checked first, each on its own: a bad entry fails alone.
        let mut results: Vec<Option<ApiResult<SendOk>>> = Vec::with_capacity(batch.len());
        let mut accepted = Vec::new();
        for (i, mut new) in batch.into_iter().enumerate() {
            let checked = check_body(&new.body)
                .and_then(|()| check_attributes(&new.attributes))
                .and_then(|()| check_new(&mut new, &queue.settings).map_err(ApiError::from));
            match checked {
                Ok(dedup_key) => {
                    results.push(None);
                    accepted.push((i, new, dedup_key));
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        if !accepted.is_empty() {
            let sent = if fifo {
                self.insert_fifo(queue, &accepted, now).await?
            } else {
                self.insert_standard(queue, &accepted, now).await?
            };
            for ((i, new, _), (message_id, seq)) in accepted.iter().zip(sent) {
                results[*i] = Some(Ok(SendOk {
                    message_id,
                    md5_of_body: md5_hex(new.body.as_bytes()),
                    md5_of_attributes: md5_of_attributes(&new.attributes),
                    sequence_number: fifo.then(|| sequence_number(seq as u64)),
                }));
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ApiError::internal("unsent entry"))))
            .collect())
    }

    /// One statement for the whole batch, which also wakes long polls on
    /// every node when it commits.
    async fn insert_standard(
        &self,
        queue: &QueueRow,
        accepted: &[(usize, NewMessage, Option<String>)],
        now: i64,
    ) -> ApiResult<Vec<(String, i64)>> {
        let storing = self.storing(queue);
        let mut ids = Vec::with_capacity(accepted.len());
        let mut bodies = Vec::with_capacity(accepted.len());
        let mut attributes = Vec::with_capacity(accepted.len());
        let mut traces = Vec::with_capacity(accepted.len());
        let mut groups = Vec::with_capacity(accepted.len());
        let mut visible = Vec::with_capacity(accepted.len());
        for (_, new, _) in accepted {
            ids.push(new_message_id());
            bodies.push(storing.body(&new.body));
            attributes.push(storing.attributes(&new.attributes));
            traces.push(new.trace_header.as_deref());
            // Standard queues keep a group id too (SQS fair queues).
            groups.push(new.group_id.as_deref());
            let delay = new.delay_seconds.unwrap_or(queue.settings.delay_seconds) as i64;
            visible.push(now + delay * 1000);
        }
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH sent AS (
                   INSERT INTO mq_messages (seq, queue_id, message_id, body, attributes, trace_header, sent_at, visible_at, group_id)
                   SELECT nextval('mq_seq'), $1, id, body, attrs, trace, $2, vis, grp
                   FROM unnest($3::text[], $4::text[], $5::jsonb[], $6::text[], $7::bigint[], $8::text[])
                     WITH ORDINALITY AS b(id, body, attrs, trace, vis, grp, n)
                   ORDER BY n
                   RETURNING seq, message_id)
                 SELECT message_id, seq FROM sent",
            )
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(
                &stmt,
                &[
                    &queue.id,
                    &now,
                    &ids,
                    &bodies,
                    &attributes,
                    &traces,
                    &visible,
                    &groups,
                ],
            )
            .await
            .map_err(insert_error)?;
        self.pg.listener().announce(queue.id);
        let by_id: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(ids
            .into_iter()
            .map(|id| {
                let seq = by_id.get(&id).copied().unwrap_or_default();
                (id, seq)
            })
            .collect())
    }

    /// FIFO, one statement for the batch: each message claims its
    /// deduplication key (an upsert that only replaces an expired key) and
    /// is inserted only when it did; a key already held answers with the
    /// original message, as SQS does within five minutes. Sequence numbers
    /// are drawn in batch order, so a group's messages keep it.
    async fn insert_fifo(
        &self,
        queue: &QueueRow,
        accepted: &[(usize, NewMessage, Option<String>)],
        now: i64,
    ) -> ApiResult<Vec<(String, i64)>> {
        // A key repeated within the batch is the first one's duplicate (the
        // upsert cannot touch one row twice in a statement).
        let keys: Vec<String> = accepted
            .iter()
            .map(|(_, _, k)| k.clone().unwrap_or_default())
            .collect();
        let mut first_of: HashMap<&str, usize> = HashMap::new();
        let mut unique = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if !first_of.contains_key(key.as_str()) {
                first_of.insert(key, i);
                unique.push(i);
            }
        }
        let pick = |f: &dyn Fn(&NewMessage) -> Option<String>| -> Vec<Option<String>> {
            unique.iter().map(|&i| f(&accepted[i].1)).collect()
        };
        let ids: Vec<String> = unique.iter().map(|_| new_message_id()).collect();
        let unique_keys: Vec<&str> = unique.iter().map(|&i| keys[i].as_str()).collect();
        let storing = self.storing(queue);
        let bodies = pick(&|m| Some(storing.body(&m.body)));
        let traces = pick(&|m| m.trace_header.clone());
        let groups = pick(&|m| m.group_id.clone());
        let dedups = pick(&|m| m.dedup_id.clone());
        let attributes: Vec<Option<serde_json::Value>> = unique
            .iter()
            .map(|&i| storing.attributes(&accepted[i].1.attributes))
            .collect();
        let visible_at = now + queue.settings.delay_seconds as i64 * 1000;
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH input AS (
                   SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::text[], $8::text[])
                     WITH ORDINALITY AS b(key, id, body, attrs, trace, grp, dedup, n)),
                 numbered AS (
                   SELECT nextval('mq_seq') AS seq, i.* FROM (SELECT * FROM input ORDER BY n) i),
                 claimed AS (
                   INSERT INTO mq_dedup AS d (queue_id, key, expires_at, message_id, seq)
                   SELECT $1, key, $9, id, seq FROM numbered
                   ON CONFLICT (queue_id, key) DO UPDATE
                     SET expires_at = excluded.expires_at, message_id = excluded.message_id, seq = excluded.seq
                     WHERE d.expires_at <= $10
                   RETURNING key),
                 inserted AS (
                   INSERT INTO mq_messages (seq, queue_id, message_id, body, attributes, trace_header, sent_at, group_id, dedup_id, visible_at)
                   SELECT seq, $1, id, body, attrs, trace, $10, grp, dedup, $11 FROM numbered
                   WHERE key IN (SELECT key FROM claimed)
                   RETURNING seq)
                 SELECT nb.n, c.key IS NOT NULL, nb.id, nb.seq, d.message_id, d.seq
                 FROM numbered nb
                 LEFT JOIN claimed c ON c.key = nb.key
                 LEFT JOIN mq_dedup d ON d.queue_id = $1 AND d.key = nb.key
                 ORDER BY nb.n",
            )
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(
                &stmt,
                &[
                    &queue.id,
                    &unique_keys,
                    &ids,
                    &bodies,
                    &attributes,
                    &traces,
                    &groups,
                    &dedups,
                    &(now + DEDUP_WINDOW_MS),
                    &now,
                    &visible_at,
                ],
            )
            .await
            .map_err(insert_error)?;
        let mut answers: Vec<Option<(String, i64)>> = Vec::with_capacity(rows.len());
        for r in &rows {
            answers.push(if r.get::<_, bool>(1) {
                Some((r.get(2), r.get(3)))
            } else {
                // Held by an earlier send; one that committed while this
                // statement ran is not in its snapshot: asked again below.
                match (r.get::<_, Option<String>>(4), r.get::<_, Option<i64>>(5)) {
                    (Some(id), Some(seq)) => Some((id, seq)),
                    _ => None,
                }
            });
        }
        for (slot, key) in answers.iter_mut().zip(&unique_keys) {
            if slot.is_none() {
                let row = client
                    .query_one(
                        "SELECT message_id, seq FROM mq_dedup WHERE queue_id = $1 AND key = $2",
                        &[&queue.id, key],
                    )
                    .await
                    .map_err(pg_error)?;
                *slot = Some((row.get(0), row.get(1)));
            }
        }
        self.pg.listener().announce(queue.id);
        let by_key: HashMap<&str, (String, i64)> = unique_keys
            .iter()
            .zip(answers)
            .map(|(k, a)| (*k, a.unwrap_or_default()))
            .collect();
        Ok(keys
            .iter()
            .map(|k| by_key.get(k.as_str()).cloned().unwrap_or_default())
            .collect())
    }

    /// Receives, waiting up to the wait time. An idle long poll holds no
    /// connection: it sleeps on the queue's notice (any node's send wakes
    /// it), on the next message's visibility time, and, while notices are
    /// not arriving (the LISTEN connection is down), on a one-second tick.
    pub(super) async fn receive_from(
        &self,
        queue: &QueueRow,
        req: &ReceiveRequest,
    ) -> ApiResult<Vec<Delivery>> {
        let wait = req.wait_seconds.unwrap_or(queue.settings.wait_seconds);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait as u64);
        let waiter = self.pg.listener().waiter(queue.id);
        loop {
            let notified = waiter.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (got, next_due) = self.receive_now(queue, req).await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            let mut wake = deadline;
            if let Some(due) = next_due {
                let ms = (due - now_ms()).max(1) as u64;
                wake = wake.min(now + Duration::from_millis(ms));
            }
            if !self.pg.listener().listening() {
                wake = wake.min(now + Duration::from_secs(1));
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
            match self.cached_queue(&queue.name).await {
                Ok(q) if q.id == queue.id => {}
                Ok(_) => return Ok(Vec::new()), // deleted and made again meanwhile
                Err(e) if e.kind == ErrorKind::QueueDoesNotExist => return Ok(Vec::new()),
                Err(e) => return Err(e),
            }
        }
    }

    /// One attempt; with nothing to receive, also when the next delayed or
    /// in-flight message becomes visible.
    async fn receive_now(
        &self,
        queue: &QueueRow,
        req: &ReceiveRequest,
    ) -> ApiResult<(Vec<Delivery>, Option<i64>)> {
        let now = now_ms();
        let visibility = req.visibility.unwrap_or(queue.settings.visibility_timeout) as i64;
        // Past maxReceiveCount a message goes to the dead-letter queue
        // (when it exists) instead of being delivered.
        let mut dead_letter = None;
        if let Some(policy) = &queue.settings.redrive {
            let dlq = self
                .naming
                .name_from_arn(&policy.dead_letter_target_arn, "sqs")
                .map(str::to_string);
            if let Some(dlq) = dlq {
                match self.cached_queue(&dlq).await {
                    Ok(dlq) => dead_letter = Some((dlq.id, policy.max_receive_count as i32)),
                    Err(e) if e.kind == ErrorKind::QueueDoesNotExist => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let fifo = queue.settings.fifo;
        if fifo {
            if let Some(id) = &req.attempt_id {
                if let Some(replayed) = self.replay_attempt(queue, id, now).await? {
                    return Ok((replayed, None));
                }
            }
        }
        let received = if fifo {
            self.receive_fifo(queue, req.max, visibility, dead_letter, now)
                .await?
        } else {
            self.receive_standard(queue, req.max, visibility, dead_letter, now)
                .await?
        };
        let (messages, dead) = received;
        if dead > 0 {
            crate::messaging::metrics::count(
                &crate::messaging::metrics::MOVED_TO_DLQ,
                &queue.name,
                dead,
            );
            if let Some((dlq, _)) = dead_letter {
                self.pg.listener().announce(dlq);
            }
        }
        let sources = self.source_queues(&messages).await?;
        let deliveries = deliveries(queue, messages, &sources);
        if fifo {
            if let Some(id) = &req.attempt_id {
                self.record_attempt(queue, id, &deliveries, now).await?;
            }
        }
        if !deliveries.is_empty() {
            return Ok((deliveries, None));
        }
        let client = self.client().await?;
        let next: Option<i64> = client
            .query_one(
                "SELECT min(visible_at) FROM mq_messages WHERE queue_id = $1 AND visible_at > $2",
                &[&queue.id, &now],
            )
            .await
            .map_err(pg_error)?
            .get(0);
        Ok((deliveries, next))
    }

    /// One statement: pick ready messages others have not locked, deliver
    /// those under the receive limit, move the rest to the dead-letter
    /// queue. Returns the delivered messages and how many moved.
    async fn receive_standard(
        &self,
        queue: &QueueRow,
        max: usize,
        visibility: i64,
        dead_letter: Option<(i64, i32)>,
        now: i64,
    ) -> ApiResult<(Vec<Read>, usize)> {
        let (dlq, max_receive) = dead_letter.unwrap_or((0, 0));
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "WITH picked AS (
                   SELECT seq, receive_count FROM mq_messages
                   WHERE queue_id = $1 AND visible_at <= $2
                   ORDER BY visible_at, seq LIMIT $3 FOR UPDATE SKIP LOCKED),
                 dead AS (
                   UPDATE mq_messages m SET queue_id = $6, origin = $1, visible_at = $2
                   FROM picked p WHERE m.seq = p.seq AND $5 > 0 AND p.receive_count >= $5
                   RETURNING m.seq),
                 got AS (
                   UPDATE mq_messages m SET visible_at = $2 + $4::bigint * 1000, receive_count = m.receive_count + 1,
                     first_receive_at = coalesce(m.first_receive_at, $2), nonce = $7
                   FROM picked p WHERE m.seq = p.seq AND ($5 = 0 OR p.receive_count < $5)
                   RETURNING m.*)
                 SELECT {columns}, d.moved
                 FROM (SELECT count(*) AS moved FROM dead) d LEFT JOIN got m ON true
                 ORDER BY m.seq",
                columns = MESSAGE_COLUMNS
            ))
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(
                &stmt,
                &[
                    &queue.id,
                    &now,
                    &(max.clamp(1, 10) as i64),
                    &visibility,
                    &max_receive,
                    &dlq,
                    &new_nonce(),
                ],
            )
            .await
            .map_err(pg_error)?;
        // One row at least: the count of moved messages, with the
        // delivered ones (none: a row of nulls).
        let dead = rows.first().map_or(0, |r| r.get::<_, i64>(13) as usize);
        let delivered = rows
            .iter()
            .filter(|r| r.get::<_, Option<i64>>(0).is_some())
            .map(|r| message(r, self.ring.as_ref()))
            .collect::<ApiResult<_>>()?;
        Ok((delivered, dead))
    }

    /// FIFO: candidate groups (ready head, nothing in flight) oldest first;
    /// each is locked for this transaction (skipped when another receive
    /// holds it) and looked at again under the lock, so a receive that
    /// committed meanwhile is seen.
    async fn receive_fifo(
        &self,
        queue: &QueueRow,
        max: usize,
        visibility: i64,
        dead_letter: Option<(i64, i32)>,
        now: i64,
    ) -> ApiResult<(Vec<Read>, usize)> {
        let max = max.clamp(1, 10);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // Candidates and their locks in one statement: the lock function
        // runs for each candidate group, oldest head first; groups another
        // receive holds are skipped, not waited for.
        let locked = tx
            .query(
                "SELECT g FROM (
                   SELECT m.group_id AS g, min(m.seq) AS head FROM mq_messages m
                   WHERE m.queue_id = $1 AND m.visible_at <= $2 AND m.group_id IS NOT NULL
                     AND NOT EXISTS (
                       SELECT 1 FROM mq_messages i WHERE i.queue_id = $1 AND i.group_id = m.group_id
                         AND i.visible_at > $2 AND i.receive_count > 0)
                   GROUP BY m.group_id ORDER BY min(m.seq) LIMIT $3) c
                 WHERE pg_try_advisory_xact_lock(hashtextextended($4::text || ':' || g, 0))
                 ORDER BY head",
                &[&queue.id, &now, &(max as i64), &queue.id.to_string()],
            )
            .await
            .map_err(pg_error)?;
        let locked: Vec<String> = locked.iter().map(|r| r.get(0)).collect();
        if locked.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let rows = tx
            .query(
                "SELECT seq, group_id, receive_count, visible_at FROM mq_messages
                 WHERE queue_id = $1 AND group_id = ANY($2) ORDER BY seq FOR UPDATE",
                &[&queue.id, &locked],
            )
            .await
            .map_err(pg_error)?;
        let mut by_group: HashMap<String, Vec<(i64, i32, i64)>> = HashMap::new();
        for r in &rows {
            by_group
                .entry(r.get(1))
                .or_default()
                .push((r.get(0), r.get(2), r.get(3)));
        }
        let (dlq, max_receive) = dead_letter.unwrap_or((0, 0));
        let mut deliver = Vec::new();
        let mut dead = Vec::new();
        for group in &locked {
            let Some(messages) = by_group.get(group) else {
                continue;
            };
            if messages
                .iter()
                .any(|(_, count, at)| *count > 0 && *at > now)
            {
                continue; // in flight: taken by a receive that committed first
            }
            for (seq, count, at) in messages {
                if deliver.len() >= max || *at > now {
                    break;
                }
                if max_receive > 0 && *count >= max_receive {
                    dead.push(*seq);
                } else {
                    deliver.push(*seq);
                }
            }
            if deliver.len() >= max {
                break;
            }
        }
        if !dead.is_empty() {
            tx.execute(
                "UPDATE mq_messages SET queue_id = $2, origin = $3, visible_at = $4, sent_at = $4
                 WHERE seq = ANY($1)",
                &[&dead, &dlq, &queue.id, &now],
            )
            .await
            .map_err(pg_error)?;
        }
        let got = tx
            .query(
                &format!(
                    "UPDATE mq_messages m SET visible_at = $2 + $3::bigint * 1000, receive_count = m.receive_count + 1,
                       first_receive_at = coalesce(m.first_receive_at, $2), nonce = $4
                     WHERE m.seq = ANY($1) RETURNING {MESSAGE_COLUMNS}"
                ),
                &[&deliver, &now, &visibility, &new_nonce()],
            )
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        let mut messages: Vec<Read> = got
            .iter()
            .map(|r| message(r, self.ring.as_ref()))
            .collect::<ApiResult<_>>()?;
        messages.sort_by_key(|(m, _)| deliver.iter().position(|s| *s as u64 == m.seq));
        Ok((messages, dead.len()))
    }

    /// A FIFO receive retried with the same attempt id within five minutes
    /// gets the same messages while they are all still in flight under it.
    async fn replay_attempt(
        &self,
        queue: &QueueRow,
        attempt: &str,
        now: i64,
    ) -> ApiResult<Option<Vec<Delivery>>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT receipts FROM mq_attempts WHERE queue_id = $1 AND attempt_id = $2 AND expires_at > $3",
                &[&queue.id, &attempt, &now],
            )
            .await
            .map_err(pg_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let receipts: Vec<(i64, i64)> = serde_json::from_value(row.get(0)).unwrap_or_default();
        let seqs: Vec<i64> = receipts.iter().map(|(s, _)| *s).collect();
        let rows = client
            .query(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM mq_messages m
                     WHERE m.queue_id = $1 AND m.seq = ANY($2) AND m.visible_at > $3 AND m.receive_count > 0
                     ORDER BY m.seq"
                ),
                &[&queue.id, &seqs, &now],
            )
            .await
            .map_err(pg_error)?;
        let messages: Vec<Read> = rows
            .iter()
            .map(|r| message(r, self.ring.as_ref()))
            .collect::<ApiResult<_>>()?;
        let all_current = messages.len() == receipts.len()
            && messages
                .iter()
                .all(|(m, _)| receipts.contains(&(m.seq as i64, m.nonce as i64)));
        if !all_current {
            return Ok(None);
        }
        let sources = self.source_queues(&messages).await?;
        Ok(Some(deliveries(queue, messages, &sources)))
    }

    async fn record_attempt(
        &self,
        queue: &QueueRow,
        attempt: &str,
        deliveries: &[Delivery],
        now: i64,
    ) -> ApiResult<()> {
        let receipts: Vec<(i64, i64)> = deliveries
            .iter()
            .map(|d| (d.message.seq as i64, d.message.nonce as i64))
            .collect();
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO mq_attempts (queue_id, attempt_id, expires_at, receipts) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (queue_id, attempt_id) DO UPDATE SET expires_at = excluded.expires_at, receipts = excluded.receipts",
                &[&queue.id, &attempt, &(now + DEDUP_WINDOW_MS), &serde_json::json!(receipts)],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    /// Decodes handles: each entry's receipt or its own error (malformed,
    /// or for another queue).
    fn receipts(queue: &QueueRow, handles: &[String]) -> Vec<ApiResult<Receipt>> {
        handles
            .iter()
            .map(|h| {
                let r = Receipt::decode(h)?;
                if r.queue_id != queue.id as u64 {
                    return Err(QueueError::ForeignReceipt { handle: h.clone() }.into());
                }
                Ok(r)
            })
            .collect()
    }

    /// Deletes by receipt in one statement. A handle from an earlier
    /// receive (the message was received again since) deletes it on a
    /// standard queue and succeeds without effect on a FIFO queue
    /// (`queue::acts_on`); one of a message already deleted succeeds
    /// without effect, as in SQS.
    pub(super) async fn delete_from(
        &self,
        queue: &QueueRow,
        handles: &[String],
    ) -> ApiResult<Vec<ApiResult<()>>> {
        let receipts = Self::receipts(queue, handles);
        let (seqs, nonces): (Vec<i64>, Vec<i64>) = receipts
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| (r.seq as i64, r.nonce as i64))
            .unzip();
        if !seqs.is_empty() {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    // Rows are locked in `seq` order, as every statement that
                    // locks several messages does: no two can deadlock.
                    "WITH doomed AS (
                       SELECT m.seq FROM mq_messages m
                       JOIN unnest($2::bigint[], $3::bigint[]) AS r(seq, nonce)
                         ON m.seq = r.seq AND (m.nonce = r.nonce OR NOT $4)
                       WHERE m.queue_id = $1 AND m.receive_count > 0
                       ORDER BY m.seq FOR UPDATE OF m)
                     DELETE FROM mq_messages WHERE seq IN (SELECT seq FROM doomed)",
                )
                .await
                .map_err(pg_error)?;
            let deleted = client
                .execute(&stmt, &[&queue.id, &seqs, &nonces, &queue.settings.fifo])
                .await
                .map_err(pg_error)?;
            // Deleting unblocks a FIFO group, wherever its receivers wait.
            if deleted > 0 && queue.settings.fifo {
                self.pg.listener().announce(queue.id);
            }
        }
        Ok(receipts.into_iter().map(|r| r.map(|_| ())).collect())
    }

    pub(super) async fn change_visibility_in(
        &self,
        queue: &QueueRow,
        entries: &[(String, u32)],
    ) -> ApiResult<Vec<ApiResult<()>>> {
        let now = now_ms();
        let handles: Vec<String> = entries.iter().map(|(h, _)| h.clone()).collect();
        let mut results: Vec<ApiResult<Receipt>> = Self::receipts(queue, &handles);
        for (r, (_, timeout)) in results.iter_mut().zip(entries) {
            if *timeout > 43_200 && r.is_ok() {
                *r = Err(ApiError::invalid(format!(
                    "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200."
                )));
            }
        }
        let mut seqs = Vec::new();
        let mut nonces = Vec::new();
        let mut until = Vec::new();
        for (r, (_, timeout)) in results.iter().zip(entries) {
            if let Ok(r) = r {
                seqs.push(r.seq as i64);
                nonces.push(r.nonce as i64);
                until.push(now + *timeout as i64 * 1000);
            }
        }
        let mut changed = Vec::new();
        if !seqs.is_empty() {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "WITH changing AS (
                       SELECT m.seq, r.until FROM mq_messages m
                       JOIN unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS r(seq, nonce, until)
                         ON m.seq = r.seq AND (m.nonce = r.nonce OR NOT $6)
                       WHERE m.queue_id = $1 AND m.receive_count > 0 AND m.visible_at > $5
                       ORDER BY m.seq FOR UPDATE OF m)
                     UPDATE mq_messages m SET visible_at = c.until FROM changing c
                     WHERE m.seq = c.seq RETURNING m.seq",
                )
                .await
                .map_err(pg_error)?;
            let rows = client
                .query(
                    &stmt,
                    &[
                        &queue.id,
                        &seqs,
                        &nonces,
                        &until,
                        &now,
                        &queue.settings.fifo,
                    ],
                )
                .await
                .map_err(pg_error)?;
            changed = rows.iter().map(|r| r.get::<_, i64>(0)).collect();
            if !changed.is_empty() {
                self.pg.listener().announce(queue.id);
            }
        }
        Ok(results
            .into_iter()
            .zip(handles)
            .map(|(r, handle)| {
                let r = r?;
                if changed.contains(&(r.seq as i64)) {
                    Ok(())
                } else {
                    Err(QueueError::NotInflight { handle }.into())
                }
            })
            .collect())
    }
}
