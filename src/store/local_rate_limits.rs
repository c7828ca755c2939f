//! The embedded `RateLimits`: governor's keyed GCRA buckets in this process.
//! Buckets are keyed by a 64-bit hash of the client's key, made with a key
//! chosen at random per process: no allocation per request, and clients
//! cannot pick keys that collide with someone else's bucket.

use super::rate_limits::{Limiter, Rate, RateLimits, Standing};
use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Every limiter made and still in use, by name and rate: a reload asking
/// for the same limit again gets the same buckets.
pub struct LocalRateLimits<C: Clock = DefaultClock> {
    clock: C,
    made: Mutex<HashMap<(String, Rate), Made<C>>>,
}

type Made<C> = Weak<LocalLimiter<C>>;

impl LocalRateLimits<DefaultClock> {
    pub fn new() -> LocalRateLimits {
        LocalRateLimits::with_clock(DefaultClock::default())
    }
}

impl Default for LocalRateLimits<DefaultClock> {
    fn default() -> Self {
        LocalRateLimits::new()
    }
}

impl<C: Clock + Send + Sync + 'static> LocalRateLimits<C>
where
    C::Instant: Send + Sync,
{
    /// With a clock of the caller's (a fake one in tests).
    pub fn with_clock(clock: C) -> LocalRateLimits<C> {
        LocalRateLimits {
            clock,
            made: Mutex::new(HashMap::new()),
        }
    }
}

type Buckets<C> = RateLimiter<u64, DefaultKeyedStateStore<u64>, C, StateInformationMiddleware>;

pub struct LocalLimiter<C: Clock> {
    rate: Rate,
    buckets: Buckets<C>,
    clock: C,
    hasher: RandomState,
    /// Keys refused until a time; `blocks` counts them so the common case
    /// (no block anywhere) never takes the lock.
    blocked: Mutex<HashMap<u64, C::Instant>>,
    blocks: AtomicUsize,
}

impl<C> RateLimits for LocalRateLimits<C>
where
    C: Clock + Clone + Send + Sync + 'static,
    C::Instant: Send + Sync,
{
    fn limiter(&self, name: &str, rate: Rate) -> Arc<dyn Limiter> {
        self.local_limiter(name, rate)
    }
}

impl<C> LocalRateLimits<C>
where
    C: Clock + Clone + Send + Sync + 'static,
    C::Instant: Send + Sync,
{
    /// `limiter`, as its concrete type (the Redis limits fall back to it).
    pub fn local_limiter(&self, name: &str, rate: Rate) -> Arc<LocalLimiter<C>> {
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        made.retain(|_, l| l.strong_count() > 0);
        let key = (name.to_string(), rate);
        if let Some(live) = made.get(&key).and_then(Weak::upgrade) {
            return live;
        }
        let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(rate.interval())
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        let limiter = Arc::new(LocalLimiter {
            rate,
            buckets: RateLimiter::<_, _, _, governor::middleware::NoOpMiddleware<C::Instant>>::new(
                quota,
                DefaultKeyedStateStore::default(),
                self.clock.clone(),
            )
            .with_middleware::<StateInformationMiddleware>(),
            clock: self.clock.clone(),
            hasher: RandomState::new(),
            blocked: Mutex::new(HashMap::new()),
            blocks: AtomicUsize::new(0),
        });
        made.insert(key, Arc::downgrade(&limiter));
        limiter
    }
}

impl<C> LocalLimiter<C>
where
    C: Clock,
{
    /// How long `hash` stays blocked, if it is.
    fn blocked_for(&self, hash: u64) -> Option<Duration> {
        if self.blocks.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        let until = *blocked.get(&hash)?;
        let now = self.clock.now();
        (until > now).then(|| Duration::from(until.duration_since(now)))
    }
}

#[async_trait::async_trait]
impl<C> Limiter for LocalLimiter<C>
where
    C: Clock + Send + Sync,
    C::Instant: Send + Sync,
{
    async fn acquire(&self, key: &str) -> Standing {
        self.acquire_now(key)
    }

    async fn block(&self, key: &str, period: Duration) {
        self.block_now(key, period)
    }

    fn evict_idle(&self) {
        self.evict_idle_now();
    }

    fn tracked_keys(&self) -> usize {
        self.buckets.len()
    }
}

impl<C> LocalLimiter<C>
where
    C: Clock + Send + Sync,
    C::Instant: Send + Sync,
{
    pub fn evict_idle_now(&self) {
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
        let now = self.clock.now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.retain(|_, until| *until > now);
        self.blocks.store(blocked.len(), Ordering::Relaxed);
    }

    /// `acquire` without a future: the embedded buckets answer at once.
    pub fn acquire_now(&self, key: &str) -> Standing {
        let hash = self.hasher.hash_one(key);
        if let Some(left) = self.blocked_for(hash) {
            return Standing {
                allowed: false,
                remaining: 0,
                reset: left,
            };
        }
        match self.buckets.check_key(&hash) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Standing {
                    allowed: true,
                    remaining,
                    reset: self.rate.interval()
                        * (self.rate.burst - remaining.min(self.rate.burst)),
                }
            }
            Err(not_until) => Standing {
                allowed: false,
                remaining: 0,
                reset: not_until.wait_time_from(self.clock.now()),
            },
        }
    }

    pub fn block_now(&self, key: &str, period: Duration) {
        let hash = self.hasher.hash_one(key);
        let now = self.clock.now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        if blocked.get(&hash).is_some_and(|until| *until > now) {
            return;
        }
        blocked.insert(hash, now + period.into());
        self.blocks.store(blocked.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[tokio::test]
    async fn the_fake_clock_twin_passes_the_suite() {
        let clock = FakeRelativeClock::default();
        let limits = LocalRateLimits::with_clock(clock.clone());
        let advance = move |d| {
            clock.advance(d);
            Box::pin(async {}) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        };
        super::super::rate_limits::conformance(&limits, &advance).await;
    }

    #[tokio::test]
    async fn the_embedded_limits_pass_the_suite() {
        let limits = LocalRateLimits::new();
        super::super::rate_limits::conformance(&limits, &super::super::rate_limits::sleep).await;
    }

    #[tokio::test]
    async fn idle_keys_are_evicted() {
        let limits = LocalRateLimits::new();
        let rate = Rate {
            count: 1000,
            period: Duration::from_secs(1),
            burst: 1,
        };
        let l = limits.limiter("many", rate);
        for i in 0..1000 {
            l.acquire(&format!("client-{i}")).await;
        }
        assert_eq!(l.tracked_keys(), 1000);
        std::thread::sleep(Duration::from_millis(5));
        l.evict_idle();
        assert_eq!(l.tracked_keys(), 0);
    }
}
