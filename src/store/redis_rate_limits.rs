//! Rate limits shared by a fleet: GCRA in Redis, one Lua script per check
//! (atomic, one round trip, Redis's clock so nodes' clocks do not matter).
//! A bucket is one key holding its theoretical arrival time (TAT); a WAF
//! block is a second key that expires with the block.
//!
//! When Redis does not answer within the timeout, each node falls back to
//! its own governor buckets with the limit divided by the configured node
//! count (fail-open, the default), or refuses (fail-closed). After a failure
//! Redis is left alone for a second, so an outage costs one timeout per
//! second, not one per request. Fallbacks are logged on each change and
//! counted in `gatehouse_rate_limit_fallbacks_total`.

use super::local_rate_limits::{LocalLimiter, LocalRateLimits};
use super::rate_limits::{Limiter, Rate, RateLimits, Standing};
use crate::config::model::RedisSettings;
use governor::clock::DefaultClock;
use parking_lot::Mutex;
use prometheus::{IntCounter, IntGauge};
use redis::aio::ConnectionManager;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// KEYS[1]: the bucket, KEYS[2]: the block. ARGV[1]: emission interval
/// (µs), ARGV[2]: burst. Returns {allowed, remaining, reset µs}.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then
  return {0, 0, blocked * 1000}
end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local ahead = new_tat - now
if ahead > tolerance then
  return {0, 0, ahead - tolerance}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil(ahead / 1000) + 1)
return {1, math.floor((tolerance - ahead) / interval), ahead}
"#;

pub struct RedisRateLimits {
    shared: Arc<Shared>,
    /// Each node's share while Redis is away.
    fallback: LocalRateLimits,
}

struct Shared {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
    script: redis::Script,
    settings: RedisSettings,
    /// Unix ms until which Redis is not asked (after a failure).
    resting_until: AtomicI64,
    down: AtomicBool,
    metrics: RedisMetrics,
    last_error: Mutex<String>,
}

#[derive(Clone)]
pub struct RedisMetrics {
    pub fallbacks: IntCounter,
    pub up: IntGauge,
}

impl RedisMetrics {
    fn new() -> RedisMetrics {
        RedisMetrics {
            fallbacks: IntCounter::new(
                "rate_limit_fallbacks_total",
                "Rate limit checks answered without Redis (per-node share, or refused when fail-closed)",
            )
            .expect("valid metric"),
            up: IntGauge::new(
                "rate_limit_redis_up",
                "1 while the shared rate limit store answers, 0 while checks fall back",
            )
            .expect("valid metric"),
        }
    }

    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![Box::new(self.fallbacks.clone()), Box::new(self.up.clone())]
    }
}

const REST_MS: i64 = 1000;

impl RedisRateLimits {
    /// Checked URLs only (config::store): a bad one is a config error.
    pub fn new(settings: &RedisSettings) -> anyhow::Result<RedisRateLimits> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| anyhow::anyhow!("the rate limit Redis URL: {e}"))?;
        let metrics = RedisMetrics::new();
        metrics.up.set(1);
        Ok(RedisRateLimits {
            shared: Arc::new(Shared {
                client,
                connection: tokio::sync::Mutex::new(None),
                script: redis::Script::new(GCRA),
                settings: settings.clone(),
                resting_until: AtomicI64::new(0),
                down: AtomicBool::new(false),
                metrics,
                last_error: Mutex::new(String::new()),
            }),
            fallback: LocalRateLimits::new(),
        })
    }

    pub fn metrics(&self) -> &RedisMetrics {
        &self.shared.metrics
    }

    /// Says at start-up whether Redis answers (limits work either way).
    pub async fn check(&self) {
        let pong = self
            .shared
            .ask(async |c: &mut ConnectionManager| {
                redis::cmd("PING").query_async::<String>(c).await
            })
            .await;
        if pong.is_some() {
            tracing::info!("rate limits: counting in Redis, fleet-wide");
        }
    }
}

impl RateLimits for RedisRateLimits {
    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        self.shared.metrics.collectors()
    }

    fn limiter(&self, name: &str, rate: Rate) -> Arc<dyn Limiter> {
        let nodes = self.shared.settings.nodes.max(1);
        let share = Rate {
            count: (rate.count / nodes).max(1),
            period: rate.period,
            burst: (rate.burst / nodes).max(1),
        };
        let prefix = format!(
            "{}rl:{name}|{}/{}/{}|",
            self.shared.settings.key_prefix,
            rate.count,
            rate.period.as_millis(),
            rate.burst
        );
        Arc::new(RedisLimiter {
            shared: self.shared.clone(),
            prefix,
            interval_us: rate.interval().as_micros().max(1) as i64,
            burst: i64::from(rate.burst.max(1)),
            fallback: self.fallback.local_limiter(name, share),
        })
    }
}

struct RedisLimiter {
    shared: Arc<Shared>,
    /// `{key_prefix}rl:{name}|{rate}|`: the client's key follows.
    prefix: String,
    interval_us: i64,
    burst: i64,
    fallback: Arc<LocalLimiter<DefaultClock>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Shared {
    fn resting(&self) -> bool {
        self.resting_until.load(Ordering::Relaxed) > now_ms()
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.settings.timeout.max(Duration::from_millis(200))))
            .set_response_timeout(Some(self.settings.timeout))
            .set_number_of_retries(1);
        let c = ConnectionManager::new_with_config(self.client.clone(), config).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Runs `f` against Redis within the timeout; None (and a rest) when
    /// Redis failed.
    async fn ask<T>(
        &self,
        f: impl AsyncFnOnce(&mut ConnectionManager) -> redis::RedisResult<T>,
    ) -> Option<T> {
        if self.resting() {
            return None;
        }
        let attempt = async {
            let mut c = self.connection().await?;
            f(&mut c).await
        };
        let outcome = match tokio::time::timeout(self.settings.timeout, attempt).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.settings.timeout)),
        };
        match outcome {
            Ok(v) => {
                if self.down.swap(false, Ordering::SeqCst) {
                    tracing::info!("rate limits: Redis answers again; limits are fleet-wide");
                    self.metrics.up.set(1);
                }
                Some(v)
            }
            Err(why) => {
                self.resting_until
                    .store(now_ms() + REST_MS, Ordering::Relaxed);
                if !self.down.swap(true, Ordering::SeqCst) {
                    let mode = if self.settings.fail_closed {
                        "refusing rate-limited requests (fail-closed)"
                    } else {
                        "each node counts its share (fail-open)"
                    };
                    tracing::warn!(error = %why, "rate limits: Redis is unreachable; {mode}");
                    self.metrics.up.set(0);
                }
                *self.last_error.lock() = why;
                None
            }
        }
    }
}

#[async_trait::async_trait]
impl Limiter for RedisLimiter {
    async fn acquire(&self, key: &str) -> Standing {
        let bucket = format!("{}{key}", self.prefix);
        let block = format!("{bucket}|block");
        let (interval, burst) = (self.interval_us, self.burst);
        let script = &self.shared.script;
        let answer = self
            .shared
            .ask(async |c: &mut ConnectionManager| {
                script
                    .key(&bucket)
                    .key(&block)
                    .arg(interval)
                    .arg(burst)
                    .invoke_async::<(i64, i64, i64)>(c)
                    .await
            })
            .await;
        match answer {
            Some((allowed, remaining, reset_us)) => Standing {
                allowed: allowed == 1,
                remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
                reset: Duration::from_micros(reset_us.max(0) as u64),
            },
            None => {
                self.shared.metrics.fallbacks.inc();
                if self.shared.settings.fail_closed {
                    Standing {
                        allowed: false,
                        remaining: 0,
                        reset: Duration::from_secs(1),
                    }
                } else {
                    self.fallback.acquire_now(key)
                }
            }
        }
    }

    async fn block(&self, key: &str, period: Duration) {
        let block = format!("{}{key}|block", self.prefix);
        let ms = period.as_millis().max(1) as u64;
        let done = self
            .shared
            .ask(async |c: &mut ConnectionManager| {
                // NX: a block in force is not extended.
                redis::cmd("SET")
                    .arg(&block)
                    .arg(1)
                    .arg("PX")
                    .arg(ms)
                    .arg("NX")
                    .query_async::<Option<String>>(c)
                    .await
            })
            .await;
        if done.is_none() {
            self.fallback.block_now(key, period);
        }
    }

    fn evict_idle(&self) {
        // Redis expires idle buckets itself; the fallback's are local.
        self.fallback.evict_idle_now();
    }

    fn tracked_keys(&self) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::rate_limits::{conformance, sleep};

    pub fn settings(prefix: &str, url: &str) -> RedisSettings {
        RedisSettings {
            url: url.to_string(),
            key_prefix: format!(
                "test:{prefix}:{}:{:x}:",
                std::process::id(),
                fastrand::u64(..)
            ),
            nodes: 2,
            fail_closed: false,
            timeout: Duration::from_millis(200),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_limits_pass_the_suite() {
        let limits = RedisRateLimits::new(&settings("suite", "redis://127.0.0.1:6379")).unwrap();
        conformance(&limits, &sleep).await;
        assert_eq!(
            limits.metrics().fallbacks.get(),
            0,
            "Redis answered every check"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_share_one_bucket() {
        let s = settings("shared", "redis://127.0.0.1:6379");
        let (a, b) = (
            RedisRateLimits::new(&s).unwrap(),
            RedisRateLimits::new(&s).unwrap(),
        );
        let rate = Rate {
            count: 10,
            period: Duration::from_secs(60),
            burst: 10,
        };
        let (la, lb) = (a.limiter("route", rate), b.limiter("route", rate));
        let mut admitted = 0;
        for i in 0..40 {
            let l = if i % 2 == 0 { &la } else { &lb };
            admitted += usize::from(l.acquire("client").await.allowed);
        }
        assert_eq!(admitted, 10, "one bucket across both nodes");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_redis_each_node_admits_its_share_or_none() {
        // Nothing listens on port 1.
        let open = RedisRateLimits::new(&settings("down", "redis://127.0.0.1:1")).unwrap();
        let rate = Rate {
            count: 10,
            period: Duration::from_secs(60),
            burst: 10,
        };
        let l = open.limiter("route", rate);
        let mut admitted = 0;
        for _ in 0..20 {
            admitted += usize::from(l.acquire("client").await.allowed);
        }
        assert_eq!(admitted, 5, "half the limit on each of two nodes");
        assert_eq!(open.metrics().fallbacks.get(), 20);
        assert_eq!(open.metrics().up.get(), 0);

        let mut s = settings("closed", "redis://127.0.0.1:1");
        s.fail_closed = true;
        let closed = RedisRateLimits::new(&s).unwrap();
        let refused = closed.limiter("route", rate).acquire("client").await;
        assert!(!refused.allowed);
        assert_eq!(refused.reset, Duration::from_secs(1));
    }
}
