//! API keys and usage plans: who the caller is (by the SHA-256 of its key),
//! and whether its plan's throttle and quota let it through.
//!
//! Keys come from config (`api_keys`) and from the store (`gatehouse keys
//! create`, the admin API). Store lookups are cached for a few seconds, found
//! or not, so a revoked key stops within `LOOKUP_TTL` and random keys cannot
//! turn every request into a database read.
//!
//! Quotas are counted in the store, which every node of a fleet shares: a
//! gateway *reserves* a few requests of a key's quota at a time
//! (`KeyStore::reserve_usage`, atomic, never past the limit) and admits from
//! what it holds; every second (`flush`) and at shutdown it gives back what
//! it did not use. So N nodes together never exceed a quota; a crash counts
//! at most one reservation of unused requests as used. A fleet on a shared
//! store reserves one request at a time (`KeyRing::shared`): each is an
//! atomic add-and-check, and no node holds requests another would refuse.

use super::quota::period_bounds;
use super::rate_limit::RateGate;
use crate::config::model::{ApiKeyPolicy, RateLimit, UsagePlan};
use crate::gateway::errors::GatewayError;
use crate::hex::sha256_hex;
use crate::keys::{unix_now, KeyRecord};
use crate::store::rate_limits::RateLimits;
use crate::store::KeyStore;
use arc_swap::ArcSwap;
use http::HeaderValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a lookup is believed: a revocation elsewhere (the CLI, another
/// node) takes effect within it. A shared store is asked more often
/// (`KeyRing::shared`), so a fleet refuses a revoked key within a
/// second.
const LOOKUP_TTL: Duration = Duration::from_secs(5);

/// A store that cannot be reached is the client's 503 (retry), anything
/// else our 500.
fn store_failed(what: &str, e: crate::store::StoreError) -> GatewayError {
    tracing::error!(error = %e, "{what} failed");
    match e {
        crate::store::StoreError::Unavailable(_) => {
            GatewayError::Unavailable("the key store is unavailable; retry shortly".into())
        }
        _ => GatewayError::Internal,
    }
}
const LOOKUP_CACHE_CAPACITY: usize = 100_000;

pub struct KeyRing {
    store: Arc<dyn KeyStore>,
    /// Config-declared keys by hash; replaced on reload.
    declared: ArcSwap<HashMap<String, Arc<Known>>>,
    /// Store lookups by hash: when made, and what was found.
    lookups: Mutex<HashMap<String, Lookup>>,
    /// Per plan: the throttle it was built from, and its buckets.
    throttles: Mutex<HashMap<String, Throttle>>,
    usage: Mutex<HashMap<(String, i64), Counter>>,
    rate_limits: Arc<dyn RateLimits>,
    lookup_ttl: Duration,
    /// Reserve one request at a time (a fleet): no node holds what another
    /// could use, so a quota admits exactly its limit across the fleet.
    one_at_a_time: bool,
}

type Throttle = (Arc<RateLimit>, Arc<RateGate>);
type Lookup = (Instant, Option<Arc<Known>>);

#[derive(Default, Clone, Copy)]
struct Counter {
    /// Reserved in the store and not used yet; `flush` gives them back.
    held: u64,
    /// The store's count after this process's last reservation.
    total: u64,
    /// When the store last had nothing left to reserve: until
    /// `EXHAUSTED_RECHECK` later, requests are refused without asking it
    /// again, so a client past its quota cannot turn into store writes.
    exhausted_at: Option<Instant>,
}

/// How often a used-up quota is asked again (other nodes may give back
/// reservations they did not use).
const EXHAUSTED_RECHECK: Duration = Duration::from_secs(1);

/// How many requests one reservation takes: a twentieth of the quota, from
/// 1 to 100, so a busy key costs about one store write per second and idle
/// nodes hold little of a small quota.
fn reservation_size(limit: u64) -> u64 {
    (limit / 20).clamp(1, 100)
}

/// A key the ring knows, with the identity headers it sends upstream built
/// once rather than on every request.
pub struct Known {
    pub record: KeyRecord,
    pub id_header: Option<HeaderValue>,
    pub name_header: Option<HeaderValue>,
}

impl Known {
    fn new(record: KeyRecord) -> Arc<Known> {
        Arc::new(Known {
            id_header: HeaderValue::from_str(&record.id).ok(),
            name_header: HeaderValue::from_str(&record.name).ok(),
            record,
        })
    }
}

/// What a caller gets for passing: the key and the headers to answer with.
pub struct Admitted {
    pub key: Arc<Known>,
    pub headers: Vec<(&'static str, HeaderValue)>,
}

impl KeyRing {
    pub fn new(
        store: Arc<dyn KeyStore>,
        rate_limits: Arc<dyn RateLimits>,
        declared: &[KeyRecord],
    ) -> KeyRing {
        let ring = KeyRing {
            store,
            declared: ArcSwap::from_pointee(HashMap::new()),
            lookups: Mutex::new(HashMap::new()),
            throttles: Mutex::new(HashMap::new()),
            usage: Mutex::new(HashMap::new()),
            rate_limits,
            lookup_ttl: LOOKUP_TTL,
            one_at_a_time: false,
        };
        ring.set_declared(declared);
        ring
    }

    /// For a fleet sharing one store: lookups believed for half a second
    /// (a key revoked on any node is refused everywhere within a second),
    /// and quota requests reserved one at a time, each an atomic
    /// add-and-check in the store, so a quota is exact across the nodes (a
    /// node holding a reservation could otherwise leave requests unused
    /// that another node refuses).
    pub fn shared(mut self) -> KeyRing {
        self.lookup_ttl = Duration::from_millis(500);
        self.one_at_a_time = true;
        self
    }

    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }

    pub fn set_declared(&self, keys: &[KeyRecord]) {
        let map = keys
            .iter()
            .map(|k| (k.hash.clone(), Known::new(k.clone())))
            .collect();
        self.declared.store(Arc::new(map));
    }

    /// Forgets cached lookups, so a revocation takes effect at once.
    pub fn forget(&self, hash: &str) {
        if let Ok(mut lookups) = self.lookups.lock() {
            lookups.remove(hash);
        }
    }

    async fn find(&self, plain: &str) -> Result<Option<Arc<Known>>, GatewayError> {
        let hash = sha256_hex(plain.as_bytes());
        if let Some(k) = self.declared.load().get(&hash) {
            return Ok(Some(k.clone()));
        }
        if let Some((at, found)) = self.lookups.lock().ok().and_then(|l| l.get(&hash).cloned()) {
            if at.elapsed() < self.lookup_ttl {
                return Ok(found);
            }
        }
        let found = self
            .store
            .find_by_hash(&hash)
            .await
            .map_err(|e| store_failed("key lookup", e))?
            .map(Known::new);
        if let Ok(mut lookups) = self.lookups.lock() {
            if lookups.len() >= LOOKUP_CACHE_CAPACITY {
                lookups.clear();
            }
            lookups.insert(hash, (Instant::now(), found.clone()));
        }
        Ok(found)
    }

    /// The API-key policy: the key must exist, be active, belong to an
    /// accepted plan, and be within the plan's throttle and quota.
    pub async fn admit(
        &self,
        policy: &ApiKeyPolicy,
        plans: &std::collections::BTreeMap<String, Arc<UsagePlan>>,
        presented: Option<&str>,
    ) -> Result<Admitted, GatewayError> {
        let plain =
            presented.ok_or_else(|| GatewayError::MissingApiKey(policy.header.to_string()))?;
        let known = self
            .find(plain)
            .await?
            .filter(|k| k.record.is_active())
            .ok_or(GatewayError::InvalidApiKey)?;
        let key = &known.record;
        if !policy.plans.is_empty() && !policy.plans.contains(&key.plan) {
            return Err(GatewayError::InvalidApiKey);
        }
        let Some(plan) = plans.get(&key.plan) else {
            tracing::warn!(key = %key.id, plan = %key.plan, "key's usage plan is not configured");
            return Err(GatewayError::InvalidApiKey);
        };
        let mut headers = Vec::new();
        if let Some(throttle) = &plan.throttle {
            let limiter = self.throttle(&plan.name, throttle);
            let standing = limiter.check(&key.id).await;
            headers.extend(limiter.headers(&standing));
            if !standing.allowed {
                return Err(GatewayError::RateLimitedWith(headers));
            }
        }
        if let Some(quota) = plan.quota {
            let now = unix_now();
            let (start, end) = period_bounds(quota.period, now);
            let used = self.count(&key.id, start, quota.limit).await?;
            let reset = (end - now).max(1);
            let remaining = quota.limit.saturating_sub(used.unwrap_or(quota.limit));
            headers.push(("x-quota-limit", HeaderValue::from(quota.limit)));
            headers.push(("x-quota-remaining", HeaderValue::from(remaining)));
            headers.push(("x-quota-reset", HeaderValue::from(reset)));
            if used.is_none() {
                headers.push(("retry-after", HeaderValue::from(reset)));
                return Err(GatewayError::QuotaExceeded(headers));
            }
        }
        Ok(Admitted {
            key: known.clone(),
            headers,
        })
    }

    fn throttle(&self, plan: &str, spec: &Arc<RateLimit>) -> Arc<RateGate> {
        let name = format!("plan:{plan}");
        let Ok(mut throttles) = self.throttles.lock() else {
            return Arc::new(RateGate::new(self.rate_limits.as_ref(), &name, spec));
        };
        match throttles.get(plan) {
            Some((s, l)) if **s == **spec => l.clone(),
            _ => {
                let limiter = Arc::new(RateGate::new(self.rate_limits.as_ref(), &name, spec));
                throttles.insert(plan.to_string(), (spec.clone(), limiter.clone()));
                limiter
            }
        }
    }

    /// Counts one request in the period; `Some(count after)` if within the
    /// limit, `None` (and nothing counted) if the quota is used up.
    async fn count(
        &self,
        key_id: &str,
        period: i64,
        limit: u64,
    ) -> Result<Option<u64>, GatewayError> {
        let entry = (key_id.to_string(), period);
        if let Some(used) = self.take_held(&entry) {
            return Ok(Some(used));
        }
        if self.recently_exhausted(&entry) {
            return Ok(None);
        }
        let want = if self.one_at_a_time {
            1
        } else {
            reservation_size(limit)
        };
        let reservation = self
            .store
            .reserve_usage(key_id, period, want, limit)
            .await
            .map_err(|e| store_failed("quota reservation", e))?;
        {
            let mut usage = self.usage.lock().map_err(|_| GatewayError::Internal)?;
            let counter = usage.entry(entry.clone()).or_default();
            counter.held += reservation.granted;
            // Concurrent reservations may answer out of order: the store's
            // count only grows while this node holds requests.
            counter.total = counter.total.max(reservation.total);
            counter.exhausted_at = (reservation.granted == 0).then(Instant::now);
        }
        Ok(self.take_held(&entry))
    }

    fn recently_exhausted(&self, entry: &(String, i64)) -> bool {
        let Ok(usage) = self.usage.lock() else {
            return false;
        };
        usage
            .get(entry)
            .and_then(|c| c.exhausted_at)
            .is_some_and(|at| at.elapsed() < EXHAUSTED_RECHECK)
    }

    /// Uses one held request: the count after, as far as this node knows
    /// (the store's count less what this node still holds).
    fn take_held(&self, entry: &(String, i64)) -> Option<u64> {
        let mut usage = self.usage.lock().ok()?;
        let counter = usage.get_mut(entry).filter(|c| c.held > 0)?;
        counter.held -= 1;
        Some(counter.total.saturating_sub(counter.held))
    }

    /// Gives back what this node reserved and did not use. Counters of
    /// finished periods are dropped.
    pub async fn flush(&self) {
        let held: Vec<((String, i64), u64)> = match self.usage.lock() {
            Ok(mut usage) => usage
                .iter_mut()
                .filter(|(_, c)| c.held > 0)
                .map(|(k, c)| {
                    let n = c.held;
                    c.total = c.total.saturating_sub(n);
                    c.held = 0;
                    (k.clone(), n)
                })
                .collect(),
            Err(_) => return,
        };
        for ((key_id, period), n) in held {
            // Not given back, they stay counted as used: a quota is never
            // exceeded because a write failed.
            if let Err(e) = self.store.release_usage(&key_id, period, n).await {
                tracing::error!(error = %e, key = %key_id, "cannot give back reserved quota");
            }
        }
        let oldest = unix_now() - 40 * 86_400;
        if let Ok(mut usage) = self.usage.lock() {
            usage.retain(|(_, period), c| *period >= oldest || c.held > 0);
        }
    }

    /// The count for a key's current period: used, here and on other nodes
    /// (requests other nodes hold but have not used count as used).
    pub async fn current_usage(&self, key_id: &str, period: i64) -> u64 {
        let held = self
            .usage
            .lock()
            .ok()
            .and_then(|u| u.get(&(key_id.to_string(), period)).map(|c| c.held))
            .unwrap_or(0);
        self.store
            .usage(key_id, period)
            .await
            .unwrap_or(0)
            .saturating_sub(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{Quota, QuotaPeriod};
    use crate::store::memory::MemoryStore;
    use crate::store::{Reservation, Result as StoreResult};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The in-memory store, counting reservations.
    #[derive(Default)]
    struct Counting {
        inner: MemoryStore,
        reservations: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl KeyStore for Counting {
        async fn insert_key(&self, record: &KeyRecord) -> StoreResult<()> {
            self.inner.insert_key(record).await
        }
        async fn list_keys(&self) -> StoreResult<Vec<KeyRecord>> {
            self.inner.list_keys().await
        }
        async fn find_by_hash(&self, hash: &str) -> StoreResult<Option<KeyRecord>> {
            self.inner.find_by_hash(hash).await
        }
        async fn revoke_key(&self, id_or_name: &str, at: i64) -> StoreResult<bool> {
            self.inner.revoke_key(id_or_name, at).await
        }
        async fn find(&self, id_or_name: &str) -> StoreResult<Option<KeyRecord>> {
            self.inner.find(id_or_name).await
        }
        async fn reserve_usage(
            &self,
            key_id: &str,
            period: i64,
            want: u64,
            limit: u64,
        ) -> StoreResult<Reservation> {
            self.reservations.fetch_add(1, Ordering::SeqCst);
            self.inner.reserve_usage(key_id, period, want, limit).await
        }
        async fn release_usage(&self, key_id: &str, period: i64, n: u64) -> StoreResult<()> {
            self.inner.release_usage(key_id, period, n).await
        }
        async fn usage(&self, key_id: &str, period: i64) -> StoreResult<u64> {
            self.inner.usage(key_id, period).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_never_exceed_the_quota() {
        let store = Arc::new(Counting::default());
        let limits = Arc::new(crate::store::local_rate_limits::LocalRateLimits::new());
        let new = crate::keys::new_key("k", "plan", 0).unwrap();
        let ring = Arc::new(KeyRing::new(
            store,
            limits,
            std::slice::from_ref(&new.record),
        ));
        let plan = Arc::new(UsagePlan {
            name: "plan".into(),
            throttle: None,
            quota: Some(Quota {
                limit: 40,
                period: QuotaPeriod::Day,
            }),
        });
        let plans: Arc<std::collections::BTreeMap<String, Arc<UsagePlan>>> =
            Arc::new([("plan".to_string(), plan)].into());
        let policy = Arc::new(ApiKeyPolicy {
            header: http::HeaderName::from_static("x-api-key"),
            plans: Vec::new(),
        });
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (ring, plans, policy, key) = (
                    ring.clone(),
                    plans.clone(),
                    policy.clone(),
                    new.plain.clone(),
                );
                tokio::spawn(async move { ring.admit(&policy, &plans, Some(&key)).await.is_ok() })
            })
            .collect();
        let mut admitted = 0;
        for t in tasks {
            admitted += usize::from(t.await.unwrap());
        }
        assert_eq!(admitted, 40);
    }

    #[tokio::test]
    async fn a_used_up_quota_is_refused_without_asking_the_store_each_time() {
        let store = Arc::new(Counting::default());
        let limits = Arc::new(crate::store::local_rate_limits::LocalRateLimits::new());
        let new = crate::keys::new_key("k", "small", 0).unwrap();
        let ring = KeyRing::new(store.clone(), limits, std::slice::from_ref(&new.record));
        let plan = Arc::new(UsagePlan {
            name: "small".into(),
            throttle: None,
            quota: Some(Quota {
                limit: 3,
                period: QuotaPeriod::Day,
            }),
        });
        let plans = [("small".to_string(), plan)].into();
        let policy = ApiKeyPolicy {
            header: http::HeaderName::from_static("x-api-key"),
            plans: Vec::new(),
        };
        let mut admitted = 0;
        for _ in 0..50 {
            match ring.admit(&policy, &plans, Some(&new.plain)).await {
                Ok(_) => admitted += 1,
                Err(GatewayError::QuotaExceeded(_)) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(admitted, 3);
        // One reservation per request while the quota lasts (a twentieth of
        // 3 is 1), one that finds it used up; then none for a second.
        assert_eq!(store.reservations.load(Ordering::SeqCst), 4);
        // Nothing is held back: the store's count is exact.
        ring.flush().await;
        let today = period_bounds(QuotaPeriod::Day, unix_now()).0;
        assert_eq!(ring.current_usage(&new.record.id, today).await, 3);
    }
}
