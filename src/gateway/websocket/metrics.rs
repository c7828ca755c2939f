//! What WebSocket APIs count: connections open, messages each way by route
//! key, integration failures by kind, and throttled messages.

use prometheus::core::Collector;
use prometheus::{IntCounterVec, IntGaugeVec, Opts};

#[derive(Clone)]
pub struct WebSocketMetrics {
    pub open: IntGaugeVec,
    pub messages: IntCounterVec,
    pub integration_errors: IntCounterVec,
    pub throttled: IntCounterVec,
}

impl WebSocketMetrics {
    pub fn new() -> WebSocketMetrics {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        WebSocketMetrics {
            open: IntGaugeVec::new(
                Opts::new(
                    "websocket_connections",
                    "Managed WebSocket connections open on this node, by API",
                ),
                &["api"],
            )
            .expect("valid metric"),
            messages: counter(
                "websocket_messages_total",
                "WebSocket messages, by API, route key and direction (in: from clients; out: to them)",
                &["api", "route_key", "direction"],
            ),
            integration_errors: counter(
                "websocket_integration_errors_total",
                "WebSocket route integrations that failed, by API, route key and kind",
                &["api", "route_key", "kind"],
            ),
            throttled: counter(
                "websocket_throttled_total",
                "WebSocket messages refused by a throttle, by API and scope (connection or route)",
                &["api", "scope"],
            ),
        }
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.open.clone()),
            Box::new(self.messages.clone()),
            Box::new(self.integration_errors.clone()),
            Box::new(self.throttled.clone()),
        ]
    }
}

impl Default for WebSocketMetrics {
    fn default() -> Self {
        Self::new()
    }
}
