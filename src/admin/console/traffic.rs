//! The gateway's counters read back per label, for the pages that break
//! traffic down (routes, security) and for the sampler.

use super::history::quantile;
use crate::metrics::{Metrics, LATENCY_BUCKETS};
use prometheus::core::Collector;
use std::collections::BTreeMap;

/// A label's value on one series ("" when it has none).
pub fn label(metric: &prometheus::proto::Metric, name: &str) -> String {
    metric
        .get_label()
        .iter()
        .find(|l| l.name() == name)
        .map(|l| l.value().to_string())
        .unwrap_or_default()
}

/// Every series of a counter vector: its labels' values by name and its count.
pub fn series(counter: &prometheus::IntCounterVec, labels: &[&str]) -> Vec<(Vec<String>, u64)> {
    counter
        .collect()
        .iter()
        .flat_map(|f| f.get_metric())
        .map(|m| {
            let values = labels.iter().map(|l| label(m, l)).collect();
            (values, m.get_counter().value() as u64)
        })
        .collect()
}

/// One route's traffic since the process started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteTraffic {
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// By (API, route id).
pub fn per_route(metrics: &Metrics) -> BTreeMap<(String, String), RouteTraffic> {
    let mut out: BTreeMap<(String, String), RouteTraffic> = BTreeMap::new();
    for (labels, n) in series(&metrics.requests, &["api", "route", "status"]) {
        let t = out
            .entry((labels[0].clone(), labels[1].clone()))
            .or_default();
        t.requests += n;
        match labels[2].chars().next() {
            Some('5') => t.server_errors += n,
            Some('4') => t.client_errors += n,
            _ => {}
        }
    }
    for family in metrics.latency.collect() {
        for m in family.get_metric() {
            let key = (label(m, "api"), label(m, "route"));
            let h = m.get_histogram();
            let mut cumulative: Vec<u64> = h
                .get_bucket()
                .iter()
                .map(|b| b.cumulative_count())
                .collect();
            cumulative.push(h.sample_count());
            let t = out.entry(key).or_default();
            t.p50_ms = quantile(LATENCY_BUCKETS, &cumulative, 0.5).map(|s| s * 1000.0);
            t.p99_ms = quantile(LATENCY_BUCKETS, &cumulative, 0.99).map(|s| s * 1000.0);
        }
    }
    out
}

/// What a WAF rule belongs to: the CRS group its id's file names (942xxx:
/// SQL injection), a managed group (`managed:sqli`), the kind of a custom
/// rule (`custom:NAME`), else the rule set.
pub fn waf_group(rule_set: &str, rule: &str) -> String {
    let crs = match rule.get(..3) {
        Some("911") => "method enforcement",
        Some("913") => "scanner detection",
        Some("920") => "protocol enforcement",
        Some("921") => "protocol attack",
        Some("930") => "local file inclusion",
        Some("931") => "remote file inclusion",
        Some("932") => "remote code execution",
        Some("933") => "PHP injection",
        Some("934") => "generic attack",
        Some("941") => "XSS",
        Some("942") => "SQL injection",
        Some("943") => "session fixation",
        Some("944") => "Java attack",
        Some("949") => "inbound anomaly score",
        Some("959") => "outbound anomaly score",
        _ => "",
    };
    if !crs.is_empty() && rule.bytes().all(|b| b.is_ascii_digit()) {
        return crs.to_string();
    }
    match rule.split_once(':') {
        // A managed group's match is labelled `managed:GROUP`.
        Some(("managed", group)) => group.to_string(),
        Some((kind, _)) if !kind.is_empty() => kind.to_string(),
        _ => rule_set.to_string(),
    }
}

/// WAF blocks so far, by group.
pub fn waf_blocks_by_group(metrics: &Metrics) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (labels, n) in series(&metrics.waf_matches, &["rule_set", "rule", "action"]) {
        if labels[2] == "block" || labels[2] == "deny" {
            *out.entry(waf_group(&labels[0], &labels[1])).or_insert(0) += n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn waf_rules_fall_into_groups() {
        assert_eq!(super::waf_group("demo", "942100"), "SQL injection");
        assert_eq!(super::waf_group("demo", "managed:xss"), "xss");
        assert_eq!(super::waf_group("demo", "custom:no-bots"), "custom");
        assert_eq!(super::waf_group("demo", "oversize"), "demo");
    }
}
