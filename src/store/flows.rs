//! Flow run history and per-flow state (watermark, consecutive failures,
//! deactivation), the run lease that lets one process at a time run a flow,
//! and schedule tick claims that let one process fire each tick: the seam
//! the flows engine keeps them behind, with an in-memory twin. The SQLite
//! implementation is `sqlite_flows.rs`.

use super::StoreError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One file a run wrote: its key in the destination, records and bytes.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct FileEntry {
    pub key: String,
    pub records: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RunStatus {
    InProgress,
    Successful,
    Error,
    Canceled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::InProgress => "InProgress",
            RunStatus::Successful => "Successful",
            RunStatus::Error => "Error",
            RunStatus::Canceled => "Canceled",
        }
    }

    pub fn parse(s: &str) -> RunStatus {
        match s {
            "InProgress" => RunStatus::InProgress,
            "Successful" => RunStatus::Successful,
            "Canceled" => RunStatus::Canceled,
            _ => RunStatus::Error,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRecord {
    pub id: String,
    pub flow: String,
    /// `on_demand`, `schedule`, `webhook`, `topic`.
    pub trigger: String,
    pub status: RunStatus,
    pub records_read: u64,
    pub records_filtered: u64,
    pub records_invalid: u64,
    pub records_written: u64,
    pub bytes_written: u64,
    /// RFC 3339.
    pub started_at: String,
    pub ended_at: Option<String>,
    pub watermark_before: Option<String>,
    pub watermark_after: Option<String>,
    pub error: Option<String>,
    pub files: Vec<FileEntry>,
    /// What the operator should know though the run did not fail: fields
    /// left out of a declared schema, watermarks that could not be read.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlowState {
    pub watermark: Option<String>,
    pub consecutive_failures: u32,
    pub deactivated: bool,
}

#[async_trait::async_trait]
pub trait FlowStore: Send + Sync {
    async fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError>;
    /// Records a finished run. A successful one stores `watermark` (when
    /// set) and clears the failure count in the same transaction; a failed
    /// one counts a failure. Returns the state after.
    async fn finish_run(
        &self,
        run: &RunRecord,
        watermark: Option<&str>,
    ) -> Result<FlowState, StoreError>;
    async fn runs(&self, flow: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, StoreError>;
    async fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;
    async fn state(&self, flow: &str) -> Result<FlowState, StoreError>;
    async fn set_deactivated(&self, flow: &str, deactivated: bool) -> Result<(), StoreError>;
    /// Marks the flow's runs left InProgress by a process that died as Error
    /// (the caller holds the flow's run lock, so none is really running).
    async fn recover_interrupted(&self, flow: &str, now: &str) -> Result<u64, StoreError>;
    /// Takes or extends the flow's run lease for `holder` until
    /// `now_ms + ttl_ms`. True when `holder` holds it now: it was free,
    /// expired, or already `holder`'s. A holder that dies without
    /// releasing blocks the flow for at most `ttl_ms`.
    async fn acquire_lease(
        &self,
        flow: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Gives the lease up if `holder` has it.
    async fn release_lease(&self, flow: &str, holder: &str) -> Result<(), StoreError>;
    /// Claims one firing of a flow's schedule, named by its tick (the
    /// scheduled time, unix seconds): true for exactly one claimant, so a
    /// fleet fires each tick once. Claims older than a day are forgotten.
    async fn claim_tick(&self, flow: &str, tick: i64, holder: &str) -> Result<bool, StoreError>;
}

/// How long a tick claim is remembered: far longer than any clock skew.
pub const TICK_MEMORY_SECS: i64 = 86_400;

/// The in-memory twin, for tests and previews.
#[derive(Default)]
pub struct MemoryFlowStore {
    inner: Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    runs: BTreeMap<String, RunRecord>,
    states: BTreeMap<String, FlowState>,
    /// Flow -> (holder, expires at in ms).
    leases: BTreeMap<String, (String, i64)>,
    /// (flow, tick) -> holder.
    ticks: BTreeMap<(String, i64), String>,
}

impl MemoryFlowStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait::async_trait]
impl FlowStore for MemoryFlowStore {
    async fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.lock().runs.insert(run.id.clone(), run.clone());
        Ok(())
    }

    async fn finish_run(
        &self,
        run: &RunRecord,
        watermark: Option<&str>,
    ) -> Result<FlowState, StoreError> {
        let mut guard = self.lock();
        guard.runs.insert(run.id.clone(), run.clone());
        let state = guard.states.entry(run.flow.clone()).or_default();
        apply_finish(state, run, watermark);
        Ok(state.clone())
    }

    async fn runs(&self, flow: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs: Vec<RunRecord> = self
            .lock()
            .runs
            .values()
            .filter(|r| flow.is_none_or(|f| r.flow == f))
            .cloned()
            .collect();
        runs.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
        runs.truncate(limit);
        Ok(runs)
    }

    async fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self.lock().runs.get(id).cloned())
    }

    async fn state(&self, flow: &str) -> Result<FlowState, StoreError> {
        Ok(self.lock().states.get(flow).cloned().unwrap_or_default())
    }

    async fn set_deactivated(&self, flow: &str, deactivated: bool) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let state = guard.states.entry(flow.to_string()).or_default();
        state.deactivated = deactivated;
        if !deactivated {
            state.consecutive_failures = 0;
        }
        Ok(())
    }

    async fn recover_interrupted(&self, flow: &str, now: &str) -> Result<u64, StoreError> {
        let mut n = 0;
        for run in self.lock().runs.values_mut() {
            if run.status == RunStatus::InProgress && run.flow == flow {
                mark_interrupted(run, now);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn acquire_lease(
        &self,
        flow: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut guard = self.lock();
        let free = match guard.leases.get(flow) {
            Some((current, expires)) => current == holder || *expires <= now_ms,
            None => true,
        };
        if free {
            guard
                .leases
                .insert(flow.to_string(), (holder.to_string(), now_ms + ttl_ms));
        }
        Ok(free)
    }

    async fn release_lease(&self, flow: &str, holder: &str) -> Result<(), StoreError> {
        let mut guard = self.lock();
        if guard.leases.get(flow).is_some_and(|(h, _)| h == holder) {
            guard.leases.remove(flow);
        }
        Ok(())
    }

    async fn claim_tick(&self, flow: &str, tick: i64, holder: &str) -> Result<bool, StoreError> {
        let mut guard = self.lock();
        guard.ticks.retain(|(_, t), _| *t > tick - TICK_MEMORY_SECS);
        let key = (flow.to_string(), tick);
        if guard.ticks.contains_key(&key) {
            return Ok(false);
        }
        guard.ticks.insert(key, holder.to_string());
        Ok(true)
    }
}

pub fn apply_finish(state: &mut FlowState, run: &RunRecord, watermark: Option<&str>) {
    if run.status == RunStatus::Successful {
        if let Some(w) = watermark {
            state.watermark = Some(w.to_string());
        }
        state.consecutive_failures = 0;
    } else if run.status == RunStatus::Error {
        state.consecutive_failures += 1;
    }
}

pub fn mark_interrupted(run: &mut RunRecord, now: &str) {
    run.status = RunStatus::Error;
    run.ended_at = Some(now.to_string());
    run.error = Some("interrupted: the process stopped during the run".into());
}

/// The suite every `FlowStore` passes: the in-memory twin here, SQLite in
/// `sqlite_flows.rs` (and any later backend).
#[cfg(test)]
pub(crate) async fn conformance(store: &dyn FlowStore) {
    let run = |id: &str, flow: &str, status: RunStatus, started: &str| RunRecord {
        id: id.into(),
        flow: flow.into(),
        trigger: "on_demand".into(),
        status,
        records_read: 0,
        records_filtered: 0,
        records_invalid: 0,
        records_written: 0,
        bytes_written: 0,
        started_at: started.into(),
        ended_at: None,
        watermark_before: None,
        watermark_after: None,
        error: None,
        files: Vec::new(),
        warnings: vec!["a warning".into()],
    };
    use RunStatus::*;

    store
        .insert_run(&run("r1", "orders", InProgress, "2026-01-01T00:00:01Z"))
        .await
        .unwrap();
    assert_eq!(store.run("r1").await.unwrap().unwrap().status, InProgress);
    assert_eq!(store.run("nope").await.unwrap(), None);
    assert_eq!(store.state("orders").await.unwrap(), FlowState::default());

    // A success stores its watermark and its files, whole.
    let mut done = run("r1", "orders", Successful, "2026-01-01T00:00:01Z");
    done.records_read = 10;
    done.records_written = 9;
    done.ended_at = Some("2026-01-01T00:00:02Z".into());
    done.watermark_after = Some("w1".into());
    done.files = vec![FileEntry {
        key: "orders/part-0.jsonl".into(),
        records: 9,
        bytes: 900,
    }];
    let state = store.finish_run(&done, Some("w1")).await.unwrap();
    assert_eq!(state.watermark.as_deref(), Some("w1"));
    assert_eq!(state.consecutive_failures, 0);
    assert_eq!(store.run("r1").await.unwrap().unwrap(), done);

    // Failures count up and keep the watermark; a success resets the count.
    for (i, id) in ["r2", "r3"].iter().enumerate() {
        let started = format!("2026-01-01T00:00:1{i}Z");
        store
            .insert_run(&run(id, "orders", InProgress, &started))
            .await
            .unwrap();
        let state = store
            .finish_run(&run(id, "orders", Error, &started), Some("ignored"))
            .await
            .unwrap();
        assert_eq!(state.consecutive_failures, i as u32 + 1);
        assert_eq!(state.watermark.as_deref(), Some("w1"));
    }
    let state = store
        .finish_run(
            &run("r4", "orders", Successful, "2026-01-01T00:00:20Z"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(state.consecutive_failures, 0);
    assert_eq!(state.watermark.as_deref(), Some("w1"));

    // Deactivation, and activation clearing the failure count.
    store
        .finish_run(&run("r5", "orders", Error, "2026-01-01T00:00:30Z"), None)
        .await
        .unwrap();
    store.set_deactivated("orders", true).await.unwrap();
    assert!(store.state("orders").await.unwrap().deactivated);
    store.set_deactivated("orders", false).await.unwrap();
    let state = store.state("orders").await.unwrap();
    assert!(!state.deactivated);
    assert_eq!(state.consecutive_failures, 0);

    // Newest first, by flow, limited.
    store
        .insert_run(&run("u1", "users", Successful, "2026-01-02T00:00:00Z"))
        .await
        .unwrap();
    let all: Vec<String> = store
        .runs(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all, ["u1", "r5", "r4", "r3", "r2", "r1"]);
    let two: Vec<String> = store
        .runs(Some("orders"), 2)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(two, ["r5", "r4"]);

    // Runs a dead process left InProgress are marked failed, once.
    store
        .insert_run(&run("r6", "orders", InProgress, "2026-01-03T00:00:00Z"))
        .await
        .unwrap();
    store
        .insert_run(&run("u2", "users", InProgress, "2026-01-03T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        store
            .recover_interrupted("orders", "2026-01-03T00:01:00Z")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .recover_interrupted("orders", "2026-01-03T00:02:00Z")
            .await
            .unwrap(),
        0
    );
    let r6 = store.run("r6").await.unwrap().unwrap();
    assert_eq!(r6.status, Error);
    assert_eq!(r6.ended_at.as_deref(), Some("2026-01-03T00:01:00Z"));
    assert!(r6.error.is_some());
    assert_eq!(store.run("u2").await.unwrap().unwrap().status, InProgress);

    leases(store).await;
    tick_claims(store).await;
}

#[cfg(test)]
async fn leases(store: &dyn FlowStore) {
    // One holder at a time; the holder renews; others wait for release or
    // expiry; flows are independent.
    assert!(store
        .acquire_lease("orders", "a", 1_000, 500)
        .await
        .unwrap());
    assert!(!store
        .acquire_lease("orders", "b", 1_100, 500)
        .await
        .unwrap());
    assert!(store.acquire_lease("users", "b", 1_100, 500).await.unwrap());
    assert!(store
        .acquire_lease("orders", "a", 1_400, 500)
        .await
        .unwrap()); // renewed to 1_900
    assert!(!store
        .acquire_lease("orders", "b", 1_600, 500)
        .await
        .unwrap());
    assert!(store
        .acquire_lease("orders", "b", 1_900, 500)
        .await
        .unwrap()); // expired
    assert!(!store
        .acquire_lease("orders", "a", 2_000, 500)
        .await
        .unwrap());
    store.release_lease("orders", "a").await.unwrap(); // not a's: no effect
    assert!(!store
        .acquire_lease("orders", "c", 2_000, 500)
        .await
        .unwrap());
    store.release_lease("orders", "b").await.unwrap();
    assert!(store
        .acquire_lease("orders", "c", 2_000, 500)
        .await
        .unwrap());
    store.release_lease("orders", "c").await.unwrap();
    store.release_lease("users", "b").await.unwrap();
}

#[cfg(test)]
async fn tick_claims(store: &dyn FlowStore) {
    assert!(store.claim_tick("orders", 1_000_000, "a").await.unwrap());
    assert!(!store.claim_tick("orders", 1_000_000, "b").await.unwrap());
    assert!(!store.claim_tick("orders", 1_000_000, "a").await.unwrap());
    assert!(store.claim_tick("orders", 1_000_060, "b").await.unwrap());
    assert!(store.claim_tick("users", 1_000_000, "b").await.unwrap());
}

/// Many tasks race for one lease and one tick, each through `open()` (a
/// connection of its own where the backend has connections): exactly one
/// wins each.
#[cfg(test)]
pub(crate) async fn conformance_races(open: impl Fn() -> std::sync::Arc<dyn FlowStore>) {
    let stores: Vec<_> = (0..8).map(|_| open()).collect();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(stores.len()));
    let tasks: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(i, store)| {
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                let holder = format!("node-{i}");
                let lease = store
                    .acquire_lease("race", &holder, 5_000, 60_000)
                    .await
                    .unwrap();
                let tick = store.claim_tick("race", 7_000_000, &holder).await.unwrap();
                (lease, tick)
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(results.iter().filter(|r| r.0).count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| r.1).count(), 1, "{results:?}");
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_in_memory_twin_passes_the_suite() {
        super::conformance(&super::MemoryFlowStore::default()).await;
        let shared: std::sync::Arc<dyn super::FlowStore> =
            std::sync::Arc::new(super::MemoryFlowStore::default());
        super::conformance_races(|| shared.clone()).await;
    }
}
