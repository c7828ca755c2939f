//! Flow runs, state, run leases and schedule ticks in PostgreSQL: every
//! node sees every run; a lease or a tick is one conditional statement, so
//! exactly one node wins it.

use super::{db, Postgres};
use crate::store::flows::{
    apply_finish, FileEntry, FlowState, FlowStore, RunRecord, RunStatus, TICK_MEMORY_SECS,
};
use crate::store::StoreError;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

pub struct PgFlowStore {
    pg: Postgres,
}

impl PgFlowStore {
    pub fn new(pg: Postgres) -> PgFlowStore {
        PgFlowStore { pg }
    }
}

const RUN_COLUMNS: &str = "id, flow, trigger, status, records_read, records_filtered, records_invalid, records_written, bytes_written, started_at, ended_at, watermark_before, watermark_after, error, files, warnings";

fn read_run(row: &Row) -> RunRecord {
    let count = |i: usize| row.get::<_, i64>(i).max(0) as u64;
    let files: serde_json::Value = row.get(14);
    let warnings: serde_json::Value = row.get(15);
    RunRecord {
        id: row.get(0),
        flow: row.get(1),
        trigger: row.get(2),
        status: RunStatus::parse(row.get(3)),
        records_read: count(4),
        records_filtered: count(5),
        records_invalid: count(6),
        records_written: count(7),
        bytes_written: count(8),
        started_at: row.get(9),
        ended_at: row.get(10),
        watermark_before: row.get(11),
        watermark_after: row.get(12),
        error: row.get(13),
        files: serde_json::from_value::<Vec<FileEntry>>(files).unwrap_or_default(),
        warnings: serde_json::from_value::<Vec<String>>(warnings).unwrap_or_default(),
    }
}

async fn write_run(client: &impl GenericClient, run: &RunRecord) -> Result<(), StoreError> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let files = serde_json::to_value(&run.files).unwrap_or_else(|_| serde_json::json!([]));
    let warnings = serde_json::json!(run.warnings);
    client
        .execute(
            &format!(
                "INSERT INTO flow_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status,
                   records_read = excluded.records_read, records_filtered = excluded.records_filtered,
                   records_invalid = excluded.records_invalid, records_written = excluded.records_written,
                   bytes_written = excluded.bytes_written, ended_at = excluded.ended_at,
                   watermark_before = excluded.watermark_before, watermark_after = excluded.watermark_after,
                   error = excluded.error, files = excluded.files, warnings = excluded.warnings"
            ),
            &[
                &run.id,
                &run.flow,
                &run.trigger,
                &run.status.as_str(),
                &n(run.records_read),
                &n(run.records_filtered),
                &n(run.records_invalid),
                &n(run.records_written),
                &n(run.bytes_written),
                &run.started_at,
                &run.ended_at,
                &run.watermark_before,
                &run.watermark_after,
                &run.error,
                &files,
                &warnings,
            ],
        )
        .await
        .map_err(db)?;
    Ok(())
}

async fn read_state(
    client: &impl GenericClient,
    flow: &str,
    lock: bool,
) -> Result<FlowState, StoreError> {
    let sql = if lock {
        "SELECT watermark, consecutive_failures, deactivated FROM flow_state WHERE flow = $1 FOR UPDATE"
    } else {
        "SELECT watermark, consecutive_failures, deactivated FROM flow_state WHERE flow = $1"
    };
    let row = client.query_opt(sql, &[&flow]).await.map_err(db)?;
    Ok(row.map_or_else(FlowState::default, |r| FlowState {
        watermark: r.get(0),
        consecutive_failures: r.get::<_, i32>(1).max(0) as u32,
        deactivated: r.get(2),
    }))
}

async fn write_state(
    client: &impl GenericClient,
    flow: &str,
    state: &FlowState,
) -> Result<(), StoreError> {
    let failures = i32::try_from(state.consecutive_failures).unwrap_or(i32::MAX);
    client
        .execute(
            "INSERT INTO flow_state (flow, watermark, consecutive_failures, deactivated) VALUES ($1, $2, $3, $4)
             ON CONFLICT (flow) DO UPDATE SET watermark = excluded.watermark,
               consecutive_failures = excluded.consecutive_failures, deactivated = excluded.deactivated",
            &[&flow, &state.watermark, &failures, &state.deactivated],
        )
        .await
        .map_err(db)?;
    Ok(())
}

/// Makes sure the flow has a state row, so `FOR UPDATE` has one to lock.
async fn ensure_state(client: &impl GenericClient, flow: &str) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO flow_state (flow) VALUES ($1) ON CONFLICT (flow) DO NOTHING",
            &[&flow],
        )
        .await
        .map_err(db)?;
    Ok(())
}

#[async_trait::async_trait]
impl FlowStore for PgFlowStore {
    async fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.pg
            .timed("insert_run", async {
                let client = self.pg.client().await?;
                write_run(&client, run).await
            })
            .await
    }

    async fn finish_run(
        &self,
        run: &RunRecord,
        watermark: Option<&str>,
    ) -> Result<FlowState, StoreError> {
        self.pg
            .timed("finish_run", async {
                let mut client = self.pg.client().await?;
                ensure_state(&client, &run.flow).await?;
                let tx = client.transaction().await.map_err(db)?;
                write_run(&tx, run).await?;
                let mut state = read_state(&tx, &run.flow, true).await?;
                apply_finish(&mut state, run, watermark);
                write_state(&tx, &run.flow, &state).await?;
                tx.commit().await.map_err(db)?;
                Ok(state)
            })
            .await
    }

    async fn runs(&self, flow: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pg
            .timed("runs", async {
                let client = self.pg.client().await?;
                let rows = client
                    .query(
                        &format!(
                            "SELECT {RUN_COLUMNS} FROM flow_runs WHERE ($1::text IS NULL OR flow = $1) ORDER BY started_at DESC, id DESC LIMIT $2"
                        ),
                        &[&flow, &limit],
                    )
                    .await
                    .map_err(db)?;
                Ok(rows.iter().map(read_run).collect())
            })
            .await
    }

    async fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.pg
            .timed("run", async {
                let client = self.pg.client().await?;
                let row = client
                    .query_opt(
                        &format!("SELECT {RUN_COLUMNS} FROM flow_runs WHERE id = $1"),
                        &[&id],
                    )
                    .await
                    .map_err(db)?;
                Ok(row.as_ref().map(read_run))
            })
            .await
    }

    async fn state(&self, flow: &str) -> Result<FlowState, StoreError> {
        self.pg
            .timed("flow_state", async {
                let client = self.pg.client().await?;
                read_state(&client, flow, false).await
            })
            .await
    }

    async fn set_deactivated(&self, flow: &str, deactivated: bool) -> Result<(), StoreError> {
        self.pg
            .timed("set_deactivated", async {
                let client = self.pg.client().await?;
                // Reactivating clears the failure count; one statement.
                client
                    .execute(
                        "INSERT INTO flow_state (flow, deactivated) VALUES ($1, $2)
                         ON CONFLICT (flow) DO UPDATE SET deactivated = $2,
                           consecutive_failures = CASE WHEN $2 THEN flow_state.consecutive_failures ELSE 0 END",
                        &[&flow, &deactivated],
                    )
                    .await
                    .map_err(db)?;
                Ok(())
            })
            .await
    }

    async fn recover_interrupted(&self, flow: &str, now: &str) -> Result<u64, StoreError> {
        self.pg
            .timed("recover_interrupted", async {
                let client = self.pg.client().await?;
                client
                    .execute(
                        "UPDATE flow_runs SET status = 'Error', ended_at = $1, error = 'interrupted: the process stopped during the run' WHERE status = 'InProgress' AND flow = $2",
                        &[&now, &flow],
                    )
                    .await
                    .map_err(db)
            })
            .await
    }

    async fn acquire_lease(
        &self,
        flow: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        self.pg
            .timed("acquire_lease", async {
                let client = self.pg.client().await?;
                // Taken when absent, expired or ours; the upsert's row lock
                // makes racing nodes take turns, and only one sees it free.
                let changed = client
                    .execute(
                        "INSERT INTO flow_leases AS l (flow, holder, expires_at) VALUES ($1, $2, $3)
                         ON CONFLICT (flow) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                         WHERE l.holder = excluded.holder OR l.expires_at <= $4",
                        &[&flow, &holder, &(now_ms + ttl_ms), &now_ms],
                    )
                    .await
                    .map_err(db)?;
                Ok(changed == 1)
            })
            .await
    }

    async fn release_lease(&self, flow: &str, holder: &str) -> Result<(), StoreError> {
        self.pg
            .timed("release_lease", async {
                let client = self.pg.client().await?;
                client
                    .execute(
                        "DELETE FROM flow_leases WHERE flow = $1 AND holder = $2",
                        &[&flow, &holder],
                    )
                    .await
                    .map_err(db)?;
                Ok(())
            })
            .await
    }

    async fn claim_tick(&self, flow: &str, tick: i64, holder: &str) -> Result<bool, StoreError> {
        self.pg
            .timed("claim_tick", async {
                let client = self.pg.client().await?;
                client
                    .execute(
                        "DELETE FROM flow_ticks WHERE tick <= $1",
                        &[&(tick - TICK_MEMORY_SECS)],
                    )
                    .await
                    .map_err(db)?;
                let claimed = client
                    .execute(
                        "INSERT INTO flow_ticks (flow, tick, holder) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        &[&flow, &tick, &holder],
                    )
                    .await
                    .map_err(db)?;
                Ok(claimed == 1)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_flow_store_passes_the_suite() {
        let pg = testing::open("flows").await;
        crate::store::flows::conformance(&PgFlowStore::new(pg.clone())).await;
        testing::drop_schema(&pg).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_flow_leases_and_ticks_hold_under_races() {
        let pg = testing::open("flow_races").await;
        let shared = pg.clone();
        crate::store::flows::conformance_races(move || {
            Arc::new(PgFlowStore::new(shared.clone())) as Arc<dyn FlowStore>
        })
        .await;
        testing::drop_schema(&pg).await;
    }
}
