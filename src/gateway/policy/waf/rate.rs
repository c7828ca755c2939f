//! Rate-based WAF rules: more than N requests from one IP in a window, and
//! that IP is blocked for a while. Counts are fixed windows per (rule, IP);
//! idle entries are dropped by `evict`, so memory follows active clients.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct RateRules {
    entries: Mutex<HashMap<(String, String, IpAddr), Entry>>,
}

struct Entry {
    window_start: Instant,
    count: u32,
    blocked_until: Option<Instant>,
}

/// Entries at most; past it, the oldest state is dropped wholesale rather
/// than let a flood of source addresses grow memory without bound.
const CAPACITY: usize = 200_000;

impl RateRules {
    /// Counts this request; true when the IP is over the rule's rate (or
    /// still blocked from an earlier excess).
    pub fn over(
        &self,
        set: &str,
        rule: &str,
        ip: IpAddr,
        limit: u32,
        window: Duration,
        block_for: Duration,
    ) -> bool {
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        let now = Instant::now();
        let entry = entries
            .entry((set.to_string(), rule.to_string(), ip))
            .or_insert(Entry {
                window_start: now,
                count: 0,
                blocked_until: None,
            });
        if let Some(until) = entry.blocked_until {
            if now < until {
                return true;
            }
            entry.blocked_until = None;
            entry.window_start = now;
            entry.count = 0;
        }
        if now.duration_since(entry.window_start) >= window {
            entry.window_start = now;
            entry.count = 0;
        }
        entry.count += 1;
        if entry.count > limit {
            entry.blocked_until = Some(now + block_for);
            return true;
        }
        false
    }

    /// Drops entries that are neither blocked nor inside a recent window.
    pub fn evict(&self, longest_window: Duration) {
        let now = Instant::now();
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, e| {
                e.blocked_until.is_some_and(|u| now < u)
                    || now.duration_since(e.window_start) < longest_window
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_rate_blocks_for_a_while() {
        let rules = RateRules::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let (w, b) = (Duration::from_secs(60), Duration::from_millis(50));
        for _ in 0..3 {
            assert!(!rules.over("s", "r", ip, 3, w, b));
        }
        assert!(rules.over("s", "r", ip, 3, w, b));
        assert!(rules.over("s", "r", ip, 3, w, b), "still blocked");
        assert!(!rules.over("s", "r", other, 3, w, b), "per IP");
        std::thread::sleep(Duration::from_millis(60));
        assert!(
            !rules.over("s", "r", ip, 3, w, b),
            "block expired, new window"
        );
        std::thread::sleep(Duration::from_millis(5));
        rules.evict(Duration::from_millis(1));
        assert!(rules.entries.lock().unwrap().is_empty());
    }
}
