//! Credentials on outgoing requests. OAuth2 client-credentials tokens are
//! fetched on first use, reused until a minute before they expire, and
//! fetched again after a 401.

use crate::config::flow_spec::Auth;
use crate::flows::error::FlowError;
use reqwest::RequestBuilder;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub struct Authenticator {
    auth: Auth,
    allow_private: bool,
    token: Mutex<Option<(String, Instant)>>,
}

/// Tokens are renewed this long before the expiry the server gave.
const EARLY: Duration = Duration::from_secs(60);

impl Authenticator {
    pub fn new(auth: Auth, allow_private: bool) -> Authenticator {
        Authenticator {
            auth,
            allow_private,
            token: Mutex::new(None),
        }
    }

    pub fn is_oauth2(&self) -> bool {
        matches!(self.auth, Auth::OAuth2 { .. })
    }

    pub async fn apply(
        &self,
        client: &reqwest::Client,
        request: RequestBuilder,
    ) -> Result<RequestBuilder, FlowError> {
        Ok(match &self.auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
            Auth::HeaderKey { header, value } => request.header(header.as_str(), value.as_str()),
            Auth::QueryKey { param, value } => request.query(&[(param, value)]),
            Auth::OAuth2 { .. } => request.bearer_auth(self.token(client).await?),
        })
    }

    /// Forgets the cached token (the API answered 401).
    pub async fn invalidate(&self) {
        *self.token.lock().await = None;
    }

    async fn token(&self, client: &reqwest::Client) -> Result<String, FlowError> {
        let Auth::OAuth2 {
            token_url,
            client_id,
            client_secret,
            scopes,
            in_body,
        } = &self.auth
        else {
            return Err(FlowError::Auth("not an OAuth2 source".into()));
        };
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let url = reqwest::Url::parse(token_url)
            .map_err(|_| FlowError::Auth("the token_url is not a URL".into()))?;
        crate::outbound::guard::check_url(&url, self.allow_private).map_err(FlowError::Auth)?;
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if !scopes.is_empty() {
            form.push(("scope", scopes.join(" ")));
        }
        let mut request = client.post(url);
        if *in_body {
            form.push(("client_id", client_id.clone()));
            form.push(("client_secret", client_secret.clone()));
        } else {
            request = request.basic_auth(client_id, Some(client_secret));
        }
        let response = request.form(&form).send().await.map_err(|e| {
            FlowError::Auth(format!(
                "token request failed: {}",
                crate::flows::error::causes(e)
            ))
        })?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(FlowError::Auth(format!(
                "the token endpoint answered {status}{}",
                token_error(&text)
            )));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|_| FlowError::Auth("the token endpoint's answer is not JSON".into()))?;
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| {
                FlowError::Auth("the token endpoint's answer has no access_token".into())
            })?
            .to_string();
        let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(3600));
        *cached = Some((
            token.clone(),
            Instant::now() + lifetime.saturating_sub(EARLY),
        ));
        Ok(token)
    }
}

/// What an OAuth2 error answer says (RFC 6749 5.2: `error`, and
/// `error_description` when there is one), as `: invalid_client (...)`.
/// Only those fields: the rest of the body is not shown.
fn token_error(body: &str) -> String {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return String::new();
    };
    let clip = |s: &str| s.chars().take(200).collect::<String>();
    match (json["error"].as_str(), json["error_description"].as_str()) {
        (Some(e), Some(d)) => format!(": {} ({})", clip(e), clip(d)),
        (Some(e), None) => format!(": {}", clip(e)),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::token_error;

    #[test]
    fn token_errors_name_the_oauth2_error() {
        assert_eq!(
            token_error(r#"{"error":"invalid_client","error_description":"bad secret"}"#),
            ": invalid_client (bad secret)"
        );
        assert_eq!(
            token_error(r#"{"error":"invalid_scope"}"#),
            ": invalid_scope"
        );
        assert_eq!(token_error("<html>"), "");
    }
}
