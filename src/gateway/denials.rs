//! What the policies refused, kept for the console's security page: counts
//! by client address and by policy and reason (the WAF rule, the limiter,
//! why authentication failed). Bounded: past the cap, a new address takes
//! the place of the least-counted one, so an attacker spraying addresses
//! costs a fixed amount of memory and the heavy hitters stay.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;

const MAX_CLIENTS: usize = 4096;
const MAX_REASONS: usize = 1024;

#[derive(Default)]
pub struct Denials {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    clients: HashMap<IpAddr, u64>,
    /// (policy, reason) -> count.
    reasons: HashMap<(&'static str, String), u64>,
}

impl Denials {
    /// Counts one refusal.
    pub fn record(&self, client: Option<IpAddr>, policy: &'static str, reason: &str) {
        let mut inner = self.inner.lock();
        if let Some(ip) = client {
            bump(&mut inner.clients, ip, MAX_CLIENTS);
        }
        bump(
            &mut inner.reasons,
            (policy, reason.to_string()),
            MAX_REASONS,
        );
    }

    /// The `n` addresses refused most, most first.
    pub fn top_clients(&self, n: usize) -> Vec<(IpAddr, u64)> {
        let inner = self.inner.lock();
        let mut all: Vec<(IpAddr, u64)> = inner.clients.iter().map(|(k, v)| (*k, *v)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    /// Every (policy, reason) with its count, most first.
    pub fn reasons(&self) -> Vec<(&'static str, String, u64)> {
        let inner = self.inner.lock();
        let mut all: Vec<_> = inner
            .reasons
            .iter()
            .map(|((p, r), n)| (*p, r.clone(), *n))
            .collect();
        all.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)).then(a.1.cmp(&b.1)));
        all
    }
}

/// Adds one to `key`, evicting the least-counted entry when a new key
/// would pass the cap (it starts from that entry's count, as space-saving
/// counters do, so a newcomer is not evicted at once).
fn bump<K: std::hash::Hash + Eq + Clone>(map: &mut HashMap<K, u64>, key: K, cap: usize) {
    if let Some(n) = map.get_mut(&key) {
        *n += 1;
        return;
    }
    let mut start = 0;
    if map.len() >= cap {
        if let Some((victim, n)) = map
            .iter()
            .min_by_key(|(_, n)| **n)
            .map(|(k, n)| (k.clone(), *n))
        {
            map.remove(&victim);
            start = n;
        }
    }
    map.insert(key, start + 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_hitters_stay_and_memory_is_bounded() {
        let d = Denials::default();
        let attacker: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..100 {
            d.record(Some(attacker), "waf", "942100");
        }
        for i in 0..10_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            d.record(Some(ip), "rate_limit", "RateLimited");
        }
        assert_eq!(d.top_clients(1), vec![(attacker, 100)]);
        assert!(d.inner.lock().clients.len() <= MAX_CLIENTS);
        let reasons = d.reasons();
        assert_eq!(
            reasons[0],
            ("rate_limit", "RateLimited".to_string(), 10_000)
        );
        assert_eq!(reasons[1], ("waf", "942100".to_string(), 100));
    }
}
