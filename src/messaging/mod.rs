//! Messaging: durable SQS queues and SNS topics that the AWS SDKs use
//! unmodified. `design.md` explains the state, the journal and the invariants.
//!
//! Module map, from the wire inward:
//! - `api`: the listener; SQS JSON and Query, SNS Query; SigV4 (`sigv4`)
//! - `broker`: every queue, a cheap `Clone` handle; long polling
//! - `queue`: one queue's rules (visibility, delays, FIFO groups, dedup)
//! - `redrive`: dead-letter queue move tasks
//! - `topics`, `publish`, `filter_policy`, `delivery`: SNS topics, fan-out,
//!   filter policies, http(s) and `flow` deliveries with retries (`flow_target`)
//! - `journal`: group commit of every change to the `store`
//! - `message`, `receipt`, `names`: the vocabulary (queue attributes are
//!   `config::queue_settings`, shared with `gatehouse.yaml`)
//! - `error`: every API error and its wire form

pub mod api;
pub mod broker;
pub mod clock;
pub mod delivery;
pub mod error;
pub mod filter_policy;
pub mod flow_target;
pub mod journal;
pub mod message;
pub mod names;
pub mod publish;
pub mod queue;
pub mod queues;
#[cfg(test)]
pub(crate) mod queues_conformance;
pub mod receipt;
pub mod redrive;
pub mod service;
pub mod sigv4;
pub mod store;
pub mod topics;

pub use broker::Broker;
