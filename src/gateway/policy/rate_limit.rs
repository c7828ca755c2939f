//! Rate limits as the gateway applies them: a family of buckets from the
//! store's `RateLimits` (governor in-process, or shared by a fleet), and the
//! headers that tell clients where they stand: `RateLimit-Policy` /
//! `RateLimit` (draft-ietf-httpapi-ratelimit-headers) and the common
//! `X-RateLimit-Limit/-Remaining/-Reset`.

use crate::config::model::RateLimit;
pub use crate::store::rate_limits::Standing;
use crate::store::rate_limits::{Limiter, Rate, RateLimits};
use http::HeaderValue;
use std::sync::Arc;
use std::time::Duration;

pub struct RateGate {
    limiter: Arc<dyn Limiter>,
    /// `RateLimit-Policy` and `X-RateLimit-Limit` never change: built once.
    policy_header: HeaderValue,
    limit_header: HeaderValue,
}

pub fn rate_of(spec: &RateLimit) -> Rate {
    Rate {
        count: spec.count,
        period: spec.period,
        burst: spec.burst,
    }
}

impl RateGate {
    /// The buckets named `name` under `spec`'s rate.
    pub fn new(limits: &dyn RateLimits, name: &str, spec: &RateLimit) -> RateGate {
        let window = spec.period.as_secs().max(1);
        RateGate {
            limiter: limits.limiter(name, rate_of(spec)),
            policy_header: header(format!("\"default\";q={};w={window}", spec.count)),
            limit_header: HeaderValue::from(spec.count),
        }
    }

    pub async fn check(&self, key: &str) -> Standing {
        self.limiter.acquire(key).await
    }

    pub fn evict_idle(&self) {
        self.limiter.evict_idle();
    }

    pub fn tracked_keys(&self) -> usize {
        self.limiter.tracked_keys()
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

    fn limiter(count: u32, burst: u32) -> RateGate {
        let limits = crate::store::local_rate_limits::LocalRateLimits::new();
        let spec = RateLimit {
            key: RateKey::ClientIp,
            count,
            period: Duration::from_secs(1),
            burst,
        };
        RateGate::new(&limits, "test", &spec)
    }

    #[tokio::test]
    async fn burst_then_deny_per_key() {
        let l = limiter(5, 5);
        for expected in (0..5).rev() {
            let s = l.check("a").await;
            assert!(s.allowed);
            assert_eq!(s.remaining, expected);
        }
        let denied = l.check("a").await;
        assert!(!denied.allowed);
        assert!(denied.reset > Duration::ZERO && denied.reset <= Duration::from_millis(200));
        assert!(l.check("b").await.allowed, "keys have their own buckets");
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
}
