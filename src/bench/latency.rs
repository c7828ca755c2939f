//! Latency samples in microseconds and the percentiles a report shows.
//! Samples are kept whole rather than bucketed: a benchmark run holds at most
//! a few million, and exact percentiles need no tuning.

use serde::Serialize;

#[derive(Default)]
pub struct Samples {
    micros: Vec<u32>,
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Samples {
    pub fn record(&mut self, micros: u64) {
        self.micros.push(micros.min(u32::MAX as u64) as u32);
    }

    pub fn merge(&mut self, other: Samples) {
        self.micros.extend(other.micros);
    }

    pub fn summary(mut self) -> Summary {
        if self.micros.is_empty() {
            return Summary::default();
        }
        self.micros.sort_unstable();
        let at = |q: f64| {
            // Nearest rank: the smallest sample with at least q of all at or below it.
            let rank = ((q * self.micros.len() as f64).ceil() as usize).max(1);
            self.micros[rank - 1] as f64 / 1000.0
        };
        Summary {
            count: self.micros.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// Mean and p99 microseconds per call, over batches of 100.
pub fn per_call(iterations: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut batches = Vec::new();
    for _ in 0..(iterations / 100).max(1) {
        let t = std::time::Instant::now();
        for _ in 0..100 {
            f();
        }
        batches.push(t.elapsed().as_secs_f64() * 1e6 / 100.0);
    }
    let mean = batches.iter().sum::<f64>() / batches.len() as f64;
    batches.sort_by(|a, b| a.total_cmp(b));
    let p99 = batches[(batches.len() * 99 / 100).min(batches.len() - 1)];
    (mean, p99)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples = Samples::default();
        for us in (1..=100).rev() {
            samples.record(us * 1000);
        }
        let summary = samples.summary();
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p90_ms, 90.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 100.0);
        assert_eq!(Samples::default().summary(), Summary::default());
    }
}
