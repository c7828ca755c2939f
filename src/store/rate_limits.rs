//! Rate limits: GCRA buckets keyed by client (an IP, an API key, a JWT
//! subject...), one family of buckets per named limit. Route limits,
//! usage-plan throttles and WAF rate-based rules all count through this seam:
//! governor in this process is the embedded implementation
//! (`local_rate_limits.rs`); a shared one (Redis) lets a fleet count together.

use crate::config::model::RateLimitBackend;
use std::sync::Arc;
use std::time::Duration;

/// `count` requests per `period`, with up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
    pub burst: u32,
}

impl Rate {
    /// The time one request's worth of the bucket takes to refill.
    pub fn interval(&self) -> Duration {
        (self.period / self.count.max(1)).max(Duration::from_nanos(1))
    }
}

/// Where a client stands after a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub allowed: bool,
    pub remaining: u32,
    /// Until the next request is allowed (denied) or the bucket is full
    /// again (allowed).
    pub reset: Duration,
}

pub trait RateLimits: Send + Sync {
    /// The buckets of one limit. The same name and rate give the same
    /// buckets (across a config reload; across nodes where shared), so a
    /// reload does not hand every client a fresh burst.
    fn limiter(&self, name: &str, rate: Rate) -> Arc<dyn Limiter>;
    /// The implementation's own metrics (Redis fallbacks).
    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        Vec::new()
    }
}

/// The rate limits the config asks for: in this process, or in Redis.
pub async fn open(backend: &RateLimitBackend) -> Arc<dyn RateLimits> {
    match backend {
        RateLimitBackend::Local => Arc::new(super::local_rate_limits::LocalRateLimits::new()),
        RateLimitBackend::Redis(settings) => {
            match super::redis_rate_limits::RedisRateLimits::new(settings) {
                Ok(limits) => {
                    limits.check().await;
                    Arc::new(limits)
                }
                Err(e) => {
                    // The URL was checked with the config; this is unexpected.
                    tracing::error!(error = %e, "rate limits: cannot use Redis; counting per node");
                    Arc::new(super::local_rate_limits::LocalRateLimits::new())
                }
            }
        }
    }
}

/// Async: a shared implementation asks Redis; the embedded one answers at
/// once.
#[async_trait::async_trait]
pub trait Limiter: Send + Sync {
    /// Takes one request from `key`'s bucket.
    async fn acquire(&self, key: &str) -> Standing;
    /// Refuses `key` for `period` from now, whatever its bucket holds (a WAF
    /// rate-based rule blocks an IP for a while once it goes over). A block
    /// in force is not extended.
    async fn block(&self, key: &str, period: Duration);
    /// Forgets keys whose buckets are full again, so memory follows the
    /// active clients.
    fn evict_idle(&self);
    /// Keys with state here (0 where the state lives elsewhere).
    fn tracked_keys(&self) -> usize;
}

/// Moves a suite's clock forward: a fake clock's, or real time by sleeping.
#[cfg(test)]
pub(crate) type Advance<'a> = &'a (dyn Fn(Duration) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
         + Sync);

/// Real time, for suites over real clocks.
#[cfg(test)]
pub(crate) fn sleep(
    d: Duration,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(tokio::time::sleep(d))
}

/// The suite every `RateLimits` passes.
#[cfg(test)]
pub(crate) async fn conformance(limits: &dyn RateLimits, advance: Advance<'_>) {
    // Intervals of half a second: a real clock's sleeps overshoot by far
    // less, so the suite holds on a busy machine too.
    let rate = Rate {
        count: 2,
        period: Duration::from_secs(1),
        burst: 3,
    };
    let limiter = limits.limiter("suite", rate);
    // A burst, then a denial that says when to come back.
    for remaining in (0..3).rev() {
        let s = limiter.acquire("a").await;
        assert!(s.allowed);
        assert_eq!(s.remaining, remaining);
    }
    let denied = limiter.acquire("a").await;
    assert!(!denied.allowed);
    assert_eq!(denied.remaining, 0);
    assert!(denied.reset > Duration::ZERO && denied.reset <= rate.interval());
    // Keys and limits have buckets of their own.
    assert!(limiter.acquire("b").await.allowed);
    assert!(limits.limiter("other", rate).acquire("a").await.allowed);
    // The same name and rate find the same buckets; another rate does not.
    assert!(!limits.limiter("suite", rate).acquire("a").await.allowed);
    let wider = Rate { burst: 4, ..rate };
    assert!(limits.limiter("suite", wider).acquire("a").await.allowed);
    // One interval later, one more request.
    advance(rate.interval()).await;
    assert!(limiter.acquire("a").await.allowed);
    assert!(!limiter.acquire("a").await.allowed);
    // A block holds whatever the bucket holds, and ends.
    let c = limiter.acquire("c").await;
    assert!(c.allowed);
    limiter.block("c", Duration::from_millis(300)).await;
    let blocked = limiter.acquire("c").await;
    assert!(!blocked.allowed);
    assert!(blocked.reset > Duration::ZERO && blocked.reset <= Duration::from_millis(300));
    advance(Duration::from_millis(150)).await;
    limiter.block("c", Duration::from_millis(300)).await; // not extended
    advance(Duration::from_millis(160)).await;
    assert!(limiter.acquire("c").await.allowed);
    // Full buckets are forgotten.
    advance(rate.interval() * (rate.burst + 1)).await;
    limiter.evict_idle();
    assert_eq!(limiter.tracked_keys(), 0);
}
