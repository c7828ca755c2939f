//! The flows a config declares and how runs start. One run of a flow at a
//! time, across processes: a run holds an exclusive lock on
//! `data/flows/<flow>.lock` (released by the OS if the process dies), so
//! `gatehouse flow run` and the server's triggers never overlap.

use super::error::FlowError;
use super::history::{FlowStore, RunRecord};
use super::run::{new_run_id, now_rfc3339, Progress, RunInput, Runner};
use super::source::{self, http::HttpReader};
use super::spec::{FlowSpec, Source};
use super::tasks::{self, Outcome};
use chrono::Utc;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone)]
pub struct Engine {
    pub flows: Arc<BTreeMap<String, Arc<FlowSpec>>>,
    runner: Arc<Runner>,
}

/// What `preview` shows for one record.
#[derive(Debug, serde::Serialize)]
pub struct Previewed {
    pub outcome: &'static str,
    pub record: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Engine {
    pub fn new(
        flows: BTreeMap<String, Arc<FlowSpec>>,
        data_dir: PathBuf,
        store: Arc<dyn FlowStore>,
    ) -> Engine {
        Engine {
            flows: Arc::new(flows),
            runner: Arc::new(Runner { data_dir, store }),
        }
    }

    pub fn store(&self) -> &Arc<dyn FlowStore> {
        &self.runner.store
    }

    pub fn spec(&self, id: &str) -> Result<Arc<FlowSpec>, FlowError> {
        self.flows
            .get(id)
            .cloned()
            .ok_or_else(|| FlowError::UnknownFlow(id.to_string()))
    }

    fn lock_path(&self, id: &str) -> PathBuf {
        self.runner
            .data_dir
            .join("flows")
            .join(format!("{id}.lock"))
    }

    /// Takes the flow's run lock: at once (`wait` false: Busy if held) or
    /// when the current run ends.
    async fn lock(&self, id: &str, wait: bool) -> Result<File, FlowError> {
        let path = self.lock_path(id);
        let id = id.to_string();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| FlowError::Store(e.to_string()))?;
            }
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| FlowError::Store(format!("{}: {e}", path.display())))?;
            if wait {
                file.lock().map_err(|e| FlowError::Store(e.to_string()))?;
            } else if file.try_lock().is_err() {
                return Err(FlowError::Busy(id));
            }
            Ok(file)
        })
        .await
        .map_err(|e| FlowError::Store(e.to_string()))?
    }

    /// Runs a flow to the end. `wait`: queue behind a running run instead
    /// of refusing (webhooks and topic messages carry records that must
    /// not be dropped).
    pub async fn run(
        &self,
        id: &str,
        trigger: &str,
        payload: Option<bytes::Bytes>,
        wait: bool,
        progress: &Progress,
    ) -> Result<RunRecord, FlowError> {
        let spec = self.spec(id)?;
        let run_id = new_run_id(Utc::now());
        self.run_with_id(spec, run_id, trigger, payload, wait, progress)
            .await
    }

    async fn run_with_id(
        &self,
        spec: Arc<FlowSpec>,
        run_id: String,
        trigger: &str,
        payload: Option<bytes::Bytes>,
        wait: bool,
        progress: &Progress,
    ) -> Result<RunRecord, FlowError> {
        let _lock = self.lock(&spec.id, wait).await?;
        // Holding the lock, nothing else runs this flow: an InProgress run
        // in history was left by a process that died.
        let _ = self
            .runner
            .store
            .recover_interrupted(&spec.id, &now_rfc3339(Utc::now()));
        let input = RunInput {
            id: run_id,
            trigger: trigger.to_string(),
            payload,
        };
        Ok(self.runner.execute(&spec, input, progress).await)
    }

    /// Starts a run in the background; returns its id at once (webhooks
    /// answer 202 with it).
    pub fn start(
        &self,
        id: &str,
        trigger: &str,
        payload: Option<bytes::Bytes>,
    ) -> Result<String, FlowError> {
        let spec = self.spec(id)?;
        let run_id = new_run_id(Utc::now());
        let engine = self.clone();
        let (trigger, returned) = (trigger.to_string(), run_id.clone());
        tokio::spawn(async move {
            let progress = Progress::default();
            if let Err(e) = engine
                .run_with_id(spec, run_id, &trigger, payload, true, &progress)
                .await
            {
                tracing::warn!(error = %e, "flow run did not start");
            }
        });
        Ok(returned)
    }

    /// Fetches up to `limit` records and shows what the tasks make of them;
    /// writes nothing and leaves the watermark alone.
    pub async fn preview(
        &self,
        id: &str,
        limit: usize,
        payload: Option<bytes::Bytes>,
    ) -> Result<Vec<Previewed>, FlowError> {
        let spec = self.spec(id)?;
        let mut out = Vec::new();
        // Returns whether more records are wanted.
        let take = |records: Vec<Value>, out: &mut Vec<Previewed>| -> bool {
            for record in records {
                if out.len() >= limit {
                    return false;
                }
                let (outcome, record, reason) = match tasks::apply(&spec.tasks, record.clone()) {
                    Outcome::Keep(r) => ("kept", r, None),
                    Outcome::Filtered => ("filtered", record, None),
                    Outcome::Invalid(why) => ("invalid", record, Some(why)),
                    Outcome::FailRun(why) => ("fails the run", record, Some(why)),
                };
                out.push(Previewed {
                    outcome,
                    record,
                    reason,
                });
            }
            out.len() < limit
        };
        match &spec.source {
            Source::Http(http) => {
                let mut reader = HttpReader::new(http.clone(), spec.allow_private_network, None)?;
                while let Some(page) = reader.next_page().await? {
                    if !take(page, &mut out) {
                        break;
                    }
                }
            }
            Source::Webhook { records } => {
                let payload = payload.ok_or_else(|| {
                    FlowError::Payload(
                        "a webhook flow previews a sample body: pass --body FILE".into(),
                    )
                })?;
                take(
                    source::from_payload(&payload, records.as_deref())?,
                    &mut out,
                );
            }
        }
        Ok(out)
    }
}
