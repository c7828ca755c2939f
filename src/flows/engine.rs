//! The flows a config declares and how runs start. One run of a flow at a
//! time, across processes and nodes: a run holds the flow's lease in the
//! flow store (renewed while it runs, expiring if its process dies), so
//! `gatehouse flow run` and every server's triggers never overlap.

use super::error::FlowError;
use super::metrics::FlowMetrics;
use super::run::{new_run_id, now_rfc3339, Progress, RunInput, Runner};
use super::source::{self, http::HttpReader};
use super::tasks::{self, Outcome};
use crate::config::flow_spec::{FlowSpec, Schedule, Source};
use crate::messaging::sns::flow_target::{FlowCall, FlowCalls};
use crate::store::flows::{FlowStore, RunRecord, RunStatus};
use arc_swap::ArcSwap;
use chrono::Utc;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub type Flows = BTreeMap<String, Arc<FlowSpec>>;

/// Runs waiting for a flow's lock (webhooks and topic messages queue behind
/// a running run): past this, triggers are refused instead of piling up
/// payloads in memory.
const MAX_WAITING_RUNS: usize = 256;

#[derive(Clone)]
pub struct Engine {
    /// Swapped on config reload.
    flows: Arc<ArcSwap<Flows>>,
    runner: Arc<Runner>,
    metrics: Arc<FlowMetrics>,
    waiting: Arc<tokio::sync::Semaphore>,
    local_locks: Arc<parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Names this process in run leases and tick claims.
    holder: Arc<str>,
    /// Where runs execute in the server (a runtime of their own, so a big
    /// run never shares a thread with the gateway's requests); None: the
    /// caller's runtime (the CLI).
    runtime: Option<tokio::runtime::Handle>,
    /// Where flows with `events` publish their run events.
    topics: Option<Arc<dyn crate::messaging::pubsub::Topics>>,
}

/// A run's lease lasts this long unless renewed; a process that dies holding
/// it blocks the flow for at most this long.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// Renewed this often while the run goes on.
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// How often a run queued behind another process's run asks again.
const LEASE_POLL: Duration = Duration::from_millis(250);

/// Held for the length of a run. Fields drop in order: the lease is given
/// up before the next run of this process may take the local mutex.
struct RunLock {
    lease: Lease,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

impl RunLock {
    /// Gives the lease up before the next run of this process can start.
    async fn release(mut self) {
        if let Some(lease) = self.lease.live.take() {
            lease.release().await;
        }
    }
}

/// The flow's run lease, renewed in the background and given up when the
/// run ends (`RunLock::release`), or on drop if the run was cut short. Each
/// lease has a holder name of its own, so a release can only ever give up
/// the lease it took.
struct Lease {
    live: Option<LiveLease>,
}

struct LiveLease {
    store: Arc<dyn FlowStore>,
    flow: String,
    holder: String,
    renewer: tokio::task::JoinHandle<()>,
}

impl LiveLease {
    async fn release(self) {
        self.renewer.abort();
        if let Err(e) = self.store.release_lease(&self.flow, &self.holder).await {
            // It expires on its own; the next run waits until then.
            tracing::warn!(flow = %self.flow, error = %e, "cannot release the run lease");
        }
    }
}

impl Drop for Lease {
    /// A run cut short (its task cancelled): released in the background.
    fn drop(&mut self) {
        if let Some(lease) = self.live.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => drop(handle.spawn(lease.release())),
                Err(_) => lease.renewer.abort(), // it expires on its own
            }
        }
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
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
    /// `queues` serves `queue` sources; None where messaging is off (and
    /// in the CLI, where such flows cannot run).
    pub fn new(
        flows: Flows,
        data_dir: PathBuf,
        store: Arc<dyn FlowStore>,
        queues: Option<Arc<dyn crate::messaging::queues::Queues>>,
        payloads: Option<Arc<crate::messaging::payloads::Payloads>>,
    ) -> Engine {
        Engine {
            flows: Arc::new(ArcSwap::from_pointee(flows)),
            runner: Arc::new(Runner {
                data_dir,
                store,
                queues,
                payloads,
            }),
            metrics: Arc::new(FlowMetrics::new()),
            waiting: Arc::new(tokio::sync::Semaphore::new(MAX_WAITING_RUNS)),
            local_locks: Default::default(),
            holder: format!("{}-{:08x}", std::process::id(), fastrand::u32(..)).into(),
            runtime: None,
            topics: None,
        }
    }

    /// Flows with `events: {topic}` publish their run events to `topics`.
    pub fn with_events(
        mut self,
        topics: Option<Arc<dyn crate::messaging::pubsub::Topics>>,
    ) -> Engine {
        self.topics = topics;
        self
    }

    /// Runs execute on `runtime` from now on.
    pub fn with_runtime(mut self, runtime: tokio::runtime::Handle) -> Engine {
        self.runtime = Some(runtime);
        self
    }

    fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.runtime {
            Some(handle) => handle.spawn(task),
            None => tokio::spawn(task),
        }
    }

    /// The flows of the current config generation.
    pub fn flows(&self) -> Arc<Flows> {
        self.flows.load_full()
    }

    /// Swaps in the flows of a reloaded config; runs in progress finish
    /// with the spec they started with.
    pub fn set_flows(&self, flows: Flows) {
        self.flows.store(Arc::new(flows));
    }

    pub fn metrics(&self) -> &Arc<FlowMetrics> {
        &self.metrics
    }

    pub fn store(&self) -> &Arc<dyn FlowStore> {
        &self.runner.store
    }

    pub fn spec(&self, id: &str) -> Result<Arc<FlowSpec>, FlowError> {
        self.flows
            .load()
            .get(id)
            .cloned()
            .ok_or_else(|| FlowError::UnknownFlow(id.to_string()))
    }

    /// Takes the flow's run lock: at once (`wait` false: Busy if held) or
    /// when the current run ends. Runs of this process queue on an async
    /// mutex first, so only one of them at a time asks the store for the
    /// lease (held elsewhere only by another process or node).
    async fn lock(&self, id: &str, wait: bool) -> Result<RunLock, FlowError> {
        let local = self.local_lock(id);
        let local = if wait {
            local.lock_owned().await
        } else {
            local
                .try_lock_owned()
                .map_err(|_| FlowError::Busy(id.to_string()))?
        };
        let lease = self.lease(id, wait).await?;
        Ok(RunLock {
            lease,
            _local: local,
        })
    }

    fn local_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.local_locks.lock();
        locks.entry(id.to_string()).or_default().clone()
    }

    /// Asks the store for the lease (again every `LEASE_POLL` when
    /// waiting), then keeps renewing it until dropped.
    async fn lease(&self, id: &str, wait: bool) -> Result<Lease, FlowError> {
        let store = self.runner.store.clone();
        let holder = format!("{}/{:08x}", self.holder, fastrand::u32(..));
        let ttl = LEASE_TTL.as_millis() as i64;
        loop {
            let acquired = store.acquire_lease(id, &holder, now_ms(), ttl).await?;
            if acquired {
                break;
            }
            if !wait {
                return Err(FlowError::Busy(id.to_string()));
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
        let renewer = {
            let (store, id, holder) = (store.clone(), id.to_string(), holder.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(LEASE_RENEW).await;
                    match store.acquire_lease(&id, &holder, now_ms(), ttl).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::error!(flow = %id, "the run lease was taken over (this process stalled past its expiry); another run may overlap this one")
                        }
                        Err(e) => {
                            tracing::warn!(flow = %id, error = %e, "cannot renew the run lease")
                        }
                    }
                }
            })
        };
        Ok(Lease {
            live: Some(LiveLease {
                store,
                flow: id.to_string(),
                holder,
                renewer,
            }),
        })
    }

    /// Claims one firing of a flow's schedule for this process: false when
    /// another process or node already fired it.
    pub async fn claim_tick(&self, id: &str, tick: i64) -> Result<bool, FlowError> {
        Ok(self.runner.store.claim_tick(id, tick, &self.holder).await?)
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
        progress: Arc<Progress>,
    ) -> Result<RunRecord, FlowError> {
        let spec = self.spec(id)?;
        let run_id = new_run_id(Utc::now());
        let (engine, trigger) = (self.clone(), trigger.to_string());
        let run = async move {
            engine
                .run_with_id(spec, run_id, &trigger, payload, wait, &progress)
                .await
        };
        match &self.runtime {
            Some(handle) => handle
                .spawn(run)
                .await
                .map_err(|e| FlowError::Store(format!("the run's task failed: {e}")))?,
            None => run.await,
        }
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
        let lock = self.lock(&spec.id, wait).await?;
        // Holding the lease, nothing else runs this flow: an InProgress run
        // in history was left by a process that died.
        let _ = self
            .runner
            .store
            .recover_interrupted(&spec.id, &now_rfc3339(Utc::now()))
            .await;
        let events = match (&spec.events_topic, &self.topics) {
            (Some(topic), Some(topics)) => Some((topic.as_str(), topics.as_ref())),
            _ => None,
        };
        if let Some((topic, topics)) = events {
            let at = now_rfc3339(Utc::now());
            let event = super::events::started(&spec.id, &run_id, trigger, &at);
            super::events::publish(topics, topic, &event).await;
        }
        let input = RunInput {
            id: run_id,
            trigger: trigger.to_string(),
            payload,
        };
        let started = std::time::Instant::now();
        let run = self.runner.execute(&spec, input, progress).await;
        lock.release().await;
        self.metrics.observe(&run, started.elapsed().as_secs_f64());
        if let Some((topic, topics)) = events {
            super::events::publish(topics, topic, &super::events::ended(&run)).await;
        }
        if run.status == RunStatus::Error {
            self.deactivate_if_failing(&spec).await;
        }
        if run.status == RunStatus::Successful {
            self.start_followers(&spec.id);
        }
        Ok(run)
    }

    /// Starts the flows whose `trigger.after` names `flow` (its run just
    /// succeeded).
    fn start_followers(&self, flow: &str) {
        let followers: Vec<String> = self
            .flows()
            .values()
            .filter(|f| f.after.as_deref() == Some(flow))
            .map(|f| f.id.clone())
            .collect();
        for follower in followers {
            if let Err(e) = self.start(&follower, &format!("after:{flow}"), None) {
                tracing::warn!(flow = %follower, after = flow, error = %e, "cannot start a flow after its predecessor");
            }
        }
    }

    /// AppFlow's flowErrorDeactivationThreshold: a scheduled flow that has
    /// failed this many runs in a row stops firing until it is activated
    /// again (`gatehouse flow activate`, or the admin API).
    async fn deactivate_if_failing(&self, spec: &FlowSpec) {
        let threshold = spec.deactivate_after_failures;
        if spec.schedule.is_none() || threshold == 0 {
            return;
        }
        let store = &self.runner.store;
        let outcome = async {
            let state = store.state(&spec.id).await?;
            if state.deactivated || state.consecutive_failures < threshold {
                return Ok(None);
            }
            store.set_deactivated(&spec.id, true).await?;
            Ok::<_, FlowError>(Some(state.consecutive_failures))
        }
        .await;
        match outcome {
            Ok(Some(failures)) => {
                tracing::error!(flow = %spec.id, failures, "flow deactivated after consecutive failed runs; its schedule is off until `gatehouse flow activate`");
                self.metrics
                    .deactivated
                    .with_label_values(&[spec.id.as_str()])
                    .set(1);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(flow = %spec.id, error = %e, "cannot check the flow's failures")
            }
        }
    }

    /// Turns a deactivated flow's schedule back on and clears its failures.
    pub async fn activate(&self, id: &str) -> Result<(), FlowError> {
        self.spec(id)?;
        self.runner.store.set_deactivated(id, false).await?;
        self.metrics.deactivated.with_label_values(&[id]).set(0);
        Ok(())
    }

    /// Every flow with its schedule, state and last run (`flow list`, the
    /// admin API).
    pub async fn overview(&self) -> Result<Vec<Value>, FlowError> {
        let store = &self.runner.store;
        let mut rows = Vec::new();
        for (id, spec) in self.flows().iter() {
            let state = store.state(id).await?;
            let last = store.runs(Some(id), 1).await?.into_iter().next();
            rows.push(serde_json::json!({
                "flow": id,
                "description": spec.description,
                "source": spec.source.kind(),
                "schedule": match &spec.schedule {
                    Some(Schedule::Cron(c)) => Some(c.clone()),
                    Some(Schedule::Every(d)) => Some(format!("every {}", humantime::format_duration(*d))),
                    None => None,
                },
                "enabled": spec.enabled,
                "deactivated": state.deactivated,
                "consecutive_failures": state.consecutive_failures,
                "destination": spec.destination.url,
                "watermark": state.watermark,
                "last_run": last.as_ref().map(|r| r.id.clone()),
                "last_status": last.as_ref().map(|r| r.status.as_str()),
            }));
        }
        Ok(rows)
    }

    /// Sets the deactivation gauge from the store (at start-up).
    pub async fn show_deactivated(&self) {
        for id in self.flows().keys() {
            if let Ok(state) = self.runner.store.state(id).await {
                self.metrics
                    .deactivated
                    .with_label_values(&[id.as_str()])
                    .set(i64::from(state.deactivated));
            }
        }
    }

    /// Whether a flow's schedule may fire: enabled in its file and not
    /// deactivated by failures.
    pub async fn schedulable(&self, id: &str) -> Result<bool, FlowError> {
        let spec = self.spec(id)?;
        Ok(spec.enabled && !self.runner.store.state(id).await?.deactivated)
    }

    /// True when the flow's records come with its trigger (a `webhook`
    /// source): a run needs a body.
    pub fn needs_payload(&self, id: &str) -> Result<bool, FlowError> {
        Ok(self.spec(id)?.source.payload_records().is_some())
    }

    /// What a trigger's body is to the flow: a `webhook` flow's records
    /// (checked now, so the sender hears of a bad body at once), or nothing
    /// (other sources read their API or queue; the body only said "run").
    pub fn payload(&self, id: &str, body: bytes::Bytes) -> Result<Option<bytes::Bytes>, FlowError> {
        match self.spec(id)?.source.payload_records() {
            Some(records) => {
                source::from_payload(&body, records)?;
                Ok(Some(body))
            }
            None => Ok(None),
        }
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
        let waiting = self
            .waiting
            .clone()
            .try_acquire_owned()
            .map_err(|_| FlowError::Backlogged)?;
        let run_id = new_run_id(Utc::now());
        let engine = self.clone();
        let (trigger, returned) = (trigger.to_string(), run_id.clone());
        self.spawn(async move {
            let _waiting = waiting;
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
            Source::Queue(_) => {
                // Receiving would hide the messages (and count a receive
                // towards their dead-letter limit) for nothing.
                return Err(FlowError::Source(
                    "preview does not read queues: receiving would hide their messages".into(),
                ));
            }
        }
        Ok(out)
    }
}

/// SNS subscriptions with protocol `flow`: the message is the payload of a
/// `webhook` flow (an `http` flow just runs). The delivery succeeds once the
/// run has committed; a failed run is retried by the delivery policy.
impl Engine {
    /// Answers the messaging engine's calls until it drops its door.
    pub fn answer(&self, mut calls: FlowCalls) {
        let engine = self.clone();
        self.spawn(async move {
            while let Some(call) = calls.next().await {
                match call {
                    FlowCall::Exists { flow, reply } => {
                        let _ = reply.send(engine.flows.load().contains_key(&flow));
                    }
                    FlowCall::Run {
                        flow,
                        message,
                        reply,
                    } => {
                        let engine = engine.clone();
                        tokio::spawn(async move {
                            let _ = reply.send(engine.deliver(flow, message).await);
                        });
                    }
                }
            }
        });
    }

    async fn deliver(&self, flow: String, message: String) -> Result<(), String> {
        // A message that holds no records fails here, is retried and ends
        // in the subscription's dead-letter queue.
        let payload = self
            .payload(&flow, bytes::Bytes::from(message))
            .map_err(|e| e.to_string())?;
        let _waiting = self
            .waiting
            .clone()
            .try_acquire_owned()
            .map_err(|_| FlowError::Backlogged.to_string())?;
        let run = self
            .run(&flow, "topic", payload, true, Default::default())
            .await
            .map_err(|e| e.to_string())?;
        match run.status {
            RunStatus::Successful => Ok(()),
            _ => Err(format!(
                "run {} of flow {flow} failed: {}",
                run.id,
                run.error.unwrap_or_default()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::flows::MemoryFlowStore;

    /// Two engines over one store stand for two nodes of a fleet.
    fn two_nodes() -> (Engine, Engine) {
        let store: Arc<dyn FlowStore> = Arc::new(MemoryFlowStore::default());
        let node = || {
            Engine::new(
                Flows::new(),
                PathBuf::from("unused"),
                store.clone(),
                None,
                None,
            )
        };
        (node(), node())
    }

    #[tokio::test]
    async fn one_node_at_a_time_runs_a_flow() {
        let (a, b) = two_nodes();
        let held = a.lock("orders", false).await.unwrap();
        assert!(matches!(
            b.lock("orders", false).await,
            Err(FlowError::Busy(_))
        ));
        // Another flow is free; a waiting run starts once the lease is released.
        drop(b.lock("users", false).await.unwrap());
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.lock("orders", true).await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(held);
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the waiting run got the lease")
            .unwrap()
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_queued_in_the_same_process_keeps_the_lease_it_takes_over() {
        let (a, b) = two_nodes();
        let first = a.lock("orders", false).await.unwrap();
        let next = tokio::spawn({
            let a = a.clone();
            async move { a.lock("orders", true).await }
        });
        tokio::task::yield_now().await;
        first.release().await;
        let second = tokio::time::timeout(Duration::from_secs(10), next)
            .await
            .expect("the queued run starts")
            .unwrap()
            .unwrap();
        // The first run's release happened before the second took over: the
        // second holds the lease, so the other node still cannot run.
        assert!(matches!(
            b.lock("orders", false).await,
            Err(FlowError::Busy(_))
        ));
        second.release().await;
        drop(b.lock("orders", false).await.unwrap());
    }

    #[tokio::test]
    async fn one_node_fires_each_tick() {
        let (a, b) = two_nodes();
        assert!(a.claim_tick("orders", 1_800_000_000).await.unwrap());
        assert!(!b.claim_tick("orders", 1_800_000_000).await.unwrap());
        assert!(b.claim_tick("orders", 1_800_000_060).await.unwrap());
    }
}
