//! The config files exactly as written: serde types with `deny_unknown_fields`.
//!
//! Nothing outside `config/` uses these; `validate.rs` turns them into the
//! checked model in `model.rs`. The JSON Schema printed by `gatehouse schema`
//! is derived from these types, so the docs here are what editors show.

use super::units::{ByteSize, HumanDuration};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `gatehouse.yaml`: process-wide settings. Every field is optional.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatehouseFile {
    /// Where clients connect. Default: HTTP on 127.0.0.1:8080, plus HTTPS on
    /// 127.0.0.1:8443 when `certs/` holds a certificate.
    pub listeners: Option<Vec<ListenerRaw>>,
    /// The admin listener: /metrics, /healthz, /readyz.
    pub admin: Option<AdminRaw>,
    /// Run-time state: pid file, upgrade socket, database. Default `data`.
    pub data_dir: Option<String>,
    pub server: Option<ServerRaw>,
    pub limits: Option<LimitsRaw>,
    /// `stdout` (default), `stderr`, `off`, or a file path.
    pub access_log: Option<String>,
    /// Size-based rotation of a file access log. SIGUSR1 also reopens the
    /// file (for logrotate).
    pub access_log_rotation: Option<RotationRaw>,
    /// Named pools of upstream servers that `http` integrations point at.
    #[serde(default)]
    pub upstreams: BTreeMap<String, UpstreamRaw>,
    /// Proxies (CIDR or IP) whose `X-Forwarded-For` is believed when finding
    /// the client IP for rate limits. Default: none, the peer address is used.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Usage plans for API keys: a throttle and a quota per key.
    #[serde(default)]
    pub usage_plans: BTreeMap<String, UsagePlanRaw>,
    /// API keys declared in config, besides those created with `gatehouse keys create`.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyRaw>,
    /// WAF rule sets, attached to APIs and routes with `policies.waf.rule_set`.
    #[serde(default)]
    pub waf_rule_sets: BTreeMap<String, RuleSetRaw>,
    /// The SQS/SNS API and the queues and topics that exist from the start.
    pub messaging: Option<MessagingRaw>,
    /// Where durable state lives: absent for the embedded SQLite database in
    /// `data_dir`; `postgres://user@host/db` (or a map with `url` and pool
    /// settings) for PostgreSQL shared by a fleet of nodes. Also
    /// `GATEHOUSE_STORE_URL`.
    pub store: Option<StoreRaw>,
    /// Where rate limits count: in this process (default), or in Redis
    /// shared by a fleet.
    pub rate_limits: Option<RateLimitsRaw>,
    /// The compute environment jobs run in (definitions in `jobs/`).
    pub jobs: Option<JobComputeRaw>,
}

/// The local process pool's budget: running jobs' `vcpus` and `memory`
/// never add up to more.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobComputeRaw {
    /// Default: the machine's cores.
    pub vcpus: Option<u32>,
    /// Default 2GiB.
    pub memory: Option<ByteSize>,
}

/// `store: postgres://...` or `store: {url: postgres://..., ...}`.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum StoreRaw {
    Url(String),
    Full(StoreSettingsRaw),
}

impl<'de> Deserialize<'de> for StoreRaw {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = StoreRaw;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a postgres:// URL, or a map with `url` and pool settings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StoreRaw::Url(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                StoreSettingsRaw::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(StoreRaw::Full)
            }
        }
        d.deserialize_any(Either)
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreSettingsRaw {
    /// `postgres://user:${PGPASSWORD}@host:5432/db`; `?sslmode=disable`
    /// only (TLS to the database is not supported yet: keep it on a
    /// private network or a local socket).
    pub url: String,
    /// The PostgreSQL schema Gatehouse's tables live in. Default `gatehouse`.
    pub schema: Option<String>,
    /// Connections this node keeps open at most. Default 16.
    pub max_connections: Option<usize>,
    /// How long to wait for a connection (new, or free in the pool). Default 5s.
    pub connect_timeout: Option<HumanDuration>,
    /// How long one statement may run. Default 10s.
    pub statement_timeout: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsRaw {
    /// `local` (default: each node counts its own) or `redis`.
    pub backend: Option<String>,
    /// `redis://[:password@]host:6379[/db]`, for `backend: redis`.
    pub url: Option<String>,
    /// Prepended to every Redis key. Default `gatehouse:`.
    pub key_prefix: Option<String>,
    /// How many nodes share the limits: while Redis is unreachable each node
    /// admits its share (the limit divided by this). Default 1.
    pub nodes: Option<u32>,
    /// While Redis is unreachable: `open` (default: count per node, with
    /// the limit divided by `nodes`) or `closed` (refuse with 503).
    pub on_failure: Option<String>,
    /// How long one check may wait for Redis before falling back. Default 100ms.
    pub timeout: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationRaw {
    /// Rotate when the file reaches this size (`0`: never). Default 100MiB.
    pub max_size: Option<ByteSize>,
    /// Rotated files kept: `access.log.1` (newest) to `access.log.N`. Default 5.
    pub keep: Option<u32>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptionRaw {
    /// The key new messages are sealed with (SqsManagedSseEnabled, and
    /// KmsMasterKeyId `alias/aws/sqs`).
    pub current_key: String,
    /// Key id -> 32 bytes as base64 (`${ENV}` to keep them out of the
    /// file). Keys retired from `current_key` stay to read old messages.
    pub keys: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessagingRaw {
    /// Default true.
    pub enabled: Option<bool>,
    /// Where the SQS/SNS API listens. Default 127.0.0.1:9324.
    pub address: Option<String>,
    /// Region in ARNs. Default us-east-1.
    pub region: Option<String>,
    /// Account id in queue URLs and ARNs: 12 digits. Default 000000000000.
    pub account_id: Option<String>,
    /// The start of queue URLs handed to clients, when they reach Gatehouse
    /// by another name than the listen address (a proxy, a container).
    pub public_url: Option<String>,
    /// Flush every commit to disk (default true): acknowledged messages
    /// survive power loss. `false` survives only a crash of the process.
    pub fsync: Option<bool>,
    /// Let http(s) subscriptions deliver to loopback, private and link-local
    /// addresses. Default false (they could reach internal services).
    pub allow_private_endpoints: Option<bool>,
    /// Open connections to the SQS/SNS API. Default: a share of the
    /// file-descriptor limit. At the cap the oldest connection closes after
    /// its current response; with none to close the newcomer gets 503.
    pub max_connections: Option<usize>,
    /// Serve the API over TLS with the certificates in `certs/` (chosen by
    /// SNI, as the gateway's TLS listeners do). Default false.
    pub tls: Option<bool>,
    /// The key ring that seals message bodies and attributes at rest for
    /// queues with `SqsManagedSseEnabled` or `KmsMasterKeyId`.
    pub encryption: Option<EncryptionRaw>,
    /// Bodies the gateway's `queue` and `topic` integrations receive over
    /// `threshold` are stored in object storage and sent as the SQS/SNS
    /// extended client's S3 pointer. On by default (the data dir's lake).
    pub large_payloads: Option<LargePayloadsRaw>,
    /// Access keys whose SigV4 signatures are accepted. None: the API is
    /// open, which is allowed only on a loopback address.
    #[serde(default)]
    pub access_keys: Vec<AccessKeyRaw>,
    /// Queues created at start-up (or updated to these attributes).
    #[serde(default)]
    pub queues: BTreeMap<String, QueueRaw>,
    /// Topics created at start-up, with their subscriptions.
    #[serde(default)]
    pub topics: BTreeMap<String, TopicRaw>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LargePayloadsRaw {
    /// Default true.
    pub enabled: Option<bool>,
    /// `s3://bucket/prefix` (any S3 API, with `s3` options), `file://`
    /// (the data dir's `lake/`, default) or `file:///abs/path`.
    pub url: Option<String>,
    /// The bucket name pointers carry for a `file://` store (consumers
    /// reading it through an S3 API serving that folder). Default
    /// `gatehouse-payloads`; an `s3://` URL names its own.
    pub bucket: Option<String>,
    /// Bodies larger than this are offloaded. Default 256KiB.
    pub threshold: Option<ByteSize>,
    /// For `s3://`: object_store's S3 options, as a flow destination's.
    pub s3: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyRaw {
    pub id: String,
    /// Use `${ENV}`.
    pub secret: String,
    /// The key's account (12 digits). Default: `messaging.account_id`, the
    /// account owning every queue and topic; another account's key reaches
    /// only what resource policies grant it.
    pub account_id: Option<String>,
    /// The IAM user the key belongs to: its principal is
    /// `arn:aws:iam::ACCOUNT:user/USER`. Default: the key id.
    pub user: Option<String>,
    /// An identity policy (IAM JSON, written as YAML or a JSON string)
    /// limiting what the key may do. Default: anything its account may.
    pub policy: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueRaw {
    /// SQS attributes by their AWS names (`VisibilityTimeout: 60`, ...).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Shorthand for a RedrivePolicy: the dead-letter queue's name.
    pub dead_letter_queue: Option<String>,
    /// With `dead_letter_queue`: receives before a message moves there. Default 5.
    pub max_receive_count: Option<u32>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicRaw {
    /// SNS topic attributes by their AWS names.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionRaw>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRaw {
    /// `sqs`, `http`, `https` or `flow` (a run of a flow per message).
    pub protocol: String,
    /// A queue name (sqs), a URL (http/https) or a flow name (flow).
    pub endpoint: String,
    /// Subscription attributes: `FilterPolicy`, `RawMessageDelivery`, ...
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSetRaw {
    /// Managed rule groups: `sqli`, `xss`, `path_traversal`,
    /// `command_injection`, `known_bad_inputs`.
    #[serde(default)]
    pub managed: Vec<String>,
    /// Your own rules, evaluated by priority (lowest first) before the
    /// managed groups.
    #[serde(default)]
    pub rules: Vec<WafRuleRaw>,
    /// Inspect JSON and form bodies up to this size (at most 64KiB), with the
    /// managed groups and `field: body` rules. Default: bodies are not inspected.
    pub inspect_body: Option<ByteSize>,
    /// A body larger than `inspect_body`: `continue` (default: pass it on
    /// uninspected) or `block`.
    pub oversize: Option<String>,
    /// The OWASP Core Rule Set, run after your rules and the managed
    /// groups, by Gatehouse's own SecLang engine.
    pub crs: Option<CrsRaw>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrsRaw {
    /// A CRS folder with `rules/*.conf`: Debian's
    /// `/usr/share/modsecurity-crs`, or any CRS 3.3 or 4.x checkout.
    pub path: String,
    /// The CRS setup file. Default: `crs-setup.conf` (or
    /// `crs-setup.conf.example`) in `path`, else Debian's
    /// `/etc/modsecurity/crs/crs-setup.conf`.
    pub setup: Option<String>,
    /// 1 (default) to 4: higher catches more and blocks more benign traffic.
    pub paranoia_level: Option<u8>,
    /// The anomaly score that blocks a request. Default 5 (one critical match).
    pub inbound_anomaly_threshold: Option<u32>,
    /// `block` (default) or `detect` (log what would be blocked, block nothing).
    pub mode: Option<String>,
    /// CRS-style tuning: `{remove_rule: 942100}` (an id or a range
    /// `942100-942199`), `{remove_tag: attack-sqli}`, or
    /// `{remove_target: {rule: 942430, target: "ARGS:search"}}`.
    #[serde(default)]
    pub exclusions: Vec<CrsExclusionRaw>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrsExclusionRaw {
    pub remove_rule: Option<serde_json::Value>,
    pub remove_tag: Option<String>,
    pub remove_target: Option<CrsTargetRaw>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrsTargetRaw {
    pub rule: serde_json::Value,
    /// A variable and key as in SecLang: `ARGS:search`, `REQUEST_COOKIES:/^_ga/`.
    pub target: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WafRuleRaw {
    pub name: String,
    /// Lower runs first. Default 100.
    pub priority: Option<i32>,
    /// `block` (default), `allow` (skip the remaining rules) or `count`.
    pub action: Option<String>,
    /// Client IPs or networks (v4 and v6).
    #[serde(default)]
    pub ip_set: Vec<String>,
    /// What to inspect: `method`, `path`, `query`, `header:NAME`,
    /// `cookie:NAME`, or `body` (with `inspect_body` on the rule set). Needed with `contains`, `equals`, `starts_with`,
    /// `regex` or `size_over`.
    pub field: Option<String>,
    pub contains: Option<String>,
    pub equals: Option<String>,
    pub starts_with: Option<String>,
    pub regex: Option<String>,
    /// Matches when the field is longer than this many bytes.
    pub size_over: Option<usize>,
    /// Rate-based rule: matches a client IP that sent more than this many
    /// requests within `window`; it then stays blocked for `block_for`.
    pub rate_over: Option<u32>,
    /// Default 1m.
    pub window: Option<HumanDuration>,
    /// Default 5m.
    pub block_for: Option<HumanDuration>,
    /// Applied in order before matching: `url_decode`, `html_entity_decode`,
    /// `lowercase`, `normalize_path`, `compress_whitespace`, `base64_decode`.
    #[serde(default)]
    pub transforms: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsagePlanRaw {
    /// Throttle per key: `N/s`, `N/min`, `N/hour` or `N/day`.
    pub rate: Option<String>,
    /// Requests allowed at once before the rate applies. Default: N.
    pub burst: Option<u32>,
    /// Quota per key: `N/day`, `N/week` (from Monday 00:00 UTC) or `N/month` (UTC).
    pub quota: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRaw {
    /// Unique among keys.
    pub name: String,
    /// The key itself (use `${ENV}`), or instead its `sha256` in hex.
    pub key: Option<String>,
    pub sha256: Option<String>,
    /// A plan under `usage_plans`.
    pub plan: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerRaw {
    /// A name for logs and metrics, unique among listeners.
    pub name: String,
    /// `ip:port`; port 0 picks a free port.
    pub address: String,
    /// Serve TLS with the certificates in `certs/`.
    pub tls: Option<ListenerTlsRaw>,
    /// Answer every plain-HTTP request with a 308 redirect to the first TLS listener.
    #[serde(default)]
    pub redirect_to_https: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerTlsRaw {
    /// Offer HTTP/2 through ALPN. Default true.
    pub http2: Option<bool>,
    /// Verify client certificates against this CA bundle (mTLS).
    pub client_ca: Option<String>,
    /// With `client_ca`: refuse clients without a certificate. Default true.
    pub client_cert_required: Option<bool>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminRaw {
    /// Default 127.0.0.1:9180.
    pub address: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// When set, the keys API (`/keys`) requires `Authorization: Bearer TOKEN`.
    /// /metrics and the health checks stay open.
    pub token: Option<String>,
    /// Open connections to the admin listener. Default: a share of the
    /// file-descriptor limit, at most 256.
    pub max_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerRaw {
    /// Worker threads for the gateway. Default: the number of CPUs.
    pub threads: Option<usize>,
    /// How long SIGTERM waits for in-flight requests before exiting. Default 10s.
    pub grace_period: Option<HumanDuration>,
    /// Idle upstream connections kept for reuse, per process. Default 256.
    pub upstream_keepalive_pool_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsRaw {
    /// Largest request header block (all names and values). Default 32KiB; over it: 431.
    pub max_header_bytes: Option<ByteSize>,
    /// Largest request body. Default 10MiB; over it: 413.
    pub max_body_bytes: Option<ByteSize>,
    /// Longest wait for the next bytes of a request from a client. Default 60s.
    pub client_read_timeout: Option<HumanDuration>,
    /// How long an idle client keep-alive connection stays open. Default 60s.
    pub keepalive_timeout: Option<HumanDuration>,
    /// Longest time for a whole request line and headers, counted from the
    /// connection's accept for its first request and from the first byte
    /// for later ones. Default 20s; over it: 408 and close.
    pub client_header_timeout: Option<HumanDuration>,
    /// Longest time for a whole request body, from the end of the headers.
    /// Default 60s; over it: 408 and close.
    pub client_body_timeout: Option<HumanDuration>,
    /// Open client connections per gateway listener. Default: a share of the
    /// process's file-descriptor limit. At the cap the longest-idle
    /// keep-alive connection is closed for the newcomer; with none idle the
    /// newcomer gets 503.
    pub max_connections: Option<usize>,
    /// Open connections from one client address, per gateway listener.
    /// Default: no limit; over it: 429.
    pub max_connections_per_ip: Option<usize>,
    /// Accept `%2F` and `%5C` (encoded slash and backslash) in request
    /// paths. Default false: such paths are refused with 400, because an
    /// upstream may decode them into separators the router never saw.
    pub allow_encoded_slashes: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamRaw {
    pub targets: Vec<TargetRaw>,
    /// How a target is picked. Default `round_robin`.
    pub balance: Option<BalanceRaw>,
    /// For `consistent_hash`: `header:NAME`, `cookie:NAME` or `client_ip`.
    pub hash_on: Option<String>,
    /// Connect to the targets with TLS.
    pub tls: Option<UpstreamTlsRaw>,
    pub health_check: Option<HealthCheckRaw>,
    /// Passive ejection: take a target out after consecutive failures.
    pub passive: Option<PassiveRaw>,
    pub timeouts: Option<TimeoutsRaw>,
    /// Extra attempts on another target when connecting fails (idempotent methods only). Default 1.
    pub retries: Option<u32>,
    /// How long an idle upstream connection is kept for reuse. Default 60s.
    pub keepalive_timeout: Option<HumanDuration>,
    /// Send the client's Host header upstream instead of the target's. Default false.
    pub preserve_host: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetRaw {
    /// `host:port`.
    pub address: String,
    /// Share for `weighted`, `random` and `consistent_hash`. Default 1.
    pub weight: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BalanceRaw {
    RoundRobin,
    Weighted,
    Random,
    ConsistentHash,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsRaw {
    /// Server name sent in the handshake and checked against the certificate.
    /// Default: the host part of each target's address.
    pub sni: Option<String>,
    /// Verify the upstream's certificate. Default true.
    pub verify: Option<bool>,
    /// Trust this CA bundle instead of the system roots.
    pub ca: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckRaw {
    /// Path requested with GET, e.g. `/healthz`.
    pub path: String,
    /// Default 5s.
    pub interval: Option<HumanDuration>,
    /// Default 2s.
    pub timeout: Option<HumanDuration>,
    /// Successes in a row to bring a target back. Default 2.
    pub healthy_threshold: Option<u32>,
    /// Failures in a row to take a target out. Default 3.
    pub unhealthy_threshold: Option<u32>,
    /// Statuses that count as healthy. Default 200-399.
    pub expected_status: Option<Vec<u16>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PassiveRaw {
    /// Default true.
    pub enabled: Option<bool>,
    /// Consecutive connect failures, timeouts or 5xx before ejection. Default 3.
    pub max_failures: Option<u32>,
    /// How long an ejected target stays out. Default 30s.
    pub ejection_time: Option<HumanDuration>,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsRaw {
    /// TCP (and TLS) connect. Default 5s.
    pub connect: Option<HumanDuration>,
    /// Between reads of the upstream response. Default 60s.
    pub read: Option<HumanDuration>,
    /// From the start of the request until the upstream's response headers. Default none.
    pub total: Option<HumanDuration>,
    /// WebSocket connections with no traffic either way are closed after this. Default 300s.
    pub websocket_idle: Option<HumanDuration>,
}

/// `routes/<api>.yaml`: one API. The file name is the API id.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiFile {
    /// Host names this API answers: exact (`api.example.com`) or wildcard
    /// (`*.example.com`). Default: any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Prefix of every route path, e.g. `/demo`.
    pub base_path: Option<String>,
    /// Settings every route inherits unless it sets its own.
    pub defaults: Option<RouteSettingsRaw>,
    /// Policies for every route; a route's own `policies` replace these one
    /// policy at a time.
    pub policies: Option<PoliciesRaw>,
    #[serde(default)]
    pub routes: Vec<RouteRaw>,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSettingsRaw {
    /// Remove the base path before proxying. Default true.
    pub strip_base_path: Option<bool>,
    pub request_headers: Option<HeaderRulesRaw>,
    pub response_headers: Option<HeaderRulesRaw>,
    pub timeouts: Option<TimeoutsRaw>,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderRulesRaw {
    /// Replace (or create) these headers.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Append these headers, keeping existing values.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Remove these headers.
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRaw {
    /// Unique in the API. Default: `METHOD path`.
    pub id: Option<String>,
    /// One method, or `ANY`. Default `ANY`.
    pub method: Option<String>,
    /// Several methods.
    pub methods: Option<Vec<String>>,
    /// Path template under the base path: literals, `{param}`, and a final
    /// greedy `{proxy+}`.
    pub path: String,
    pub integration: IntegrationRaw,
    pub policies: Option<PoliciesRaw>,
    pub strip_base_path: Option<bool>,
    pub request_headers: Option<HeaderRulesRaw>,
    pub response_headers: Option<HeaderRulesRaw>,
    pub timeouts: Option<TimeoutsRaw>,
}

/// What answers the request. Exactly one key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationRaw {
    /// Proxy to an upstream pool (WebSocket upgrades included).
    Http(HttpIntegrationRaw),
    /// Answer from the gateway itself, as API Gateway's MOCK integration.
    Mock(MockIntegrationRaw),
    /// Enqueue the request body to a declared queue (SQS SendMessage) and
    /// answer 200 with the MessageId.
    Queue(QueueIntegrationRaw),
    /// Publish the request body to a declared topic (SNS Publish) and answer
    /// 200 with the MessageId.
    Topic(TopicIntegrationRaw),
    /// Start a run of a flow (a webhook): `flow: NAME`, or a map with a
    /// signature check. Answers 202 with the run id; a `webhook` flow's
    /// records are the request body.
    Flow(FlowIntegrationRaw),
    /// A managed WebSocket API on this GET route: the gateway holds the
    /// client's connection (after the route's policies pass on the upgrade
    /// request) and answers each message by its route key.
    #[serde(rename = "websocket")]
    WebSocket(WebSocketIntegrationRaw),
    /// Submit a job of a definition in `jobs/` (AWS Batch's SubmitJob) and
    /// answer 202 with its id: path parameters named like the definition's
    /// parameters fill them, and the body fills `body_parameter` if set.
    Job(JobIntegrationRaw),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobIntegrationRaw {
    pub definition: String,
    pub body_parameter: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSocketIntegrationRaw {
    /// Where a message's route key is, as API Gateway writes it. Default
    /// `$request.body.action`.
    pub route_selection_expression: Option<String>,
    /// By route key (`$default`: messages no other key takes).
    pub routes: BTreeMap<String, WebSocketRouteRaw>,
    /// A connection without a message either way for this long is closed
    /// (1001). Default 10m.
    pub idle_timeout: Option<HumanDuration>,
    /// A connection is closed (1001) after this long. Default 2h.
    pub max_duration: Option<HumanDuration>,
    /// Largest message (1009 past it). Default 128KiB.
    pub max_message: Option<ByteSize>,
    /// Largest frame (1009 past it). Default 32KiB.
    pub max_frame: Option<ByteSize>,
    /// Each connection's messages: `rate` and `burst`, as a route's
    /// `throttle`. Default: none.
    pub throttle: Option<ThrottleRaw>,
    /// A write to a client that is not reading gives up after this, and
    /// the connection is closed. Default 10s.
    pub write_timeout: Option<HumanDuration>,
}

/// What answers a WebSocket route: exactly one of `mock`, `http`, `queue`,
/// `topic` and `flow`, and an optional `throttle`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSocketRouteRaw {
    /// Send this back to the client (the body template, filled from the
    /// upgrade request).
    pub mock: Option<MockIntegrationRaw>,
    /// POST the message to an upstream pool, with the connection's context
    /// in headers.
    pub http: Option<WebSocketHttpRaw>,
    /// Send the message to a queue under `messaging.queues` (attributes
    /// `connectionId` and `routeKey`).
    pub queue: Option<String>,
    /// Publish the message to a topic under `messaging.topics`.
    pub topic: Option<String>,
    /// Start a run of a flow with the message as its payload.
    pub flow: Option<String>,
    /// This route's messages on this node, from all connections: `rate`
    /// (`N/s`, `N/min`, ...) and `burst`. Past it a message is answered
    /// with API Gateway's `Too Many Requests` and not passed on.
    pub throttle: Option<ThrottleRaw>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSocketHttpRaw {
    /// The name of a pool under `upstreams:` in gatehouse.yaml.
    pub upstream: String,
    /// The path to POST to. Default `/`.
    pub path: Option<String>,
    /// Send a non-empty response body back to the client (API Gateway's
    /// route response). Default false. Not for `$connect`/`$disconnect`.
    pub respond: Option<bool>,
    /// How long the backend has to answer. Default 29s (API Gateway's).
    pub timeout: Option<HumanDuration>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleRaw {
    /// `N/s`, `N/min`, `N/hour` or `N/day`.
    pub rate: String,
    /// Messages allowed at once before the rate applies. Default: N.
    pub burst: Option<u32>,
}

/// `flow: NAME` or `flow: {name: NAME, signature: {...}}`.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum FlowIntegrationRaw {
    Name(String),
    Full(FlowTargetRaw),
}

impl<'de> Deserialize<'de> for FlowIntegrationRaw {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = FlowIntegrationRaw;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a flow name, or a map with `name` and `signature`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FlowIntegrationRaw::Name(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                FlowTargetRaw::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(FlowIntegrationRaw::Full)
            }
        }
        d.deserialize_any(Either)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowTargetRaw {
    /// A flow in `flows/`.
    pub name: String,
    /// Refuse requests whose signature header does not match the body.
    pub signature: Option<SignatureRaw>,
}

/// An HMAC-SHA256 signature of the request body, checked before the run
/// starts (401 when it does not match).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureRaw {
    /// `github` (X-Hub-Signature-256: sha256=HEX), `stripe`
    /// (Stripe-Signature: t=TIME,v1=HEX over `TIME.BODY`), or `hmac` (any
    /// header; set `header`, and `prefix`/`encoding` as the sender does).
    pub kind: String,
    /// The shared secret; use `${ENV}`.
    pub secret: String,
    /// `hmac`: the header carrying the signature.
    pub header: Option<String>,
    /// `hmac`: text before the digest, such as `sha256=`.
    pub prefix: Option<String>,
    /// `hmac`: `hex` (default) or `base64`.
    pub encoding: Option<String>,
    /// `stripe`: how old the signed timestamp may be. Default 5m.
    pub tolerance: Option<HumanDuration>,
}

/// Where a value comes from: `header:NAME`, `param:NAME` (a path
/// parameter), `query:NAME`, `method`, `path`, `request_id` (the gateway's
/// X-Request-Id), or `'text'` (a literal).
pub type ValueSourceRaw = String;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueIntegrationRaw {
    /// A queue under `messaging.queues`.
    pub queue: String,
    /// Message attributes (String) by name, and where each comes from.
    /// Requests without the source leave the attribute out.
    #[serde(default)]
    pub message_attributes: BTreeMap<String, ValueSourceRaw>,
    /// FIFO queues: where the MessageGroupId comes from (required for them).
    pub message_group_id: Option<ValueSourceRaw>,
    /// FIFO queues: where the MessageDeduplicationId comes from (else the
    /// queue's content-based deduplication applies).
    pub deduplication_id: Option<ValueSourceRaw>,
    /// Standard queues: a delay for every message, 0-900 seconds.
    pub delay_seconds: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicIntegrationRaw {
    /// A topic under `messaging.topics`.
    pub topic: String,
    #[serde(default)]
    pub message_attributes: BTreeMap<String, ValueSourceRaw>,
    pub subject: Option<ValueSourceRaw>,
    pub message_group_id: Option<ValueSourceRaw>,
    pub deduplication_id: Option<ValueSourceRaw>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpIntegrationRaw {
    /// The name of a pool under `upstreams:` in gatehouse.yaml.
    pub upstream: String,
    /// Rewrite the upstream path, using the route's captured params:
    /// `/v1/users/{id}`. The query string is kept.
    pub path: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockIntegrationRaw {
    /// Default 200.
    pub status: Option<u16>,
    /// Default `content-type: application/json`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Body template: `{{request_id}}`, `{{method}}`, `{{path}}`,
    /// `{{params.NAME}}`, `{{query.NAME}}`, `{{header.NAME}}`.
    pub body: Option<String>,
}

/// The policy chain. Order at run time: CORS preflight, WAF, API key, JWT, authorizer, rate limit, request validation.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoliciesRaw {
    pub cors: Option<CorsRaw>,
    pub waf: Option<WafPolicyRaw>,
    pub api_key: Option<ApiKeyPolicyRaw>,
    pub jwt: Option<JwtRaw>,
    pub authorizer: Option<AuthorizerRaw>,
    pub rate_limit: Option<RateLimitRaw>,
    pub validate: Option<ValidateRaw>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRaw {
    /// Default true; `false` turns an inherited policy off for a route.
    pub enabled: Option<bool>,
    /// Query parameters that must be present.
    #[serde(default)]
    pub required_query: Vec<String>,
    /// Headers that must be present.
    #[serde(default)]
    pub required_headers: Vec<String>,
    /// Accepted `Content-Type`s (parameters such as charset ignored) for
    /// requests with a body.
    #[serde(default)]
    pub content_types: Vec<String>,
    /// Largest body for this route (over it: 413).
    pub max_body: Option<ByteSize>,
    /// A JSON Schema (a .json or .yaml file, relative to routes/) that JSON
    /// bodies must satisfy. Such bodies are read before the upstream is
    /// contacted, so they are limited to 64KiB.
    pub json_schema: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsRaw {
    /// Default true; `false` turns an inherited policy off for a route.
    pub enabled: Option<bool>,
    /// `*`, exact origins (`https://app.example.com`) or wildcards
    /// (`https://*.example.com`).
    #[serde(default)]
    pub allow_origins: Vec<String>,
    /// Default: the route's methods.
    pub allow_methods: Option<Vec<String>>,
    #[serde(default)]
    pub allow_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight. Default 10m.
    pub max_age: Option<HumanDuration>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRaw {
    /// Default true; `false` turns an inherited policy off for a route.
    pub enabled: Option<bool>,
    /// `client_ip` (default), `route` (one budget for everyone), `api_key`,
    /// `jwt_sub` or `header:NAME`. Requests without that identity count by client IP.
    pub key: Option<String>,
    /// Sustained rate: `N/s`, `N/min`, `N/hour` or `N/day`. Required unless `enabled: false`.
    pub rate: Option<String>,
    /// Requests allowed at once before the rate applies. Default: N.
    pub burst: Option<u32>,
}

/// Bearer JWTs in `Authorization`. Exactly one key source: `secret` (HS*),
/// `public_key` (a PEM file: RS*, PS*, ES*, EdDSA) or `jwks_url`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtRaw {
    /// Default true; `false` turns an inherited policy off for a route.
    pub enabled: Option<bool>,
    /// Accepted `alg` values, all of one family: HS256/384/512, RS256/384/512,
    /// PS256/384/512, ES256/384 or EdDSA.
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// Shared secret for HS* (use `${ENV}`).
    pub secret: Option<String>,
    /// PEM public key file, relative to the config folder.
    pub public_key: Option<String>,
    /// JWKS endpoint; keys are chosen by `kid`.
    pub jwks_url: Option<String>,
    /// How long fetched keys are used before refetching. Default 10m.
    pub jwks_ttl: Option<HumanDuration>,
    /// Least time between refetches caused by unknown `kid`s. Default 30s.
    pub jwks_min_refresh: Option<HumanDuration>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Accepted `aud` values (any one).
    #[serde(default)]
    pub audience: Vec<String>,
    /// Clock skew allowed for exp/nbf/iat. Default 60s.
    pub leeway: Option<HumanDuration>,
    /// Claims that must be present, besides `exp`.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Scopes the token must carry (`scope` string or `scp` list), all of them.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Claims sent upstream as headers: `{sub: x-user-id}`.
    #[serde(default)]
    pub forward_claims: BTreeMap<String, String>,
}

/// A custom authorizer (the Lambda-authorizer analogue): Gatehouse POSTs the
/// caller's identity to `url` and follows the answer
/// `{"allow": bool, "principal_id": "...", "context": {...}}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerRaw {
    /// Default true; `false` turns an inherited policy off for a route.
    pub enabled: Option<bool>,
    pub url: String,
    /// Where the identity is: `header:NAME`, `query:NAME` or `cookie:NAME`.
    /// Default `header:authorization`.
    pub identity: Option<String>,
    /// How long a decision is reused for the same identity. Default 60s; 0s disables.
    pub cache_ttl: Option<HumanDuration>,
    /// Longest wait for the authorizer; then 503. Default 1s.
    pub timeout: Option<HumanDuration>,
}

/// Require an API key (from `api_keys` or `gatehouse keys create`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyPolicyRaw {
    /// Default true; `false` turns an inherited policy off for a route.
    pub enabled: Option<bool>,
    /// The header carrying the key. Default `x-api-key`.
    pub header: Option<String>,
    /// Only keys of these plans are accepted. Default: any plan.
    #[serde(default)]
    pub plans: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WafPolicyRaw {
    /// Default true; `false` turns an inherited policy off for a route.
    pub enabled: Option<bool>,
    /// A rule set under `waf_rule_sets` in gatehouse.yaml.
    pub rule_set: Option<String>,
    /// This route's (or API's) own CRS settings, when the rule set runs
    /// the CRS: the same compiled rules, tuned for these requests.
    pub crs: Option<CrsRouteRaw>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrsRouteRaw {
    /// `false`: the rule set's own rules and groups run, the CRS does not.
    pub enabled: Option<bool>,
    /// Default: the rule set's.
    pub paranoia_level: Option<u8>,
    /// Default: the rule set's.
    pub inbound_anomaly_threshold: Option<u32>,
    /// Added to the rule set's exclusions, for these requests only.
    #[serde(default)]
    pub exclusions: Vec<CrsExclusionRaw>,
}
