//! A flow as the engine runs it: checked and complete. Built from
//! `flows/<id>.yaml` by `config/flows.rs`; nothing here is read from a file.

use super::flow_tasks::Task;
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct FlowSpec {
    pub id: String,
    pub description: String,
    pub enabled: bool,
    pub schedule: Option<Schedule>,
    /// Consecutive failures that deactivate the schedule; 0 never.
    pub deactivate_after_failures: u32,
    pub source: Source,
    pub tasks: Vec<Task>,
    pub destination: Destination,
    pub allow_private_network: bool,
    /// Runs after each successful run of this flow.
    pub after: Option<String>,
    /// Where the flow's run events are published (a topic's name).
    pub events_topic: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Six fields, with seconds.
    Cron(String),
    Every(Duration),
}

#[derive(Debug, Clone)]
pub enum Source {
    Http(Arc<HttpSource>),
    Webhook { records: Option<String> },
    Queue(QueueSource),
}

impl Source {
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Http(_) => "http",
            Source::Webhook { .. } => "webhook",
            Source::Queue(_) => "queue",
        }
    }

    /// A `webhook` source reads the trigger's payload (the records path in
    /// it); other sources ignore payloads.
    pub fn payload_records(&self) -> Option<Option<&str>> {
        match self {
            Source::Webhook { records } => Some(records.as_deref()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct QueueSource {
    pub queue: String,
    /// Messages one run takes at most.
    pub max_messages: u64,
    /// Seconds a taken message stays hidden from other consumers.
    pub visibility_timeout: u32,
}

#[derive(Debug, Clone)]
pub struct HttpSource {
    pub url: String,
    pub method: http::Method,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
    /// Dotted path to the records array; None: the response is the array.
    pub records: Option<String>,
    pub auth: Auth,
    pub pagination: Pagination,
    pub incremental: Option<Incremental>,
    /// The field identifying a record: written once per run.
    pub id: Option<String>,
    /// Where a response has the query's total count.
    pub total: Option<String>,
    /// Results one query serves at most; then it starts again from the
    /// highest watermark read.
    pub max_results: Option<u64>,
    /// Requests per `per`.
    pub rate_limit: Option<(u32, Duration)>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    pub max_pages: u64,
}

#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
    HeaderKey {
        header: String,
        value: String,
    },
    QueryKey {
        param: String,
        value: String,
    },
    OAuth2 {
        token_url: String,
        client_id: String,
        client_secret: String,
        scopes: Vec<String>,
        /// Credentials in the form body rather than a Basic header.
        in_body: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Pagination {
    None,
    /// The next cursor from the body (`from`) or the last record's field
    /// (`from_last_record`) into a query parameter.
    Cursor {
        from: Option<String>,
        from_last_record: Option<String>,
        param: String,
        stop: Option<Stop>,
    },
    /// The next page's full URL from the body.
    NextUrl {
        from: String,
        stop: Option<Stop>,
    },
    /// RFC 8288 `Link: <...>; rel="next"`.
    LinkHeader,
    Offset {
        param: String,
        size_param: String,
        size: u64,
    },
    Page {
        param: String,
        start: u64,
        size_param: Option<String>,
        size: Option<u64>,
    },
}

/// Stop when the body's `field` equals `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    pub field: String,
    pub value: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct Incremental {
    pub field: String,
    pub kind: WatermarkKind,
    pub inject: Inject,
    pub format: TimeFormat,
    /// How far back the first run reads; None reads everything.
    pub first_run: Option<Duration>,
    pub lookback: Lookback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkKind {
    DateTime,
    Integer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inject {
    Query(String),
    Header(String),
    Body(String),
    /// In place of `{watermark}` in query values, headers and body text.
    Template,
}

/// The placeholder an `inject: template` watermark replaces.
pub const WATERMARK_PLACEHOLDER: &str = "{watermark}";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    Rfc3339,
    Unix,
    UnixMillis,
    /// Seconds with a six-digit fraction (Slack's `ts`).
    UnixFloat,
    Pattern(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookback {
    Time(Duration),
    Count(i64),
}

#[derive(Debug, Clone)]
pub struct Destination {
    pub url: String,
    pub format: Format,
    pub compression: Compression,
    /// With `{run_id}` in the folder and `{part}` in the name; no extension.
    pub key: String,
    pub max_file_size: u64,
    pub s3: BTreeMap<String, String>,
    /// Parquet: declared column types; None infers them per file.
    pub schema: Option<arrow_schema::SchemaRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Format {
    pub fn extension(self, compression: Compression) -> &'static str {
        match (self, compression) {
            (Format::JsonLines, Compression::None) => "jsonl",
            (Format::JsonLines, Compression::Gzip) => "jsonl.gz",
            (Format::JsonLines, Compression::Zstd) => "jsonl.zst",
            (Format::Csv, Compression::None) => "csv",
            (Format::Csv, Compression::Gzip) => "csv.gz",
            (Format::Csv, Compression::Zstd) => "csv.zst",
            (Format::Parquet, _) => "parquet",
        }
    }
}

/// A compiled `matches` / `regex` pattern that still prints as written.
#[derive(Clone)]
pub struct Pattern(pub Regex);

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}/", self.0.as_str())
    }
}
