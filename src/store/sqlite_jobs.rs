//! The SQLite `JobStore`: jobs in `data/gatehouse.db`, so the CLI submits
//! into the file the server runs from. A claim is one transaction (select
//! the next runnable job that fits, mark it running).

use super::jobs::{
    after_attempt, cancel, start_attempt, Attempt, Cancelled, JobRecord, JobStatus, JobStore,
};
use super::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex};

pub struct SqliteJobs {
    conn: Arc<Mutex<Connection>>,
}

fn db(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

const COLUMNS: &str = "id, definition, priority, status, parameters, array_index, attempts, max_attempts, \
     vcpus, memory, created_at, started_at, stopped_at, exit_code, reason, output, cancel_requested";

impl SqliteJobs {
    pub fn open(path: &Path) -> Result<SqliteJobs, StoreError> {
        Ok(SqliteJobs {
            conn: Arc::new(Mutex::new(super::sqlite::connect(path)?)),
        })
    }

    /// Runs `f` in a transaction on a blocking thread.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            let tx = conn.transaction().map_err(db)?;
            let out = f(&tx).map_err(db)?;
            tx.commit().map_err(db)?;
            Ok(out)
        })
        .await
        .map_err(db)?
    }
}

fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    let status: String = row.get(3)?;
    let parameters: String = row.get(4)?;
    Ok(JobRecord {
        id: row.get(0)?,
        definition: row.get(1)?,
        priority: row.get(2)?,
        status: JobStatus::parse(&status).unwrap_or(JobStatus::Failed),
        parameters: serde_json::from_str(&parameters).unwrap_or_default(),
        array_index: row.get(5)?,
        attempts: row.get(6)?,
        max_attempts: row.get(7)?,
        vcpus: row.get(8)?,
        memory: row.get::<_, i64>(9)? as u64,
        created_at: row.get(10)?,
        started_at: row.get(11)?,
        stopped_at: row.get(12)?,
        exit_code: row.get(13)?,
        reason: row.get(14)?,
        output: row.get(15)?,
        cancel_requested: row.get::<_, i64>(16)? != 0,
    })
}

fn write(tx: &rusqlite::Transaction<'_>, j: &JobRecord) -> rusqlite::Result<usize> {
    tx.execute(
        &format!("INSERT OR REPLACE INTO jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"),
        params![
            j.id,
            j.definition,
            j.priority,
            j.status.as_str(),
            serde_json::to_string(&j.parameters).unwrap_or_else(|_| "{}".into()),
            j.array_index,
            j.attempts,
            j.max_attempts,
            j.vcpus,
            j.memory as i64,
            j.created_at,
            j.started_at,
            j.stopped_at,
            j.exit_code,
            j.reason,
            j.output,
            j.cancel_requested as i64,
        ],
    )
}

fn get(tx: &rusqlite::Transaction<'_>, id: &str) -> rusqlite::Result<Option<JobRecord>> {
    tx.query_row(
        &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
        [id],
        read,
    )
    .optional()
}

#[async_trait::async_trait]
impl JobStore for SqliteJobs {
    async fn submit(&self, jobs: Vec<JobRecord>) -> Result<(), StoreError> {
        self.with(move |tx| {
            for mut j in jobs {
                j.status = JobStatus::Runnable;
                write(tx, &j)?;
            }
            Ok(())
        })
        .await
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let id = id.to_string();
        self.with(move |tx| get(tx, &id)).await
    }

    async fn jobs(
        &self,
        status: Option<JobStatus>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        self.with(move |tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE ?1 IS NULL OR status = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![status.map(|s| s.as_str()), limit as i64], read)?;
            rows.collect()
        })
        .await
    }

    async fn claim(
        &self,
        vcpus: u32,
        memory: u64,
        now: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        self.with(move |tx| {
            let next = tx
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM jobs WHERE status = 'RUNNABLE' AND vcpus <= ?1 AND memory <= ?2 \
                         ORDER BY priority DESC, created_at, id LIMIT 1"
                    ),
                    params![vcpus, memory as i64],
                    read,
                )
                .optional()?;
            let Some(mut j) = next else { return Ok(None) };
            start_attempt(&mut j, now);
            write(tx, &j)?;
            Ok(Some(j))
        })
        .await
    }

    async fn finish(&self, id: &str, attempt: Attempt, now: i64) -> Result<JobStatus, StoreError> {
        let id = id.to_string();
        let done = self
            .with(move |tx| {
                let Some(mut j) = get(tx, &id)? else {
                    return Ok(None);
                };
                after_attempt(&mut j, attempt, now);
                write(tx, &j)?;
                Ok(Some(j.status))
            })
            .await?;
        done.ok_or_else(|| StoreError::NotFound("no such job".into()))
    }

    async fn cancel(
        &self,
        id: &str,
        reason: &str,
        now: i64,
    ) -> Result<Option<Cancelled>, StoreError> {
        let (id, reason) = (id.to_string(), reason.to_string());
        self.with(move |tx| {
            let Some(mut j) = get(tx, &id)? else {
                return Ok(None);
            };
            let outcome = cancel(&mut j, &reason, now);
            if outcome != Cancelled::TooLate {
                write(tx, &j)?;
            }
            Ok(Some(outcome))
        })
        .await
    }

    async fn recover(&self) -> Result<usize, StoreError> {
        self.with(|tx| {
            tx.execute(
                "UPDATE jobs SET status = 'RUNNABLE' WHERE status = 'RUNNING'",
                [],
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn sqlite_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::SqliteJobs::open(&dir.path().join("gatehouse.db")).unwrap();
        crate::store::jobs::conformance(&store).await;
    }
}
