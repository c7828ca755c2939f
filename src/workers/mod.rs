//! Queue workers: Lambda's SQS event-source mappings, for HTTP endpoints and
//! commands on this machine.
//!
//! ```text
//! workers/<id>.yaml -> Workers (follows config reloads)
//!   supervisor (per worker): every second, scaling::decide -> add / stop a poller
//!   poller: receive (batch_size, batch_window, visibility_timeout)
//!     -> event::event (Lambda's SQS event) -> http::post | jobs::command::run
//!     -> event::verdict (batchItemFailures) -> delete the rest; failures stay
//!        invisible until their visibility timeout, then return (the queue's
//!        redrive policy moves them to its DLQ after maxReceiveCount)
//! ```
//!
//! Delivery is at least once: a message is deleted only after its batch
//! succeeded, so a crash mid-batch leaves it to come back. While its
//! visibility holds no other poller, here or on another node of a fleet,
//! receives it.

pub mod event;
pub mod history;
pub mod http;
pub mod metrics;
pub mod poller;
pub mod scaling;

use crate::config::model::WorkerSpec;
use crate::gateway::State;
use crate::messaging::queues::Queues;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// The workers of the running config.
pub struct Workers {
    state: Weak<State>,
    queues: Option<Arc<dyn Queues>>,
    jobs: Arc<dyn crate::store::jobs::JobStore>,
    handle: tokio::runtime::Handle,
    pub metrics: metrics::WorkerMetrics,
    running: Mutex<BTreeMap<String, Running>>,
}

struct Running {
    spec: Arc<WorkerSpec>,
    stop: watch::Sender<bool>,
    shared: Arc<Shared>,
}

/// One worker's live numbers, shared by its supervisor, pollers and the
/// admin API.
#[derive(Default)]
pub struct Shared {
    pub pollers: AtomicUsize,
    /// This tick's receives (see `scaling::Tick`).
    full: AtomicU64,
    nonempty: AtomicU64,
    empty: AtomicU64,
    pub processed: AtomicU64,
    pub failed: AtomicU64,
    pub batches: AtomicU64,
    pub history: history::History,
}

impl Shared {
    fn take_tick(&self) -> scaling::Tick {
        scaling::Tick {
            full: self.full.swap(0, Ordering::Relaxed),
            nonempty: self.nonempty.swap(0, Ordering::Relaxed),
            empty: self.empty.swap(0, Ordering::Relaxed),
        }
    }
}

impl Workers {
    /// Starts the config's workers on `handle` and follows reloads.
    pub fn start(
        state: &Arc<State>,
        queues: Option<Arc<dyn Queues>>,
        jobs: Arc<dyn crate::store::jobs::JobStore>,
        handle: tokio::runtime::Handle,
    ) -> Arc<Workers> {
        let metrics = metrics::WorkerMetrics::new();
        state.metrics.register(metrics.collectors());
        let workers = Arc::new(Workers {
            state: Arc::downgrade(state),
            queues,
            jobs,
            handle: handle.clone(),
            metrics,
            running: Mutex::new(BTreeMap::new()),
        });
        workers.apply(&state.runtime.load().config.workers);
        handle.spawn(follow_reloads(Arc::downgrade(&workers)));
        workers
    }

    /// Brings the running workers to `specs`: new ones start, removed ones
    /// stop, changed ones restart (their batches in flight finish first).
    pub fn apply(&self, specs: &BTreeMap<String, Arc<WorkerSpec>>) {
        let mut running = self.running.lock();
        running.retain(|id, r| {
            let keep = specs.get(id).is_some_and(|s| **s == *r.spec);
            if !keep {
                let _ = r.stop.send(true);
            }
            keep
        });
        for (id, spec) in specs {
            if running.contains_key(id) || !spec.enabled {
                continue;
            }
            let Some(queues) = self.queues.clone() else {
                continue;
            };
            let (stop, stopped) = watch::channel(false);
            let shared = Arc::new(Shared::default());
            let ctx = Arc::new(poller::Ctx {
                spec: spec.clone(),
                queues,
                state: self.state.clone(),
                shared: shared.clone(),
                metrics: self.metrics.clone(),
                jobs: self.jobs.clone(),
            });
            self.handle.spawn(supervise(ctx, stopped));
            running.insert(
                id.clone(),
                Running {
                    spec: spec.clone(),
                    stop,
                    shared,
                },
            );
        }
    }

    /// Every worker of the config, with its live numbers.
    pub fn list(&self) -> Vec<serde_json::Value> {
        let running = self.running.lock();
        let config = self
            .state
            .upgrade()
            .map(|s| s.runtime.load().config.clone());
        let Some(config) = config else {
            return Vec::new();
        };
        config
            .workers
            .values()
            .map(|spec| {
                let shared = running.get(&spec.id).map(|r| r.shared.clone());
                describe(spec, shared.as_deref())
            })
            .collect()
    }

    /// One worker's recent batches, newest first; None for an unknown id.
    pub fn batches(&self, id: &str, limit: usize) -> Option<Vec<history::Batch>> {
        let running = self.running.lock();
        match running.get(id) {
            Some(r) => Some(r.shared.history.newest(limit)),
            None => {
                let state = self.state.upgrade()?;
                let known = state.runtime.load().config.workers.contains_key(id);
                known.then(Vec::new)
            }
        }
    }
}

fn describe(spec: &WorkerSpec, shared: Option<&Shared>) -> serde_json::Value {
    let n = |f: fn(&Shared) -> u64| shared.map_or(0, f);
    serde_json::json!({
        "id": spec.id,
        "queue": spec.queue,
        "target": spec.target.kind(),
        "enabled": spec.enabled,
        "batch_size": spec.batch_size,
        "concurrency": {
            "min": spec.min_concurrency,
            "max": spec.max_concurrency,
            "now": shared.map_or(0, |s| s.pollers.load(Ordering::Relaxed)),
        },
        "batches": n(|s| s.batches.load(Ordering::Relaxed)),
        "processed": n(|s| s.processed.load(Ordering::Relaxed)),
        "failed": n(|s| s.failed.load(Ordering::Relaxed)),
    })
}

/// Applies each new config generation's workers.
async fn follow_reloads(workers: Weak<Workers>) {
    let mut seen = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Some(workers) = workers.upgrade() else {
            return;
        };
        let Some(state) = workers.state.upgrade() else {
            return;
        };
        let runtime = state.runtime.load();
        if runtime.generation != seen {
            seen = runtime.generation;
            workers.apply(&runtime.config.workers);
        }
    }
}

/// Runs a worker's pollers: `min` at once, then one more or one fewer per
/// second as `scaling::decide` says, until told to stop.
async fn supervise(ctx: Arc<poller::Ctx>, mut stop: watch::Receiver<bool>) {
    let spec = ctx.spec.clone();
    let gauge = ctx.metrics.pollers.with_label_values(&[&spec.id]);
    let mut pollers: Vec<watch::Sender<bool>> = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    let add = |pollers: &mut Vec<watch::Sender<bool>>, tasks: &mut tokio::task::JoinSet<()>| {
        let (tx, rx) = watch::channel(false);
        tasks.spawn(poller::poll(ctx.clone(), rx));
        pollers.push(tx);
    };
    for _ in 0..spec.min_concurrency {
        add(&mut pollers, &mut tasks);
    }
    loop {
        ctx.shared.pollers.store(pollers.len(), Ordering::Relaxed);
        gauge.set(pollers.len() as i64);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => break,
        }
        let tick = ctx.shared.take_tick();
        match scaling::decide(
            tick,
            pollers.len(),
            spec.min_concurrency,
            spec.max_concurrency,
        ) {
            scaling::Decision::Add => add(&mut pollers, &mut tasks),
            scaling::Decision::Remove => {
                if let Some(p) = pollers.pop() {
                    let _ = p.send(true);
                }
            }
            scaling::Decision::Hold => {}
        }
        // Reap pollers that stopped.
        while tasks.try_join_next().is_some() {}
    }
    for p in &pollers {
        let _ = p.send(true);
    }
    // Batches in flight finish (their target's timeout bounds them).
    while tasks.join_next().await.is_some() {}
    ctx.shared.pollers.store(0, Ordering::Relaxed);
    gauge.set(0);
}
