//! Integrations: what answers a matched route.
//!
//! `mock` answers in `request_filter`; `http` hands the request to pingora's
//! proxy loop (which also carries WebSocket upgrades). The `queue`, `topic`
//! and `flow` integrations answer in `request_filter` like `mock` does.

pub mod http;
pub mod mock;
