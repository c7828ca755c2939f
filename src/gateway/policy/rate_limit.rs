//! Rate limits: GCRA buckets from governor, keyed by client IP, a header or
//! the route, and the headers that tell clients where they stand:
//! `RateLimit-Policy` / `RateLimit` (draft-ietf-httpapi-ratelimit-headers)
//! and the common `X-RateLimit-Limit/-Remaining/-Reset`.

use crate::config::model::RateLimit;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::HeaderValue;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Buckets are keyed by a 64-bit hash of the client's key, made with a key
/// chosen at random per process: no allocation per request, and clients
/// cannot pick keys that collide with someone else's bucket.
type Buckets =
    RateLimiter<u64, DefaultKeyedStateStore<u64>, DefaultClock, StateInformationMiddleware>;

pub struct Limiter {
    spec: Arc<RateLimit>,
    buckets: Buckets,
    clock: DefaultClock,
    hasher: std::collections::hash_map::RandomState,
    /// `RateLimit-Policy` and `X-RateLimit-Limit` never change: built once.
    policy_header: HeaderValue,
    limit_header: HeaderValue,
}

/// Where a client stands after a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub allowed: bool,
    pub remaining: u32,
    /// Until the next request is allowed (denied) or the bucket is full again (allowed).
    pub reset: Duration,
}

impl Limiter {
    pub fn new(spec: &Arc<RateLimit>) -> Limiter {
        let interval = (spec.period / spec.count.max(1)).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(spec.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        let window = spec.period.as_secs().max(1);
        Limiter {
            spec: spec.clone(),
            buckets: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            clock: DefaultClock::default(),
            hasher: std::collections::hash_map::RandomState::new(),
            policy_header: header(format!("\"default\";q={};w={window}", spec.count)),
            limit_header: HeaderValue::from(spec.count),
        }
    }

    pub fn check(&self, key: &str) -> Standing {
        use std::hash::BuildHasher;
        let interval = self.spec.period / self.spec.count.max(1);
        match self.buckets.check_key(&self.hasher.hash_one(key)) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Standing {
                    allowed: true,
                    remaining,
                    reset: interval * (self.spec.burst - remaining.min(self.spec.burst)),
                }
            }
            Err(not_until) => Standing {
                allowed: false,
                remaining: 0,
                reset: not_until.wait_time_from(self.clock.now()),
            },
        }
    }

    pub fn evict_idle(&self) {
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The response headers for `standing`.
    pub fn headers(&self, standing: &Standing) -> Vec<(&'static str, HeaderValue)> {
        let reset = ceil_secs(standing.reset);
        let mut out = Vec::with_capacity(6);
        out.push(("ratelimit-policy", self.policy_header.clone()));
        out.push((
            "ratelimit",
            header(format!("\"default\";r={};t={reset}", standing.remaining)),
        ));
        out.push(("x-ratelimit-limit", self.limit_header.clone()));
        out.push((
            "x-ratelimit-remaining",
            HeaderValue::from(standing.remaining),
        ));
        out.push(("x-ratelimit-reset", HeaderValue::from(reset)));
        if !standing.allowed {
            out.push(("retry-after", HeaderValue::from(reset.max(1))));
        }
        out
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn header(s: String) -> HeaderValue {
    // Built from digits and fixed ASCII only.
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::RateKey;

    fn limiter(count: u32, burst: u32) -> Limiter {
        Limiter::new(&Arc::new(RateLimit {
            key: RateKey::ClientIp,
            count,
            period: Duration::from_secs(1),
            burst,
        }))
    }

    #[test]
    fn burst_then_deny_per_key() {
        let l = limiter(5, 5);
        for expected in (0..5).rev() {
            let s = l.check("a");
            assert!(s.allowed);
            assert_eq!(s.remaining, expected);
        }
        let denied = l.check("a");
        assert!(!denied.allowed);
        assert!(denied.reset > Duration::ZERO && denied.reset <= Duration::from_millis(200));
        assert!(l.check("b").allowed, "keys have their own buckets");
        let headers = l.headers(&denied);
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == n)
                .unwrap()
                .1
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(get("retry-after"), "1");
        assert_eq!(get("ratelimit-policy"), "\"default\";q=5;w=1");
        assert_eq!(get("ratelimit"), "\"default\";r=0;t=1");
        assert_eq!(get("x-ratelimit-remaining"), "0");
    }

    #[test]
    fn idle_keys_are_evicted() {
        let l = limiter(1000, 1);
        for i in 0..1000 {
            l.check(&format!("client-{i}"));
        }
        assert_eq!(l.len(), 1000);
        std::thread::sleep(Duration::from_millis(5));
        l.evict_idle();
        assert_eq!(l.len(), 0);
    }
}
