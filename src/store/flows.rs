//! Flow run history and per-flow state (watermark, consecutive failures,
//! deactivation): the seam the flows engine keeps them behind, with an
//! in-memory twin. The SQLite implementation is `sqlite_flows.rs`.

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
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlowState {
    pub watermark: Option<String>,
    pub consecutive_failures: u32,
    pub deactivated: bool,
}

pub trait FlowStore: Send + Sync {
    fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError>;
    /// Records a finished run. A successful one stores `watermark` (when
    /// set) and clears the failure count in the same transaction; a failed
    /// one counts a failure. Returns the state after.
    fn finish_run(&self, run: &RunRecord, watermark: Option<&str>)
        -> Result<FlowState, StoreError>;
    fn runs(&self, flow: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, StoreError>;
    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;
    fn state(&self, flow: &str) -> Result<FlowState, StoreError>;
    fn set_deactivated(&self, flow: &str, deactivated: bool) -> Result<(), StoreError>;
    /// Marks the flow's runs left InProgress by a process that died as Error
    /// (the caller holds the flow's run lock, so none is really running).
    fn recover_interrupted(&self, flow: &str, now: &str) -> Result<u64, StoreError>;
}

/// The in-memory twin, for tests and previews.
#[derive(Default)]
pub struct MemoryFlowStore {
    inner: Mutex<(BTreeMap<String, RunRecord>, BTreeMap<String, FlowState>)>,
}

impl MemoryFlowStore {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, (BTreeMap<String, RunRecord>, BTreeMap<String, FlowState>)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FlowStore for MemoryFlowStore {
    fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.lock().0.insert(run.id.clone(), run.clone());
        Ok(())
    }

    fn finish_run(
        &self,
        run: &RunRecord,
        watermark: Option<&str>,
    ) -> Result<FlowState, StoreError> {
        let mut guard = self.lock();
        guard.0.insert(run.id.clone(), run.clone());
        let state = guard.1.entry(run.flow.clone()).or_default();
        apply_finish(state, run, watermark);
        Ok(state.clone())
    }

    fn runs(&self, flow: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs: Vec<RunRecord> = self
            .lock()
            .0
            .values()
            .filter(|r| flow.is_none_or(|f| r.flow == f))
            .cloned()
            .collect();
        runs.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
        runs.truncate(limit);
        Ok(runs)
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self.lock().0.get(id).cloned())
    }

    fn state(&self, flow: &str) -> Result<FlowState, StoreError> {
        Ok(self.lock().1.get(flow).cloned().unwrap_or_default())
    }

    fn set_deactivated(&self, flow: &str, deactivated: bool) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let state = guard.1.entry(flow.to_string()).or_default();
        state.deactivated = deactivated;
        if !deactivated {
            state.consecutive_failures = 0;
        }
        Ok(())
    }

    fn recover_interrupted(&self, flow: &str, now: &str) -> Result<u64, StoreError> {
        let mut n = 0;
        for run in self.lock().0.values_mut() {
            if run.status == RunStatus::InProgress && run.flow == flow {
                mark_interrupted(run, now);
                n += 1;
            }
        }
        Ok(n)
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
