//! Integrations: what answers a matched route.
//!
//! `mock` answers in `request_filter`; `http` hands the request to pingora's
//! proxy loop (which also carries WebSocket upgrades); `publish` (the
//! `queue` and `topic` integrations) answers in `request_filter` too, once
//! the message is stored; `flow` starts a run and answers 202 with its id
//! (`config::signature` checks webhook senders' HMACs first).

pub mod flow;
pub mod http;
pub mod mock;
pub mod publish;
