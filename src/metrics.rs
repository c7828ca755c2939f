//! Prometheus metrics: one registry, handles resolved once, updated from the
//! request path with atomic operations only.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub upstream_health: IntGaugeVec,
    pub active_connections: IntGauge,
    pub inflight_requests: IntGauge,
    pub config_reloads: IntCounterVec,
    pub access_log_dropped: IntCounter,
    pub upstream_ejections: IntCounterVec,
    pub policy_decisions: IntCounterVec,
    pub rate_limit_keys: IntGauge,
    pub waf_matches: IntCounterVec,
    decisions: Vec<std::sync::OnceLock<IntCounter>>,
}

const POLICIES: [&str; 7] = [
    "cors",
    "waf",
    "api_key",
    "jwt",
    "authorizer",
    "rate_limit",
    "validate",
];
const OUTCOMES: [&str; 5] = ["allow", "deny", "pass", "block", "preflight"];

/// Seconds: 1ms to 60s, dense where gateways usually live.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("gatehouse".into()), None)
            .expect("static registry prefix is valid");
        let requests = IntCounterVec::new(
            Opts::new(
                "requests_total",
                "Requests answered, by API, route and status",
            ),
            &["api", "route", "status"],
        )
        .expect("static metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "Time from request start to the end of the response, by API and route",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["api", "route"],
        )
        .expect("static metric definition");
        let upstream_health = IntGaugeVec::new(
            Opts::new("upstream_target_up", "1 when a target may receive traffic"),
            &["upstream", "target"],
        )
        .expect("static metric definition");
        let active_connections = IntGauge::new(
            "active_connections",
            "Open client connections (HTTP/1.x) and streams (HTTP/2)",
        )
        .expect("static metric definition");
        let inflight_requests = IntGauge::new("inflight_requests", "Requests being handled")
            .expect("static metric definition");
        let config_reloads = IntCounterVec::new(
            Opts::new("config_reloads_total", "Config reloads, by result"),
            &["result"],
        )
        .expect("static metric definition");
        let access_log_dropped = IntCounter::new(
            "access_log_dropped_total",
            "Access log lines dropped because the writer fell behind",
        )
        .expect("static metric definition");
        let upstream_ejections = IntCounterVec::new(
            Opts::new(
                "upstream_ejections_total",
                "Passive ejections, by upstream and target",
            ),
            &["upstream", "target"],
        )
        .expect("static metric definition");
        let policy_decisions = IntCounterVec::new(
            Opts::new(
                "policy_decisions_total",
                "Policy decisions, by policy and outcome",
            ),
            &["policy", "outcome"],
        )
        .expect("static metric definition");
        let rate_limit_keys = IntGauge::new(
            "rate_limit_keys",
            "Rate-limit buckets held in memory (after the last idle eviction)",
        )
        .expect("static metric definition");
        let waf_matches = IntCounterVec::new(
            Opts::new(
                "waf_matches_total",
                "WAF rule matches, by rule set, rule and action",
            ),
            &["rule_set", "rule", "action"],
        )
        .expect("static metric definition");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(upstream_health.clone()),
            Box::new(active_connections.clone()),
            Box::new(inflight_requests.clone()),
            Box::new(config_reloads.clone()),
            Box::new(access_log_dropped.clone()),
            Box::new(upstream_ejections.clone()),
            Box::new(policy_decisions.clone()),
            Box::new(rate_limit_keys.clone()),
            Box::new(waf_matches.clone()),
            Box::new(crate::logging::SUPPRESSED.clone()),
            Box::new(crate::logging::POOL_HANDOFF_MISSES.clone()),
        ]
        .into_iter()
        .chain(crate::messaging::metrics::collectors())
        {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Metrics {
            registry,
            requests,
            latency,
            upstream_health,
            active_connections,
            inflight_requests,
            config_reloads,
            access_log_dropped,
            upstream_ejections,
            policy_decisions,
            rate_limit_keys,
            waf_matches,
            decisions: (0..POLICIES.len() * OUTCOMES.len())
                .map(|_| std::sync::OnceLock::new())
                .collect(),
        }
    }

    /// Counts a policy decision. The labelled counters are resolved once per
    /// (policy, outcome) and kept, so the request path does no label lookup.
    pub fn decision(&self, policy: &'static str, outcome: &'static str) {
        let p = POLICIES.iter().position(|x| *x == policy);
        let o = OUTCOMES.iter().position(|x| *x == outcome);
        match (p, o) {
            (Some(p), Some(o)) => self.decisions[p * OUTCOMES.len() + o]
                .get_or_init(|| self.policy_decisions.with_label_values(&[policy, outcome]))
                .inc(),
            _ => self
                .policy_decisions
                .with_label_values(&[policy, outcome])
                .inc(),
        }
    }

    pub fn set_upstream_health(&self, upstream: &str, target: &str, up: bool) {
        self.upstream_health
            .with_label_values(&[upstream, target])
            .set(i64::from(up));
    }

    /// Counts one finished request. Label lookups hash and lock, so the
    /// handles are cached per thread, keyed by route and status.
    pub fn observe_request(&self, api: &str, route: &str, status: u16, seconds: f64) {
        REQUEST_HANDLES.with(|cache| {
            let mut cache = cache.borrow_mut();
            let hit = cache
                .iter()
                .position(|h| h.status == status && h.route == route && h.api == api);
            let index = match hit {
                Some(i) => i,
                None => {
                    // Bounded: a thread sees few distinct (route, status) pairs;
                    // after a reload old routes fall out.
                    if cache.len() >= 256 {
                        cache.clear();
                    }
                    let status_label = status.to_string();
                    cache.push(RequestHandles {
                        api: api.to_string(),
                        route: route.to_string(),
                        status,
                        count: self
                            .requests
                            .with_label_values(&[api, route, &status_label]),
                        latency: self.latency.with_label_values(&[api, route]),
                    });
                    cache.len() - 1
                }
            };
            let handles = &cache[index];
            handles.count.inc();
            handles.latency.observe(seconds);
        })
    }

    /// Adds another subsystem's metrics (flows) to the registry.
    pub fn register(&self, collectors: Vec<Box<dyn prometheus::core::Collector>>) {
        for c in collectors {
            if let Err(e) = self.registry.register(c) {
                tracing::warn!(error = %e, "metric not registered");
            }
        }
    }

    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

struct RequestHandles {
    api: String,
    route: String,
    status: u16,
    count: prometheus::IntCounter,
    latency: prometheus::Histogram,
}

thread_local! {
    static REQUEST_HANDLES: std::cell::RefCell<Vec<RequestHandles>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Counts an open connection for as long as it lives.
pub struct ConnectionGuard(IntGauge);

impl ConnectionGuard {
    pub fn new(gauge: &IntGauge) -> ConnectionGuard {
        gauge.inc();
        ConnectionGuard(gauge.clone())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
