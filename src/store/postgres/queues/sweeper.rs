//! The fleet's periodic chore: drop messages past their queue's retention
//! period, forget expired deduplication ids and receive attempts, take over
//! move tasks whose node stopped renewing them, and, where the server runs
//! without autovacuum, vacuum the queue tables itself (a queue table whose
//! deleted rows are never vacuumed makes every receive walk them). Every node runs the
//! loop; a lease row (`mq_chores`) lets exactly one of them do the work at a
//! time, and passes to another when its holder stops renewing it.

use super::{moves, pg_error, PgQueues};
use crate::messaging::error::ApiResult;
use crate::store::postgres::now_ms;
use std::time::Duration;

const EVERY: Duration = Duration::from_secs(5);
const LEASE_MS: i64 = 15_000;
/// How often the sweeper vacuums when the server does not.
const VACUUM_EVERY: Duration = Duration::from_secs(10);

/// Runs the chore loop for the life of the process.
pub fn spawn(queues: PgQueues, handle: &tokio::runtime::Handle) {
    handle.spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut vacuumed = tokio::time::Instant::now();
        let mut warned = false;
        loop {
            tick.tick().await;
            match sweep_if_holder(&queues).await {
                Ok(Some(dropped)) => {
                    if dropped > 0 {
                        tracing::debug!(dropped, "retention sweep");
                    }
                    if vacuumed.elapsed() >= VACUUM_EVERY {
                        vacuumed = tokio::time::Instant::now();
                        match vacuum_without_autovacuum(&queues).await {
                            Ok(true) if !warned => {
                                warned = true;
                                tracing::warn!("the store's PostgreSQL runs without autovacuum: the queue sweeper vacuums the queue tables every 10s");
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "vacuuming the queue tables failed"),
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "queue sweep failed; next in 5s"),
            }
        }
    });
}

/// Sweeps when this node holds (or takes) the chore lease; how many
/// messages retention dropped, or None when another node holds it.
pub async fn sweep_if_holder(queues: &PgQueues) -> ApiResult<Option<u64>> {
    let now = now_ms();
    let client = queues.client().await?;
    let holder = client
        .query_opt(
            "INSERT INTO mq_chores AS c (name, holder, expires_at) VALUES ('sweep', $1, $2)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE c.holder = excluded.holder OR c.expires_at <= $3
             RETURNING holder",
            &[&queues.node, &(now + LEASE_MS), &now],
        )
        .await
        .map_err(pg_error)?;
    if holder.is_none() {
        return Ok(None);
    }
    let dropped = client
        .execute(
            "DELETE FROM mq_messages m USING mq_queues q
             WHERE m.queue_id = q.id
               AND m.sent_at <= $1 - coalesce((q.attributes->>'MessageRetentionPeriod')::bigint, 345600) * 1000",
            &[&now],
        )
        .await
        .map_err(pg_error)?;
    client
        .execute("DELETE FROM mq_dedup WHERE expires_at <= $1", &[&now])
        .await
        .map_err(pg_error)?;
    client
        .execute("DELETE FROM mq_attempts WHERE expires_at <= $1", &[&now])
        .await
        .map_err(pg_error)?;
    client
        .execute("DELETE FROM mq_topic_dedup WHERE expires_at <= $1", &[&now])
        .await
        .map_err(pg_error)?;
    let orphans = client
        .query(
            "UPDATE mq_move_tasks SET holder = $1, lease_until = $2
             WHERE status IN ('RUNNING', 'CANCELLING') AND lease_until <= $3 RETURNING handle",
            &[&queues.node, &(now + moves::LEASE_MS), &now],
        )
        .await
        .map_err(pg_error)?;
    for row in orphans {
        let handle: String = row.get(0);
        tracing::info!(task = %handle, "taking over a move task whose node stopped");
        moves::spawn(queues, handle);
    }
    Ok(Some(dropped))
}

/// Vacuums and analyzes the queue tables when the server's autovacuum is
/// off; true when it did.
async fn vacuum_without_autovacuum(queues: &PgQueues) -> Result<bool, String> {
    let client = queues.pg.client().await.map_err(|e| e.to_string())?;
    let on: String = client
        .query_one("SELECT current_setting('autovacuum')", &[])
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    if on == "on" {
        return Ok(false);
    }
    // VACUUM runs outside a transaction and may take longer than the
    // statement timeout: lifted for it on this connection, then restored.
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .map_err(|e| e.to_string())?;
    let vacuumed = client
        .batch_execute("VACUUM (ANALYZE) mq_messages, mq_dedup, mq_attempts, mq_deliveries")
        .await
        .map_err(|e| e.to_string());
    client
        .batch_execute("RESET statement_timeout")
        .await
        .map_err(|e| e.to_string())?;
    vacuumed.map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::super::super::testing;
    use super::*;
    use crate::messaging::queue::NewMessage;
    use crate::messaging::queues::Queues;
    use crate::messaging::queues_conformance::test_naming;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_node_sweeps_and_retention_drops_old_messages() {
        let pg = testing::open("sweep").await;
        let (a, b) = (
            PgQueues::new(pg.clone(), test_naming()),
            PgQueues::new(pg.clone(), test_naming()),
        );
        let attrs = [("MessageRetentionPeriod".to_string(), "60".to_string())].into();
        a.create_queue("short", attrs, Default::default())
            .await
            .unwrap();
        let new = |b: &str| NewMessage {
            body: b.into(),
            ..Default::default()
        };
        a.send("short", vec![new("old"), new("new")]).await.unwrap();
        // Age one message past the retention period.
        let client = pg.client().await.unwrap();
        client
            .execute(
                "UPDATE mq_messages SET sent_at = sent_at - 61000 WHERE body = 'old'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(sweep_if_holder(&a).await.unwrap(), Some(1));
        // The other node finds the lease held.
        assert_eq!(sweep_if_holder(&b).await.unwrap(), None);
        let left = a
            .get_attributes("short", &["ApproximateNumberOfMessages".into()])
            .await
            .unwrap();
        assert_eq!(left["ApproximateNumberOfMessages"], "1");
        testing::drop_schema(&pg).await;
    }
}
