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
        let response = client
            .post(url)
            .basic_auth(client_id, Some(client_secret))
            .form(&form)
            .send()
            .await
            .map_err(|e| FlowError::Auth(format!("token request failed: {}", e.without_url())))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FlowError::Auth(format!(
                "the token endpoint answered {status}"
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
