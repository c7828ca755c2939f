//! Redrive move tasks in PostgreSQL: the task is a row every node lists and
//! can cancel; the node that started it moves the messages, holding a lease
//! it renews each step. Should that node die, the sweeper (on whichever
//! node runs it) takes the task over once the lease lapses.

use super::{pg_error, PgQueues};
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::queues::{MoveTaskStatus, Queues};
use crate::store::postgres::now_ms;
use std::time::Duration;

/// Messages moved per step when no rate is set.
const STEP: i64 = 100;
/// How long a runner's claim on its task lasts without renewal.
pub const LEASE_MS: i64 = 10_000;

fn source_not_found() -> ApiError {
    ApiError::new(
        ErrorKind::ResourceNotFound,
        "The resource that you specified for the SourceArn parameter doesn't exist.",
    )
}

pub async fn start(
    queues: &PgQueues,
    source_arn: &str,
    destination_arn: Option<String>,
    rate: Option<u32>,
) -> ApiResult<String> {
    let source = queues
        .queue_by_arn(source_arn)
        .await?
        .ok_or_else(source_not_found)?;
    if queues.dead_letter_sources(&source.name).await?.is_empty() {
        return Err(ApiError::invalid(
            "Source queue must be configured as a Dead Letter Queue.",
        ));
    }
    if let Some(arn) = &destination_arn {
        if queues.queue_by_arn(arn).await?.is_none() {
            return Err(ApiError::new(
                ErrorKind::ResourceNotFound,
                "The resource that you specified for the DestinationArn parameter doesn't exist.",
            ));
        }
    }
    if let Some(r) = rate.filter(|r| !(1..=500).contains(r)) {
        return Err(ApiError::invalid(format!(
            "Value {r} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and 500."
        )));
    }
    let now = now_ms();
    let handle = {
        use base64::Engine;
        let raw = format!("{}:{source_arn}", uuid::Uuid::from_u128(fastrand::u128(..)));
        base64::engine::general_purpose::STANDARD.encode(raw)
    };
    let mut client = queues.client().await?;
    let tx = client.transaction().await.map_err(pg_error)?;
    // The source queue's row serializes starts: one running task per source.
    tx.execute(
        "SELECT 1 FROM mq_queues WHERE id = $1 FOR UPDATE",
        &[&source.id],
    )
    .await
    .map_err(pg_error)?;
    let running = tx
        .query_opt(
            "SELECT 1 FROM mq_move_tasks WHERE source_arn = $1 AND status IN ('RUNNING', 'CANCELLING')",
            &[&source_arn],
        )
        .await
        .map_err(pg_error)?;
    if running.is_some() {
        return Err(ApiError::new(
            ErrorKind::UnsupportedOperation,
            "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
        ));
    }
    let to_move: i64 = tx
        .query_one(
            "SELECT count(*) FROM mq_messages WHERE queue_id = $1 AND visible_at <= $2",
            &[&source.id, &now],
        )
        .await
        .map_err(pg_error)?
        .get(0);
    tx.execute(
        "INSERT INTO mq_move_tasks (handle, source_arn, destination_arn, max_per_second, status, to_move, started_at, holder, lease_until)
         VALUES ($1, $2, $3, $4, 'RUNNING', $5, $6, $7, $8)",
        &[
            &handle,
            &source_arn,
            &destination_arn,
            &rate.map(|r| r as i32),
            &to_move,
            &now,
            &queues.node,
            &(now + LEASE_MS),
        ],
    )
    .await
    .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)?;
    spawn(queues, handle.clone());
    Ok(handle)
}

/// Runs a task this node holds the lease of.
pub fn spawn(queues: &PgQueues, handle: String) {
    let queues = queues.clone();
    tokio::spawn(async move {
        if let Err(e) = run(&queues, &handle).await {
            // Left RUNNING: the lease lapses and a sweeper resumes it.
            tracing::warn!(error = %e, "move task step failed; it resumes after its lease");
        }
    });
}

async fn run(queues: &PgQueues, handle: &str) -> ApiResult<()> {
    loop {
        let started = tokio::time::Instant::now();
        let client = queues.client().await?;
        let task = client
            .query_opt(
                "UPDATE mq_move_tasks SET lease_until = $3 WHERE handle = $1 AND holder = $2
                 RETURNING status, source_arn, destination_arn, max_per_second",
                &[&handle, &queues.node, &(now_ms() + LEASE_MS)],
            )
            .await
            .map_err(pg_error)?;
        let Some(task) = task else {
            return Ok(()); // taken over by another node, or gone
        };
        let client = &client;
        let finish = |status: &'static str, reason: Option<String>| async move {
            client
                .execute(
                    "UPDATE mq_move_tasks SET status = $2, failure_reason = $3 WHERE handle = $1",
                    &[&handle, &status, &reason],
                )
                .await
                .map_err(pg_error)
                .map(|_| ())
        };
        let status: String = task.get(0);
        if status == "CANCELLING" {
            return finish("CANCELLED", None).await;
        }
        if status != "RUNNING" {
            return Ok(());
        }
        let source_arn: String = task.get(1);
        let destination_arn: Option<String> = task.get(2);
        let rate: Option<i32> = task.get(3);
        let Some(source) = queues.queue_by_arn(&source_arn).await? else {
            return finish("FAILED", Some("The source queue no longer exists.".into())).await;
        };
        let destination = match &destination_arn {
            Some(arn) => match queues.queue_by_arn(arn).await? {
                Some(d) => Some(d.id),
                None => {
                    return finish(
                        "FAILED",
                        Some("The destination queue no longer exists.".into()),
                    )
                    .await
                }
            },
            None => None,
        };
        let step = rate.map_or(STEP, i64::from);
        let now = now_ms();
        // Messages whose source queue is gone stay in the dead-letter queue.
        let moved = client
            .query(
                "WITH picked AS (
                   SELECT seq, coalesce($3, origin) AS target FROM mq_messages
                   WHERE queue_id = $1 AND visible_at <= $2
                     AND coalesce($3, origin) IN (SELECT id FROM mq_queues)
                   ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED)
                 UPDATE mq_messages m SET queue_id = p.target, origin = NULL, receive_count = 0,
                   first_receive_at = NULL, visible_at = $2
                 FROM picked p WHERE m.seq = p.seq RETURNING p.target",
                &[&source.id, &now, &destination, &step],
            )
            .await
            .map_err(pg_error)?;
        if moved.is_empty() {
            let stranded: i64 = client
                .query_one(
                    "SELECT count(*) FROM mq_messages WHERE queue_id = $1 AND visible_at <= $2",
                    &[&source.id, &now],
                )
                .await
                .map_err(pg_error)?
                .get(0);
            if stranded > 0 {
                return finish(
                    "FAILED",
                    Some("The message's source queue no longer exists.".into()),
                )
                .await;
            }
            return finish("COMPLETED", None).await;
        }
        client
            .execute(
                "UPDATE mq_move_tasks SET moved = moved + $2 WHERE handle = $1",
                &[&handle, &(moved.len() as i64)],
            )
            .await
            .map_err(pg_error)?;
        let mut targets: Vec<i64> = moved.iter().map(|r| r.get(0)).collect();
        targets.sort_unstable();
        targets.dedup();
        for target in targets {
            queues.pg.listener().announce(target);
        }
        if rate.is_some() {
            tokio::time::sleep_until(started + Duration::from_secs(1)).await;
        }
    }
}

pub async fn list(queues: &PgQueues, source_arn: &str) -> ApiResult<Vec<MoveTaskStatus>> {
    if queues.queue_by_arn(source_arn).await?.is_none() {
        return Err(source_not_found());
    }
    let client = queues.client().await?;
    let rows = client
        .query(
            "SELECT handle, status, failure_reason, source_arn, destination_arn, max_per_second, moved, to_move, started_at
             FROM mq_move_tasks WHERE source_arn = $1 ORDER BY started_at DESC, handle",
            &[&source_arn],
        )
        .await
        .map_err(pg_error)?;
    Ok(rows
        .iter()
        .map(|r| MoveTaskStatus {
            handle: r.get(0),
            status: match r.get::<_, &str>(1) {
                "RUNNING" => "RUNNING",
                "COMPLETED" => "COMPLETED",
                "CANCELLING" => "CANCELLING",
                "CANCELLED" => "CANCELLED",
                _ => "FAILED",
            },
            failure_reason: r.get(2),
            source_arn: r.get(3),
            destination_arn: r.get(4),
            max_per_second: r.get::<_, Option<i32>>(5).map(|v| v.max(0) as u32),
            moved: r.get::<_, i64>(6).max(0) as u64,
            to_move: r.get::<_, i64>(7).max(0) as u64,
            started_at: r.get(8),
        })
        .collect())
}

pub async fn cancel(queues: &PgQueues, handle: &str) -> ApiResult<u64> {
    let client = queues.client().await?;
    let row = client
        .query_opt(
            "UPDATE mq_move_tasks SET status = 'CANCELLING' WHERE handle = $1 AND status = 'RUNNING' RETURNING moved",
            &[&handle],
        )
        .await
        .map_err(pg_error)?;
    match row {
        Some(r) => Ok(r.get::<_, i64>(0).max(0) as u64),
        None => Err(ApiError::new(
            ErrorKind::ResourceNotFound,
            "The resource that you specified for the TaskHandle parameter doesn't exist.",
        )),
    }
}
