//! Messaging: durable SQS queues and SNS topics that the AWS SDKs use
//! unmodified. `design.md` explains the state, the journal and the invariants.
//!
//! Module map, from the wire inward:
//! - `api`: the listener; SQS JSON and Query, SNS Query; SigV4 (`sigv4`);
//!   `access`: access keys' principals against queue and topic policies
//! - `queues`: the queue seam (every SQS operation); `pubsub`: the SNS
//!   seams (topics, subscriptions, publishing; the delivery outbox). The
//!   broker implements them; `queues_conformance` and `pubsub_conformance`
//!   are the suites every backend passes
//! - `broker`: every queue, a cheap `Clone` handle; long polling
//! - `queue`: one queue's rules (visibility, delays, FIFO groups, dedup)
//! - `redrive`: dead-letter queue move tasks
//! - `sns/`: topics and subscriptions (`topics`), fan-out (`publish`),
//!   filter policies, http(s) and `flow` deliveries with retries
//!   (`delivery`, `flow_target`)
//! - `journal`: group commit of every change to the `store`
//! - `message`, `receipt`, `names`: the vocabulary (queue attributes are
//!   `config::queue_settings`, shared with `gatehouse.yaml`)
//! - `error`: every API error and its wire form
//! - `payloads`: large bodies offloaded to object storage as the extended
//!   clients' S3 pointers
//! - `metrics`: Prometheus counters where messages move, depth gauges per
//!   scrape

pub mod access;
pub mod api;
pub mod broker;
pub mod clock;
pub mod error;
pub mod journal;
pub mod message;
pub mod metrics;
pub mod names;
pub mod payloads;
pub mod pubsub;
#[cfg(test)]
pub(crate) mod pubsub_conformance;
pub mod queue;
pub mod queues;
#[cfg(test)]
pub(crate) mod queues_conformance;
pub mod receipt;
pub mod redrive;
pub mod service;
pub mod sigv4;
pub mod sns;
pub mod store;

pub use broker::Broker;
