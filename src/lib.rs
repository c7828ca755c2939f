//! Gatehouse: an edge gateway with its own messaging and data-ingestion engines.
//!
//! Module map, in the order a request meets them:
//! - `cli`: the `gatehouse` commands, one file each
//! - `config`: files -> positioned YAML -> raw serde types -> validated model
//! - `server`: the pingora server, listeners, reload and shutdown
//! - `tls`: certificates by SNI, mTLS, dev certificates
//! - `gateway`: router, integrations, upstream pools, the proxy phases
//! - `messaging`: SQS queues and SNS topics behind the `Queues`, `Topics`
//!   and `Outbox` seams, and their AWS wire protocols
//! - `flows`: ingestion from SaaS APIs and webhooks into object storage
//! - `workers`: queue workers (Lambda's SQS event-source mappings) for HTTP
//!   endpoints and commands
//! - `jobs`: AWS Batch's model: job definitions, a priority queue of jobs
//!   in the store, this node's process pool as the compute environment
//! - `store`: the backends, chosen once by `store::open`: keys and quotas,
//!   flow runs, leases and ticks, rate limits, the message journal (SQLite
//!   and governor embedded; each a trait with a twin and a conformance suite)
//! - `metrics`: the Prometheus registry every engine counts into (a leaf)
//! - `admin`: /metrics, /healthz, /readyz, the keys and flows APIs, and the
//!   operators' web console (`admin::console`, /console)
//! - `logging`: process logs
//! - `bench`: load generators (`gatehouse bench`)
//! - `listener`: connection caps and request-head deadlines for every listener
//! - `wording`: counts and nouns in messages
//! - `request_id`: `X-Request-Id` values, accepted or generated
//! - `outbound`: one HTTP client builder for calls out, and the guard
//!   against internal addresses
//! - `seclang`: the ModSecurity rule language engine the WAF runs the OWASP
//!   Core Rule Set with (a leaf: config compiles rule sets when it loads,
//!   so their errors are config errors)
//! - `keys`: API key records and new keys; `hex`: hex and SHA-256;
//!   `secret`: constant-time comparison; `sealing`: the key ring and
//!   AES-256-GCM envelopes for messages at rest (a leaf, config checks keys)
//! - `iam`: IAM policy documents and their evaluation, for queue and topic
//!   access policies (a leaf: config checks identity policies)

pub mod admin;
pub mod bench;
pub mod cli;
pub mod config;
pub mod flows;
pub mod gateway;
pub mod hex;
pub mod iam;
pub mod jobs;
pub mod keys;
pub mod listener;
pub mod logging;
pub mod messaging;
pub mod metrics;
pub mod outbound;
pub mod request_id;
pub mod sealing;
pub mod seclang;
pub mod secret;
pub mod server;
pub mod store;
pub mod tls;
pub mod wording;
pub mod workers;
