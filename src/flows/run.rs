//! One run of a flow: read pages from the source, put every record through
//! the tasks, write what is kept, file what is invalid, commit (files, then
//! the manifest), and only then advance the watermark. A failure anywhere
//! leaves the watermark where it was, so the next run reads the same records
//! again and nothing is skipped.

use super::admit::Admission;
use super::error::FlowError;
use super::sink::keys::KeyContext;
use super::sink::{stores, RunWriter};
use super::source::{self, http::HttpReader, queue::QueueReader};
use super::tasks::{self, Outcome};
use super::watermark::{self, Mark};
use crate::config::flow_spec::{FlowSpec, Incremental, Source};
use crate::store::flows::{FlowStore, RunRecord, RunStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Live counters, for progress bars.
#[derive(Default)]
pub struct Progress {
    pub read: AtomicU64,
    pub written: AtomicU64,
    /// What the source reports it holds for this run (0: it does not say).
    pub total: AtomicU64,
}

pub struct RunInput {
    pub id: String,
    pub trigger: String,
    /// The webhook body or topic message, for `webhook` sources.
    pub payload: Option<bytes::Bytes>,
}

pub struct Runner {
    pub data_dir: PathBuf,
    pub store: Arc<dyn FlowStore>,
    /// For `queue` sources; there when the server runs messaging.
    pub queues: Option<Arc<dyn crate::messaging::queues::Queues>>,
    /// Where offloaded message bodies are, for `queue` sources.
    pub payloads: Option<Arc<crate::messaging::payloads::Payloads>>,
}

pub fn now_rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A run id that sorts by start time: `20261124T101500Z-3f9a1c`.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    format!(
        "{}-{:06x}",
        now.format("%Y%m%dT%H%M%SZ"),
        fastrand::u32(..0x0100_0000)
    )
}

impl Runner {
    /// Runs the flow to the end and records the outcome.
    pub async fn execute(
        &self,
        spec: &FlowSpec,
        input: RunInput,
        progress: &Progress,
    ) -> RunRecord {
        let started = Utc::now();
        // Without the stored watermark the run would start from the first-run
        // window and could move the watermark backwards: it fails instead.
        let (state, unreadable) = match self.store.state(&spec.id).await {
            Ok(state) => (state, None),
            Err(e) => (Default::default(), Some(e)),
        };
        let mut run = RunRecord {
            id: input.id.clone(),
            flow: spec.id.clone(),
            trigger: input.trigger.clone(),
            status: RunStatus::InProgress,
            records_read: 0,
            records_filtered: 0,
            records_invalid: 0,
            records_written: 0,
            bytes_written: 0,
            started_at: now_rfc3339(started),
            ended_at: None,
            watermark_before: state.watermark.clone(),
            watermark_after: None,
            error: None,
            files: Vec::new(),
            warnings: Vec::new(),
        };
        if let Err(e) = self.store.insert_run(&run).await {
            tracing::warn!(flow = %spec.id, error = %e, "cannot record the run start");
        }
        tracing::info!(flow = %spec.id, run = %run.id, trigger = %run.trigger, "flow run started");
        let result = match unreadable {
            Some(e) => Err(FlowError::from(e)),
            None => {
                self.attempt(spec, &input, started, &mut run, progress)
                    .await
            }
        };
        run.ended_at = Some(now_rfc3339(Utc::now()));
        let mark = match result {
            Ok(mark) => {
                run.status = RunStatus::Successful;
                run.watermark_after = mark
                    .as_ref()
                    .map(Mark::stored)
                    .or(run.watermark_before.clone());
                mark
            }
            Err(e) => {
                run.status = if matches!(e, FlowError::Canceled) {
                    RunStatus::Canceled
                } else {
                    RunStatus::Error
                };
                // Counts say what was committed: nothing. Files already
                // finished stay, but without a manifest no reader takes
                // them, and the next run reads their records again.
                let uncommitted = run.records_written + run.records_invalid;
                if uncommitted > 0 {
                    run.warnings.push(format!(
                        "{uncommitted} records had been written to files that were not committed (the run's folder has no manifest); the next run reads them again"
                    ));
                }
                run.records_written = 0;
                run.records_invalid = 0;
                run.bytes_written = 0;
                run.files.clear();
                run.error = Some(e.to_string());
                run.watermark_after = run.watermark_before.clone();
                None
            }
        };
        match self
            .store
            .finish_run(&run, mark.as_ref().map(Mark::stored).as_deref())
            .await
        {
            Ok(state) => {
                if run.status == RunStatus::Error {
                    tracing::warn!(flow = %spec.id, run = %run.id, error = run.error.as_deref().unwrap_or(""), failures = state.consecutive_failures, "flow run failed");
                } else {
                    for warning in &run.warnings {
                        tracing::warn!(flow = %spec.id, run = %run.id, %warning, "flow run warning");
                    }
                    tracing::info!(flow = %spec.id, run = %run.id, read = run.records_read, written = run.records_written, "flow run finished");
                }
            }
            Err(e) => {
                tracing::error!(flow = %spec.id, run = %run.id, error = %e, "cannot record the run's end")
            }
        }
        run
    }

    /// The run proper; returns the new watermark (if the flow has one).
    async fn attempt(
        &self,
        spec: &FlowSpec,
        input: &RunInput,
        started: DateTime<Utc>,
        run: &mut RunRecord,
        progress: &Progress,
    ) -> Result<Option<Mark>, FlowError> {
        let destination = &spec.destination;
        let store = stores::open(&destination.url, &self.data_dir, &destination.s3)?;
        let context = KeyContext {
            flow: spec.id.clone(),
            run_id: input.id.clone(),
            started,
        };
        let mut writer = RunWriter::new(store, destination, context)
            .with_columns(crate::flows::sink::columns_of(&spec.tasks));
        let incremental = match &spec.source {
            Source::Http(http) => http.incremental.clone(),
            _ => None,
        };
        let stored = incremental.as_ref().and_then(|inc| {
            run.watermark_before
                .as_deref()
                .and_then(|w| Mark::parse_stored(inc.kind, w))
        });
        let start = incremental
            .as_ref()
            .and_then(|inc| watermark::start(inc, stored.as_ref(), started));
        let mut pages = Pages::open(spec, input, start.as_ref(), self)?;
        let outcome = self
            .pump(
                spec,
                incremental.as_ref(),
                stored,
                started,
                &mut pages,
                run,
                progress,
                &mut writer,
            )
            .await;
        let mark = match outcome {
            Ok(mark) => mark,
            Err(e) => {
                writer.abort().await;
                return Err(e);
            }
        };
        run.warnings.extend(writer.notes());
        let summary = json!({
            "flow": spec.id,
            "run_id": input.id,
            "trigger": input.trigger,
            "started_at": run.started_at,
            "records_read": run.records_read,
            "records_filtered": run.records_filtered,
            "records_invalid": run.records_invalid,
            "records_written": run.records_written,
            "watermark": mark.as_ref().map(Mark::stored),
            "warnings": run.warnings,
        });
        let (files, _errors) = writer.commit(summary).await?;
        // Only now may a queue forget what the run took.
        pages.acknowledge().await;
        // Counted after commit: compressed streams and Parquet footers end there.
        run.bytes_written = files.iter().map(|f| f.bytes).sum();
        run.files = files;
        Ok(mark)
    }

    #[allow(clippy::too_many_arguments)]
    async fn pump(
        &self,
        spec: &FlowSpec,
        incremental: Option<&Incremental>,
        stored: Option<Mark>,
        started: DateTime<Utc>,
        pages: &mut Pages,
        run: &mut RunRecord,
        progress: &Progress,
        writer: &mut RunWriter,
    ) -> Result<Option<Mark>, FlowError> {
        let id = match &spec.source {
            Source::Http(http) => http.id.clone(),
            _ => None,
        };
        let mut admission = Admission::new(incremental.cloned(), stored, id);

        while let Some(page) = pages.next().await? {
            let mut kept = Vec::with_capacity(page.len());
            let mut invalid = pages.take_rejected();
            run.records_read += invalid.len() as u64;
            for record in page {
                run.records_read += 1;
                if !admission.admit(&record) {
                    run.records_filtered += 1;
                    continue;
                }
                match tasks::apply(&spec.tasks, record.clone()) {
                    Outcome::Keep(r) => kept.push(r),
                    Outcome::Filtered => run.records_filtered += 1,
                    Outcome::Invalid(reason) => invalid.push((record, reason)),
                    Outcome::FailRun(reason) => return Err(FlowError::Validation(reason)),
                }
            }
            let offered = kept.len() as u64;
            let rejected = writer.write(kept).await?;
            run.records_written += offered - rejected;
            run.records_invalid += invalid.len() as u64 + rejected;
            if !invalid.is_empty() {
                writer.write_errors(invalid).await?;
            }
            progress.read.store(run.records_read, Ordering::Relaxed);
            progress
                .written
                .store(run.records_written, Ordering::Relaxed);
            if let Some(total) = pages.total() {
                progress.total.store(total, Ordering::Relaxed);
            }
        }
        run.warnings.extend(admission.warnings());
        Ok(admission.mark(started))
    }
}

/// The source, page by page.
enum Pages {
    Http(Box<HttpReader>),
    Once(Option<Vec<Value>>),
    Queue(Box<QueueReader>),
}

impl Pages {
    fn open(
        spec: &FlowSpec,
        input: &RunInput,
        start: Option<&Mark>,
        runner: &Runner,
    ) -> Result<Pages, FlowError> {
        match &spec.source {
            Source::Http(http) => Ok(Pages::Http(Box::new(HttpReader::new(
                http.clone(),
                spec.allow_private_network,
                start.cloned(),
            )?))),
            Source::Webhook { records } => {
                let payload = input.payload.as_deref().ok_or_else(|| {
                    FlowError::Payload(
                        "this flow reads a webhook body; trigger it through its route".into(),
                    )
                })?;
                Ok(Pages::Once(Some(source::from_payload(
                    payload,
                    records.as_deref(),
                )?)))
            }
            Source::Queue(queue) => Ok(Pages::Queue(Box::new(QueueReader::new(
                runner.queues.as_ref(),
                runner.payloads.clone(),
                queue,
            )?))),
        }
    }

    async fn next(&mut self) -> Result<Option<Vec<Value>>, FlowError> {
        match self {
            Pages::Http(reader) => reader.next_page().await,
            Pages::Once(page) => Ok(page.take()),
            Pages::Queue(reader) => reader.next_page().await,
        }
    }

    /// How many records the source says the query matches, if it says.
    fn total(&self) -> Option<u64> {
        match self {
            Pages::Http(reader) => reader.total,
            _ => None,
        }
    }

    /// Records the source could not hand out as records (with why).
    fn take_rejected(&mut self) -> Vec<(Value, String)> {
        match self {
            Pages::Queue(reader) => reader.take_rejected(),
            _ => Vec::new(),
        }
    }

    /// After the commit.
    async fn acknowledge(&mut self) {
        if let Pages::Queue(reader) = self {
            reader.acknowledge().await;
        }
    }
}
