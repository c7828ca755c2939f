//! Raw config -> validated model. Every check reports into `Diagnostics` and
//! carries on, so one run of `gatehouse validate` shows every problem.

use super::diagnostics::{Diagnostics, Reporter};
use super::model::*;
use super::raw::*;
use super::yaml::Node;
use crate::config::body_template::BodyTemplate;
use crate::config::path_template::{parse_rewrite, PathTemplate};
use http::{HeaderName, HeaderValue, Method};
use std::collections::{BTreeMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A parsed file: where it came from, its tree (for positions), its raw value.
pub struct Parsed<T> {
    pub file: PathBuf,
    pub node: Node,
    pub raw: T,
}

pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_HTTPS_ADDR: &str = "127.0.0.1:8443";
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9180";

pub fn settings(
    root: &Path,
    main: Option<&Parsed<GatehouseFile>>,
    has_certs: bool,
    diags: &mut Diagnostics,
) -> Config {
    let empty = GatehouseFile::default();
    let fallback_node = Node {
        value: super::yaml::Value::Null,
        pos: Default::default(),
    };
    let file = PathBuf::from("gatehouse.yaml");
    let (raw, node, file) = match main {
        Some(p) => (&p.raw, &p.node, &p.file),
        None => (&empty, &fallback_node, &file),
    };
    let mut r = Reporter::new(file, node, diags);

    let listeners = listeners(raw.listeners.as_deref(), has_certs, root, &mut r);
    let admin = match &raw.admin {
        Some(AdminRaw {
            enabled: Some(false),
            ..
        }) => None,
        Some(AdminRaw {
            address: Some(a), ..
        }) => socket_addr(a, "admin.address", &mut r),
        _ => DEFAULT_ADMIN_ADDR.parse().ok(),
    };
    let server_raw = raw.server.as_ref();
    let threads = server_raw.and_then(|s| s.threads).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if threads == 0 {
        r.error("server.threads", "must be at least 1");
    }
    let server = ServerSettings {
        threads: threads.max(1),
        grace_period: server_raw
            .and_then(|s| s.grace_period)
            .map_or(Duration::from_secs(10), |d| d.0),
        upstream_keepalive_pool_size: server_raw
            .and_then(|s| s.upstream_keepalive_pool_size)
            .unwrap_or(256),
    };
    let l = raw.limits.as_ref();
    let limits = Limits {
        max_header_bytes: l
            .and_then(|l| l.max_header_bytes)
            .map_or(32 * 1024, |b| b.0 as usize),
        max_body_bytes: l
            .and_then(|l| l.max_body_bytes)
            .map_or(10 * 1024 * 1024, |b| b.0),
        client_read_timeout: l
            .and_then(|l| l.client_read_timeout)
            .map_or(Duration::from_secs(60), |d| d.0),
        keepalive_timeout: l
            .and_then(|l| l.keepalive_timeout)
            .map_or(Duration::from_secs(60), |d| d.0),
        client_header_timeout: l
            .and_then(|l| l.client_header_timeout)
            .map_or(Duration::from_secs(20), |d| d.0),
        client_body_timeout: l
            .and_then(|l| l.client_body_timeout)
            .map_or(Duration::from_secs(60), |d| d.0),
        max_connections: at_least_one(
            l.and_then(|l| l.max_connections),
            "limits.max_connections",
            &mut r,
        ),
        max_connections_per_ip: l.and_then(|l| l.max_connections_per_ip).unwrap_or(0),
        allow_encoded_slashes: l.and_then(|l| l.allow_encoded_slashes).unwrap_or(false),
        max_admin_connections: at_least_one(
            raw.admin.as_ref().and_then(|a| a.max_connections),
            "admin.max_connections",
            &mut r,
        ),
    };
    let access_log = match raw.access_log.as_deref() {
        None | Some("stdout") => AccessLogTarget::Stdout,
        Some("stderr") => AccessLogTarget::Stderr,
        Some("off") => AccessLogTarget::Off,
        Some(path) => AccessLogTarget::File(root.join(path)),
    };
    let trusted_proxies = raw
        .trusted_proxies
        .iter()
        .enumerate()
        .filter_map(|(i, text)| match parse_net(text) {
            Some(net) => Some(net),
            None => {
                r.error(
                    &format!("trusted_proxies[{i}]"),
                    format!("bad network `{text}`: expected an IP or CIDR like 10.0.0.0/8"),
                );
                None
            }
        })
        .collect();
    let mut upstreams = BTreeMap::new();
    for (name, up) in &raw.upstreams {
        if let Some(spec) = upstream(name, up, root, &mut r) {
            upstreams.insert(name.clone(), Arc::new(spec));
        }
    }
    let usage_plans = super::plans::usage_plans(&raw.usage_plans, &mut r);
    let api_keys = super::plans::declared_keys(&raw.api_keys, &usage_plans, &mut r);
    let waf_rule_sets = super::waf::rule_sets(&raw.waf_rule_sets, root, &mut r);
    let messaging = super::messaging::messaging(raw.messaging.as_ref(), &mut r);
    if messaging.as_ref().is_some_and(|m| m.tls) && !has_certs {
        r.error(
            "messaging.tls",
            "TLS but no certificate in certs/ (try `gatehouse certs generate --host localhost`)",
        );
    }
    let store = super::store::store(raw.store.as_ref(), &mut r);
    let rate_limits = super::store::rate_limits(raw.rate_limits.as_ref(), &mut r);
    Config {
        root: root.to_path_buf(),
        listeners,
        admin,
        admin_token: raw.admin.as_ref().and_then(|a| a.token.clone()),
        data_dir: root.join(raw.data_dir.as_deref().unwrap_or("data")),
        certs_dir: root.join("certs"),
        server,
        limits,
        access_log,
        access_log_rotation: Rotation {
            max_size: raw
                .access_log_rotation
                .as_ref()
                .and_then(|r| r.max_size)
                .map_or(100 * 1024 * 1024, |b| b.0),
            keep: raw
                .access_log_rotation
                .as_ref()
                .and_then(|r| r.keep)
                .unwrap_or(5),
        },
        upstreams,
        apis: Vec::new(),
        trusted_proxies,
        usage_plans,
        api_keys,
        waf_rule_sets,
        messaging,
        store,
        rate_limits,
        flows: BTreeMap::new(),
        flow_ids: Default::default(),
        workers: BTreeMap::new(),
        job_definitions: BTreeMap::new(),
        job_compute: JobCompute {
            vcpus: raw.jobs.as_ref().and_then(|j| j.vcpus).unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
            }),
            memory: raw
                .jobs
                .as_ref()
                .and_then(|j| j.memory)
                .map_or(2 * 1024 * 1024 * 1024, |b| b.0),
        },
    }
}

fn parse_net(text: &str) -> Option<ipnet::IpNet> {
    let t = text.trim();
    t.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| t.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

fn listeners(
    raw: Option<&[ListenerRaw]>,
    has_certs: bool,
    root: &Path,
    r: &mut Reporter,
) -> Vec<Listener> {
    let Some(raw) = raw else {
        let mut out = vec![Listener {
            name: "http".into(),
            address: DEFAULT_HTTP_ADDR.parse().expect("constant address"),
            tls: None,
            redirect_to_https: false,
        }];
        if has_certs {
            out.push(Listener {
                name: "https".into(),
                address: DEFAULT_HTTPS_ADDR.parse().expect("constant address"),
                tls: Some(ListenerTls {
                    http2: true,
                    client_ca: None,
                    client_cert_required: false,
                }),
                redirect_to_https: false,
            });
        }
        return out;
    };
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, l) in raw.iter().enumerate() {
        let path = format!("listeners[{i}]");
        if !names.insert(l.name.clone()) {
            r.error(
                &format!("{path}.name"),
                format!("duplicate listener name `{}`", l.name),
            );
        }
        let Some(address) = socket_addr(&l.address, &format!("{path}.address"), r) else {
            continue;
        };
        let tls = l.tls.as_ref().map(|t| ListenerTls {
            http2: t.http2.unwrap_or(true),
            client_ca: t.client_ca.as_ref().map(|p| root.join(p)),
            client_cert_required: t.client_cert_required.unwrap_or(true),
        });
        if let Some(ca) = tls.as_ref().and_then(|t| t.client_ca.as_ref()) {
            if !ca.is_file() {
                r.error(
                    &format!("{path}.tls.client_ca"),
                    format!("file `{}` not found", ca.display()),
                );
            }
        }
        if tls.is_some() && !has_certs {
            r.error(
                &format!("{path}.tls"),
                "TLS listener but no certificate in certs/ (try `gatehouse certs generate --host localhost`)",
            );
        }
        if l.redirect_to_https && tls.is_some() {
            r.error(
                &format!("{path}.redirect_to_https"),
                "only a plain-HTTP listener can redirect to HTTPS",
            );
        }
        out.push(Listener {
            name: l.name.clone(),
            address,
            tls,
            redirect_to_https: l.redirect_to_https,
        });
    }
    if out.iter().any(|l| l.redirect_to_https) && !out.iter().any(|l| l.tls.is_some()) {
        r.error(
            "listeners",
            "`redirect_to_https` needs a listener with `tls`",
        );
    }
    out
}

pub fn socket_addr(text: &str, path: &str, r: &mut Reporter) -> Option<SocketAddr> {
    match text.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            r.error(
                path,
                format!("bad address `{text}`: expected ip:port, like 127.0.0.1:8080"),
            );
            None
        }
    }
}

fn upstream(name: &str, up: &UpstreamRaw, root: &Path, r: &mut Reporter) -> Option<UpstreamSpec> {
    let path = format!("upstreams.{name}");
    if up.targets.is_empty() {
        r.error(
            &format!("{path}.targets"),
            "an upstream needs at least one target",
        );
    }
    let mut targets = Vec::new();
    for (i, t) in up.targets.iter().enumerate() {
        let tpath = format!("{path}.targets[{i}]");
        let Some((host, _port)) = t.address.rsplit_once(':') else {
            r.error(
                &format!("{tpath}.address"),
                format!("bad address `{}`: expected host:port", t.address),
            );
            continue;
        };
        let socket = match t.address.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(s)) => s,
            _ => {
                r.error(
                    &format!("{tpath}.address"),
                    format!("bad address `{}`: cannot resolve host:port", t.address),
                );
                continue;
            }
        };
        let weight = t.weight.unwrap_or(1);
        if weight == 0 || weight > 1000 {
            r.error(
                &format!("{tpath}.weight"),
                "weight must be between 1 and 1000",
            );
        }
        targets.push(TargetSpec {
            address: t.address.clone(),
            host: host.trim_matches(['[', ']']).to_string(),
            socket,
            weight: weight.clamp(1, 1000),
        });
    }
    let balance = match (
        up.balance.unwrap_or(BalanceRaw::RoundRobin),
        up.hash_on.as_deref(),
    ) {
        (BalanceRaw::ConsistentHash, Some(spec)) => match parse_hash_on(spec) {
            Ok(h) => Balance::ConsistentHash(h),
            Err(m) => {
                r.error(&format!("{path}.hash_on"), m);
                Balance::RoundRobin
            }
        },
        (BalanceRaw::ConsistentHash, None) => {
            r.error(
                &format!("{path}.balance"),
                "`consistent_hash` needs `hash_on`: `header:NAME`, `cookie:NAME` or `client_ip`",
            );
            Balance::RoundRobin
        }
        (_, Some(_)) => {
            r.error(
                &format!("{path}.hash_on"),
                "`hash_on` only applies to `balance: consistent_hash`",
            );
            Balance::RoundRobin
        }
        (BalanceRaw::RoundRobin, None) => Balance::RoundRobin,
        (BalanceRaw::Weighted, None) => Balance::Weighted,
        (BalanceRaw::Random, None) => Balance::Random,
    };
    let tls = up.tls.as_ref().map(|t| UpstreamTls {
        sni: t.sni.clone(),
        verify: t.verify.unwrap_or(true),
        ca: t.ca.as_ref().map(|p| root.join(p)),
    });
    if let Some(ca) = tls.as_ref().and_then(|t| t.ca.as_ref()) {
        if !ca.is_file() {
            r.error(
                &format!("{path}.tls.ca"),
                format!("file `{}` not found", ca.display()),
            );
        }
    }
    let health_check = up.health_check.as_ref().map(|h| {
        if !h.path.starts_with('/') {
            r.error(&format!("{path}.health_check.path"), "must start with `/`");
        }
        HealthCheck {
            path: h.path.clone(),
            interval: h.interval.map_or(Duration::from_secs(5), |d| d.0),
            timeout: h.timeout.map_or(Duration::from_secs(2), |d| d.0),
            healthy_threshold: h.healthy_threshold.unwrap_or(2).max(1),
            unhealthy_threshold: h.unhealthy_threshold.unwrap_or(3).max(1),
            expected_status: h.expected_status.clone().unwrap_or_default(),
        }
    });
    let passive = match &up.passive {
        Some(PassiveRaw {
            enabled: Some(false),
            ..
        }) => None,
        p => Some(Passive {
            max_failures: p.as_ref().and_then(|p| p.max_failures).unwrap_or(3).max(1),
            ejection_time: p
                .as_ref()
                .and_then(|p| p.ejection_time)
                .map_or(Duration::from_secs(30), |d| d.0),
        }),
    };
    Some(UpstreamSpec {
        name: name.to_string(),
        targets,
        balance,
        tls,
        health_check,
        passive,
        timeouts: merge_timeouts(Timeouts::default(), up.timeouts.as_ref()),
        retries: up.retries.unwrap_or(1),
        keepalive_timeout: up
            .keepalive_timeout
            .map_or(Duration::from_secs(60), |d| d.0),
        preserve_host: up.preserve_host.unwrap_or(false),
    })
}

fn parse_hash_on(spec: &str) -> Result<HashOn, String> {
    match spec.split_once(':') {
        Some(("header", name)) => HeaderName::try_from(name.trim())
            .map(HashOn::Header)
            .map_err(|_| format!("bad header name `{name}`")),
        Some(("cookie", name)) if !name.trim().is_empty() => Ok(HashOn::Cookie(name.trim().into())),
        None if spec == "client_ip" => Ok(HashOn::ClientIp),
        _ => Err(format!(
            "bad `hash_on` `{spec}`: expected `header:NAME`, `cookie:NAME` or `client_ip`"
        )),
    }
}

fn merge_timeouts(base: Timeouts, over: Option<&TimeoutsRaw>) -> Timeouts {
    let Some(o) = over else { return base };
    Timeouts {
        connect: o.connect.map_or(base.connect, |d| d.0),
        read: o.read.map_or(base.read, |d| d.0),
        total: o.total.map(|d| d.0).or(base.total),
        websocket_idle: o.websocket_idle.map_or(base.websocket_idle, |d| d.0),
    }
}

/// Validates one route file into an API. Upstream references are checked
/// against `upstreams`; conflicts between APIs are checked in `conflicts`.
pub fn api(
    root: &Path,
    id: &str,
    parsed: &Parsed<ApiFile>,
    settings: &Config,
    diags: &mut Diagnostics,
) -> Api {
    let raw = &parsed.raw;
    let mut r = Reporter::new(&parsed.file, &parsed.node, diags);
    let hosts = raw
        .hosts
        .iter()
        .enumerate()
        .filter_map(|(i, h)| match parse_host_pattern(h) {
            Ok(p) => Some(p),
            Err(m) => {
                r.error(&format!("hosts[{i}]"), m);
                None
            }
        })
        .collect();
    let base_path = match PathTemplate::parse(raw.base_path.as_deref().unwrap_or("/")) {
        Ok(t) => t,
        Err(m) => {
            r.error("base_path", m);
            PathTemplate::parse("/").expect("root template")
        }
    };
    let defaults = raw.defaults.clone().unwrap_or_default();
    let routes_dir = parsed
        .file
        .parent()
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("routes"));
    let ctx = super::policies::Context {
        routes_dir: &routes_dir,
        plans: &settings.usage_plans,
        rule_sets: &settings.waf_rule_sets,
    };
    let api_policies = super::policies::build(raw.policies.as_ref(), "policies", &ctx, &mut r);
    let mut routes: Vec<Arc<Route>> = Vec::new();
    let mut ids = HashSet::new();
    for (i, route_raw) in raw.routes.iter().enumerate() {
        let path = format!("routes[{i}]");
        let Some(mut route) = route(id, i, route_raw, &base_path, &defaults, settings, &mut r)
        else {
            continue;
        };
        let own = super::policies::build(
            route_raw.policies.as_ref(),
            &format!("routes[{i}].policies"),
            &ctx,
            &mut r,
        );
        route.policies = own.over(&api_policies);
        if !ids.insert(route.id.clone()) {
            r.error(
                &format!("{path}.id"),
                format!("duplicate route id `{}`", route.id),
            );
        }
        routes.push(Arc::new(route));
    }
    Api {
        id: id.to_string(),
        file: parsed.file.clone(),
        hosts,
        base_path,
        routes,
    }
}

fn parse_host_pattern(h: &str) -> Result<HostPattern, String> {
    let lower = h.trim().to_ascii_lowercase();
    let valid = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    if let Some(suffix) = lower.strip_prefix("*.") {
        if valid(suffix) {
            return Ok(HostPattern::Suffix(format!(".{suffix}")));
        }
    } else if valid(&lower) {
        return Ok(HostPattern::Exact(lower));
    }
    Err(format!(
        "bad host `{h}`: expected a name like `api.example.com` or `*.example.com` (no port)"
    ))
}

/// The references a route makes (its upstream, its flow), checked on their
/// own when the rest of the route is too broken to build.
fn check_references(raw: &RouteRaw, path: &str, settings: &Config, r: &mut Reporter) {
    match &raw.integration {
        IntegrationRaw::Http(h) => {
            check_upstream(
                &h.upstream,
                &format!("{path}.integration.http"),
                settings,
                r,
            );
        }
        IntegrationRaw::Flow(f) => {
            let _ = super::flow_integration::check(
                f,
                &settings.flow_ids,
                &format!("{path}.integration.flow"),
                r,
            );
        }
        IntegrationRaw::Mock(_)
        | IntegrationRaw::Queue(_)
        | IntegrationRaw::Topic(_)
        | IntegrationRaw::WebSocket(_)
        | IntegrationRaw::Job(_) => {}
    }
}

/// Whether `name` is a declared upstream; an error naming the closest one if not.
pub(super) fn check_upstream(name: &str, ipath: &str, settings: &Config, r: &mut Reporter) -> bool {
    if settings.upstreams.contains_key(name) {
        return true;
    }
    let known: Vec<&str> = settings.upstreams.keys().map(String::as_str).collect();
    r.error(
        &format!("{ipath}.upstream"),
        format!(
            "unknown upstream `{name}`{}; upstreams are defined under `upstreams:` in gatehouse.yaml",
            super::de::did_you_mean(name, &known)
        ),
    );
    false
}

fn route(
    api: &str,
    index: usize,
    raw: &RouteRaw,
    base: &PathTemplate,
    defaults: &RouteSettingsRaw,
    settings: &Config,
    r: &mut Reporter,
) -> Option<Route> {
    let upstreams = &settings.upstreams;
    let path = &format!("routes[{index}]");
    let methods = match (&raw.method, &raw.methods) {
        (Some(_), Some(_)) => {
            r.error(
                &format!("{path}.methods"),
                "set `method` or `methods`, not both",
            );
            return None;
        }
        (Some(m), None) => parse_methods(std::slice::from_ref(m), &format!("{path}.method"), r),
        (None, Some(list)) => parse_methods(list, &format!("{path}.methods"), r),
        (None, None) => Some(Methods::Any),
    };
    let template = match PathTemplate::parse(&raw.path) {
        Ok(t) => Some(t.under(base)),
        Err(m) => {
            r.error(&format!("{path}.path"), m);
            None
        }
    };
    let (Some(methods), Some(template)) = (methods, template) else {
        // The route is lost, but what it refers to is still worth checking.
        check_references(raw, path, settings, r);
        return None;
    };
    let integration = match &raw.integration {
        IntegrationRaw::Http(h) => {
            let ipath = format!("{path}.integration.http");
            if !check_upstream(&h.upstream, &ipath, settings, r) {
                return None;
            }
            let rewrite = match h.path.as_deref().map(parse_rewrite) {
                None => None,
                Some(Ok(t)) => {
                    if let Some(unknown) = t
                        .param_names()
                        .find(|n| !template.param_names().any(|p| p == *n))
                    {
                        r.error(
                            &format!("{ipath}.path"),
                            format!(
                                "`{{{unknown}}}` is not a parameter of the route path `{}`",
                                raw.path
                            ),
                        );
                    }
                    Some(t)
                }
                Some(Err(m)) => {
                    r.error(&format!("{ipath}.path"), m);
                    None
                }
            };
            Integration::Http(HttpIntegration {
                upstream: h.upstream.clone(),
                rewrite,
            })
        }
        IntegrationRaw::Mock(m) => {
            Integration::Mock(mock(m, &format!("{path}.integration.mock"), r))
        }
        IntegrationRaw::WebSocket(w) => Integration::WebSocket(super::websocket::websocket(
            w,
            &methods,
            settings,
            &format!("{path}.integration.websocket"),
            r,
        )),
        IntegrationRaw::Queue(q) => Integration::Publish(super::publish::queue(
            q,
            &template,
            settings.messaging.as_ref(),
            &format!("{path}.integration.queue"),
            r,
        )),
        IntegrationRaw::Topic(t) => Integration::Publish(super::publish::topic(
            t,
            &template,
            settings.messaging.as_ref(),
            &format!("{path}.integration.topic"),
            r,
        )),
        IntegrationRaw::Flow(f) => Integration::Flow(super::flow_integration::check(
            f,
            &settings.flow_ids,
            &format!("{path}.integration.flow"),
            r,
        )?),
        IntegrationRaw::Job(j) => Integration::Job(super::jobs::integration(
            j,
            settings,
            &format!("{path}.integration.job"),
            r,
        )?),
    };
    let upstream_timeouts = match &integration {
        Integration::Http(h) => upstreams.get(&h.upstream).map(|u| u.timeouts),
        Integration::Mock(_)
        | Integration::Publish(_)
        | Integration::Flow(_)
        | Integration::Job(_)
        | Integration::WebSocket(_) => None,
    };
    let timeouts = merge_timeouts(
        merge_timeouts(
            upstream_timeouts.unwrap_or_default(),
            defaults.timeouts.as_ref(),
        ),
        raw.timeouts.as_ref(),
    );
    let request_headers = header_rules(
        defaults.request_headers.as_ref(),
        raw.request_headers.as_ref(),
        &format!("{path}.request_headers"),
        r,
    );
    let response_headers = header_rules(
        defaults.response_headers.as_ref(),
        raw.response_headers.as_ref(),
        &format!("{path}.response_headers"),
        r,
    );
    let id = raw
        .id
        .clone()
        .unwrap_or_else(|| format!("{methods} {}", raw.path));
    Some(Route {
        api: api.to_string(),
        id,
        index,
        methods,
        base_segments: base.segments.len(),
        strip_base_path: raw
            .strip_base_path
            .or(defaults.strip_base_path)
            .unwrap_or(true),
        template,
        integration,
        policies: Policies::default(),
        request_headers,
        response_headers,
        timeouts,
        origin: r.origin(path),
    })
}

pub(super) fn parse_methods(list: &[String], path: &str, r: &mut Reporter) -> Option<Methods> {
    let mut out = Vec::new();
    for m in list {
        let upper = m.trim().to_ascii_uppercase();
        if upper == "ANY" {
            return Some(Methods::Any);
        }
        const KNOWN: [&str; 8] = [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
        ];
        if !KNOWN.contains(&upper.as_str()) {
            r.error(
                path,
                format!(
                    "unknown method `{m}`, expected ANY or one of {}",
                    KNOWN.join(", ")
                ),
            );
            return None;
        }
        out.push(Method::from_bytes(upper.as_bytes()).ok()?);
    }
    if out.is_empty() {
        r.error(path, "list at least one method");
        return None;
    }
    Some(Methods::Only(out))
}

fn header_pairs(
    map: &BTreeMap<String, String>,
    path: &str,
    r: &mut Reporter,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    for (name, value) in map {
        match (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            (Ok(n), Ok(v)) => out.push((n, v)),
            (Err(_), _) => r.error(
                &format!("{path}.{name}"),
                format!("bad header name `{name}`"),
            ),
            (_, Err(_)) => r.error(
                &format!("{path}.{name}"),
                "bad header value (control characters?)",
            ),
        }
    }
    out
}

fn header_rules(
    defaults: Option<&HeaderRulesRaw>,
    own: Option<&HeaderRulesRaw>,
    path: &str,
    r: &mut Reporter,
) -> HeaderRules {
    let mut merged = defaults.cloned().unwrap_or_default();
    if let Some(own) = own {
        merged.set.extend(own.set.clone());
        merged.add.extend(own.add.clone());
        merged.remove.extend(own.remove.iter().cloned());
    }
    let remove = merged
        .remove
        .iter()
        .filter_map(|n| match HeaderName::try_from(n.as_str()) {
            Ok(h) => Some(h),
            Err(_) => {
                r.error(&format!("{path}.remove"), format!("bad header name `{n}`"));
                None
            }
        })
        .collect();
    HeaderRules {
        set: header_pairs(&merged.set, &format!("{path}.set"), r),
        add: header_pairs(&merged.add, &format!("{path}.add"), r),
        remove,
    }
}

/// Two routes that would match the same requests with equal specificity make
/// the choice between them arbitrary: a config error, reported on the later one.
pub fn conflicts(
    apis: &[Api],
    parsed: &BTreeMap<String, Parsed<ApiFile>>,
    diags: &mut Diagnostics,
) {
    let mut seen: Vec<(&Api, usize, &Route)> = Vec::new();
    for api in apis {
        for route in &api.routes {
            let clash = seen.iter().find(|(other_api, _, other)| {
                same_hosts(&other_api.hosts, &api.hosts)
                    && other.template.same_shape(&route.template)
                    && other.methods.overlaps(&route.methods)
            });
            if let Some((_, _, other)) = clash {
                if let Some(p) = parsed.get(&api.id) {
                    let path = format!("routes[{}].path", route.index);
                    diags.push(
                        &p.file,
                        p.node.pos_at(&path),
                        path,
                        format!(
                            "duplicate route: `{} {}` is already defined at {} with the same specificity",
                            route.methods, route.template.source, other.origin
                        ),
                    );
                }
            }
            seen.push((api, route.index, route));
        }
    }
}

fn same_hosts(a: &[HostPattern], b: &[HostPattern]) -> bool {
    if a.is_empty() || b.is_empty() {
        return a.is_empty() && b.is_empty();
    }
    a.iter().any(|h| b.contains(h))
}

/// A count that must be at least 1 when given.
fn at_least_one(n: Option<usize>, path: &str, r: &mut Reporter) -> Option<usize> {
    if n == Some(0) {
        r.error(path, "must be at least 1");
        return None;
    }
    n
}

/// A `mock` answer: its status, headers (JSON by default) and body template.
pub(super) fn mock(
    m: &super::raw::MockIntegrationRaw,
    ipath: &str,
    r: &mut Reporter,
) -> MockIntegration {
    let status = m.status.unwrap_or(200);
    if !(100..=599).contains(&status) {
        r.error(
            &format!("{ipath}.status"),
            format!("status {status} is not between 100 and 599"),
        );
    }
    let mut headers = header_pairs(&m.headers, &format!("{ipath}.headers"), r);
    if !headers.iter().any(|(n, _)| n == http::header::CONTENT_TYPE) {
        headers.push((
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
    }
    let body = match BodyTemplate::parse(m.body.as_deref().unwrap_or("")) {
        Ok(b) => b,
        Err(msg) => {
            r.error(&format!("{ipath}.body"), msg);
            BodyTemplate::default()
        }
    };
    MockIntegration {
        status: status.clamp(100, 599),
        headers,
        body,
    }
}
