//! `gatehouse serve`: builds the pingora server from the config, starts the
//! background work (health checks, reload on SIGHUP or file changes, drain on
//! SIGTERM) and runs until told to stop.

use crate::admin::AdminApp;
use crate::config::{self, model::Listener, Diagnostics};
use crate::gateway::{proxy::Gateway, Engines, State};
use crate::listener::budget;
use crate::listener::connections::Connections;
use crate::listener::metrics::ListenerMetrics;
use crate::listener::pingora_app::{Guarded, LimitsSource};
use crate::listener::ListenerLimits;
use crate::tls;
use anyhow::Context;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{ExecutionPhase, RunArgs, Server};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub struct ServeOptions {
    /// The folder holding gatehouse.yaml, routes/, flows/ and certs/.
    pub root: PathBuf,
    /// Reload when config files change, as well as on SIGHUP.
    pub watch: bool,
    /// Take over the listening sockets of a running instance (zero-downtime binary upgrade).
    pub upgrade: bool,
}

pub fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    tls::install_crypto();
    match budget::raise() {
        Ok(r) => tracing::info!(before = r.before, after = r.after, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let loaded = config::load(&opts.root).map_err(|d| anyhow::anyhow!("invalid config:\n{d}"))?;
    let config = loaded.config.clone();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;

    let control = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("gatehouse-control")
        .enable_all()
        .build()?;
    // Everything is built in dependency order: the stores, the messaging
    // broker, the flows engine (which reads queues), the scheduler, then the
    // gateway's state over all of them. Flow subscriptions reach the flows
    // engine through a door built first, so neither engine holds the other.
    let backends = control.block_on(crate::store::open(&config))?;
    let (flow_door, flow_calls) = crate::messaging::sns::flow_target::door();
    let messaging = match (&config.messaging, backends.messages) {
        (Some(settings), Some(backend)) => {
            let bound = crate::messaging::service::bind(settings)?;
            let naming =
                crate::messaging::service::signed_naming(settings, &bound, &config.data_dir)?;
            let engine = messaging_engine(settings, naming, backend, flow_door)?;
            Some((settings, bound, engine))
        }
        _ => None,
    };
    let queues = messaging.as_ref().map(|(_, _, e)| e.queues.clone());
    let topics = messaging.as_ref().map(|(_, _, e)| e.topics.clone());
    let outbox = messaging
        .as_ref()
        .map(|(_, _, e)| e.deliverer.outbox.clone());
    let payloads = match config
        .messaging
        .as_ref()
        .and_then(|m| m.large_payloads.as_ref())
    {
        Some(settings) if messaging.is_some() => {
            let store =
                crate::flows::sink::stores::open(&settings.url, &config.data_dir, &settings.s3)
                    .map_err(|e| anyhow::anyhow!("messaging.large_payloads: {e}"))?;
            Some(Arc::new(crate::messaging::payloads::Payloads::new(
                store, settings,
            )))
        }
        _ => None,
    };
    // Flow runs get threads of their own: parsing and encoding a big run
    // must not take a gateway worker's time.
    let flows_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.server.threads.clamp(1, 4))
        .thread_name("gatehouse-flows")
        .enable_all()
        .build()?;
    let engine = crate::flows::engine::Engine::new(
        config.flows.clone(),
        config.data_dir.clone(),
        backends.flows.clone(),
        queues.clone(),
        payloads.clone(),
    )
    .with_runtime(flows_runtime.handle().clone())
    .with_events(topics.clone());
    control.block_on(engine.show_deactivated());
    engine.answer(flow_calls);
    let scheduler = control
        .block_on(crate::flows::schedule::Scheduler::start(engine.clone()))
        .map_err(|e| anyhow::anyhow!("starting flow schedules: {e}"))?;
    let job_store = crate::store::open_jobs(&config)?;
    // Jobs' schedule ticks are claimed where flows' are: once per fleet.
    let job_ticks = backends.flows.clone();
    let state = State::new(
        &loaded,
        Engines {
            keys: backends.keys,
            rate_limits: backends.rate_limits,
            topics,
            queues,
            payloads,
            outbox,
            flows: engine,
            scheduler: Arc::new(scheduler),
            shared: backends.shared,
            connections: backends.connections,
            jobs: job_store.clone(),
        },
        control.handle().clone(),
    )?;

    let listener_metrics = ListenerMetrics::new();
    state.metrics.register(listener_metrics.collectors());
    // The console's charts: a sample of the counters every second.
    let console = Arc::new(crate::admin::console::Console::new());
    control.spawn(crate::admin::console::sampler::run(
        Arc::downgrade(&state),
        console.history.clone(),
    ));
    let messaging = messaging
        .map(|(settings, bound, engine)| {
            let cap = settings.max_connections.unwrap_or_else(|| {
                budget::default_cap(budget::Listener::Messaging, budget::nofile())
            });
            let limits_state = state.clone();
            let limits: LimitsSource = Arc::new(move || {
                listener_limits(&limits_state.runtime.load().config.limits, cap, 0)
            });
            // The @connections API shares the listener and its keys.
            let management = crate::gateway::websocket::management::Management {
                connections: state.websockets.connections.clone(),
                secrets: settings
                    .access_keys
                    .iter()
                    .map(|(k, v)| (k.clone(), v.secret.clone()))
                    .collect(),
                limits: limits.clone(),
            };
            crate::messaging::service::start(
                settings,
                bound,
                engine,
                config.server.threads,
                crate::messaging::service::Listening {
                    connections: Connections::new("messaging", listener_metrics.clone()),
                    limits,
                    tls: settings
                        .tls
                        .then(|| state.tls.clone() as Arc<dyn rustls::server::ResolvesServerCert>),
                    beside: Some(crate::gateway::websocket::management::router(Arc::new(
                        management,
                    ))),
                },
            )
        })
        .transpose()?;
    // Queue workers on threads of their own (a busy worker must not take the
    // control thread's time), once the declared queues exist.
    let workers_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.server.threads.clamp(1, 2))
        .thread_name("gatehouse-workers")
        .enable_all()
        .build()?;
    // Jobs run in the same pool of threads; their commands are processes.
    let jobs = {
        let config_of = state.clone();
        crate::jobs::Jobs::start(
            job_store.clone(),
            job_ticks,
            Arc::new(move || config_of.runtime.load().config.clone()),
            &state.metrics,
            workers_runtime.handle(),
        )
    };
    let workers = crate::workers::Workers::start(
        &state,
        state.queues.clone(),
        jobs.store.clone(),
        workers_runtime.handle().clone(),
    );

    let listeners = resolve_ports(&config.listeners)?;
    warn_if_overcommitted(&config, listeners.len());
    let admin = config.admin.map(resolve_port).transpose()?;

    let mut conf = ServerConf {
        threads: config.server.threads,
        pid_file: path_str(&config.data_dir.join("gatehouse.pid")),
        upgrade_sock: path_str(&config.data_dir.join("upgrade.sock")),
        upstream_keepalive_pool_size: config.server.upstream_keepalive_pool_size,
        grace_period_seconds: Some(config.server.grace_period.as_secs().max(1)),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    conf.work_stealing = false;
    let opt = Opt {
        upgrade: opts.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let https_port = listeners
        .iter()
        .find(|(l, _)| l.tls.is_some())
        .map(|(_, a)| a.port());
    let plain: Vec<_> = listeners.iter().filter(|(l, _)| l.tls.is_none()).collect();
    let secure: Vec<_> = listeners.iter().filter(|(l, _)| l.tls.is_some()).collect();
    let gateway_services = usize::from(!plain.is_empty()) + usize::from(!secure.is_empty());
    if !plain.is_empty() {
        let gateway = Gateway {
            state: state.clone(),
            tls: false,
            redirect_ports: plain
                .iter()
                .filter(|(l, _)| l.redirect_to_https)
                .map(|(_, a)| a.port())
                .collect(),
            https_port,
        };
        let app = guarded_gateway(
            &server,
            gateway,
            "gateway-http",
            &state,
            &listener_metrics,
            gateway_services,
        );
        let mut service = pingora::services::listening::Service::new("gateway-http".into(), app);
        for (_, addr) in &plain {
            service.add_listener(ListenerConfig::tcp(addr.to_string()).l4_buffer(l4_buffers()));
        }
        server.add_service(service);
    }
    if !secure.is_empty() {
        let gateway = Gateway {
            state: state.clone(),
            tls: true,
            redirect_ports: Vec::new(),
            https_port,
        };
        let app = guarded_gateway(
            &server,
            gateway,
            "gateway-https",
            &state,
            &listener_metrics,
            gateway_services,
        );
        let mut service = pingora::services::listening::Service::new("gateway-https".into(), app);
        for (listener, addr) in &secure {
            let endpoint = ListenerConfig::tcp(addr.to_string())
                .tls(tls_settings(listener, &state)?)
                .l4_buffer(l4_buffers());
            service.add_listener(endpoint);
        }
        server.add_service(service);
    }
    if let Some(addr) = admin {
        let connections = Connections::new("admin", listener_metrics.clone());
        let limits_state = state.clone();
        let limits: LimitsSource = Arc::new(move || {
            let limits = &limits_state.runtime.load().config.limits;
            let cap = limits
                .max_admin_connections
                .unwrap_or_else(|| budget::default_cap(budget::Listener::Admin, budget::nofile()));
            listener_limits(limits, cap, 0)
        });
        let app = Guarded::new(
            AdminApp {
                state: state.clone(),
                console: console.clone(),
                workers: workers.clone(),
                jobs: jobs.clone(),
            },
            connections,
            limits,
        );
        let mut service = pingora::services::listening::Service::new("admin".to_string(), app);
        service.add_listener(ListenerConfig::tcp(addr.to_string()).l4_buffer(l4_buffers()));
        service.threads = Some(1);
        server.add_service(service);
    }

    control.spawn(reload_on_sighup(state.clone(), opts.root.clone()));
    control.spawn(reopen_access_log_on_sigusr1(state.clone()));
    if opts.watch {
        watch_files(state.clone(), opts.root.clone(), control.handle().clone())?;
    }
    control.spawn(exit_when_drained(
        server.watch_execution_phase(),
        state.clone(),
        messaging.as_ref().and_then(|m| m.broker.clone()),
        config.data_dir.join("gatehouse.pid"),
    ));
    // SIGINT is a quick exit. Taken here, before the listeners are
    // announced: pingora listens for it only once its main loop runs, and
    // until then the default action would kill the process mid-write.
    let interrupts = {
        let _runtime = control.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?
    };
    control.spawn(exit_on_sigint(
        interrupts,
        state.clone(),
        messaging.as_ref().and_then(|m| m.broker.clone()),
        config.data_dir.join("gatehouse.pid"),
    ));

    // pingora writes its pid file only when daemonizing; operators (and
    // `kill -HUP $(cat data/gatehouse.pid)`) want it always.
    let pid_file = config.data_dir.join("gatehouse.pid");
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", pid_file.display()))?;
    announce(&listeners, admin, messaging.as_ref().map(|m| m.address));
    server.run(RunArgs::default());
    // pingora returns here on its own quick shutdown (racing
    // `exit_on_sigint`): quota counts to disk, and nothing left behind that
    // claims we still run.
    control.block_on(state.keys.flush());
    let _ = std::fs::remove_file(&pid_file);
    drop(flows_runtime);
    drop(workers_runtime);
    Ok(())
}

/// A gateway service (its plain or its TLS listeners) in the listener guard,
/// with its own connection table.
fn guarded_gateway(
    server: &Server,
    gateway: Gateway,
    name: &str,
    state: &Arc<State>,
    metrics: &ListenerMetrics,
    services: usize,
) -> Guarded<pingora::proxy::HttpProxy<Gateway>> {
    let mut proxy = pingora::proxy::HttpProxy::new(gateway, server.configuration.clone());
    proxy.handle_init_modules();
    let limits_state = state.clone();
    let limits: LimitsSource = Arc::new(move || {
        let limits = &limits_state.runtime.load().config.limits;
        let cap = limits.max_connections.unwrap_or_else(|| {
            budget::default_cap(
                budget::Listener::Gateway {
                    listeners: services,
                },
                budget::nofile(),
            )
        });
        listener_limits(limits, cap, limits.max_connections_per_ip)
    });
    Guarded::new(proxy, Connections::new(name, metrics.clone()), limits)
}

fn listener_limits(
    limits: &crate::config::model::Limits,
    max_connections: usize,
    max_connections_per_ip: usize,
) -> ListenerLimits {
    ListenerLimits {
        header_timeout: limits.client_header_timeout,
        body_timeout: limits.client_body_timeout,
        keepalive_timeout: limits.keepalive_timeout,
        max_header_bytes: limits.max_header_bytes,
        max_connections,
        max_connections_per_ip,
    }
}

/// pingora reads through a 64 KiB buffer per connection by default; most of
/// an idle connection's memory. TLS reads whole 16 KiB records.
fn l4_buffers() -> L4BufferSettings {
    L4BufferSettings::new(16 * 1024, pingora::listeners::DEFAULT_L4_WRITE_BUFFER_SIZE)
}

/// Caps written in config that add up to more descriptors than the process
/// may open are allowed (the operator may know better) but said at start-up.
fn warn_if_overcommitted(config: &crate::config::model::Config, gateway_listeners: usize) {
    let limits = &config.limits;
    let mut caps = Vec::new();
    if let Some(cap) = limits.max_connections {
        caps.extend(std::iter::repeat_n(cap * 2, gateway_listeners.min(2)));
    }
    caps.extend(limits.max_admin_connections);
    caps.extend(config.messaging.as_ref().and_then(|m| m.max_connections));
    if let Some((wanted, nofile)) = budget::overcommitted(&caps, budget::nofile()) {
        tracing::warn!(
            wanted,
            nofile,
            "the configured connection caps need more file descriptors than the open-file limit allows"
        );
    }
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Listeners on port 0 get a free port now, so the addresses can be announced
/// before pingora binds them.
fn resolve_ports(listeners: &[Listener]) -> anyhow::Result<Vec<(Listener, SocketAddr)>> {
    listeners
        .iter()
        .map(|l| Ok((l.clone(), resolve_port(l.address)?)))
        .collect()
}

fn resolve_port(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    // The probe is released before pingora binds (with SO_REUSEPORT), so
    // another Gatehouse starting at the same moment could be handed the same
    // port and the two would share it silently. A lock file per port, held
    // for the life of the process, makes the port ours; probes that lose
    // stay bound until we are done, so the kernel offers other ports.
    let mut losers = Vec::new();
    for _ in 0..64 {
        let probe = std::net::TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
        let found = probe.local_addr()?;
        if claim_port(found.port()) {
            return Ok(found);
        }
        losers.push(probe);
    }
    anyhow::bail!("no free port on {} after 64 tries", addr.ip())
}

/// Takes the per-port lock file under the temp dir; true when it is ours.
fn claim_port(port: u16) -> bool {
    static HELD: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());
    let dir = std::env::temp_dir().join("gatehouse-ports");
    let file = std::fs::create_dir_all(&dir).and_then(|_| {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(port.to_string()))
    });
    let Ok(file) = file else {
        return true; // no temp dir: fall back to the probe alone
    };
    if file.try_lock().is_err() {
        return false;
    }
    if let Ok(mut held) = HELD.lock() {
        held.push(file);
    }
    true
}

fn tls_settings(listener: &Listener, state: &State) -> anyhow::Result<TlsSettings> {
    let tls = listener.tls.as_ref().context("listener without tls")?;
    // Certificates come from the SNI resolver; on mTLS listeners a callback
    // records the client certificate's identity for the proxy.
    let mut settings = if tls.client_ca.is_some() {
        TlsSettings::with_callbacks(Box::new(tls::IdentityCallback))?
    } else {
        TlsSettings::intermediate("", "")?
    };
    settings.set_cert_resolver(state.tls.clone());
    if tls.http2 {
        settings.enable_h2();
    }
    if let Some(ca) = &tls.client_ca {
        let verifier = tls::client_verifier(ca, tls.client_cert_required)
            .map_err(|e| anyhow::anyhow!("listener {}: {e}", listener.name))?;
        settings.set_client_cert_verifier(verifier);
    }
    Ok(settings)
}

/// One line on stderr that scripts and tests can wait for.
fn announce(
    listeners: &[(Listener, SocketAddr)],
    admin: Option<SocketAddr>,
    messaging: Option<SocketAddr>,
) {
    let mut fields = serde_json::Map::new();
    for (l, addr) in listeners {
        fields.insert(l.name.clone(), addr.to_string().into());
    }
    let line = serde_json::json!({
        "event": "listening",
        "listeners": fields,
        "admin": admin.map(|a| a.to_string()),
        "messaging": messaging.map(|a| a.to_string()),
    });
    eprintln!("{line}");
}

/// Loads the config again and swaps it in, or logs every error and keeps the
/// running config.
pub fn reload(state: &State, root: &Path) -> Result<(), Diagnostics> {
    match config::load(root) {
        Ok(loaded) => {
            state.apply(loaded);
            Ok(())
        }
        Err(diags) => {
            state
                .metrics
                .config_reloads
                .with_label_values(&["rejected"])
                .inc();
            for d in &diags.0 {
                tracing::error!(error = %d, "config reload rejected");
            }
            *state.last_reload.lock() = Some(crate::gateway::ReloadOutcome {
                at: chrono::Utc::now(),
                errors: diags.0.iter().map(|d| d.to_string()).collect(),
            });
            Err(diags)
        }
    }
}

async fn reload_on_sighup(state: Arc<State>, root: PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot listen for SIGHUP; reload with --watch instead");
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP received, reloading config");
        let (state, root) = (state.clone(), root.clone());
        let _ = tokio::task::spawn_blocking(move || reload(&state, &root)).await;
    }
}

/// logrotate moves the access log away and sends SIGUSR1: write to a new file.
async fn reopen_access_log_on_sigusr1(state: Arc<State>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut signals) = signal(SignalKind::user_defined1()) else {
        tracing::warn!("cannot listen for SIGUSR1; the access log cannot be reopened");
        return;
    };
    while signals.recv().await.is_some() {
        tracing::info!("SIGUSR1 received, reopening the access log");
        state.access_log.reopen();
    }
}

/// Reloads after config files change, waiting for a quiet 200ms so an editor's
/// save (often several writes) causes one reload.
fn watch_files(
    state: Arc<State>,
    root: PathBuf,
    handle: tokio::runtime::Handle,
) -> anyhow::Result<()> {
    use notify::{RecursiveMode, Watcher};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let relevant = event.paths.iter().any(|p| is_config_path(p));
            if relevant && !event.kind.is_access() {
                let _ = tx.send(());
            }
        }
    })?;
    watcher.watch(&root, RecursiveMode::NonRecursive)?;
    for dir in ["routes", "flows", "certs"] {
        let path = root.join(dir);
        if path.is_dir() {
            watcher.watch(&path, RecursiveMode::Recursive)?;
        }
    }
    handle.spawn(async move {
        let _watcher = watcher; // lives as long as this task
        while rx.recv().await.is_some() {
            loop {
                match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            tracing::info!("config files changed, reloading");
            let (state, root) = (state.clone(), root.clone());
            let _ = tokio::task::spawn_blocking(move || reload(&state, &root)).await;
        }
    });
    Ok(())
}

fn is_config_path(p: &Path) -> bool {
    let ext = p.extension().and_then(|e| e.to_str());
    matches!(ext, Some("yaml" | "yml" | "crt" | "pem" | "key"))
}

/// The messaging engine over the backend the store chose: the embedded
/// broker over its journal, or queues and topics in the shared database.
fn messaging_engine(
    settings: &config::model::Messaging,
    naming: crate::messaging::names::Naming,
    backend: crate::store::MessageBackend,
    flow_door: crate::messaging::sns::flow_target::FlowDoor,
) -> anyhow::Result<crate::messaging::service::Engine> {
    use crate::messaging::service::{open_broker, Engine};
    use crate::store::postgres::queues::{sweeper, PgQueues};
    use crate::store::postgres::topics::PgTopics;
    Ok(match backend {
        crate::store::MessageBackend::Journal(journal) => {
            Engine::of_broker(open_broker(settings, naming, journal, Some(flow_door))?)
        }
        crate::store::MessageBackend::Shared(pg) => {
            let queues = PgQueues::new(pg, naming).sealing_with(settings.key_ring.clone());
            let sweeper_queues = queues.clone();
            let topics = Arc::new(PgTopics::new(
                Arc::new(queues.clone()),
                settings.allow_private_endpoints,
                Some(flow_door.clone()),
            ));
            let queues: Arc<dyn crate::messaging::queues::Queues> = Arc::new(queues.clone());
            Engine {
                queues: queues.clone(),
                topics: topics.clone(),
                deliverer: crate::messaging::sns::delivery::Deliverer {
                    topics: topics.clone(),
                    outbox: topics,
                    queues: queues.clone(),
                    allow_private: settings.allow_private_endpoints,
                    flows: Some(flow_door),
                },
                broker: None,
                chores: Box::new(move |handle| sweeper::spawn(sweeper_queues, handle)),
            }
        }
    })
}

/// SIGINT: what has been acknowledged is made durable, the pid file goes,
/// and the process exits without waiting for requests in flight.
async fn exit_on_sigint(
    mut interrupts: tokio::signal::unix::Signal,
    state: Arc<State>,
    broker: Option<crate::messaging::Broker>,
    pid_file: PathBuf,
) {
    if interrupts.recv().await.is_none() {
        return;
    }
    tracing::info!("SIGINT received, exiting");
    if let Some(broker) = &broker {
        broker.close();
        let _ = broker.barrier().await;
    }
    state.keys.flush().await;
    let _ = std::fs::remove_file(&pid_file);
    std::process::exit(0);
}

/// Pingora's graceful shutdown stops accepting, then waits out the whole
/// grace period. Exit as soon as the requests in flight are done instead.
async fn exit_when_drained(
    mut phases: tokio::sync::broadcast::Receiver<ExecutionPhase>,
    state: Arc<State>,
    broker: Option<crate::messaging::Broker>,
    pid_file: PathBuf,
) {
    loop {
        match phases.recv().await {
            Ok(ExecutionPhase::ShutdownGracePeriod) => break,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        }
    }
    tracing::info!("draining in-flight requests");
    while state.metrics.inflight_requests.get() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(broker) = &broker {
        // Long polls answer now; then everything acknowledged is on disk.
        broker.close();
        let _ = broker.barrier().await;
    }
    state.keys.flush().await;
    // Let the last responses' bytes and log lines leave.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = std::fs::remove_file(&pid_file);
    tracing::info!("drained, exiting");
    std::process::exit(0);
}
