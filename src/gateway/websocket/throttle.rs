//! Message throttles: one bucket per connection (the API's `throttle`) and
//! one per route key on this node (a route's `throttle`), GCRA through
//! governor. Route buckets are kept by the API, route key and rate, so a
//! reload that keeps the throttle keeps the bucket.

use crate::config::model::Throttle;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

pub fn bucket(t: &Throttle) -> DefaultDirectRateLimiter {
    let interval = t.period / t.count.max(1);
    let quota = Quota::with_period(interval)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(t.burst).unwrap_or(NonZeroU32::MIN));
    RateLimiter::direct(quota)
}

/// Route keys' buckets on this node.
#[derive(Default)]
pub struct RouteBuckets {
    buckets: Mutex<HashMap<(String, String, Throttle), Arc<DefaultDirectRateLimiter>>>,
}

impl RouteBuckets {
    /// True when a message on `route_key` of `api` may pass now.
    pub fn admit(&self, api: &str, route_key: &str, throttle: &Throttle) -> bool {
        let key = (api.to_string(), route_key.to_string(), *throttle);
        let bucket = {
            let mut buckets = self.buckets.lock();
            buckets
                .entry(key)
                .or_insert_with(|| Arc::new(bucket(throttle)))
                .clone()
        };
        bucket.check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t = Throttle {
            count: 1,
            period: Duration::from_secs(3600),
            burst: 3,
        };
        let routes = RouteBuckets::default();
        let passed = (0..5).filter(|_| routes.admit("chat", "echo", &t)).count();
        assert_eq!(passed, 3);
        // Another route key has its own bucket.
        assert!(routes.admit("chat", "broadcast", &t));
        let one = bucket(&t);
        assert!(one.check().is_ok());
    }
}
