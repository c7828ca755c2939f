//! Active health checks: one task per pool with a `health_check`, probing
//! every target with `GET path` on an interval.
//!
//! The task holds only a `Weak` to its pool, so when a reload replaces the
//! pool and the last request using the old one finishes, the task ends.

use super::{Pool, TargetState};
use crate::config::model::HealthCheck;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

pub fn spawn(pool: &Arc<Pool>, handle: &tokio::runtime::Handle) {
    let Some(check) = pool.spec.health_check.clone() else {
        return;
    };
    let client = match super::client_for(pool, Some(check.timeout)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(upstream = %pool.spec.name, error = %e, "cannot build health-check client");
            return;
        }
    };
    let weak = Arc::downgrade(pool);
    handle.spawn(run(weak, check, client));
}

async fn run(pool: Weak<Pool>, check: HealthCheck, client: reqwest::Client) {
    let mut interval = tokio::time::interval(check.interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let check = &check;
        let probes = pool.targets.iter().map(|t| {
            let url = super::url(&pool, &t.spec.host, t.spec.socket, &check.path);
            let client = client.clone();
            async move {
                match client.get(url).send().await {
                    Ok(resp) => status_ok(check, resp.status().as_u16()),
                    Err(_) => false,
                }
            }
        });
        let results = futures_util::future::join_all(probes).await;
        for (target, ok) in pool.targets.iter().zip(results) {
            if record(&target.state, ok, check) {
                tracing::warn!(
                    upstream = %pool.spec.name,
                    target = %target.spec.address,
                    healthy = ok,
                    "health check changed target state"
                );
            }
        }
    }
}

fn status_ok(check: &HealthCheck, status: u16) -> bool {
    if check.expected_status.is_empty() {
        (200..400).contains(&status)
    } else {
        check.expected_status.contains(&status)
    }
}

/// Applies one probe result with the thresholds; true when the state flipped.
fn record(state: &TargetState, ok: bool, check: &HealthCheck) -> bool {
    let down = state.checked_down.load(Ordering::Relaxed);
    if ok != down {
        // Result agrees with the current state: nothing building up.
        state.streak.store(0, Ordering::Relaxed);
        return false;
    }
    let streak = state.streak.fetch_add(1, Ordering::Relaxed) + 1;
    let threshold = if down {
        check.healthy_threshold
    } else {
        check.unhealthy_threshold
    };
    if streak >= threshold {
        state.streak.store(0, Ordering::Relaxed);
        state.checked_down.store(!down, Ordering::Relaxed);
        if ok {
            // A target brought back by checks starts with a clean slate.
            state.ejected_until.store(0, Ordering::Relaxed);
            state.failures.store(0, Ordering::Relaxed);
        }
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn thresholds() {
        let check = HealthCheck {
            path: "/".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            expected_status: vec![],
        };
        let s = TargetState::default();
        assert!(!record(&s, false, &check));
        assert!(!record(&s, false, &check));
        assert!(!record(&s, true, &check)); // streak broken
        assert!(!record(&s, false, &check));
        assert!(!record(&s, false, &check));
        assert!(record(&s, false, &check));
        assert!(s.checked_down.load(Ordering::Relaxed));
        assert!(!record(&s, true, &check));
        assert!(record(&s, true, &check));
        assert!(!s.checked_down.load(Ordering::Relaxed));
    }
}
