//! Jobs: AWS Batch's model without its API. A job definition
//! (`jobs/<id>.yaml`) is a command with parameters, attempts, a priority and
//! what it reserves; jobs are submitted (the CLI, the admin API) into the
//! store and move SUBMITTED -> RUNNABLE -> RUNNING -> SUCCEEDED / FAILED.
//! The compute environment is this node's process pool: the scheduler
//! claims the highest-priority runnable job that fits what is free of the
//! `jobs.vcpus` / `jobs.memory` budget, runs it (`command`), and records the
//! attempt: a failure with attempts left makes it RUNNABLE again.

pub mod command;

use crate::config::model::{CommandSpec, Config, JobDefinition};
use crate::store::jobs::{new_job, Attempt, JobRecord, JobStatus, JobStore};
use parking_lot::Mutex;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What to submit.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Submit {
    pub definition: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// An array job: this many children, `AWS_BATCH_JOB_ARRAY_INDEX` 0..N.
    pub array_size: Option<u32>,
    /// Instead of the definition's.
    pub priority: Option<i32>,
}

/// The largest array job.
pub const MAX_ARRAY: u32 = 10_000;

/// Why a job was not submitted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The request is wrong (a 400).
    #[error("{0}")]
    Invalid(String),
    /// The store could not take it (retry).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Stores the job (or an array job's children) as RUNNABLE; the ids.
pub async fn submit(
    store: &dyn JobStore,
    config: &Config,
    req: Submit,
) -> Result<Vec<String>, SubmitError> {
    let invalid = SubmitError::Invalid;
    let def = config
        .job_definitions
        .get(&req.definition)
        .ok_or_else(|| invalid(format!("no job definition `{}` in jobs/", req.definition)))?;
    if let Some(unknown) = req
        .parameters
        .keys()
        .find(|k| !def.parameters.contains_key(*k))
    {
        let known: Vec<&str> = def.parameters.keys().map(String::as_str).collect();
        return Err(invalid(format!(
            "`{unknown}` is not a parameter of `{}` (it has: {})",
            def.id,
            known.join(", ")
        )));
    }
    let size = req.array_size.unwrap_or(0);
    if req.array_size.is_some() && !(2..=MAX_ARRAY).contains(&size) {
        return Err(invalid(format!(
            "an array job has 2 to {MAX_ARRAY} children"
        )));
    }
    let now = crate::messaging::clock::now_ms();
    let id = uuid::Uuid::from_u128(fastrand::u128(..)).to_string();
    let make = |id: String, index: Option<u32>| {
        let mut job = new_job(
            id,
            &def.id,
            req.priority.unwrap_or(def.priority),
            def.attempts,
            def.vcpus,
            def.memory,
            now,
        );
        job.parameters = req.parameters.clone();
        job.array_index = index;
        job
    };
    let jobs: Vec<JobRecord> = if req.array_size.is_some() {
        (0..size)
            .map(|i| make(format!("{id}:{i}"), Some(i)))
            .collect()
    } else {
        vec![make(id, None)]
    };
    let ids = jobs.iter().map(|j| j.id.clone()).collect();
    store.submit(jobs).await?;
    Ok(ids)
}

/// The running scheduler.
pub struct Jobs {
    pub store: Arc<dyn JobStore>,
    /// Claims schedule ticks, so a fleet submits each scheduled job once.
    ticks: Arc<dyn crate::store::flows::FlowStore>,
    config: Arc<dyn Fn() -> Arc<Config> + Send + Sync>,
    /// Reservations of the jobs running here, by id.
    running: Mutex<HashMap<String, (u32, u64)>>,
    wake: Notify,
    metrics: JobMetrics,
}

#[derive(Clone)]
struct JobMetrics {
    finished: IntCounterVec,
    attempts: HistogramVec,
    running: IntGauge,
}

impl Jobs {
    /// Starts the scheduler on `handle`; jobs left RUNNING by a process
    /// that died are RUNNABLE again first.
    pub fn start(
        store: Arc<dyn JobStore>,
        ticks: Arc<dyn crate::store::flows::FlowStore>,
        config: Arc<dyn Fn() -> Arc<Config> + Send + Sync>,
        registry: &crate::metrics::Metrics,
        handle: &tokio::runtime::Handle,
    ) -> Arc<Jobs> {
        let metrics = JobMetrics {
            finished: IntCounterVec::new(
                Opts::new(
                    "jobs_total",
                    "Jobs that finished, by definition and status (SUCCEEDED, FAILED)",
                ),
                &["definition", "status"],
            )
            .expect("valid metric"),
            attempts: HistogramVec::new(
                HistogramOpts::new(
                    "job_attempt_seconds",
                    "Time one attempt of a job took, by definition",
                )
                .buckets(crate::metrics::LATENCY_BUCKETS.to_vec()),
                &["definition"],
            )
            .expect("valid metric"),
            running: IntGauge::new("jobs_running", "Jobs running on this node")
                .expect("valid metric"),
        };
        registry.register(vec![
            Box::new(metrics.finished.clone()),
            Box::new(metrics.attempts.clone()),
            Box::new(metrics.running.clone()),
        ]);
        let jobs = Arc::new(Jobs {
            store,
            ticks,
            config,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            metrics,
        });
        handle.spawn(schedule(jobs.clone()));
        handle.spawn(fire_schedules(jobs.clone()));
        jobs
    }

    pub async fn submit(&self, req: Submit) -> Result<Vec<String>, SubmitError> {
        let ids = submit(self.store.as_ref(), &(self.config)(), req).await?;
        self.wake.notify_one();
        Ok(ids)
    }

    fn free(&self) -> (u32, u64) {
        let budget = (self.config)().job_compute;
        let running = self.running.lock();
        let (v, m) = running
            .values()
            .fold((0u32, 0u64), |(v, m), (jv, jm)| (v + jv, m + jm));
        (
            budget.vcpus.saturating_sub(v),
            budget.memory.saturating_sub(m),
        )
    }
}

/// Claims what fits and starts it; again when a job is submitted or ends,
/// and twice a second for jobs the CLI submitted to the store directly.
async fn schedule(jobs: Arc<Jobs>) {
    match jobs.store.recover().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            jobs = n,
            "jobs left running by a stopped process are runnable again"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot recover interrupted jobs"),
    }
    loop {
        loop {
            let (vcpus, memory) = jobs.free();
            if vcpus == 0 {
                break;
            }
            let now = crate::messaging::clock::now_ms();
            match jobs.store.claim(vcpus, memory, now).await {
                Ok(Some(job)) => {
                    jobs.running
                        .lock()
                        .insert(job.id.clone(), (job.vcpus, job.memory));
                    jobs.metrics.running.inc();
                    tokio::spawn(attempt(jobs.clone(), job));
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim a job");
                    break;
                }
            }
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), jobs.wake.notified()).await;
    }
}

/// Definitions with `schedule: rate(...)` get a job at each multiple of
/// their period since the epoch (as flows' rates fire), claimed in the
/// store first so a fleet submits it once.
async fn fire_schedules(jobs: Arc<Jobs>) {
    let holder = format!("{}-{:08x}", std::process::id(), fastrand::u32(..));
    let mut last: HashMap<String, i64> = HashMap::new();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let config = (jobs.config)();
        let now = crate::messaging::clock::now_ms() / 1000;
        for def in config.job_definitions.values() {
            let Some(every) = def.every.map(|d| d.as_secs().max(1) as i64) else {
                continue;
            };
            let tick = now - now.rem_euclid(every);
            // The first look only notes where the schedule stands.
            let seen = *last.entry(def.id.clone()).or_insert(tick);
            if tick <= seen {
                continue;
            }
            last.insert(def.id.clone(), tick);
            match jobs
                .ticks
                .claim_tick(&format!("job:{}", def.id), tick, &holder)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(definition = %def.id, error = %e, "cannot claim a job schedule's tick");
                    continue;
                }
            }
            let req = Submit {
                definition: def.id.clone(),
                ..Submit::default()
            };
            if let Err(e) = jobs.submit(req).await {
                tracing::warn!(definition = %def.id, error = %e, "cannot submit a scheduled job");
            }
        }
    }
}

/// Runs one attempt of `job` and records it.
async fn attempt(jobs: Arc<Jobs>, job: JobRecord) {
    let config = (jobs.config)();
    let started = std::time::Instant::now();
    let outcome = match config.job_definitions.get(&job.definition) {
        None => Attempt {
            succeeded: false,
            exit_code: None,
            reason: Some(format!("the job definition `{}` is gone", job.definition)),
            output: None,
        },
        Some(def) => run(&jobs, def, &job).await,
    };
    jobs.metrics
        .attempts
        .with_label_values(&[&job.definition])
        .observe(started.elapsed().as_secs_f64());
    let now = crate::messaging::clock::now_ms();
    match jobs.store.finish(&job.id, outcome, now).await {
        Ok(status) if status.is_done() => {
            jobs.metrics
                .finished
                .with_label_values(&[&job.definition, status.as_str()])
                .inc();
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(job = %job.id, error = %e, "cannot record a job's attempt"),
    }
    jobs.running.lock().remove(&job.id);
    jobs.metrics.running.dec();
    jobs.wake.notify_one();
}

async fn run(jobs: &Jobs, def: &JobDefinition, job: &JobRecord) -> Attempt {
    let spec = command_for(def, job);
    let cancelled = async {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Ok(Some(j)) = jobs.store.job(&job.id).await {
                if j.cancel_requested {
                    return;
                }
            }
        }
    };
    let ran = tokio::select! {
        ran = command::run(&spec, b"") => ran,
        // Dropping the run kills the command's process group.
        () = cancelled => {
            return Attempt { succeeded: false, exit_code: None, reason: Some("cancelled".into()), output: None };
        }
    };
    match ran {
        Err(e) => Attempt {
            succeeded: false,
            exit_code: None,
            reason: Some(format!("cannot start the command: {e}")),
            output: None,
        },
        Ok(ran) => {
            let mut output = String::from_utf8_lossy(&ran.stdout).into_owned();
            output.push_str(&String::from_utf8_lossy(&ran.stderr));
            let reason = if ran.timed_out {
                Some(format!("timed out after {:?}", spec.timeout))
            } else {
                match ran.exit_code {
                    Some(0) => None,
                    Some(code) => Some(format!("exit code {code}")),
                    None => Some("killed by a signal (a resource limit?)".into()),
                }
            };
            Attempt {
                succeeded: reason.is_none(),
                exit_code: ran.exit_code,
                reason,
                output: Some(output),
            }
        }
    }
}

/// The definition's command for `job`: `Ref::NAME` arguments filled from
/// the job's parameters (else the definition's defaults), and AWS Batch's
/// variables added to its environment.
pub fn command_for(def: &JobDefinition, job: &JobRecord) -> CommandSpec {
    let mut spec = def.command.clone();
    spec.args = spec
        .args
        .iter()
        .map(|a| match a.strip_prefix("Ref::") {
            Some(name) => job
                .parameters
                .get(name)
                .or_else(|| def.parameters.get(name))
                .cloned()
                .unwrap_or_default(),
            None => a.clone(),
        })
        .collect();
    spec.env.insert("AWS_BATCH_JOB_ID".into(), job.id.clone());
    spec.env
        .insert("AWS_BATCH_JOB_ATTEMPT".into(), job.attempts.to_string());
    if let Some(i) = job.array_index {
        spec.env
            .insert("AWS_BATCH_JOB_ARRAY_INDEX".into(), i.to_string());
    }
    spec
}

/// A job as the CLI and the admin API show it.
pub fn describe(job: &JobRecord) -> serde_json::Value {
    let mut v = serde_json::to_value(job).unwrap_or_default();
    let iso = |ms: Option<i64>| ms.map(crate::messaging::clock::iso8601);
    v["created_at"] = crate::messaging::clock::iso8601(job.created_at).into();
    v["started_at"] = iso(job.started_at).into();
    v["stopped_at"] = iso(job.stopped_at).into();
    v
}

/// The statuses a list may ask for.
pub fn status(text: &str) -> Result<JobStatus, String> {
    JobStatus::parse(text)
        .ok_or_else(|| format!("`{text}`: SUBMITTED, RUNNABLE, RUNNING, SUCCEEDED or FAILED"))
}
