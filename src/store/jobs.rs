//! Jobs, as AWS Batch keeps them: each job moves SUBMITTED -> RUNNABLE ->
//! RUNNING -> SUCCEEDED or FAILED (back to RUNNABLE between attempts). The
//! store holds them so a job submitted by the CLI, the admin API, a worker
//! or a route survives restarts and is claimed once: `claim` takes the
//! highest-priority, oldest runnable job that fits the free budget.

use super::StoreError;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Submitted,
    Runnable,
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Submitted => "SUBMITTED",
            JobStatus::Runnable => "RUNNABLE",
            JobStatus::Running => "RUNNING",
            JobStatus::Succeeded => "SUCCEEDED",
            JobStatus::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<JobStatus> {
        [
            JobStatus::Submitted,
            JobStatus::Runnable,
            JobStatus::Running,
            JobStatus::Succeeded,
            JobStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(text))
    }

    pub fn is_done(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    pub id: String,
    /// The job definition's id.
    pub definition: String,
    pub priority: i32,
    pub status: JobStatus,
    /// `Ref::NAME` values for the command's arguments.
    pub parameters: BTreeMap<String, String>,
    /// An array job's child: its index (`AWS_BATCH_JOB_ARRAY_INDEX`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub array_index: Option<u32>,
    /// Attempts made so far, and allowed.
    pub attempts: u32,
    pub max_attempts: u32,
    pub vcpus: u32,
    pub memory: u64,
    /// Unix milliseconds.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub stopped_at: Option<i64>,
    pub exit_code: Option<i32>,
    /// Why it failed (or was cancelled).
    pub reason: Option<String>,
    /// The last attempt's output (stdout, then stderr), bounded.
    pub output: Option<String>,
    /// Cancellation asked for while running: the runner kills it.
    pub cancel_requested: bool,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub succeeded: bool,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub output: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// It had not started: FAILED now.
    Stopped,
    /// It is running: the runner kills it.
    Requested,
    /// It had already finished.
    TooLate,
}

#[async_trait::async_trait]
pub trait JobStore: Send + Sync {
    /// Stores new jobs as RUNNABLE.
    async fn submit(&self, jobs: Vec<JobRecord>) -> Result<(), StoreError>;
    async fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError>;
    /// Newest first.
    async fn jobs(
        &self,
        status: Option<JobStatus>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError>;
    /// Takes the highest-priority, oldest RUNNABLE job needing at most
    /// `vcpus` and `memory`: RUNNING, one more attempt, started now.
    async fn claim(
        &self,
        vcpus: u32,
        memory: u64,
        now: i64,
    ) -> Result<Option<JobRecord>, StoreError>;
    /// Records an attempt: SUCCEEDED; FAILED when out of attempts or
    /// cancelled; else RUNNABLE again for the next attempt.
    async fn finish(&self, id: &str, attempt: Attempt, now: i64) -> Result<JobStatus, StoreError>;
    async fn cancel(
        &self,
        id: &str,
        reason: &str,
        now: i64,
    ) -> Result<Option<Cancelled>, StoreError>;
    /// Jobs left RUNNING by a process that died: RUNNABLE again (their
    /// attempt counts).
    async fn recover(&self) -> Result<usize, StoreError>;
}

/// The next state after an attempt.
pub fn after_attempt(job: &mut JobRecord, attempt: Attempt, now: i64) {
    job.exit_code = attempt.exit_code;
    job.output = attempt.output;
    if attempt.succeeded && !job.cancel_requested {
        job.status = JobStatus::Succeeded;
        job.reason = None;
        job.stopped_at = Some(now);
    } else if job.cancel_requested || job.attempts >= job.max_attempts {
        job.status = JobStatus::Failed;
        job.reason = if job.cancel_requested {
            job.reason.clone().or(Some("cancelled".into()))
        } else {
            attempt.reason
        };
        job.stopped_at = Some(now);
    } else {
        job.status = JobStatus::Runnable;
        job.reason = attempt.reason;
    }
}

/// A claimed job: RUNNING, one more attempt, started `now`.
pub fn start_attempt(job: &mut JobRecord, now: i64) {
    job.status = JobStatus::Running;
    job.attempts += 1;
    job.started_at = Some(now);
}

/// Cancels `job`: a job that has not started fails now; a running one is
/// marked for its runner to kill; a finished one is left alone.
pub fn cancel(job: &mut JobRecord, reason: &str, now: i64) -> Cancelled {
    match job.status {
        JobStatus::Submitted | JobStatus::Runnable => {
            job.status = JobStatus::Failed;
            job.reason = Some(reason.to_string());
            job.stopped_at = Some(now);
            Cancelled::Stopped
        }
        JobStatus::Running => {
            job.cancel_requested = true;
            job.reason = Some(reason.to_string());
            Cancelled::Requested
        }
        JobStatus::Succeeded | JobStatus::Failed => Cancelled::TooLate,
    }
}

/// The in-memory twin.
#[derive(Default, Clone)]
pub struct MemoryJobs {
    jobs: Arc<Mutex<HashMap<String, JobRecord>>>,
}

#[async_trait::async_trait]
impl JobStore for MemoryJobs {
    async fn submit(&self, jobs: Vec<JobRecord>) -> Result<(), StoreError> {
        let mut all = self.jobs.lock();
        for mut j in jobs {
            j.status = JobStatus::Runnable;
            all.insert(j.id.clone(), j);
        }
        Ok(())
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.jobs.lock().get(id).cloned())
    }

    async fn jobs(
        &self,
        status: Option<JobStatus>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let mut out: Vec<JobRecord> = self
            .jobs
            .lock()
            .values()
            .filter(|j| status.is_none_or(|s| j.status == s))
            .cloned()
            .collect();
        out.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        out.truncate(limit);
        Ok(out)
    }

    async fn claim(
        &self,
        vcpus: u32,
        memory: u64,
        now: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        let mut all = self.jobs.lock();
        let next = all
            .values()
            .filter(|j| j.status == JobStatus::Runnable && j.vcpus <= vcpus && j.memory <= memory)
            .min_by(|a, b| {
                (-a.priority, a.created_at, &a.id).cmp(&(-b.priority, b.created_at, &b.id))
            })
            .map(|j| j.id.clone());
        Ok(next.and_then(|id| {
            let j = all.get_mut(&id)?;
            start_attempt(j, now);
            Some(j.clone())
        }))
    }

    async fn finish(&self, id: &str, attempt: Attempt, now: i64) -> Result<JobStatus, StoreError> {
        let mut all = self.jobs.lock();
        let j = all
            .get_mut(id)
            .ok_or_else(|| StoreError::NotFound(format!("no job {id}")))?;
        after_attempt(j, attempt, now);
        Ok(j.status)
    }

    async fn cancel(
        &self,
        id: &str,
        reason: &str,
        now: i64,
    ) -> Result<Option<Cancelled>, StoreError> {
        let mut all = self.jobs.lock();
        let Some(j) = all.get_mut(id) else {
            return Ok(None);
        };
        Ok(Some(cancel(j, reason, now)))
    }

    async fn recover(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        for j in self.jobs.lock().values_mut() {
            if j.status == JobStatus::Running {
                j.status = JobStatus::Runnable;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// A job as submitted (RUNNABLE once stored).
pub fn new_job(
    id: String,
    definition: &str,
    priority: i32,
    max_attempts: u32,
    vcpus: u32,
    memory: u64,
    now: i64,
) -> JobRecord {
    JobRecord {
        id,
        definition: definition.to_string(),
        priority,
        status: JobStatus::Submitted,
        parameters: BTreeMap::new(),
        array_index: None,
        attempts: 0,
        max_attempts,
        vcpus,
        memory,
        created_at: now,
        started_at: None,
        stopped_at: None,
        exit_code: None,
        reason: None,
        output: None,
        cancel_requested: false,
    }
}

/// The suite every `JobStore` passes.
#[cfg(test)]
pub(crate) async fn conformance(store: &dyn JobStore) {
    let job = |id: &str, priority: i32, at: i64, vcpus: u32| {
        let mut j = new_job(id.into(), "def", priority, 2, vcpus, 100, at);
        j.parameters.insert("day".into(), "monday".into());
        j
    };
    store
        .submit(vec![
            job("low", 1, 1, 1),
            job("high", 9, 2, 1),
            job("big", 9, 3, 4),
            job("low2", 1, 4, 1),
        ])
        .await
        .unwrap();
    let got = store.job("high").await.unwrap().unwrap();
    assert_eq!(got.status, JobStatus::Runnable);
    assert_eq!(got.parameters["day"], "monday");
    // Priority first, then age; only what fits the budget.
    let first = store.claim(2, 1000, 10).await.unwrap().unwrap();
    assert_eq!(
        (first.id.as_str(), first.status, first.attempts),
        ("high", JobStatus::Running, 1)
    );
    assert_eq!(store.claim(2, 1000, 10).await.unwrap().unwrap().id, "low");
    assert_eq!(
        store.claim(1, 50, 10).await.unwrap(),
        None,
        "nothing fits 50 bytes"
    );
    // A failed attempt with attempts left: RUNNABLE again, then FAILED.
    let failed = Attempt {
        succeeded: false,
        exit_code: Some(2),
        reason: Some("exit code 2".into()),
        output: Some("oops".into()),
    };
    assert_eq!(
        store.finish("high", failed.clone(), 11).await.unwrap(),
        JobStatus::Runnable
    );
    let again = store.claim(8, 1000, 12).await.unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempts), ("high", 2));
    assert_eq!(
        store.finish("high", failed, 13).await.unwrap(),
        JobStatus::Failed
    );
    let done = store.job("high").await.unwrap().unwrap();
    assert_eq!(
        (done.exit_code, done.reason.as_deref(), done.stopped_at),
        (Some(2), Some("exit code 2"), Some(13))
    );
    let ok = Attempt {
        succeeded: true,
        exit_code: Some(0),
        reason: None,
        output: None,
    };
    assert_eq!(
        store.finish("low", ok.clone(), 14).await.unwrap(),
        JobStatus::Succeeded
    );
    // Cancel: a runnable job stops at once; a running one is asked to.
    assert_eq!(
        store.cancel("low2", "cancelled by test", 15).await.unwrap(),
        Some(Cancelled::Stopped)
    );
    assert_eq!(
        store.job("low2").await.unwrap().unwrap().status,
        JobStatus::Failed
    );
    let big = store.claim(4, 1000, 16).await.unwrap().unwrap();
    assert_eq!(
        store
            .cancel(&big.id, "cancelled by test", 17)
            .await
            .unwrap(),
        Some(Cancelled::Requested)
    );
    assert!(store.job("big").await.unwrap().unwrap().cancel_requested);
    assert_eq!(
        store.finish("big", ok, 18).await.unwrap(),
        JobStatus::Failed,
        "a cancelled job does not succeed"
    );
    assert_eq!(
        store.cancel("big", "again", 19).await.unwrap(),
        Some(Cancelled::TooLate)
    );
    assert_eq!(store.cancel("nope", "x", 19).await.unwrap(), None);
    // Listing, newest first, by status.
    let all = store.jobs(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        ["low2", "big", "high", "low"]
    );
    assert_eq!(
        store
            .jobs(Some(JobStatus::Succeeded), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // A process that died with a job running.
    store.submit(vec![job("orphan", 1, 20, 1)]).await.unwrap();
    store.claim(1, 1000, 21).await.unwrap().unwrap();
    assert_eq!(store.recover().await.unwrap(), 1);
    assert_eq!(
        store.job("orphan").await.unwrap().unwrap().status,
        JobStatus::Runnable
    );
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_in_memory_twin_passes_the_suite() {
        super::conformance(&super::MemoryJobs::default()).await;
    }
}
