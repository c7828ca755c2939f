//! What the listeners count instead of logging: a client that hangs up
//! mid-request or sends garbage is routine on the internet, and one log line
//! per occurrence would let anyone fill the disk.

use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts};

#[derive(Clone)]
pub struct ListenerMetrics {
    open: IntGaugeVec,
    refused: IntCounterVec,
    client_errors: IntCounterVec,
    shed: IntCounterVec,
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The listener's `max_connections`, with no idle connection to close.
    Full,
    /// `max_connections_per_ip` for the client's address.
    PerIp,
}

/// A client-side failure on a connection, before or while a request is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// The request head did not arrive within the header deadline.
    HeaderTimeout,
    /// The connection closed part-way through a request head.
    ClosedMidHead,
    /// A request head that does not parse as HTTP/1.x.
    Malformed,
    /// A request head over the size limit.
    HeadTooLarge,
    /// A messaging request whose signature was refused.
    SignatureRefused,
}

impl ClientError {
    fn label(self) -> &'static str {
        match self {
            ClientError::HeaderTimeout => "header_timeout",
            ClientError::ClosedMidHead => "closed_mid_head",
            ClientError::Malformed => "malformed",
            ClientError::HeadTooLarge => "head_too_large",
            ClientError::SignatureRefused => "signature_refused",
        }
    }
}

impl ListenerMetrics {
    pub fn new() -> ListenerMetrics {
        ListenerMetrics {
            open: IntGaugeVec::new(
                Opts::new(
                    "listener_connections",
                    "Open client connections, by listener",
                ),
                &["listener"],
            )
            .expect("static metric definition"),
            refused: IntCounterVec::new(
                Opts::new(
                    "listener_connections_refused_total",
                    "Connections refused at accept, by listener and reason (full, per_ip)",
                ),
                &["listener", "reason"],
            )
            .expect("static metric definition"),
            client_errors: IntCounterVec::new(
                Opts::new(
                    "listener_client_errors_total",
                    "Requests that failed on the client's side, by listener and reason",
                ),
                &["listener", "reason"],
            )
            .expect("static metric definition"),
            shed: IntCounterVec::new(
                Opts::new(
                    "listener_idle_connections_shed_total",
                    "Idle keep-alive connections closed to make room at the connection cap",
                ),
                &["listener"],
            )
            .expect("static metric definition"),
        }
    }

    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.open.clone()),
            Box::new(self.refused.clone()),
            Box::new(self.client_errors.clone()),
            Box::new(self.shed.clone()),
        ]
    }

    pub fn open(&self, listener: &str) -> IntGauge {
        self.open.with_label_values(&[listener])
    }

    pub fn refused(&self, listener: &str, why: Refused) {
        let reason = match why {
            Refused::Full => "full",
            Refused::PerIp => "per_ip",
        };
        self.refused.with_label_values(&[listener, reason]).inc();
    }

    pub fn client_error(&self, listener: &str, what: ClientError) {
        self.client_errors
            .with_label_values(&[listener, what.label()])
            .inc();
    }

    pub fn shed(&self, listener: &str) {
        self.shed.with_label_values(&[listener]).inc();
    }
}

impl Default for ListenerMetrics {
    fn default() -> Self {
        Self::new()
    }
}
