//! Rate-based WAF rules: more than N requests from one IP in a window, and
//! that IP is blocked for a while. Each rule counts through the store's
//! rate limits (a bucket of N per window per IP, shared by a fleet where the
//! store is), named by its rule set and rule so a reload keeps the counts.

use crate::config::waf::{RuleSet, Statement};
use crate::store::rate_limits::{Limiter, Rate, RateLimits};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

#[derive(Default)]
pub struct RateRules {
    /// Rule set -> rule -> its buckets (looked up by `&str`, no allocation
    /// per request).
    rules: HashMap<String, HashMap<String, Arc<dyn Limiter>>>,
}

impl RateRules {
    pub fn build(sets: &BTreeMap<String, Arc<RuleSet>>, limits: &dyn RateLimits) -> RateRules {
        let mut rules: HashMap<String, HashMap<String, Arc<dyn Limiter>>> = HashMap::new();
        for set in sets.values() {
            for rule in &set.rules {
                let Statement::Rate { limit, window, .. } = &rule.statement else {
                    continue;
                };
                let rate = Rate {
                    count: *limit,
                    period: *window,
                    burst: *limit,
                };
                let name = format!("waf:{}:{}", set.name, rule.name);
                rules
                    .entry(set.name.clone())
                    .or_default()
                    .insert(rule.name.clone(), limits.limiter(&name, rate));
            }
        }
        RateRules { rules }
    }

    /// Counts this request; true when the IP is over the rule's rate (it is
    /// then blocked for `block_for`) or still blocked from an earlier excess.
    pub async fn over(
        &self,
        set: &str,
        rule: &str,
        ip: IpAddr,
        block_for: std::time::Duration,
    ) -> bool {
        let Some(limiter) = self.rules.get(set).and_then(|r| r.get(rule)) else {
            return false;
        };
        let key = ip.to_string();
        let standing = limiter.acquire(&key).await;
        if !standing.allowed {
            limiter.block(&key, block_for).await; // a block in force stays as it is
        }
        !standing.allowed
    }

    pub fn evict_idle(&self) {
        for limiter in self.rules.values().flat_map(HashMap::values) {
            limiter.evict_idle();
        }
    }
}
