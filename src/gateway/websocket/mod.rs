//! Managed WebSocket APIs: the gateway holds the client connection itself
//! and routes its messages, rather than proxying the upgrade to a backend.
//!
//! ```text
//! GET + Upgrade -> route policies -> $connect integration -> registry.open -> 101
//!   client frames -> frame::Decoder/Assembler -> route key -> throttles -> dispatch::run -> reply?
//!   registry mailbox (@connections POST/DELETE, any node) -> frame to the client
//!   close / idle / max duration / stalled writes -> $disconnect (once, from a drop guard)
//! ```
//!
//! `connection`: one connection's task; `frame`: RFC 6455 framing with the
//! limits applied as bytes arrive; `context`: who connected, as API
//! Gateway's `requestContext`; `dispatch`: the route integrations;
//! `management`: the `@connections` API; `throttle` and `metrics`.

pub mod connection;
pub mod context;
pub mod dispatch;
pub mod frame;
pub mod management;
pub mod metrics;
pub mod throttle;

use crate::store::connections::Connections;
use std::sync::Arc;

/// What every WebSocket API of the gateway shares: where connections are
/// registered (this node's, or the fleet's), the metrics and the route
/// throttles.
pub struct WebSockets {
    pub connections: Arc<dyn Connections>,
    pub metrics: metrics::WebSocketMetrics,
    pub routes: throttle::RouteBuckets,
}

impl WebSockets {
    pub fn new(connections: Arc<dyn Connections>) -> WebSockets {
        WebSockets {
            connections,
            metrics: metrics::WebSocketMetrics::new(),
            routes: throttle::RouteBuckets::default(),
        }
    }
}
