//! Picking a target: round robin, weighted round robin, weighted random and
//! consistent hashing (a ring of virtual nodes, as ketama).
//!
//! Every strategy skips targets the caller says are unavailable, so health
//! and retries compose with any of them.

use crate::config::model::{Balance, TargetSpec};
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub enum Balancer {
    /// Walks a sequence of target indexes: each target once for round robin,
    /// each target `weight` times, interleaved, for weighted.
    Sequence {
        order: Vec<usize>,
        next: AtomicUsize,
    },
    Random {
        /// Cumulative weights.
        cumulative: Vec<u64>,
    },
    Ring {
        /// (point, target index), sorted by point.
        ring: Vec<(u64, usize)>,
        /// Used when a request carries no hash key.
        fallback: AtomicUsize,
    },
}

/// Virtual nodes per unit of weight: enough for an even spread on small pools.
const POINTS_PER_WEIGHT: u32 = 160;

impl Balancer {
    pub fn new(balance: &Balance, targets: &[TargetSpec]) -> Balancer {
        match balance {
            Balance::RoundRobin => Balancer::Sequence {
                order: (0..targets.len()).collect(),
                next: AtomicUsize::new(0),
            },
            Balance::Weighted => Balancer::Sequence {
                order: smooth_weighted_order(targets),
                next: AtomicUsize::new(0),
            },
            Balance::Random => Balancer::Random {
                cumulative: targets
                    .iter()
                    .scan(0u64, |sum, t| {
                        *sum += u64::from(t.weight);
                        Some(*sum)
                    })
                    .collect(),
            },
            Balance::ConsistentHash(_) => {
                let mut ring = Vec::new();
                for (i, t) in targets.iter().enumerate() {
                    for n in 0..POINTS_PER_WEIGHT * t.weight {
                        ring.push((hash(format!("{}-{n}", t.address).as_bytes()), i));
                    }
                }
                ring.sort_unstable();
                Balancer::Ring {
                    ring,
                    fallback: AtomicUsize::new(0),
                }
            }
        }
    }

    pub fn pick(&self, hash_key: Option<&[u8]>, usable: &dyn Fn(usize) -> bool) -> Option<usize> {
        match self {
            Balancer::Sequence { order, next } => {
                if order.is_empty() {
                    return None;
                }
                let start = next.fetch_add(1, Ordering::Relaxed);
                let first = order[start % order.len()];
                if usable(first) {
                    return Some(first);
                }
                // Spread the skipped target's share over all the others, rather
                // than handing it all to its neighbour in the sequence.
                let available = order.iter().filter(|&&i| usable(i)).count();
                if available == 0 {
                    return None;
                }
                order
                    .iter()
                    .copied()
                    .filter(|&i| usable(i))
                    .nth(start % available)
            }
            Balancer::Random { cumulative } => {
                let total = *cumulative.last()?;
                let roll = fastrand::u64(0..total);
                let first = cumulative.partition_point(|&c| c <= roll);
                let n = cumulative.len();
                (0..n).map(|k| (first + k) % n).find(|&i| usable(i))
            }
            Balancer::Ring { ring, fallback } => {
                if ring.is_empty() {
                    return None;
                }
                let start = match hash_key {
                    Some(key) => ring.partition_point(|(p, _)| *p < hash(key)),
                    None => fallback.fetch_add(POINTS_PER_WEIGHT as usize, Ordering::Relaxed),
                };
                // Walk clockwise to the first usable target, so a down target's
                // keys move to its neighbour and no other key moves.
                (0..ring.len())
                    .map(|k| ring[(start + k) % ring.len()].1)
                    .find(|&i| usable(i))
            }
        }
    }
}

/// nginx's smooth weighted round robin, unrolled into one cycle: weights
/// 5,1,1 give a,a,b,a,c,a,a rather than a,a,a,a,a,b,c.
fn smooth_weighted_order(targets: &[TargetSpec]) -> Vec<usize> {
    let total: i64 = targets.iter().map(|t| i64::from(t.weight)).sum();
    let mut current = vec![0i64; targets.len()];
    let mut order = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, t) in current.iter_mut().zip(targets) {
            *c += i64::from(t.weight);
        }
        let Some((best, _)) = current
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, -(*i as i64)))
        else {
            break;
        };
        current[best] -= total;
        order.push(best);
    }
    order
}

/// FNV-1a with a final avalanche (splitmix64), stable across builds and runs
/// so keys map to the same target after a restart.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::HashOn;

    fn targets(weights: &[u32]) -> Vec<TargetSpec> {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| TargetSpec {
                address: format!("127.0.0.1:{}", 9000 + i),
                host: "127.0.0.1".into(),
                socket: format!("127.0.0.1:{}", 9000 + i).parse().unwrap(),
                weight: *w,
            })
            .collect()
    }

    fn counts(b: &Balancer, n: usize, len: usize, usable: &dyn Fn(usize) -> bool) -> Vec<usize> {
        let mut c = vec![0; len];
        for _ in 0..n {
            c[b.pick(None, usable).unwrap()] += 1;
        }
        c
    }

    #[test]
    fn round_robin_is_even_and_skips_down_targets() {
        let b = Balancer::new(&Balance::RoundRobin, &targets(&[1, 1, 1]));
        assert_eq!(counts(&b, 300, 3, &|_| true), [100, 100, 100]);
        assert_eq!(counts(&b, 300, 3, &|i| i != 1), [150, 0, 150]);
        assert_eq!(b.pick(None, &|_| false), None);
    }

    #[test]
    fn weighted_is_exact_and_smooth() {
        let t = targets(&[5, 1, 1]);
        assert_eq!(smooth_weighted_order(&t), [0, 0, 1, 0, 2, 0, 0]);
        let b = Balancer::new(&Balance::Weighted, &t);
        assert_eq!(counts(&b, 700, 3, &|_| true), [500, 100, 100]);
    }

    #[test]
    fn random_follows_weights() {
        let b = Balancer::new(&Balance::Random, &targets(&[3, 1]));
        let c = counts(&b, 40_000, 2, &|_| true);
        let share = c[0] as f64 / 40_000.0;
        assert!((0.72..0.78).contains(&share), "share {share}");
    }

    #[test]
    fn ring_is_sticky_and_moves_only_the_down_targets_keys() {
        let b = Balancer::new(
            &Balance::ConsistentHash(HashOn::ClientIp),
            &targets(&[1, 1, 1]),
        );
        let keys: Vec<String> = (0..3000).map(|i| format!("user-{i}")).collect();
        let before: Vec<usize> = keys
            .iter()
            .map(|k| b.pick(Some(k.as_bytes()), &|_| true).unwrap())
            .collect();
        let mut per = [0; 3];
        before.iter().for_each(|&i| per[i] += 1);
        assert!(per.iter().all(|&c| c > 700), "spread {per:?}");
        for (k, &was) in keys.iter().zip(&before) {
            let now = b.pick(Some(k.as_bytes()), &|i| i != 2).unwrap();
            if was != 2 {
                assert_eq!(now, was, "key {k} moved");
            } else {
                assert_ne!(now, 2);
            }
        }
    }
}
