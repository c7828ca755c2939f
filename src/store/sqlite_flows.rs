//! The SQLite `FlowStore`: run history and flow state in `data/gatehouse.db`.

use super::flows::{apply_finish, FlowState, FlowStore, RunRecord, RunStatus, TICK_MEMORY_SECS};
use super::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Flow state in `data/gatehouse.db`: the statements run on blocking
/// threads (`Flows` holds the connection and runs them).
pub struct SqliteFlowStore {
    flows: Arc<Flows>,
}

struct Flows {
    conn: Mutex<Connection>,
}

fn db(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

const RUN_COLUMNS: &str = "id, flow, trigger, status, records_read, records_filtered, records_invalid, \
     records_written, bytes_written, started_at, ended_at, watermark_before, watermark_after, error, files, warnings";

impl SqliteFlowStore {
    pub fn open(path: &Path) -> Result<SqliteFlowStore, StoreError> {
        let conn = super::sqlite::connect(path).map_err(db)?;
        Ok(SqliteFlowStore {
            flows: Arc::new(Flows {
                conn: Mutex::new(conn),
            }),
        })
    }

    /// Runs `f` on the connection on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Flows) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let flows = self.flows.clone();
        tokio::task::spawn_blocking(move || f(&flows))
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?
    }
}

impl Flows {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn write_run(conn: &Connection, run: &RunRecord) -> rusqlite::Result<usize> {
    conn.execute(
        &format!("INSERT OR REPLACE INTO flow_runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"),
        params![
            run.id,
            run.flow,
            run.trigger,
            run.status.as_str(),
            run.records_read as i64,
            run.records_filtered as i64,
            run.records_invalid as i64,
            run.records_written as i64,
            run.bytes_written as i64,
            run.started_at,
            run.ended_at,
            run.watermark_before,
            run.watermark_after,
            run.error,
            serde_json::to_string(&run.files).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&run.warnings).unwrap_or_else(|_| "[]".into()),
        ],
    )
}

fn read_run(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let files: String = row.get(14)?;
    let warnings: String = row.get(15)?;
    Ok(RunRecord {
        id: row.get(0)?,
        flow: row.get(1)?,
        trigger: row.get(2)?,
        status: RunStatus::parse(&row.get::<_, String>(3)?),
        records_read: row.get::<_, i64>(4)? as u64,
        records_filtered: row.get::<_, i64>(5)? as u64,
        records_invalid: row.get::<_, i64>(6)? as u64,
        records_written: row.get::<_, i64>(7)? as u64,
        bytes_written: row.get::<_, i64>(8)? as u64,
        started_at: row.get(9)?,
        ended_at: row.get(10)?,
        watermark_before: row.get(11)?,
        watermark_after: row.get(12)?,
        error: row.get(13)?,
        files: serde_json::from_str(&files).unwrap_or_default(),
        warnings: serde_json::from_str(&warnings).unwrap_or_default(),
    })
}

fn read_state(conn: &Connection, flow: &str) -> rusqlite::Result<FlowState> {
    Ok(conn
        .query_row(
            "SELECT watermark, consecutive_failures, deactivated FROM flow_state WHERE flow = ?1",
            [flow],
            |row| {
                Ok(FlowState {
                    watermark: row.get(0)?,
                    consecutive_failures: row.get::<_, i64>(1)? as u32,
                    deactivated: row.get::<_, i64>(2)? != 0,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

fn write_state(conn: &Connection, flow: &str, state: &FlowState) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT OR REPLACE INTO flow_state (flow, watermark, consecutive_failures, deactivated) VALUES (?1, ?2, ?3, ?4)",
        params![flow, state.watermark, state.consecutive_failures as i64, state.deactivated as i64],
    )
}

impl Flows {
    fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        write_run(&self.conn(), run).map(|_| ()).map_err(db)
    }

    fn finish_run(
        &self,
        run: &RunRecord,
        watermark: Option<&str>,
    ) -> Result<FlowState, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db)?;
        write_run(&tx, run).map_err(db)?;
        let mut state = read_state(&tx, &run.flow).map_err(db)?;
        apply_finish(&mut state, run, watermark);
        write_state(&tx, &run.flow, &state).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(state)
    }

    fn runs(&self, flow: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM flow_runs WHERE (?1 IS NULL OR flow = ?1) ORDER BY started_at DESC, id DESC LIMIT ?2"
        );
        let mut stmt = conn.prepare(&sql).map_err(db)?;
        let rows = stmt
            .query_map(params![flow, limit as i64], read_run)
            .map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {RUN_COLUMNS} FROM flow_runs WHERE id = ?1"),
            [id],
            read_run,
        )
        .optional()
        .map_err(db)
    }

    fn state(&self, flow: &str) -> Result<FlowState, StoreError> {
        read_state(&self.conn(), flow).map_err(db)
    }

    fn set_deactivated(&self, flow: &str, deactivated: bool) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut state = read_state(&conn, flow).map_err(db)?;
        state.deactivated = deactivated;
        if !deactivated {
            state.consecutive_failures = 0;
        }
        write_state(&conn, flow, &state).map(|_| ()).map_err(db)
    }

    fn recover_interrupted(&self, flow: &str, now: &str) -> Result<u64, StoreError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE flow_runs SET status = 'Error', ended_at = ?1, error = 'interrupted: the process stopped during the run' WHERE status = 'InProgress' AND flow = ?2",
            [now, flow],
        )
        .map(|n| n as u64)
        .map_err(db)
    }

    fn acquire_lease(
        &self,
        flow: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        // One statement: the row is taken when absent, expired or ours;
        // SQLite's write lock makes racing processes take turns.
        let changed = self
            .conn()
            .execute(
                "INSERT INTO flow_leases (flow, holder, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (flow) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE flow_leases.holder = excluded.holder OR flow_leases.expires_at <= ?4",
                params![flow, holder, now_ms + ttl_ms, now_ms],
            )
            .map_err(db)?;
        Ok(changed == 1)
    }

    fn release_lease(&self, flow: &str, holder: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "DELETE FROM flow_leases WHERE flow = ?1 AND holder = ?2",
                [flow, holder],
            )
            .map(|_| ())
            .map_err(db)
    }

    fn claim_tick(&self, flow: &str, tick: i64, holder: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM flow_ticks WHERE tick <= ?1",
            [tick - TICK_MEMORY_SECS],
        )
        .map_err(db)?;
        let claimed = conn
            .execute(
                "INSERT OR IGNORE INTO flow_ticks (flow, tick, holder) VALUES (?1, ?2, ?3)",
                params![flow, tick, holder],
            )
            .map_err(db)?;
        Ok(claimed == 1)
    }
}

#[async_trait::async_trait]
impl FlowStore for SqliteFlowStore {
    async fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let run = run.clone();
        self.blocking(move |f| f.insert_run(&run)).await
    }

    async fn finish_run(
        &self,
        run: &RunRecord,
        watermark: Option<&str>,
    ) -> Result<FlowState, StoreError> {
        let (run, watermark) = (run.clone(), watermark.map(str::to_string));
        self.blocking(move |f| f.finish_run(&run, watermark.as_deref()))
            .await
    }

    async fn runs(&self, flow: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let flow = flow.map(str::to_string);
        self.blocking(move |f| f.runs(flow.as_deref(), limit)).await
    }

    async fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let id = id.to_string();
        self.blocking(move |f| f.run(&id)).await
    }

    async fn state(&self, flow: &str) -> Result<FlowState, StoreError> {
        let flow = flow.to_string();
        self.blocking(move |f| f.state(&flow)).await
    }

    async fn set_deactivated(&self, flow: &str, deactivated: bool) -> Result<(), StoreError> {
        let flow = flow.to_string();
        self.blocking(move |f| f.set_deactivated(&flow, deactivated))
            .await
    }

    async fn recover_interrupted(&self, flow: &str, now: &str) -> Result<u64, StoreError> {
        let (flow, now) = (flow.to_string(), now.to_string());
        self.blocking(move |f| f.recover_interrupted(&flow, &now))
            .await
    }

    async fn acquire_lease(
        &self,
        flow: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let (flow, holder) = (flow.to_string(), holder.to_string());
        self.blocking(move |f| f.acquire_lease(&flow, &holder, now_ms, ttl_ms))
            .await
    }

    async fn release_lease(&self, flow: &str, holder: &str) -> Result<(), StoreError> {
        let (flow, holder) = (flow.to_string(), holder.to_string());
        self.blocking(move |f| f.release_lease(&flow, &holder))
            .await
    }

    async fn claim_tick(&self, flow: &str, tick: i64, holder: &str) -> Result<bool, StoreError> {
        let (flow, holder) = (flow.to_string(), holder.to_string());
        self.blocking(move |f| f.claim_tick(&flow, tick, &holder))
            .await
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_passes_the_flow_store_suite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        let store = super::SqliteFlowStore::open(&path).unwrap();
        crate::store::flows::conformance(&store).await;
        drop(store);
        // Racing processes hold connections of their own.
        let racers = tempfile::tempdir().unwrap();
        let path = racers.path().join("gatehouse.db");
        super::SqliteFlowStore::open(&path).unwrap(); // migrated once
        crate::store::flows::conformance_races(|| {
            std::sync::Arc::new(super::SqliteFlowStore::open(&path).unwrap())
        })
        .await;
    }
}
