//! Rate limits: GCRA buckets keyed by client (an IP, an API key, a JWT
//! subject...), one family of buckets per named limit. Route limits,
//! usage-plan throttles and WAF rate-based rules all count through this seam:
//! governor in this process is the embedded implementation
//! (`local_rate_limits.rs`); a shared one (Redis) lets a fleet count together.

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
}

pub trait Limiter: Send + Sync {
    /// Takes one request from `key`'s bucket.
    fn acquire(&self, key: &str) -> Standing;
    /// Refuses `key` for `period` from now, whatever its bucket holds (a WAF
    /// rate-based rule blocks an IP for a while once it goes over). A block
    /// in force is not extended.
    fn block(&self, key: &str, period: Duration);
    /// Forgets keys whose buckets are full again, so memory follows the
    /// active clients.
    fn evict_idle(&self);
    /// Keys with state here (0 where the state lives elsewhere).
    fn tracked_keys(&self) -> usize;
}

/// The suite every `RateLimits` passes. `advance` moves its clock forward
/// (a fake clock's, or real time by sleeping).
#[cfg(test)]
pub(crate) fn conformance(limits: &dyn RateLimits, advance: &dyn Fn(Duration)) {
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
        let s = limiter.acquire("a");
        assert!(s.allowed);
        assert_eq!(s.remaining, remaining);
    }
    let denied = limiter.acquire("a");
    assert!(!denied.allowed);
    assert_eq!(denied.remaining, 0);
    assert!(denied.reset > Duration::ZERO && denied.reset <= rate.interval());
    // Keys and limits have buckets of their own.
    assert!(limiter.acquire("b").allowed);
    assert!(limits.limiter("other", rate).acquire("a").allowed);
    // The same name and rate find the same buckets; another rate does not.
    assert!(!limits.limiter("suite", rate).acquire("a").allowed);
    let wider = Rate { burst: 4, ..rate };
    assert!(limits.limiter("suite", wider).acquire("a").allowed);
    // One interval later, one more request.
    advance(rate.interval());
    assert!(limiter.acquire("a").allowed);
    assert!(!limiter.acquire("a").allowed);
    // A block holds whatever the bucket holds, and ends.
    let c = limiter.acquire("c");
    assert!(c.allowed);
    limiter.block("c", Duration::from_millis(300));
    let blocked = limiter.acquire("c");
    assert!(!blocked.allowed);
    assert!(blocked.reset > Duration::ZERO && blocked.reset <= Duration::from_millis(300));
    advance(Duration::from_millis(150));
    limiter.block("c", Duration::from_millis(300)); // not extended
    advance(Duration::from_millis(160));
    assert!(limiter.acquire("c").allowed);
    // Full buckets are forgotten.
    advance(rate.interval() * (rate.burst + 1));
    limiter.evict_idle();
    assert_eq!(limiter.tracked_keys(), 0);
}
