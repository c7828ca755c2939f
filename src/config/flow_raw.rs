//! `flows/<flow>.yaml` exactly as written (the file name is the flow id).
//! `config/flows.rs` checks these and builds `flow_spec::FlowSpec`.

use super::units::{ByteSize, HumanDuration};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A flow: where records come from, what happens to each, where they land.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowFile {
    pub description: Option<String>,
    /// Default true. A disabled flow's schedule does not fire; it still runs
    /// on demand.
    pub enabled: Option<bool>,
    /// When the flow runs besides on demand (`gatehouse flow run`, the admin
    /// API). Webhooks reach a flow through a route's `flow` integration, and
    /// topics through a subscription with protocol `flow`.
    pub trigger: Option<TriggerRaw>,
    pub source: SourceRaw,
    /// Applied in order to every record.
    #[serde(default)]
    pub tasks: Vec<TaskRaw>,
    /// Default: JSON Lines under `data/lake/` in the data dir.
    pub destination: Option<DestinationRaw>,
    /// Let the source reach loopback, private and link-local addresses
    /// (refused by default: they are how SSRF reaches internal services).
    pub allow_private_network: Option<bool>,
    /// Publish FlowRunStarted, FlowRunSucceeded and FlowRunFailed events to
    /// a topic under `messaging.topics`.
    pub events: Option<FlowEventsRaw>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowEventsRaw {
    pub topic: String,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRaw {
    /// A cron expression with seconds (`0 */5 * * * *`) or `rate(5 minutes)`.
    pub schedule: Option<String>,
    /// Deactivate the flow's schedule after this many consecutive failed
    /// runs (AppFlow's flowErrorDeactivationThreshold). Default 5; 0 never.
    pub deactivate_after_failures: Option<u32>,
    /// Run after each successful run of this other flow (not for `webhook`
    /// flows: they need a body).
    pub after: Option<String>,
}

/// Exactly one key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceRaw {
    /// A REST API (optionally a preset for a known SaaS).
    Http(Box<HttpSourceRaw>),
    /// The body of the request (or topic message) that triggered the run: a
    /// JSON array of records, or one object.
    Webhook(WebhookSourceRaw),
    /// Drain a Gatehouse queue: each message body is a record (a JSON object,
    /// or an array of them); messages are deleted after the run commits.
    Queue(QueueSourceRaw),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueSourceRaw {
    /// A queue under `messaging.queues` in gatehouse.yaml.
    pub queue: String,
    /// Messages one run takes at most. Default 100000.
    pub max_messages: Option<u64>,
    /// How long taken messages stay hidden while the run goes on; longer
    /// than a run takes. Default 15m, at most 12h.
    pub visibility_timeout: Option<HumanDuration>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSourceRaw {
    /// Where the records are in the body (`data.items`); default: the body.
    pub records: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceRaw {
    /// A documented configuration of this connector for a known API:
    /// `salesforce`, `slack`, `zendesk`, `stripe`, `github`, `hubspot`.
    /// Every field set here overrides the preset's.
    pub preset: Option<String>,
    /// `https://api.example.com`.
    pub base_url: Option<String>,
    /// Appended to the base URL.
    pub path: Option<String>,
    /// Default GET.
    pub method: Option<String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body to send (POST searches).
    pub body: Option<serde_json::Value>,
    /// Where the records are in a response (`data`, `results.items`); `.` for
    /// a top-level array.
    pub records: Option<String>,
    pub auth: Option<AuthRaw>,
    pub pagination: Option<PaginationRaw>,
    pub incremental: Option<IncrementalRaw>,
    /// The field that identifies a record (`id`; dotted paths work). A
    /// record whose id this run already wrote is not written again: when
    /// the source changes while it is read, pages shift and a record can
    /// come twice. Presets set it; without it, no such check is made.
    pub id: Option<String>,
    /// Where a response says how many records the query matches in all
    /// (`totalSize`, `total`): `flow run` then shows how long is left.
    /// Presets set it where the API has one.
    pub total: Option<String>,
    /// Requests per second to the API, e.g. `10/s`, `100/min`.
    pub rate_limit: Option<String>,
    /// Per request. Default 30s.
    pub timeout: Option<HumanDuration>,
    /// Retries of a request answered 429 or 5xx or failing to connect. Default 5.
    pub max_retries: Option<u32>,
    /// First retry delay (doubled each time, with jitter), unless the answer
    /// has Retry-After. Default 500ms.
    pub retry_base_delay: Option<HumanDuration>,
    /// Default 30s.
    pub retry_max_delay: Option<HumanDuration>,
    /// Stop after this many pages. Default 100000.
    pub max_pages: Option<u64>,
}

/// Exactly one key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthRaw {
    /// `Authorization: Bearer TOKEN`.
    Bearer(String),
    Basic(BasicAuthRaw),
    ApiKey(ApiKeyAuthRaw),
    /// OAuth2 client credentials: the token is fetched, cached, refreshed
    /// before it expires and after a 401.
    Oauth2(OAuth2Raw),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthRaw {
    pub username: String,
    #[serde(default)]
    pub password: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyAuthRaw {
    pub value: String,
    /// Send the key in this header...
    pub header: Option<String>,
    /// ...or in this query parameter.
    pub query: Option<String>,
    /// Put before the value in the header, e.g. `Token `.
    pub prefix: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Raw {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// How the client authenticates to the token endpoint: `basic` (an
    /// Authorization header, RFC 6749's preference; default) or `body`
    /// (`client_id` and `client_secret` in the form).
    pub client_auth: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaginationRaw {
    /// `cursor`, `next_url`, `link_header`, `offset`, `page` or `none`.
    pub kind: Option<String>,
    /// cursor: where the next cursor is in the body (`meta.next_cursor`).
    /// next_url: where the next URL is (`next`, `nextRecordsUrl`).
    pub from: Option<String>,
    /// cursor: the query parameter that carries it (`body:PATH` puts it in
    /// the JSON body, for search APIs). offset/page: the parameter with the
    /// offset or page number.
    pub param: Option<String>,
    /// cursor: take the cursor from the last record's field instead (Stripe's
    /// `starting_after` = the last id).
    pub from_last_record: Option<String>,
    /// offset/page: the page size parameter and its value.
    pub size_param: Option<String>,
    pub size: Option<u64>,
    /// page: the first page number. Default 1.
    pub start: Option<u64>,
    /// The API serves at most this many results per query (HubSpot's
    /// search: 10000). Reaching it, the query starts again from the
    /// highest watermark read so far; needs `incremental`.
    pub max_results: Option<u64>,
    /// Stop when this field of the body equals `stop_value` (`has_more` ->
    /// false, `done` -> true, `end_of_stream` -> true).
    pub stop_field: Option<String>,
    pub stop_value: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncrementalRaw {
    /// The record field that orders changes (`updated_at`, `id`). Presets
    /// set it.
    pub field: Option<String>,
    /// `datetime` (RFC 3339) or `integer` (an id, or unix seconds). Default datetime.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Where the watermark goes: `query:since`, `header:X-Since`,
    /// `body:filter.since` (a path in the JSON body), or `template`: in
    /// place of `{watermark}` in query values, headers and body text (a
    /// SOQL `WHERE`, a search filter). Presets set it.
    #[serde(default)]
    pub inject: String,
    /// How a datetime watermark is written, and how numbers in the field
    /// are read: `rfc3339` (default), `unix` (seconds), `unix_ms`,
    /// `unix_float` (seconds with a fraction, as Slack's `ts`), or a
    /// strftime pattern.
    pub format: Option<String>,
    /// The first run reads this far back (a duration), or `all` (everything
    /// the source holds). Default 30d.
    pub first_run: Option<String>,
    /// Each run re-reads this much before the watermark, for late writes at
    /// the source (datetime: a duration; integer: a count). Default 0.
    pub lookback: Option<String>,
}

/// One task, exactly one key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskRaw {
    /// Build a new record from `target: source` pairs (dotted paths on both
    /// sides); fields not named are dropped.
    Map(BTreeMap<String, String>),
    /// Keep every field (optionally renaming some: `old: new`).
    MapAll(BTreeMap<String, String>),
    Merge(MergeRaw),
    Mask(MaskRaw),
    Truncate(TruncateRaw),
    Arithmetic(ArithmeticRaw),
    Cast(CastRaw),
    Default(DefaultRaw),
    Filter(Box<ConditionRaw>),
    Validate(ValidateRaw),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRaw {
    pub into: String,
    /// `{first} {last}`: names in braces are record fields.
    pub format: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskRaw {
    pub field: String,
    /// Mask only the first N characters...
    pub first: Option<usize>,
    /// ...or only the last N; all of it when neither is set.
    pub last: Option<usize>,
    /// Keep the last N characters visible (card numbers, `****1234`).
    pub keep_last: Option<usize>,
    /// Default `*`.
    pub with: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TruncateRaw {
    pub field: String,
    pub length: usize,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArithmeticRaw {
    pub into: String,
    /// A field or a number.
    pub left: serde_json::Value,
    /// `add`, `subtract`, `multiply`, `divide`.
    pub op: String,
    /// A field or a number.
    pub right: serde_json::Value,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CastRaw {
    pub field: String,
    /// `string`, `integer`, `decimal`, `boolean`, `timestamp`.
    pub to: String,
    /// timestamp: the strftime pattern of the input (default: RFC 3339 or
    /// unix seconds); the output is RFC 3339.
    pub format: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultRaw {
    pub field: String,
    /// Set when the field is missing or null.
    pub value: serde_json::Value,
}

/// A condition: one comparison (`field` + one operator), or `all`/`any` of
/// conditions.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionRaw {
    pub field: Option<String>,
    pub equals: Option<serde_json::Value>,
    pub not_equals: Option<serde_json::Value>,
    pub contains: Option<String>,
    pub greater_than: Option<serde_json::Value>,
    pub greater_or_equal: Option<serde_json::Value>,
    pub less_than: Option<serde_json::Value>,
    pub less_or_equal: Option<serde_json::Value>,
    /// `[low, high]`, inclusive.
    pub between: Option<Vec<serde_json::Value>>,
    #[serde(rename = "in")]
    pub one_of: Option<Vec<serde_json::Value>>,
    /// true: the field is present and not null; false: it is not.
    pub exists: Option<bool>,
    pub regex: Option<String>,
    pub all: Option<Vec<ConditionRaw>>,
    pub any: Option<Vec<ConditionRaw>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRaw {
    pub field: String,
    /// `non_null`, `non_zero`, `non_negative`, `numeric`, `matches`.
    pub check: String,
    /// matches: the regex the value must match.
    pub pattern: Option<String>,
    /// `drop` (default: the record goes to the error prefix, counted as
    /// invalid) or `fail` (the run fails).
    pub action: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationRaw {
    /// `file://` (the data dir's `lake/`), `file:///abs/path`,
    /// `s3://bucket/prefix`, or `memory://` (tests).
    pub url: Option<String>,
    /// `jsonl` (default), `csv`, `parquet`.
    pub format: Option<String>,
    /// `none` (default), `gzip`, `zstd`; JSONL and CSV only.
    pub compression: Option<String>,
    /// Object key template. `{run_id}` must be in the folder part and
    /// `{part}` in the file name. Default `{flow}/{yyyy}/{MM}/{dd}/{run_id}/part-{part}`.
    pub key: Option<String>,
    /// Start a new file past this size. Default 64MiB.
    pub max_file_size: Option<ByteSize>,
    /// For `s3://`: object_store's S3 options (`AmazonS3ConfigKey`):
    /// `endpoint` (any S3 API: MinIO, R2, Ceph; default AWS), `region`,
    /// `access_key_id`, `secret_access_key`, `session_token`, `allow_http`
    /// (a plain-http endpoint; default false), `virtual_hosted_style_request`,
    /// ... An unknown option is an error.
    pub s3: Option<BTreeMap<String, serde_json::Value>>,
    /// Parquet: column types by field (`string`, `integer`, `float`,
    /// `boolean`, `timestamp`, `date`, `json`, `decimal(p,s)`, `list<T>`,
    /// `struct<name: T, ...>`, or a map for a nested struct), instead of
    /// inferring them from the records. Fields not listed are left out (the
    /// run says which); a value that does not fit its column goes to the
    /// error prefix.
    pub schema: Option<BTreeMap<String, super::parquet_schema::ColumnRaw>>,
}
