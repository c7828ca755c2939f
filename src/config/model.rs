//! The validated config: what the rest of Gatehouse is built from.
//!
//! Every value here has been checked; defaults are filled in. It is immutable
//! and replaced as a whole on reload.

use crate::config::path_template::PathTemplate;
use http::{HeaderName, HeaderValue, Method};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// The folder holding gatehouse.yaml, routes/, flows/ and certs/.
    pub root: PathBuf,
    pub listeners: Vec<Listener>,
    pub admin: Option<SocketAddr>,
    /// Bearer token for the admin keys API; `None` leaves it open (it binds
    /// 127.0.0.1 by default).
    pub admin_token: Option<String>,
    pub data_dir: PathBuf,
    pub certs_dir: PathBuf,
    pub server: ServerSettings,
    pub limits: Limits,
    pub access_log: AccessLogTarget,
    pub access_log_rotation: Rotation,
    pub upstreams: BTreeMap<String, Arc<UpstreamSpec>>,
    pub apis: Vec<Api>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub usage_plans: BTreeMap<String, Arc<UsagePlan>>,
    pub waf_rule_sets: BTreeMap<String, Arc<super::waf::RuleSet>>,
    /// Keys declared in config, already hashed.
    pub api_keys: Vec<crate::keys::KeyRecord>,
    /// `None` when the messaging API is disabled.
    pub messaging: Option<Messaging>,
    /// The embedded database, or PostgreSQL shared by a fleet.
    pub store: Store,
    /// Where rate limits count.
    pub rate_limits: RateLimitBackend,
    /// `flows/<id>.yaml`, by id.
    pub flows: BTreeMap<String, Arc<crate::config::flow_spec::FlowSpec>>,
    /// Every flow file's id, valid or not: a route or subscription naming a
    /// flow whose file has errors is not reported a second time.
    pub flow_ids: std::collections::BTreeSet<String>,
    /// Queue workers, by id (`workers/<id>.yaml`).
    pub workers: BTreeMap<String, Arc<WorkerSpec>>,
    /// Job definitions, by id (`jobs/<id>.yaml`).
    pub job_definitions: BTreeMap<String, Arc<JobDefinition>>,
    /// The compute environment's budget.
    pub job_compute: JobCompute,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Messaging {
    pub address: SocketAddr,
    pub region: String,
    pub account_id: String,
    pub public_url: Option<String>,
    pub fsync: bool,
    pub allow_private_endpoints: bool,
    /// `None`: a share of the descriptor limit.
    pub max_connections: Option<usize>,
    /// Where large message bodies go (None: offloading is off).
    pub large_payloads: Option<LargePayloads>,
    /// Access key id -> its secret and principal. Empty: open (loopback
    /// only).
    pub access_keys: BTreeMap<String, AccessKey>,
    /// TLS with the certificates in `certs/`.
    pub tls: bool,
    /// Seals message bodies and attributes at rest (queues with
    /// `SqsManagedSseEnabled` or `KmsMasterKeyId`).
    pub key_ring: Option<crate::sealing::KeyRing>,
    pub queues: Vec<DeclaredQueue>,
    pub topics: Vec<DeclaredTopic>,
}

/// Offloading large bodies the extended client's way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LargePayloads {
    /// `file://...` or `s3://bucket` (without the prefix: pointers carry
    /// whole keys).
    pub url: String,
    /// The bucket name pointers carry.
    pub bucket: String,
    /// Object keys start with this (`payloads/` or the URL's prefix + `/`).
    pub key_prefix: String,
    pub threshold: u64,
    pub s3: BTreeMap<String, String>,
}

/// A messaging access key: the secret its SigV4 signatures use, and the
/// principal its requests act for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub secret: String,
    pub account_id: String,
    pub user: String,
    /// The identity policy, checked when loaded (JSON text).
    pub policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredQueue {
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredTopic {
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub subscriptions: Vec<DeclaredSubscription>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredSubscription {
    pub protocol: String,
    pub endpoint: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePlan {
    pub name: String,
    /// Per-key throttle (the `key` field is unused: plans always key by API key).
    pub throttle: Option<Arc<RateLimit>>,
    pub quota: Option<Quota>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub period: QuotaPeriod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub address: SocketAddr,
    pub tls: Option<ListenerTls>,
    pub redirect_to_https: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    pub http2: bool,
    pub client_ca: Option<PathBuf>,
    pub client_cert_required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub threads: usize,
    pub grace_period: Duration,
    pub upstream_keepalive_pool_size: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_body_bytes: u64,
    pub client_read_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub client_header_timeout: Duration,
    pub client_body_timeout: Duration,
    /// Per gateway listener; `None`: a share of the descriptor limit.
    pub max_connections: Option<usize>,
    /// Per gateway listener and client address; 0: no limit.
    pub max_connections_per_ip: usize,
    /// The admin listener's cap; `None`: a share of the descriptor limit.
    pub max_admin_connections: Option<usize>,
    pub allow_encoded_slashes: bool,
}

/// When a file access log is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Bytes; 0: never.
    pub max_size: u64,
    pub keep: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    Off,
    Stdout,
    Stderr,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    pub name: String,
    pub targets: Vec<TargetSpec>,
    pub balance: Balance,
    pub tls: Option<UpstreamTls>,
    pub health_check: Option<HealthCheck>,
    pub passive: Option<Passive>,
    pub timeouts: Timeouts,
    pub retries: u32,
    pub keepalive_timeout: Duration,
    pub preserve_host: bool,
}

#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// As written: `host:port`.
    pub address: String,
    pub host: String,
    pub socket: SocketAddr,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    Weighted,
    Random,
    ConsistentHash(HashOn),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    Header(HeaderName),
    Cookie(String),
    ClientIp,
}

#[derive(Debug, Clone)]
pub struct UpstreamTls {
    pub sni: Option<String>,
    pub verify: bool,
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// Empty means 200-399.
    pub expected_status: Vec<u16>,
}

#[derive(Debug, Clone)]
pub struct Passive {
    pub max_failures: u32,
    pub ejection_time: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
    pub total: Option<Duration>,
    pub websocket_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(60),
            total: None,
            websocket_idle: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Api {
    /// The route file's name without extension.
    pub id: String,
    pub file: PathBuf,
    pub hosts: Vec<HostPattern>,
    pub base_path: PathTemplate,
    pub routes: Vec<Arc<Route>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostPattern {
    /// Lowercase host, no port.
    Exact(String),
    /// `*.example.com` stored as `.example.com`.
    Suffix(String),
}

impl HostPattern {
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h == host,
            HostPattern::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Suffix(s) => write!(f, "*{s}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Methods {
    Any,
    Only(Vec<Method>),
}

impl Methods {
    pub fn allows(&self, method: &Method) -> bool {
        match self {
            Methods::Any => true,
            Methods::Only(list) => list.contains(method),
        }
    }

    pub fn overlaps(&self, other: &Methods) -> bool {
        match (self, other) {
            (Methods::Only(a), Methods::Only(b)) => a.iter().any(|m| b.contains(m)),
            _ => true,
        }
    }
}

impl std::fmt::Display for Methods {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Methods::Any => f.write_str("ANY"),
            Methods::Only(list) => {
                let names: Vec<&str> = list.iter().map(|m| m.as_str()).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub api: String,
    pub id: String,
    /// Position in its file's `routes:` list, for diagnostics.
    pub index: usize,
    pub methods: Methods,
    /// The full template, base path included.
    pub template: PathTemplate,
    /// Segments of the base path, removed before proxying when `strip_base_path`.
    pub base_segments: usize,
    pub strip_base_path: bool,
    pub integration: Integration,
    pub policies: Policies,
    pub request_headers: HeaderRules,
    pub response_headers: HeaderRules,
    pub timeouts: Timeouts,
    /// Where the route is defined, for conflict messages.
    pub origin: String,
}

#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub add: Vec<(HeaderName, HeaderValue)>,
    pub remove: Vec<HeaderName>,
}

impl HeaderRules {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// What answers a matched request. `queue`, `topic` and `flow` join this enum
/// when messaging and flows land; each variant owns its own settings.
#[derive(Debug, Clone)]
pub enum Integration {
    Http(HttpIntegration),
    Mock(MockIntegration),
    Publish(PublishIntegration),
    Flow(FlowIntegration),
    /// Submit a job (see `jobs`).
    Job(JobIntegration),
    WebSocket(Arc<WebSocketIntegration>),
}

/// A managed WebSocket API (see `config::websocket`).
#[derive(Debug, Clone)]
pub struct WebSocketIntegration {
    /// The JSON path of the route key in a message (`["action"]`).
    pub selection: Vec<String>,
    pub routes: BTreeMap<String, WebSocketRoute>,
    pub idle_timeout: std::time::Duration,
    pub max_duration: std::time::Duration,
    pub max_message: usize,
    pub max_frame: usize,
    /// Each connection's message rate.
    pub throttle: Option<Throttle>,
    pub write_timeout: std::time::Duration,
}

/// One route of a WebSocket API.
#[derive(Debug, Clone)]
pub struct WebSocketRoute {
    pub target: WebSocketTarget,
    /// This route's message rate, on this node.
    pub throttle: Option<Throttle>,
}

/// What a WebSocket route's messages go to.
#[derive(Debug, Clone)]
pub enum WebSocketTarget {
    Mock(MockIntegration),
    Http(WebSocketHttp),
    /// A queue's name.
    Queue(String),
    /// A topic's name.
    Topic(String),
    /// A flow's id.
    Flow(String),
}

#[derive(Debug, Clone)]
pub struct WebSocketHttp {
    pub upstream: String,
    pub path: String,
    pub respond: bool,
    pub timeout: std::time::Duration,
}

/// `count` messages per `period`, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Throttle {
    pub count: u32,
    pub period: std::time::Duration,
    pub burst: u32,
}

impl WebSocketTarget {
    pub fn kind(&self) -> &'static str {
        match self {
            WebSocketTarget::Mock(_) => "mock",
            WebSocketTarget::Http(_) => "http",
            WebSocketTarget::Queue(_) => "queue",
            WebSocketTarget::Topic(_) => "topic",
            WebSocketTarget::Flow(_) => "flow",
        }
    }
}

impl Integration {
    pub fn kind(&self) -> &'static str {
        match self {
            Integration::Http(_) => "http",
            Integration::Mock(_) => "mock",
            Integration::Publish(p) if p.topic => "topic",
            Integration::Publish(_) => "queue",
            Integration::Flow(_) => "flow",
            Integration::Job(_) => "job",
            Integration::WebSocket(_) => "websocket",
        }
    }
}

/// `queue` and `topic` integrations: the request body becomes a message.
#[derive(Debug, Clone)]
pub struct PublishIntegration {
    /// Publish to a topic (else send to a queue).
    pub topic: bool,
    /// The queue or topic name.
    pub target: String,
    pub attributes: Vec<(String, ValueSource)>,
    pub subject: Option<ValueSource>,
    pub group_id: Option<ValueSource>,
    pub dedup_id: Option<ValueSource>,
    pub delay_seconds: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    Header(HeaderName),
    Param(String),
    Query(String),
    Method,
    Path,
    /// The gateway's X-Request-Id for the request.
    RequestId,
    Literal(String),
}

/// `flow` integrations: the request starts a run of the flow.
#[derive(Debug, Clone)]
pub struct FlowIntegration {
    pub flow: String,
    pub signature: Option<crate::config::signature::Signature>,
}

#[derive(Debug, Clone)]
pub struct HttpIntegration {
    pub upstream: String,
    pub rewrite: Option<PathTemplate>,
}

#[derive(Debug, Clone)]
pub struct MockIntegration {
    pub status: u16,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: crate::config::body_template::BodyTemplate,
}

/// The policies that apply to one route, API defaults and route overrides merged.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub cors: Option<Arc<Cors>>,
    pub waf: Option<Arc<super::waf::Attached>>,
    pub api_key: Option<Arc<ApiKeyPolicy>>,
    pub jwt: Option<Arc<Jwt>>,
    pub authorizer: Option<Arc<Authorizer>>,
    pub rate_limit: Option<Arc<RateLimit>>,
    pub validate: Option<Arc<Validation>>,
}

#[derive(Debug)]
pub struct Validation {
    pub required_query: Vec<String>,
    pub required_headers: Vec<HeaderName>,
    /// Lowercase media types, without parameters.
    pub content_types: Vec<String>,
    pub max_body: Option<u64>,
    pub schema: Option<JsonSchema>,
}

/// A compiled JSON Schema and the file it came from.
pub struct JsonSchema {
    pub file: String,
    pub validator: jsonschema::Validator,
}

impl std::fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonSchema({})", self.file)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    pub any_origin: bool,
    pub origins: Vec<OriginPattern>,
    /// `None`: the route's own methods.
    pub methods: Option<Vec<Method>>,
    pub headers: Vec<HeaderName>,
    pub expose: Vec<HeaderName>,
    pub credentials: bool,
    pub max_age: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    /// Lowercase `scheme://host[:port]`.
    Exact(String),
    /// `https://*.example.com` as (`https://`, `.example.com`).
    Wildcard { scheme: String, suffix: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub key: RateKey,
    /// `count` requests per `period`, sustained.
    pub count: u32,
    pub period: Duration,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKey {
    ClientIp,
    Route,
    Header(HeaderName),
    /// The caller's API key (from the `api_key` policy).
    ApiKey,
    /// The `sub` of the caller's JWT (from the `jwt` policy).
    JwtSubject,
}

pub struct Jwt {
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    pub keys: JwtKeys,
    pub issuer: Option<String>,
    pub audience: Vec<String>,
    pub leeway: Duration,
    pub required_claims: Vec<String>,
    pub scopes: Vec<String>,
    /// (claim, header) pairs sent upstream.
    pub forward_claims: Vec<(String, HeaderName)>,
}

pub enum JwtKeys {
    Static(jsonwebtoken::DecodingKey),
    Jwks {
        url: String,
        ttl: Duration,
        min_refresh: Duration,
    },
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        let keys = match &self.keys {
            JwtKeys::Static(_) => "static key".to_string(),
            JwtKeys::Jwks { url, .. } => format!("jwks {url}"),
        };
        f.debug_struct("Jwt")
            .field("algorithms", &self.algorithms)
            .field("keys", &keys)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorizer {
    pub url: String,
    pub identity: IdentitySource,
    pub cache_ttl: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    Header(HeaderName),
    Query(String),
    Cookie(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyPolicy {
    pub header: HeaderName,
    /// Accepted plans; empty accepts every plan.
    pub plans: Vec<String>,
}

/// Where durable state lives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Store {
    /// SQLite in `data_dir`.
    #[default]
    Embedded,
    Postgres(PostgresSettings),
}

#[derive(Clone, PartialEq, Eq)]
pub struct PostgresSettings {
    /// A `postgres://` URL, as checked by the driver; may hold a password.
    pub url: String,
    /// Where the tables live.
    pub schema: String,
    pub max_connections: usize,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
}

impl std::fmt::Debug for PostgresSettings {
    // The URL may carry a password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

/// Where rate limits count.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RateLimitBackend {
    /// Each node counts its own (governor).
    #[default]
    Local,
    Redis(RedisSettings),
}

#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// A `redis://` URL; may hold a password.
    pub url: String,
    pub key_prefix: String,
    /// Nodes sharing the limits: each admits limit/nodes while Redis is away.
    pub nodes: u32,
    /// Refuse (503) rather than count per node while Redis is away.
    pub fail_closed: bool,
    pub timeout: Duration,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("key_prefix", &self.key_prefix)
            .field("nodes", &self.nodes)
            .field("fail_closed", &self.fail_closed)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A queue worker (see `config::workers`).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSpec {
    pub id: String,
    pub enabled: bool,
    pub queue: String,
    pub batch_size: usize,
    pub batch_window: std::time::Duration,
    pub visibility_timeout: std::time::Duration,
    pub min_concurrency: usize,
    pub max_concurrency: usize,
    pub report_batch_item_failures: bool,
    pub target: WorkerTarget,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WorkerTarget {
    /// POST the batch to a pool.
    Http {
        upstream: String,
        path: String,
        timeout: std::time::Duration,
    },
    Command(CommandSpec),
    /// Submit a job of `definition` per message, the body as `parameter`.
    Job {
        definition: String,
        parameter: String,
    },
}

impl WorkerTarget {
    pub fn timeout(&self) -> std::time::Duration {
        match self {
            WorkerTarget::Http { timeout, .. } => *timeout,
            WorkerTarget::Command(c) => c.timeout,
            // Storing the jobs; they run later, on their own clock.
            WorkerTarget::Job { .. } => std::time::Duration::from_secs(5),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            WorkerTarget::Http { .. } => "http",
            WorkerTarget::Command(_) => "command",
            WorkerTarget::Job { .. } => "job",
        }
    }
}

/// A program run per batch: a job definition's command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSpec {
    /// The program, or with `shell` the script for `/bin/sh -c`.
    pub program: String,
    pub args: Vec<String>,
    pub shell: bool,
    /// The command's whole environment.
    pub env: BTreeMap<String, String>,
    pub working_dir: std::path::PathBuf,
    pub timeout: std::time::Duration,
    pub cpu_seconds: Option<u64>,
    pub memory: Option<u64>,
    pub output_limit: usize,
}

/// A job definition (AWS Batch's): the command, its parameters' defaults,
/// attempts, priority and what it reserves while it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDefinition {
    pub id: String,
    pub command: CommandSpec,
    /// Defaults for `Ref::NAME` in the arguments.
    pub parameters: BTreeMap<String, String>,
    pub attempts: u32,
    pub priority: i32,
    pub vcpus: u32,
    pub memory: u64,
    /// Submitted on this period (`schedule: rate(...)`).
    pub every: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCompute {
    pub vcpus: u32,
    pub memory: u64,
}

/// The `job` integration: a definition, and where its parameters come from.
#[derive(Debug, Clone)]
pub struct JobIntegration {
    pub definition: String,
    pub body_parameter: Option<String>,
}
