//! A JWKS endpoint's keys, cached by `kid`.
//!
//! Keys are refetched when the cache is older than its TTL or a token names
//! an unknown `kid`, but never more often than `min_refresh`: a flood of
//! tokens with random `kid`s costs the JWKS endpoint one request per
//! `min_refresh`, not one per token. When the endpoint is down, the keys
//! already fetched keep working.
//!
//! One fetch runs at a time, and never under the lock the cached keys sit
//! behind: while a token with an unknown `kid` waits for the endpoint,
//! tokens with known keys keep verifying.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{AlgorithmFamily, DecodingKey};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest wait for the JWKS endpoint, so a slow one cannot hold requests.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

pub struct JwksCache {
    pub url: String,
    ttl: Duration,
    min_refresh: Duration,
    client: crate::outbound::Client,
    /// Held only to read or swap the keys, never across a fetch.
    state: parking_lot::Mutex<State>,
    /// Held for the length of a fetch: the single flight.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// By `kid`; keys without one are under "".
    keys: Arc<HashMap<String, DecodingKey>>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// No key could be had: the endpoint never answered with a key set.
#[derive(Debug)]
pub struct Unavailable;

impl JwksCache {
    pub fn new(url: &str, ttl: Duration, min_refresh: Duration) -> JwksCache {
        let client = crate::outbound::Client::build(
            crate::outbound::client(FETCH_TIMEOUT).redirect(reqwest::redirect::Policy::limited(2)),
            "JWKS fetches",
        );
        JwksCache {
            url: url.to_string(),
            ttl,
            min_refresh,
            client,
            state: parking_lot::Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The key for `kid`: `Ok(None)` when the key set has no such key.
    pub async fn key(&self, kid: Option<&str>) -> Result<Option<DecodingKey>, Unavailable> {
        match self.cached(kid) {
            (Some(key), true) => return Ok(Some(key)),
            // Stale: one request refreshes; the others (and, if the
            // endpoint fails, this one) go on with the cached key.
            (Some(key), false) => {
                let Ok(_flight) = self.fetching.try_lock() else {
                    return Ok(Some(key));
                };
                self.refresh_if_due().await;
                return Ok(self.cached(kid).0.or(Some(key)));
            }
            // Unknown: wait for the fetch in flight, or make one.
            (None, _) => {
                let _flight = self.fetching.lock().await;
                if let (Some(key), _) = self.cached(kid) {
                    return Ok(Some(key));
                }
                self.refresh_if_due().await;
            }
        }
        let state = self.state.lock();
        match lookup(&state.keys, kid) {
            Some(key) => Ok(Some(key)),
            None if state.fetched.is_none() => Err(Unavailable),
            None => Ok(None),
        }
    }

    /// The cached key for `kid`, and whether the cache is within its TTL.
    fn cached(&self, kid: Option<&str>) -> (Option<DecodingKey>, bool) {
        let state = self.state.lock();
        let fresh = state.fetched.is_some_and(|t| t.elapsed() < self.ttl);
        (lookup(&state.keys, kid), fresh)
    }

    /// Fetches the key set unless the last attempt was under `min_refresh`
    /// ago. The caller holds `fetching`.
    async fn refresh_if_due(&self) {
        {
            let mut state = self.state.lock();
            let due = state
                .last_attempt
                .is_none_or(|t| t.elapsed() >= self.min_refresh);
            if !due {
                return;
            }
            state.last_attempt = Some(Instant::now());
        }
        match self.fetch().await {
            Ok(keys) => {
                let mut state = self.state.lock();
                state.keys = Arc::new(keys);
                state.fetched = Some(Instant::now());
            }
            Err(e) => tracing::warn!(url = %self.url, error = %e, "cannot fetch JWKS"),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let resp = self
            .client
            .get()?
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("status {}", resp.status()));
        }
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > 1024 * 1024 {
            return Err("key set larger than 1 MiB".into());
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            // Symmetric keys in a public key set would let anyone holding the
            // set forge tokens: never accept them.
            match DecodingKey::from_jwk(jwk) {
                Ok(key) if key.family() != AlgorithmFamily::Hmac => {
                    keys.insert(jwk.common.key_id.clone().unwrap_or_default(), key);
                }
                _ => {}
            }
        }
        Ok(keys)
    }
}

fn lookup(keys: &HashMap<String, DecodingKey>, kid: Option<&str>) -> Option<DecodingKey> {
    match kid {
        Some(kid) => keys.get(kid).cloned(),
        // A token without `kid` is accepted only when there is no doubt.
        None if keys.len() == 1 => keys.values().next().cloned(),
        None => None,
    }
}
