//! Upstream pools: the targets of one named upstream, their health, and the
//! balancer that picks one per attempt.
//!
//! A target is available unless an active health check marked it down or
//! passive ejection took it out for a while. Health state lives in
//! `TargetState`, shared across config reloads for targets that stay, so a
//! reload neither forgets a dead target nor resets a recovering one.

pub mod balancer;
pub mod health;

use crate::config::model::{TargetSpec, UpstreamSpec};
use balancer::Balancer;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct TargetState {
    /// Set by active health checks; true until a check says otherwise.
    pub checked_down: AtomicBool,
    /// Milliseconds since process start until which the target is ejected.
    pub ejected_until: AtomicU64,
    /// Consecutive passive failures.
    pub failures: AtomicU32,
    /// Consecutive active-check results in the current direction.
    pub streak: AtomicU32,
}

#[derive(Debug)]
pub struct Target {
    pub spec: TargetSpec,
    pub state: Arc<TargetState>,
    /// `Host` sent upstream (the target's address), built once.
    pub host_header: http::HeaderValue,
}

#[derive(Debug)]
pub struct Pool {
    pub spec: Arc<UpstreamSpec>,
    pub targets: Vec<Target>,
    /// Trusted roots for upstream TLS when the pool names its own CA.
    pub ca: Option<Arc<pingora::protocols::tls::CaType>>,
    /// Keeps pooled upstream connections within pools of identical TLS
    /// settings: pingora's reuse key ignores the trusted CA, so without this
    /// a connection verified against one pool's CA could serve another pool.
    pub reuse_key: u64,
    balancer: Balancer,
    /// The pool's client for requests the gateway makes itself (WebSocket
    /// APIs' `http` routes), built on first use.
    own_client: OnceLock<crate::outbound::Client>,
}

/// A coarse monotonic clock in milliseconds, cheap enough for every request.
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl Pool {
    /// Builds a pool, reusing the health state of targets found in `previous`.
    pub fn new(spec: Arc<UpstreamSpec>, previous: Option<&Pool>) -> Pool {
        let targets = spec
            .targets
            .iter()
            .map(|t| Target {
                host_header: http::HeaderValue::from_str(&t.address)
                    .unwrap_or_else(|_| http::HeaderValue::from_static("localhost")),
                spec: t.clone(),
                state: previous
                    .and_then(|p| p.targets.iter().find(|o| o.spec.address == t.address))
                    .map(|o| o.state.clone())
                    .unwrap_or_default(),
            })
            .collect::<Vec<_>>();
        let balancer = Balancer::new(&spec.balance, &spec.targets);
        let ca = spec
            .tls
            .as_ref()
            .and_then(|t| t.ca.as_ref())
            .and_then(|path| load_ca(path));
        let reuse_key = balancer::hash(format!("{}|{:?}", spec.name, spec.tls).as_bytes());
        Pool {
            spec,
            targets,
            ca,
            reuse_key,
            balancer,
            own_client: OnceLock::new(),
        }
    }

    pub fn is_available(&self, index: usize, now: u64) -> bool {
        let s = &self.targets[index].state;
        !s.checked_down.load(Ordering::Relaxed) && s.ejected_until.load(Ordering::Relaxed) <= now
    }

    /// Picks an available target not in `exclude`. `hash_key` is used by
    /// consistent hashing only.
    pub fn pick(&self, hash_key: Option<&[u8]>, exclude: &[usize]) -> Option<usize> {
        let now = now_ms();
        self.balancer.pick(hash_key, &|i| {
            !exclude.contains(&i) && self.is_available(i, now)
        })
    }

    /// Counts a connect failure, timeout or 5xx; ejects the target after
    /// `max_failures` in a row. Returns true when this call ejected it.
    pub fn report_failure(&self, index: usize) -> bool {
        let Some(passive) = &self.spec.passive else {
            return false;
        };
        let state = &self.targets[index].state;
        let failures = state.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= passive.max_failures {
            state.failures.store(0, Ordering::Relaxed);
            let until = now_ms() + passive.ejection_time.as_millis() as u64;
            state.ejected_until.store(until, Ordering::Relaxed);
            tracing::warn!(
                upstream = %self.spec.name,
                target = %self.targets[index].spec.address,
                seconds = passive.ejection_time.as_secs_f64(),
                "target ejected after consecutive failures"
            );
            return true;
        }
        false
    }

    pub fn report_success(&self, index: usize) {
        let state = &self.targets[index].state;
        if state.failures.load(Ordering::Relaxed) != 0 {
            state.failures.store(0, Ordering::Relaxed);
        }
    }

    /// A client speaking to this pool's targets as the proxy does (its TLS
    /// name, CA and verification); callers set each request's timeout.
    pub fn client(&self) -> Result<&reqwest::Client, String> {
        self.own_client
            .get_or_init(|| {
                crate::outbound::Client::build(
                    client_builder(self, None),
                    &format!("upstream {}", self.spec.name),
                )
            })
            .get()
    }

    /// The URL of `path` on target `index`.
    pub fn target_url(&self, index: usize, path: &str) -> String {
        let t = &self.targets[index].spec;
        url(self, &t.host, t.socket, path)
    }

    pub fn idle_timeout(&self) -> Duration {
        self.spec.keepalive_timeout
    }
}

/// A client for the pool's targets: its TLS settings, and each target's
/// name resolved to its address so SNI and certificate checks match the
/// proxy's traffic.
fn client_builder(pool: &Pool, timeout: Option<Duration>) -> reqwest::ClientBuilder {
    // Without a timeout of its own, each request sets one.
    let day = Duration::from_secs(86_400);
    let mut builder = crate::outbound::client(timeout.unwrap_or(day)).no_proxy();
    if let Some(tls) = &pool.spec.tls {
        builder = builder.danger_accept_invalid_certs(!tls.verify);
        if let Some(ca) = tls.ca.as_ref().and_then(|p| std::fs::read(p).ok()) {
            for cert in reqwest::Certificate::from_pem_bundle(&ca).unwrap_or_default() {
                builder = builder.add_root_certificate(cert);
            }
        }
        for t in &pool.spec.targets {
            let name = tls.sni.as_deref().unwrap_or(&t.host);
            builder = builder.resolve(name, t.socket);
        }
    }
    builder
}

fn client_for(pool: &Pool, timeout: Option<Duration>) -> reqwest::Result<reqwest::Client> {
    client_builder(pool, timeout).build()
}

fn url(pool: &Pool, host: &str, socket: std::net::SocketAddr, path: &str) -> String {
    match &pool.spec.tls {
        Some(tls) => format!(
            "https://{}:{}{path}",
            tls.sni.as_deref().unwrap_or(host),
            socket.port()
        ),
        None => format!("http://{socket}{path}"),
    }
}

/// Reads a PEM bundle into pingora's CA type. The file was checked to exist
/// at validation; a bundle that fails to parse is logged and verification
/// then fails closed against an empty set.
fn load_ca(path: &std::path::Path) -> Option<Arc<pingora::protocols::tls::CaType>> {
    use pingora::utils::tls::{parse_x509, WrappedX509};
    let pem = match std::fs::read(path) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read upstream CA bundle");
            return Some(Arc::from(Vec::new().into_boxed_slice()));
        }
    };
    let certs: Vec<WrappedX509> = rustls_pemfile::certs(&mut pem.as_slice())
        .filter_map(Result::ok)
        .map(|der| WrappedX509::new(der.as_ref().to_vec(), parse_x509))
        .collect();
    Some(Arc::from(certs.into_boxed_slice()))
}
