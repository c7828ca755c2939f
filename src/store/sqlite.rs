//! The SQLite store (`data/gatehouse.db`), in WAL mode so the CLI can write
//! while the server reads. Schema changes are numbered migrations applied at
//! open, recorded in `user_version`.

use super::{KeyRecord, KeyStore, Reservation, Result, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex};

const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        plan TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    CREATE TABLE key_usage (
        key_id TEXT NOT NULL,
        period INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (key_id, period)
    );
",
    "
    CREATE TABLE mq_queues (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        attributes TEXT NOT NULL,
        tags TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        modified_at INTEGER NOT NULL
    );
    CREATE TABLE mq_messages (
        seq INTEGER PRIMARY KEY,
        queue_id INTEGER NOT NULL,
        message_id TEXT NOT NULL,
        body TEXT NOT NULL,
        attributes TEXT,
        trace_header TEXT,
        sent_at INTEGER NOT NULL,
        group_id TEXT,
        dedup_id TEXT,
        receive_count INTEGER NOT NULL,
        first_receive_at INTEGER,
        visible_at INTEGER NOT NULL,
        nonce INTEGER NOT NULL,
        origin INTEGER
    );
    CREATE INDEX mq_messages_queue ON mq_messages (queue_id);
    CREATE TABLE mq_dedup (
        queue_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        message_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (queue_id, key)
    );
    CREATE TABLE mq_topics (
        arn TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        attributes TEXT NOT NULL,
        tags TEXT NOT NULL
    );
    CREATE TABLE mq_subscriptions (
        arn TEXT PRIMARY KEY,
        topic_arn TEXT NOT NULL,
        protocol TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        attributes TEXT NOT NULL,
        confirm_token TEXT
    );
    CREATE TABLE mq_deliveries (
        id INTEGER PRIMARY KEY,
        subscription_arn TEXT NOT NULL,
        body TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        message_id TEXT NOT NULL,
        kind TEXT NOT NULL
    );
",
    "
    CREATE TABLE flow_runs (
        id TEXT PRIMARY KEY,
        flow TEXT NOT NULL,
        trigger TEXT NOT NULL,
        status TEXT NOT NULL,
        records_read INTEGER NOT NULL,
        records_filtered INTEGER NOT NULL,
        records_invalid INTEGER NOT NULL,
        records_written INTEGER NOT NULL,
        bytes_written INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        watermark_before TEXT,
        watermark_after TEXT,
        error TEXT,
        files TEXT NOT NULL
    );
    CREATE INDEX flow_runs_by_flow ON flow_runs (flow, started_at);
    CREATE TABLE flow_state (
        flow TEXT PRIMARY KEY,
        watermark TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        deactivated INTEGER NOT NULL DEFAULT 0
    );
",
    "
    CREATE TABLE flow_leases (
        flow TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE flow_ticks (
        flow TEXT NOT NULL,
        tick INTEGER NOT NULL,
        holder TEXT NOT NULL,
        PRIMARY KEY (flow, tick)
    );
    CREATE INDEX flow_ticks_by_tick ON flow_ticks (tick);
",
    // What a run wants its operator to know without failing (fields left
    // out, watermarks that could not be read).
    "ALTER TABLE flow_runs ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]'",
    // Jobs (AWS Batch's model), held by the node that runs them.
    "
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        priority INTEGER NOT NULL,
        status TEXT NOT NULL,
        parameters TEXT NOT NULL,
        array_index INTEGER,
        attempts INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        vcpus INTEGER NOT NULL,
        memory INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        stopped_at INTEGER,
        exit_code INTEGER,
        reason TEXT,
        output TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_runnable ON jobs (status, priority, created_at);
    CREATE INDEX jobs_by_time ON jobs (created_at);
",
];

/// Opens a connection in WAL mode (the CLI, the server and the journal each
/// hold one) and brings the schema up to date.
pub fn connect(path: &Path) -> Result<Connection> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(e.to_string()))?;
    }
    let conn = Connection::open(path).map_err(db)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db)?;
    migrate(&conn)?;
    Ok(conn)
}

/// The key store in `data/gatehouse.db`: the statements run on blocking
/// threads (`Keys` holds the connection and runs them).
pub struct SqliteStore {
    keys: Arc<Keys>,
}

struct Keys {
    conn: Mutex<Connection>,
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore> {
        Ok(SqliteStore {
            keys: Arc::new(Keys {
                conn: Mutex::new(connect(path)?),
            }),
        })
    }

    /// Runs `f` on the connection on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Keys) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let keys = self.keys.clone();
        tokio::task::spawn_blocking(move || f(&keys))
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?
    }
}

impl Keys {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Database("lock poisoned".into()))?;
        f(&conn).map_err(db)
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db)?;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "database schema {version} is newer than this gatehouse ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))
        .map_err(db)?;
    }
    Ok(())
}

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        plan: row.get(2)?,
        hash: row.get(3)?,
        created_at: row.get(4)?,
        revoked_at: row.get(5)?,
    })
}

const COLUMNS: &str = "id, name, plan, hash, created_at, revoked_at";

impl Keys {
    fn insert_key(&self, r: &KeyRecord) -> Result<()> {
        let result = self.with(|c| {
            c.execute(
                "INSERT INTO api_keys (id, name, plan, hash, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![r.id, r.name, r.plan, r.hash, r.created_at, r.revoked_at],
            )
        });
        match result {
            Err(StoreError::Database(m)) if m.contains("UNIQUE") => Err(StoreError::Conflict(
                format!("a key named `{}` or with that value exists", r.name),
            )),
            other => other.map(|_| ()),
        }
    }

    fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM api_keys ORDER BY created_at, name"
            ))?;
            let rows = stmt.query_map([], record)?;
            rows.collect()
        })
    }

    fn find_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE hash = ?1"),
                [hash],
                record,
            )
            .optional()
        })
    }

    fn revoke_key(&self, id_or_name: &str, at: i64) -> Result<bool> {
        let existing = self.find(id_or_name)?;
        let Some(key) = existing else {
            return Err(StoreError::NotFound(format!("no key `{id_or_name}`")));
        };
        self.with(|c| {
            c.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![key.id, at],
            )
        })
        .map(|n| n == 1)
    }

    fn find(&self, id_or_name: &str) -> Result<Option<KeyRecord>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1 OR name = ?1"),
                [id_or_name],
                record,
            )
            .optional()
        })
    }

    fn reserve_usage(
        &self,
        key_id: &str,
        period: i64,
        want: u64,
        limit: u64,
    ) -> Result<Reservation> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Database("lock poisoned".into()))?;
        // IMMEDIATE: the write lock is taken before the read, so another
        // process cannot read the same count in between.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let used = read_usage(&tx, key_id, period).map_err(db)?;
        let reservation = Reservation::from_count(used, want, limit);
        if reservation.granted > 0 {
            tx.execute(
                "INSERT INTO key_usage (key_id, period, count) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key_id, period) DO UPDATE SET count = excluded.count",
                params![key_id, period, reservation.total as i64],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(reservation)
    }

    fn release_usage(&self, key_id: &str, period: i64, n: u64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE key_usage SET count = MAX(count - ?3, 0) WHERE key_id = ?1 AND period = ?2",
                params![key_id, period, n as i64],
            )
        })
        .map(|_| ())
    }

    fn usage(&self, key_id: &str, period: i64) -> Result<u64> {
        self.with(|c| read_usage(c, key_id, period))
    }
}

#[async_trait::async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, record: &KeyRecord) -> Result<()> {
        let record = record.clone();
        self.blocking(move |k| k.insert_key(&record)).await
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>> {
        self.blocking(|k| k.list_keys()).await
    }

    async fn find_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>> {
        let hash = hash.to_string();
        self.blocking(move |k| k.find_by_hash(&hash)).await
    }

    async fn revoke_key(&self, id_or_name: &str, at: i64) -> Result<bool> {
        let id = id_or_name.to_string();
        self.blocking(move |k| k.revoke_key(&id, at)).await
    }

    async fn find(&self, id_or_name: &str) -> Result<Option<KeyRecord>> {
        let id = id_or_name.to_string();
        self.blocking(move |k| k.find(&id)).await
    }

    async fn reserve_usage(
        &self,
        key_id: &str,
        period: i64,
        want: u64,
        limit: u64,
    ) -> Result<Reservation> {
        let id = key_id.to_string();
        self.blocking(move |k| k.reserve_usage(&id, period, want, limit))
            .await
    }

    async fn release_usage(&self, key_id: &str, period: i64, n: u64) -> Result<()> {
        let id = key_id.to_string();
        self.blocking(move |k| k.release_usage(&id, period, n))
            .await
    }

    async fn usage(&self, key_id: &str, period: i64) -> Result<u64> {
        let id = key_id.to_string();
        self.blocking(move |k| k.usage(&id, period)).await
    }
}

fn read_usage(c: &Connection, key_id: &str, period: i64) -> rusqlite::Result<u64> {
    c.query_row(
        "SELECT count FROM key_usage WHERE key_id = ?1 AND period = ?2",
        params![key_id, period],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|n| n.unwrap_or(0).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn behaves_like_a_store_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        let store = SqliteStore::open(&path).unwrap();
        super::super::conformance(&store).await;
        let id = store.list_keys().await.unwrap()[0].id.clone();
        store.reserve_usage(&id, 86_400, 7, 100).await.unwrap();
        drop(store);
        let again = SqliteStore::open(&path).unwrap();
        let keys = again.list_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(again.usage(&keys[0].id, 86_400).await.unwrap(), 7);
    }
}

#[cfg(test)]
mod races {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_reserving_at_once_never_exceed_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.db");
        super::SqliteStore::open(&path).unwrap();
        super::super::conformance_races(|| {
            std::sync::Arc::new(super::SqliteStore::open(&path).unwrap())
        })
        .await;
    }
}
