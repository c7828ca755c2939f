//! Requests Gatehouse makes to other services: health checks, JWKS and
//! authorizer calls, SNS http deliveries, flow sources. One builder gives
//! them the same defaults, and `guard` keeps them away from internal
//! addresses where the caller asks for it.

pub mod guard;

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
