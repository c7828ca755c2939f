//! The gateway: a request flows listener -> router -> integration.
//!
//! - `proxy.rs`: the one `impl ProxyHttp`, each phase delegating to the pieces below
//! - `router.rs`: host/method/path -> route + params (templates: `config::path_template`)
//! - `integration/`: what answers a route (`http` proxying, `mock`)
//! - `policy/`: the policy chain (CORS, rate limits) between router and integration
//! - `upstream/`: pools, balancing, active and passive health
//! - `errors.rs`: every error response, mapped in one place
//! - `headers.rs`: per-route request and response header rules
//! - `request.rs`: reading the request (host, client, pre-routing checks, body)
//! - `access_log.rs`: observability of each request (ids: `crate::request_id`)

pub mod access_log;
pub mod body;
pub mod ctx;
pub mod denials;
pub mod errors;
pub mod headers;
pub mod integration;
pub mod path_check;

pub mod policy;
pub mod proxy;
pub mod record;
pub mod request;
pub mod respond;

pub mod router;
pub mod upstream;
pub mod websocket;

use crate::config::{Config, Loaded};
use crate::metrics::Metrics;
use crate::store::rate_limits::RateLimits;
use crate::tls::SniResolver;
use access_log::AccessLog;
use arc_swap::ArcSwap;
use router::Router;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use upstream::Pool;

/// Everything built from one config generation. Requests take a snapshot
/// (`Arc<Runtime>`) when they start, so a reload never changes the rules
/// under a request in flight.
pub struct Runtime {
    pub generation: u64,
    pub config: Arc<Config>,
    pub router: Router,
    pub pools: HashMap<String, Arc<Pool>>,
    pub limiters: policy::Limiters,
    pub jwks: policy::JwksCaches,
    pub authorizers: policy::Authorizers,
    pub verified_tokens: policy::jwt::VerifiedTokens,
    /// Rate-based WAF rule counts (kept across reloads by the store).
    pub waf_rates: policy::waf::rate::RateRules,
}

impl Runtime {
    /// Builds the router and pools. Health state of targets that also exist
    /// in `previous` carries over.
    pub fn build(
        config: Arc<Config>,
        generation: u64,
        previous: Option<&Runtime>,
        rate_limits: &dyn RateLimits,
    ) -> Runtime {
        let pools = config
            .upstreams
            .iter()
            .map(|(name, spec)| {
                let old = previous.and_then(|p| p.pools.get(name)).map(|p| p.as_ref());
                (name.clone(), Arc::new(Pool::new(spec.clone(), old)))
            })
            .collect();
        Runtime {
            generation,
            router: Router::new(&config.apis),
            limiters: policy::Limiters::build(&config.apis, rate_limits),
            jwks: policy::JwksCaches::build(&config.apis, previous.map(|p| &p.jwks)),
            authorizers: policy::Authorizers::build(&config.apis, previous.map(|p| &p.authorizers)),
            verified_tokens: Default::default(),
            waf_rates: policy::waf::rate::RateRules::build(&config.waf_rule_sets, rate_limits),
            config,
            pools,
        }
    }
}

/// State shared by the gateway services, the admin listener and the reloader.
pub struct State {
    pub runtime: ArcSwap<Runtime>,
    pub metrics: Arc<Metrics>,
    pub access_log: AccessLog,
    pub tls: Arc<SniResolver>,
    /// API keys and quota counters; outlives config generations.
    pub keys: Arc<policy::api_key::KeyRing>,
    /// The topics, for the `topic` integration; None when the messaging
    /// API is off.
    pub topics: Option<Arc<dyn crate::messaging::pubsub::Topics>>,
    /// The queues, for the `queue` integration; None when messaging is off.
    pub queues: Option<Arc<dyn crate::messaging::queues::Queues>>,
    /// Where the `queue` and `topic` integrations offload large bodies.
    pub payloads: Option<Arc<crate::messaging::payloads::Payloads>>,
    /// Pending topic deliveries (the console); None when messaging is off.
    pub outbox: Option<Arc<dyn crate::messaging::pubsub::Outbox>>,
    /// The flows engine (the `flow` integration, the admin API).
    pub flows: crate::flows::engine::Engine,
    /// Managed WebSocket APIs' connections, metrics and throttles.
    pub websockets: websocket::WebSockets,
    /// Jobs, for the `job` integration.
    pub jobs: Arc<dyn crate::store::jobs::JobStore>,
    /// What the policies refused, by client and reason (the console).
    pub denials: denials::Denials,
    /// The last reload's outcome (the console's routes page).
    pub last_reload: parking_lot::Mutex<Option<ReloadOutcome>>,
    /// Scheduled flow triggers.
    pub scheduler: Arc<crate::flows::schedule::Scheduler>,
    /// The shared database (PostgreSQL), when the config names one.
    pub shared: Option<crate::store::postgres::Postgres>,
    /// Route limits, plan throttles and WAF rate rules count here.
    rate_limits: Arc<dyn RateLimits>,
    /// Where background work (health checks) runs.
    control: tokio::runtime::Handle,
    generation: AtomicU64,
}

/// A config reload: when, and the errors that kept the running config
/// (none: it was applied).
#[derive(Debug, Clone)]
pub struct ReloadOutcome {
    pub at: chrono::DateTime<chrono::Utc>,
    pub errors: Vec<String>,
}

/// The engines and stores the gateway serves from, built before it.
pub struct Engines {
    pub keys: Arc<dyn crate::store::KeyStore>,
    pub rate_limits: Arc<dyn RateLimits>,
    pub topics: Option<Arc<dyn crate::messaging::pubsub::Topics>>,
    pub queues: Option<Arc<dyn crate::messaging::queues::Queues>>,
    pub payloads: Option<Arc<crate::messaging::payloads::Payloads>>,
    pub outbox: Option<Arc<dyn crate::messaging::pubsub::Outbox>>,
    pub flows: crate::flows::engine::Engine,
    pub scheduler: Arc<crate::flows::schedule::Scheduler>,
    /// The shared database, when there is one (readiness, metrics).
    pub shared: Option<crate::store::postgres::Postgres>,
    /// Where managed WebSocket connections are registered.
    pub connections: Arc<dyn crate::store::connections::Connections>,
    /// Where the `job` integration submits.
    pub jobs: Arc<dyn crate::store::jobs::JobStore>,
}

impl State {
    pub fn new(
        loaded: &Loaded,
        engines: Engines,
        control: tokio::runtime::Handle,
    ) -> std::io::Result<Arc<State>> {
        let Engines {
            keys: store,
            rate_limits,
            topics,
            queues,
            payloads,
            outbox,
            flows,
            scheduler,
            shared,
            connections,
            jobs,
        } = engines;
        let metrics = Arc::new(Metrics::new());
        let websockets = websocket::WebSockets::new(connections);
        metrics.register(websockets.metrics.collectors());
        metrics.register(flows.metrics().collectors());
        metrics.register(rate_limits.collectors());
        if let Some(pg) = &shared {
            metrics.register(pg.metrics().collectors());
        }
        let access_log = AccessLog::new(
            &loaded.config.access_log,
            loaded.config.access_log_rotation,
            metrics.access_log_dropped.clone(),
        )?;
        let runtime = Runtime::build(loaded.config.clone(), 1, None, rate_limits.as_ref());
        let state = Arc::new(State {
            runtime: ArcSwap::from_pointee(runtime),
            metrics,
            access_log,
            tls: Arc::new(SniResolver {
                store: ArcSwap::new(loaded.certs.clone()),
            }),
            keys: Arc::new({
                let ring = policy::api_key::KeyRing::new(
                    store,
                    rate_limits.clone(),
                    &loaded.config.api_keys,
                );
                if shared.is_some() {
                    ring.shared()
                } else {
                    ring
                }
            }),
            topics,
            queues,
            payloads,
            outbox,
            flows,
            websockets,
            jobs,
            denials: Default::default(),
            last_reload: Default::default(),
            scheduler,
            rate_limits,
            shared,
            control,
            generation: AtomicU64::new(1),
        });
        state.start_background(&state.runtime.load());
        state
            .control
            .spawn(evict_idle_rate_limit_keys(Arc::downgrade(&state)));
        state.control.spawn(flush_quota_counts(state.keys.clone()));
        Ok(state)
    }

    /// Swaps in a new config. Listener, admin and data-dir changes need a
    /// restart (or a graceful upgrade); they are reported, not applied.
    pub fn apply(&self, loaded: Loaded) {
        let old = self.runtime.load_full();
        let (a, b) = (&old.config, &loaded.config);
        if a.listeners != b.listeners || a.admin != b.admin || a.data_dir != b.data_dir {
            tracing::warn!("listener, admin or data_dir changes take effect after a restart");
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        self.keys.set_declared(&loaded.config.api_keys);
        self.flows.set_flows(loaded.config.flows.clone());
        let scheduler = self.scheduler.clone();
        self.control.spawn(async move { scheduler.sync().await });
        let runtime = Arc::new(Runtime::build(
            loaded.config,
            generation,
            Some(&old),
            self.rate_limits.as_ref(),
        ));
        self.start_background(&runtime);
        self.runtime.store(runtime);
        self.tls.store.store(loaded.certs);
        self.metrics.config_reloads.with_label_values(&["ok"]).inc();
        *self.last_reload.lock() = Some(ReloadOutcome {
            at: chrono::Utc::now(),
            errors: Vec::new(),
        });
        tracing::info!(generation, "config reloaded");
    }

    fn start_background(&self, runtime: &Runtime) {
        for pool in runtime.pools.values() {
            upstream::health::spawn(pool, &self.control);
        }
    }

    /// Sets `gatehouse_upstream_target_up` from the current pools. Called at
    /// scrape time, so ejections that expired since are reported as they are.
    pub fn refresh_upstream_gauges(&self) {
        let runtime = self.runtime.load();
        let now = upstream::now_ms();
        self.metrics.upstream_health.reset();
        for pool in runtime.pools.values() {
            for (i, t) in pool.targets.iter().enumerate() {
                self.metrics.set_upstream_health(
                    &pool.spec.name,
                    &t.spec.address,
                    pool.is_available(i, now),
                );
            }
        }
    }
}

/// Every 10 s, drops rate-limit buckets that are full again (idle clients).
async fn evict_idle_rate_limit_keys(state: std::sync::Weak<State>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else { return };
        let runtime = state.runtime.load();
        runtime.limiters.evict_idle();
        runtime.waf_rates.evict_idle();
        state
            .metrics
            .rate_limit_keys
            .set(runtime.limiters.tracked_keys() as i64);
    }
}

/// Every second, adds the quota counts of the last second to the store.
async fn flush_quota_counts(keys: Arc<policy::api_key::KeyRing>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let keys = keys.clone();
        keys.flush().await;
    }
}
