//! What every listener (gateway, admin, messaging) does before a request
//! reaches its handler: cap the connections it holds, bound how long a client
//! may take to send a request head, close idle keep-alive connections, and
//! refuse what it cannot parse with a JSON error rather than pingora's bare
//! 400. The engines behind the listeners never see a slow or silent client.
//!
//! ```text
//! accept -> Connections::admit (cap, per-IP cap; shed the oldest idle one at the cap)
//!   loop: head::read (idle wait, then the header deadline, size, syntax)
//!           -> refusal (400/408/431, JSON, close)  or  the handler, with the head replayed
//! ```
//!
//! - `budget`: the file-descriptor limit, raised at start-up and shared out as caps
//! - `connections`: open-connection counts, per-IP counts and the idle set
//! - `head`: reading one request head off the socket under its deadlines
//! - `refusal`: the small JSON answers written straight on the socket
//! - `pingora_app`: the wrapper around pingora's HTTP apps (gateway, admin)
//! - `hyper_app`: the messaging listener's accept loop on hyper
//! - `metrics`: what is counted instead of logged

pub mod budget;
pub mod connections;
pub mod head;
pub mod hyper_app;
pub mod metrics;
pub mod pingora_app;
pub mod refusal;

use std::time::Duration;

/// The limits one listener applies, read again for every connection so a
/// config reload takes effect without a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Whole request line and headers, from the first byte (from accept for a
    /// connection's first request).
    pub header_timeout: Duration,
    /// A whole request body, from the end of its head.
    pub body_timeout: Duration,
    /// How long a keep-alive connection may sit between requests.
    pub keepalive_timeout: Duration,
    /// Largest request head; over it: 431.
    pub max_header_bytes: usize,
    /// Open connections on this listener; at the cap the oldest idle one is
    /// closed to make room, and without an idle one the newcomer gets 503.
    pub max_connections: usize,
    /// Open connections from one client address (0: no limit); over it: 429.
    pub max_connections_per_ip: usize,
}
