//! Scheduled triggers: one tokio-cron-scheduler job per enabled flow with a
//! `trigger.schedule`. A tick never overlaps a run of the same flow (the run
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
    /// Flow id -> (its schedule, the job firing it).
    active: tokio::sync::Mutex<HashMap<String, (Schedule, Uuid)>>,
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

    /// Brings the jobs in line with the engine's flows after a reload. Jobs
    /// whose schedule did not change keep running, so a reload does not
    /// restart a `rate(1 hour)` flow's hour.
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
            if let Some((_, job)) = active.remove(&id) {
                if let Err(e) = self.jobs.remove(&job).await {
                    tracing::warn!(flow = %id, error = %e, "cannot remove a schedule");
                }
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

    async fn add(&self, id: &str, schedule: &Schedule) -> Result<Uuid, FlowError> {
        let (engine, id, every) = (self.engine.clone(), id.to_string(), schedule.clone());
        let fire = move |_: Uuid, _: JobScheduler| {
            let (engine, id, schedule) = (engine.clone(), id.clone(), every.clone());
            Box::pin(async move {
                // The run gets a task of its own; the scheduler's tick
                // returns at once.
                tokio::spawn(async move { tick(&engine, &id, &schedule).await });
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        };
        let job = match schedule {
            Schedule::Cron(cron) => Job::new_async(cron.as_str(), fire),
            Schedule::Every(every) => Job::new_repeated_async(*every, fire),
        }
        .map_err(scheduler_error)?;
        self.jobs.add(job).await.map_err(scheduler_error)
    }
}

/// Names a firing the same on every node: a cron firing by its second (the
/// scheduler fires on the second; node clocks are assumed NTP-close), a
/// `rate(...)` firing by its window since the epoch, so nodes that started
/// at different times still agree.
fn tick_of(schedule: &Schedule, now: chrono::DateTime<chrono::Utc>) -> i64 {
    match schedule {
        Schedule::Cron(_) => (now.timestamp_millis() + 500).div_euclid(1000),
        Schedule::Every(every) => {
            let every = every.as_secs().max(1) as i64;
            now.timestamp().div_euclid(every) * every
        }
    }
}

/// One scheduled firing.
async fn tick(engine: &Engine, id: &str, schedule: &Schedule) {
    let fired = chrono::Utc::now();
    let check = {
        let (engine, id) = (engine.clone(), id.to_string());
        tokio::task::spawn_blocking(move || engine.schedulable(&id)).await
    };
    match check {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            engine
                .metrics()
                .skipped_ticks
                .with_label_values(&[id, "deactivated"])
                .inc();
            tracing::debug!(flow = %id, "flow deactivated or disabled; tick skipped");
            return;
        }
        Ok(Err(FlowError::UnknownFlow(_))) => return, // removed by a reload
        Ok(Err(e)) => {
            tracing::warn!(flow = %id, error = %e, "cannot read the flow's state; tick skipped");
            return;
        }
        Err(_) => return,
    }
    match engine.claim_tick(id, tick_of(schedule, fired)).await {
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
        let cron = Schedule::Cron("0 * * * * *".into());
        assert_eq!(tick_of(&cron, at(1_800_000_000_020)), 1_800_000_000);
        assert_eq!(tick_of(&cron, at(1_799_999_999_990)), 1_800_000_000);
        let rate = Schedule::Every(std::time::Duration::from_secs(3600));
        // Two nodes started half an hour apart fire in the same hour.
        assert_eq!(
            tick_of(&rate, at(1_800_000_000_000)),
            tick_of(&rate, at(1_800_001_000_000))
        );
        assert_ne!(
            tick_of(&rate, at(1_800_000_000_000)),
            tick_of(&rate, at(1_800_004_000_000))
        );
    }
}
