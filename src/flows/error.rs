//! Why a run failed. The message is what history, the CLI and the admin API
//! show, so it never carries a secret: URLs are shown without their query.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FlowError {
    #[error("no flow named `{0}`")]
    UnknownFlow(String),
    #[error("flow `{0}` is already running")]
    Busy(String),
    #[error("too many runs are waiting to start; try again later")]
    Backlogged,
    #[error("source request failed: {0}")]
    Source(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("pagination: {0}")]
    Pagination(String),
    #[error("{0}")]
    Payload(String),
    #[error("{0}")]
    Validation(String),
    #[error("destination: {0}")]
    Destination(String),
    #[error("run history: {0}")]
    Store(String),
    #[error("canceled")]
    Canceled,
}

/// Run history and flow state live in the store; its failures fail the run.
impl From<crate::store::StoreError> for FlowError {
    fn from(e: crate::store::StoreError) -> FlowError {
        FlowError::Store(e.to_string())
    }
}

/// A transport error with every cause under it (`error sending request:
/// client error (Connect): dns error: failed to lookup address
/// information: ...`): reqwest's own message names none. The URL is left
/// out: its query may hold a key.
pub fn causes(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

impl FlowError {
    pub fn destination(e: impl std::fmt::Display) -> FlowError {
        FlowError::Destination(e.to_string())
    }

    /// The HTTP status and code this error answers with, wherever a run is
    /// asked for over HTTP (a `flow` route, the admin API): the one map.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            FlowError::UnknownFlow(_) => (404, "NotFound"),
            FlowError::Payload(_) => (400, "BadRequest"),
            FlowError::Busy(_) => (409, "Conflict"),
            FlowError::Backlogged => (503, "ServiceUnavailable"),
            _ => (500, "InternalError"),
        }
    }
}
