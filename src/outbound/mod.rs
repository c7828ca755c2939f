//! Requests Gatehouse makes to other services: health checks, JWKS and
//! authorizer calls, SNS http deliveries, flow sources. One builder gives
//! them the same defaults, and `guard` keeps them away from internal
//! addresses where the caller asks for it.

pub mod guard;

use std::sync::Arc;
use std::time::Duration;

/// A client builder with Gatehouse's defaults: `timeout` for the whole
/// request, no redirects (callers that follow some say so), and a user
/// agent naming Gatehouse. Callers add what is theirs (TLS roots, a resolver).
pub fn client(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
}

/// A built client, or why it could not be built (the TLS backend did not
/// load). Requests through a client that failed fail with that reason: no
/// silent fallback to a client without Gatehouse's timeout and redirect
/// rules.
#[derive(Clone, Debug)]
pub struct Client(Result<reqwest::Client, Arc<str>>);

impl Client {
    /// Builds `builder`; a failure is logged once, here, for `purpose`.
    pub fn build(builder: reqwest::ClientBuilder, purpose: &str) -> Client {
        // reqwest panics without a process-wide rustls provider.
        crate::tls::install_crypto();
        Client(builder.build().map_err(|e| {
            tracing::error!(purpose, error = %e, "cannot build an HTTP client; its requests will fail");
            Arc::from(format!("no HTTP client for {purpose}: {e}"))
        }))
    }

    pub fn get(&self) -> Result<&reqwest::Client, String> {
        self.0.as_ref().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_that_cannot_be_built_says_why() {
        // rustls speaks TLS 1.2 and 1.3 only: capping at 1.1 leaves nothing.
        let builder =
            client(Duration::from_secs(1)).max_tls_version(reqwest::tls::Version::TLS_1_1);
        let c = Client::build(builder, "a test");
        let why = c.get().unwrap_err();
        assert!(why.starts_with("no HTTP client for a test"), "{why}");
    }

    #[test]
    fn a_built_client_is_handed_out() {
        let c = Client::build(client(Duration::from_secs(1)), "a test");
        assert!(c.get().is_ok());
    }
}
