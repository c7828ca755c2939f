//! Scheduled triggers: per enabled flow with a `trigger.schedule`, a
//! tokio-cron-scheduler job (cron) or a loop waking on multiples of the
//! interval since the epoch (`rate(...)`). A tick never overlaps a run of the same flow (the run
//! lease is tried, not waited for: a busy flow skips the tick), a flow
//! deactivated by consecutive failures skips every tick until activated,
//! and each tick is claimed in the flow store first, so when several nodes
//! share a store exactly one of them fires it.

use super::engine::Engine;
use super::error::FlowError;
use crate::config::flow_spec::Schedule;
use std::collections::HashMap;
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

pub struct Scheduler {
    jobs: JobScheduler,
    engine: Engine,
    /// Flow id -> (its schedule, what fires it).
    active: tokio::sync::Mutex<HashMap<String, (Schedule, Firing)>>,
}

/// A cron job in tokio-cron-scheduler, or a `rate(...)` loop of our own:
/// its ticks fall on multiples of the interval since the epoch, so every
/// node fires (and names) the same ticks whenever it started.
enum Firing {
    Cron(Uuid),
    Every(tokio::task::JoinHandle<()>),
}

impl Scheduler {
    /// Starts the scheduler with the engine's current flows.
    pub async fn start(engine: Engine) -> Result<Scheduler, FlowError> {
        let jobs = JobScheduler::new().await.map_err(scheduler_error)?;
        jobs.start().await.map_err(scheduler_error)?;
        let scheduler = Scheduler {
            jobs,
            engine,
            active: Default::default(),
        };
        scheduler.sync().await;
        Ok(scheduler)
    }

    /// When the flow's schedule fires next (None: it has no schedule here).
    pub async fn next_run(&self, id: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let active = self.active.lock().await;
        match active.get(id)? {
            (_, Firing::Cron(job)) => {
                let mut jobs = self.jobs.clone();
                jobs.next_tick_for_job(*job).await.ok().flatten()
            }
            (Schedule::Every(every), Firing::Every(_)) => {
                let every_ms = (every.as_millis() as i64).max(1000);
                let next = next_multiple(chrono::Utc::now().timestamp_millis(), every_ms);
                chrono::DateTime::from_timestamp_millis(next)
            }
            _ => None,
        }
    }

    /// Brings the jobs in line with the engine's flows after a reload. Jobs
    /// whose schedule did not change keep running.
    pub async fn sync(&self) {
        let flows = self.engine.flows();
        let mut active = self.active.lock().await;
        let wanted: HashMap<&String, &Schedule> = flows
            .iter()
            .filter(|(_, spec)| spec.enabled)
            .filter_map(|(id, spec)| spec.schedule.as_ref().map(|s| (id, s)))
            .collect();
        let stale: Vec<String> = active
            .iter()
            .filter(|(id, (schedule, _))| wanted.get(id) != Some(&schedule))
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            match active.remove(&id) {
                Some((_, Firing::Cron(job))) => {
                    if let Err(e) = self.jobs.remove(&job).await {
                        tracing::warn!(flow = %id, error = %e, "cannot remove a schedule");
                    }
                }
                Some((_, Firing::Every(task))) => task.abort(),
                None => {}
            }
        }
        for (id, schedule) in wanted {
            if active.contains_key(id) {
                continue;
            }
            match self.add(id, schedule).await {
                Ok(job) => {
                    tracing::info!(flow = %id, schedule = ?schedule, "flow scheduled");
                    active.insert(id.clone(), (schedule.clone(), job));
                }
                Err(e) => tracing::error!(flow = %id, error = %e, "cannot schedule the flow"),
            }
        }
    }

    async fn add(&self, id: &str, schedule: &Schedule) -> Result<Firing, FlowError> {
        let (engine, id) = (self.engine.clone(), id.to_string());
        match schedule {
            Schedule::Cron(cron) => {
                let fire = move |_: Uuid, _: JobScheduler| {
                    let (engine, id) = (engine.clone(), id.clone());
                    Box::pin(async move {
                        let at = cron_tick(chrono::Utc::now());
                        // The run gets a task of its own; the scheduler's
                        // tick returns at once.
                        tokio::spawn(async move { tick(&engine, &id, at).await });
                    })
                        as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
                };
                let job = Job::new_async(cron.as_str(), fire).map_err(scheduler_error)?;
                let job = self.jobs.add(job).await.map_err(scheduler_error)?;
                Ok(Firing::Cron(job))
            }
            Schedule::Every(every) => {
                let every_ms = (every.as_millis() as i64).max(1000);
                Ok(Firing::Every(tokio::spawn(async move {
                    loop {
                        let now = chrono::Utc::now().timestamp_millis();
                        let next = next_multiple(now, every_ms);
                        tokio::time::sleep(std::time::Duration::from_millis((next - now) as u64))
                            .await;
                        let (engine, id) = (engine.clone(), id.clone());
                        tokio::spawn(async move { tick(&engine, &id, next / 1000).await });
                    }
                })))
            }
        }
    }
}

/// The first multiple of `every_ms` after `now_ms` (both since the epoch).
fn next_multiple(now_ms: i64, every_ms: i64) -> i64 {
    (now_ms.div_euclid(every_ms) + 1) * every_ms
}

/// Names a cron firing the same on every node: by its second (the
/// scheduler fires on the second; node clocks are assumed NTP-close).
fn cron_tick(now: chrono::DateTime<chrono::Utc>) -> i64 {
    (now.timestamp_millis() + 500).div_euclid(1000)
}

/// One scheduled firing, named by `at` (unix seconds).
async fn tick(engine: &Engine, id: &str, at: i64) {
    match engine.schedulable(id).await {
        Ok(true) => {}
        Ok(false) => {
            engine
                .metrics()
                .skipped_ticks
                .with_label_values(&[id, "deactivated"])
                .inc();
            tracing::debug!(flow = %id, "flow deactivated or disabled; tick skipped");
            return;
        }
        Err(FlowError::UnknownFlow(_)) => return, // removed by a reload
        Err(e) => {
            tracing::warn!(flow = %id, error = %e, "cannot read the flow's state; tick skipped");
            return;
        }
    }
    match engine.claim_tick(id, at).await {
        Ok(true) => {}
        Ok(false) => {
            engine
                .metrics()
                .skipped_ticks
                .with_label_values(&[id, "claimed"])
                .inc();
            tracing::debug!(flow = %id, "another node fired this tick");
            return;
        }
        Err(e) => {
            tracing::warn!(flow = %id, error = %e, "cannot claim the tick; tick skipped");
            return;
        }
    }
    match engine
        .run(id, "schedule", None, false, Default::default())
        .await
    {
        Ok(_) => {}
        Err(FlowError::Busy(_)) => {
            engine
                .metrics()
                .skipped_ticks
                .with_label_values(&[id, "running"])
                .inc();
            tracing::info!(flow = %id, "the previous run is still going; tick skipped");
        }
        Err(e) => tracing::warn!(flow = %id, error = %e, "scheduled run did not start"),
    }
}

fn scheduler_error(e: tokio_cron_scheduler::JobSchedulerError) -> FlowError {
    FlowError::Store(format!("scheduler: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn nodes_name_a_firing_alike() {
        let at = |ms: i64| chrono::Utc.timestamp_millis_opt(ms).unwrap();
        assert_eq!(cron_tick(at(1_800_000_000_020)), 1_800_000_000);
        assert_eq!(cron_tick(at(1_799_999_999_990)), 1_800_000_000);
        // Nodes started half an hour apart wait for the same hour.
        let hour = 3_600_000;
        assert_eq!(
            next_multiple(1_800_000_000_000, hour),
            next_multiple(1_800_001_000_000, hour)
        );
        assert_eq!(next_multiple(1_800_000_000_000, hour) % hour, 0);
        assert!(next_multiple(1_800_000_000_000, hour) > 1_800_000_000_000);
        // Exactly on a multiple: the next one, never the same tick twice.
        assert_eq!(next_multiple(7_200_000, hour), 10_800_000);
    }
}
