//! What the console's charts draw without Prometheus: a sample per second
//! for the last hour and a sample per minute for the last day, each the
//! change since the previous one of the gateway's and the messaging
//! engine's counters (`Totals`, read from the metrics registry once a
//! second). Memory is fixed: 3,600 + 1,440 samples of a few dozen bytes.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// Queues whose rates are kept (more are left out of the rates).
const MAX_QUEUES: usize = 10_000;

const SECONDS: usize = 3600;
const MINUTES: usize = 1440;

/// Latency bucket upper bounds in seconds, as `metrics::LATENCY_BUCKETS`.
pub type Bounds = &'static [f64];

/// The counters' values at one moment (since the process started).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    /// Cumulative latency histogram counts, one per bound (and +Inf last).
    pub latency_buckets: Vec<u64>,
    pub connections: i64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub waf_blocks: u64,
    pub rate_limited: u64,
    pub auth_denied: u64,
}

/// One interval's numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Unix seconds at the interval's end.
    pub at: i64,
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    /// Milliseconds; None without requests in the interval.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub connections: i64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub waf_blocks: u64,
    pub rate_limited: u64,
    pub auth_denied: u64,
    /// Seconds the sample covers (1 or 60, more when merged).
    pub span: u32,
    /// The interval's latency histogram (cumulative bucket counts, +Inf
    /// last), to merge samples into longer windows exactly.
    #[serde(skip)]
    pub latency: Vec<u64>,
}

pub struct History {
    bounds: Bounds,
    /// WAF blocks per group: the totals at the start of the current minute,
    /// and each past minute's blocks (the last hour).
    waf_start: Option<(i64, BTreeMap<String, u64>)>,
    waf_minutes: VecDeque<(i64, BTreeMap<String, u64>)>,
    /// Per queue: (unix seconds, sent, received) for the last minute.
    queues: BTreeMap<String, VecDeque<(i64, u64, u64)>>,
    seconds: VecDeque<Sample>,
    minutes: VecDeque<Sample>,
    last: Option<Totals>,
    /// The totals at the start of the current minute.
    minute_start: Option<(i64, Totals)>,
}

impl History {
    pub fn new(bounds: Bounds) -> History {
        History {
            bounds,
            queues: BTreeMap::new(),
            waf_start: None,
            waf_minutes: VecDeque::new(),
            seconds: VecDeque::with_capacity(SECONDS),
            minutes: VecDeque::with_capacity(MINUTES),
            last: None,
            minute_start: None,
        }
    }

    /// Records the totals read at `now` (unix seconds): a second's sample,
    /// and a minute's when a minute has passed.
    pub fn record(&mut self, now: i64, totals: Totals) {
        if let Some(last) = &self.last {
            let sample = self.between(last, &totals, now, 1);
            push(&mut self.seconds, sample, SECONDS);
        }
        match &self.minute_start {
            Some((started, at_start)) if now - started >= 60 => {
                let sample = self.between(at_start, &totals, now, 60);
                push(&mut self.minutes, sample, MINUTES);
                self.minute_start = Some((now, totals.clone()));
            }
            None => self.minute_start = Some((now, totals.clone())),
            _ => {}
        }
        self.last = Some(totals);
    }

    /// Records the WAF's blocks so far by group at `now`; a minute's
    /// differences are kept once it has passed.
    pub fn record_waf(&mut self, now: i64, totals: BTreeMap<String, u64>) {
        match &self.waf_start {
            Some((started, at_start)) if now - started >= 60 => {
                let minute: BTreeMap<String, u64> = totals
                    .iter()
                    .map(|(g, n)| {
                        (
                            g.clone(),
                            n.saturating_sub(at_start.get(g).copied().unwrap_or(0)),
                        )
                    })
                    .collect();
                if self.waf_minutes.len() == 60 {
                    self.waf_minutes.pop_front();
                }
                self.waf_minutes.push_back((now, minute));
                self.waf_start = Some((now, totals));
            }
            None => self.waf_start = Some((now, totals)),
            _ => {}
        }
    }

    /// The last hour's WAF blocks per minute, by group, oldest first.
    pub fn waf_minutes(&self) -> Vec<(i64, BTreeMap<String, u64>)> {
        self.waf_minutes.iter().cloned().collect()
    }

    /// Records each queue's sent and received counters at `now`; queues
    /// not in `counters` are forgotten.
    pub fn record_queues(&mut self, now: i64, counters: BTreeMap<String, (u64, u64)>) {
        self.queues.retain(|name, _| counters.contains_key(name));
        for (name, (sent, received)) in counters {
            if !self.queues.contains_key(&name) && self.queues.len() >= MAX_QUEUES {
                continue;
            }
            let ring = self.queues.entry(name).or_default();
            if ring.len() == 61 {
                ring.pop_front();
            }
            ring.push_back((now, sent, received));
        }
    }

    /// Per queue: messages sent and received per second over the last
    /// minute.
    pub fn queue_rates(&self) -> BTreeMap<String, (f64, f64)> {
        self.queues
            .iter()
            .filter_map(|(name, ring)| {
                let (first, last) = (ring.front()?, ring.back()?);
                let secs = (last.0 - first.0) as f64;
                (secs > 0.0).then(|| {
                    let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
                    (name.clone(), (rate(first.1, last.1), rate(first.2, last.2)))
                })
            })
            .collect()
    }

    pub fn last_hour(&self) -> impl Iterator<Item = &Sample> {
        self.seconds.iter()
    }

    pub fn last_day(&self) -> impl Iterator<Item = &Sample> {
        self.minutes.iter()
    }

    fn between(&self, from: &Totals, to: &Totals, at: i64, span: u32) -> Sample {
        // A counter that went down was reset (a new registry): count from 0.
        let d = |a: u64, b: u64| b.checked_sub(a).unwrap_or(b);
        let cumulative: Vec<u64> = to
            .latency_buckets
            .iter()
            .enumerate()
            .map(|(i, b)| d(from.latency_buckets.get(i).copied().unwrap_or(0), *b))
            .collect();
        let buckets = &cumulative;
        Sample {
            at,
            requests: d(from.requests, to.requests),
            client_errors: d(from.client_errors, to.client_errors),
            server_errors: d(from.server_errors, to.server_errors),
            p50_ms: quantile(self.bounds, buckets, 0.5).map(|s| s * 1000.0),
            p99_ms: quantile(self.bounds, buckets, 0.99).map(|s| s * 1000.0),
            connections: to.connections,
            messages_in: d(from.messages_in, to.messages_in),
            messages_out: d(from.messages_out, to.messages_out),
            waf_blocks: d(from.waf_blocks, to.waf_blocks),
            rate_limited: d(from.rate_limited, to.rate_limited),
            auth_denied: d(from.auth_denied, to.auth_denied),
            span,
            latency: cumulative,
        }
    }

    /// The last `seconds` merged into one sample (None before the first).
    pub fn window(&self, seconds: usize) -> Option<Sample> {
        let skip = self.seconds.len().saturating_sub(seconds);
        let recent: Vec<&Sample> = self.seconds.iter().skip(skip).collect();
        (!recent.is_empty()).then(|| self.merge(&recent))
    }

    /// The last hour in steps of `step` seconds, oldest first.
    pub fn steps(&self, step: usize) -> Vec<Sample> {
        let all: Vec<&Sample> = self.seconds.iter().collect();
        all.chunks(step.max(1)).map(|c| self.merge(c)).collect()
    }

    /// Several samples as one: counts added, the latest gauge, quantiles of
    /// the summed histogram.
    fn merge(&self, samples: &[&Sample]) -> Sample {
        let mut out = Sample::default();
        for s in samples {
            out.at = s.at;
            out.requests += s.requests;
            out.client_errors += s.client_errors;
            out.server_errors += s.server_errors;
            out.connections = s.connections;
            out.messages_in += s.messages_in;
            out.messages_out += s.messages_out;
            out.waf_blocks += s.waf_blocks;
            out.rate_limited += s.rate_limited;
            out.auth_denied += s.auth_denied;
            out.span += s.span;
            if out.latency.len() < s.latency.len() {
                out.latency.resize(s.latency.len(), 0);
            }
            for (sum, n) in out.latency.iter_mut().zip(&s.latency) {
                *sum += n;
            }
        }
        out.p50_ms = quantile(self.bounds, &out.latency, 0.5).map(|s| s * 1000.0);
        out.p99_ms = quantile(self.bounds, &out.latency, 0.99).map(|s| s * 1000.0);
        out
    }
}

impl Sample {
    /// Per second over the sample's span.
    pub fn rate(&self, n: u64) -> f64 {
        n as f64 / f64::from(self.span.max(1))
    }
}

fn push(ring: &mut VecDeque<Sample>, sample: Sample, cap: usize) {
    if ring.len() == cap {
        ring.pop_front();
    }
    ring.push_back(sample);
}

/// The q-quantile of a histogram's cumulative bucket counts (the last one
/// +Inf), interpolated inside its bucket as Prometheus's
/// `histogram_quantile` does; None when it counted nothing.
pub fn quantile(bounds: &[f64], cumulative: &[u64], q: f64) -> Option<f64> {
    let total = *cumulative.last()?;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    let mut lower = 0.0;
    for (i, &count) in cumulative.iter().enumerate() {
        if count as f64 >= rank {
            let Some(&upper) = bounds.get(i) else {
                // In the +Inf bucket: the largest finite bound.
                return bounds.last().copied();
            };
            let inside = (count - below) as f64;
            let fraction = if inside > 0.0 {
                (rank - below as f64) / inside
            } else {
                1.0
            };
            return Some(lower + (upper - lower) * fraction);
        }
        below = count;
        lower = bounds.get(i).copied().unwrap_or(lower);
    }
    bounds.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: &[f64] = &[0.001, 0.01, 0.1, 1.0];

    fn totals(requests: u64, buckets: [u64; 5]) -> Totals {
        Totals {
            requests,
            latency_buckets: buckets.to_vec(),
            ..Totals::default()
        }
    }

    #[test]
    fn quantiles_interpolate_within_a_bucket() {
        // 100 requests: 50 under 1 ms, 40 under 10 ms, 10 under 100 ms.
        let cumulative = [50, 90, 100, 100, 100];
        assert_eq!(quantile(BOUNDS, &cumulative, 0.5), Some(0.001));
        let p99 = quantile(BOUNDS, &cumulative, 0.99).unwrap();
        assert!((p99 - 0.091).abs() < 1e-9, "{p99}");
        assert_eq!(quantile(BOUNDS, &[0, 0, 0, 0, 0], 0.5), None);
        assert_eq!(quantile(BOUNDS, &[0, 0, 0, 0, 7], 0.5), Some(1.0));
    }

    #[test]
    fn seconds_and_minutes_are_differences_and_the_rings_are_bounded() {
        let mut h = History::new(BOUNDS);
        h.record(1000, totals(10, [10, 10, 10, 10, 10]));
        assert_eq!(h.last_hour().count(), 0);
        h.record(1001, totals(25, [20, 25, 25, 25, 25]));
        let s = h.last_hour().last().unwrap().clone();
        assert_eq!((s.at, s.requests, s.span), (1001, 15, 1));
        assert!(s.p50_ms.is_some());
        for t in 1002..1000 + 4000 {
            h.record(t, totals(25 + (t - 1001) as u64, [20, 25, 25, 25, 25]));
        }
        assert_eq!(h.last_hour().count(), SECONDS);
        // A minute's sample sums its seconds.
        let minute = h.last_day().next().unwrap();
        assert_eq!((minute.at, minute.span), (1060, 60));
        assert_eq!(minute.requests, 15 + 59);
        // Windows merge seconds exactly.
        let minute = h.window(60).unwrap();
        assert_eq!((minute.span, minute.requests), (60, 60));
        assert_eq!(h.steps(10).len(), SECONDS / 10);
        // WAF blocks per minute, by group.
        h.record_waf(3000, BTreeMap::from([("XSS".to_string(), 5)]));
        h.record_waf(3030, BTreeMap::from([("XSS".to_string(), 9)]));
        h.record_waf(
            3060,
            BTreeMap::from([("XSS".to_string(), 12), ("SQL injection".to_string(), 2)]),
        );
        let minutes = h.waf_minutes();
        assert_eq!(minutes.len(), 1);
        assert_eq!(minutes[0].1["XSS"], 7);
        assert_eq!(minutes[0].1["SQL injection"], 2);
        // Queue rates over the last minute.
        for t in 0..=60 {
            let counters = BTreeMap::from([("q".to_string(), (t as u64 * 10, t as u64 * 5))]);
            h.record_queues(2000 + t, counters);
        }
        assert_eq!(h.queue_rates()["q"], (10.0, 5.0));
        h.record_queues(2061, BTreeMap::new());
        assert!(h.queue_rates().is_empty());
        // A counter that went back to zero counts from zero.
        h.record(5000, totals(3, [3, 3, 3, 3, 3]));
        assert_eq!(h.last_hour().last().unwrap().requests, 3);
    }
}
