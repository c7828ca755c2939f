//! The console: web pages on the admin listener (`/console`) where
//! operators see traffic, queues, keys and flow runs, and act on them.
//! Server-rendered HTML (maud escapes every value), one small script and
//! one stylesheet served from the binary, a strict Content-Security-Policy,
//! charts drawn as SVG from an in-memory history (`history`, fed once a
//! second by `sampler`). The pages read the backends through the same
//! functions the admin API answers with, so both show the same numbers.
//!
//! ```text
//! GET  /console/{page}[?fragment=1]   overview, routes, security, keys, queues, flows
//! GET  /console/login, POST /console/login, POST /console/logout
//! POST /console/keys, /console/keys/{id}/revoke
//! POST /console/queues/{name}/redrive, /console/queues/{name}/purge
//! POST /console/flows/{name}/run, /console/flows/{name}/activate
//! GET  /console/assets/console.{js,css}
//! ```

pub mod auth;
pub mod chart;
pub mod history;
mod layout;
mod pages;
pub mod sampler;
pub mod traffic;

use crate::gateway::State;
use auth::{Access, ConsoleAuth};
use http::{Response, StatusCode};
use parking_lot::Mutex;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

/// The console's own state, beside the gateway's.
pub struct Console {
    /// Signs sessions when no admin token is configured.
    fallback_key: [u8; 32],
    pub history: Arc<Mutex<history::History>>,
}

/// A request as the pages see it.
pub struct Visit<'a> {
    pub state: &'a State,
    pub console: &'a Console,
    pub csrf: String,
    /// Only the live part of the page (`?fragment=1`, the refresh script).
    pub fragment: bool,
    pub query: Vec<(String, String)>,
}

impl Visit<'_> {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Console {
    pub fn new() -> Console {
        let mut fallback_key = [0u8; 32];
        fastrand::fill(&mut fallback_key);
        Console {
            fallback_key,
            history: Arc::new(Mutex::new(history::History::new(
                crate::metrics::LATENCY_BUCKETS,
            ))),
        }
    }

    fn auth(&self, state: &State) -> ConsoleAuth {
        let token = state.runtime.load().config.admin_token.clone();
        ConsoleAuth::new(token.as_deref(), &self.fallback_key)
    }

    /// Answers a request under `/console`.
    pub async fn answer(&self, state: &State, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let method = req.method.clone();
        let path = req.uri.path().to_string();
        let query: Vec<(String, String)> = req
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let header = |name: &str| {
            req.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (cookie, fetch_site) = (header("cookie"), header("sec-fetch-site"));
        let rest = path.trim_start_matches("/console").trim_start_matches('/');
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        if let ("GET", ["assets", file]) = (method.as_str(), parts.as_slice()) {
            return layout::asset(file);
        }
        let auth = self.auth(state);
        if !usable(auth.token_required(), state.runtime.load().config.admin) {
            // Without a token only the machine itself may use the console.
            return layout::page_response(
                StatusCode::FORBIDDEN,
                pages::login::refused(
                    "The console needs admin.token when the admin listener is not on a loopback address.",
                ),
            );
        }
        let now = chrono::Utc::now().timestamp();
        if parts.first() == Some(&"login") {
            return match method.as_str() {
                "POST" => {
                    let form = read_form(session).await;
                    let token = form
                        .iter()
                        .find(|(k, _)| k == "token")
                        .map(|(_, v)| v.as_str());
                    match token.and_then(|t| auth.log_in(t, now)) {
                        Some(cookie) => layout::redirect("/console/overview", Some(&cookie)),
                        // The login page again, with why (a 200: it is the
                        // page asked for, and browsers log 4xx pages as errors).
                        None => layout::page_response(
                            StatusCode::OK,
                            pages::login::page(Some("That is not the admin token.")),
                        ),
                    }
                }
                _ => layout::page_response(StatusCode::OK, pages::login::page(None)),
            };
        }
        let csrf = match auth.access(cookie.as_deref(), now) {
            Access::Granted { csrf } => csrf,
            Access::LogIn if method == http::Method::GET => {
                return layout::redirect("/console/login", None)
            }
            Access::LogIn => {
                return layout::page_response(
                    StatusCode::UNAUTHORIZED,
                    pages::login::page(Some("Log in again.")),
                )
            }
        };
        let visit = Visit {
            state,
            console: self,
            csrf,
            fragment: query.iter().any(|(k, v)| k == "fragment" && v == "1"),
            query,
        };
        if method == http::Method::POST {
            let form = read_form(session).await;
            let sent = form
                .iter()
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v.as_str());
            if !auth::same_origin(&visit.csrf, sent, fetch_site.as_deref()) {
                return layout::page_response(
                    StatusCode::FORBIDDEN,
                    layout::message_page(&visit, "Refused", "The form was not sent by this console (a missing or stale CSRF token): reload the page and try again."),
                );
            }
            if parts.as_slice() == ["logout"] {
                return layout::redirect("/console/login", Some(&ConsoleAuth::log_out()));
            }
            return pages::act(&visit, &parts, &form).await;
        }
        if method != http::Method::GET {
            return layout::page_response(
                StatusCode::METHOD_NOT_ALLOWED,
                layout::message_page(&visit, "Not allowed", "The console takes GET and POST."),
            );
        }
        pages::show(&visit, &parts).await
    }
}

impl Default for Console {
    fn default() -> Self {
        Console::new()
    }
}

/// Whether the console may answer at all: with a token anywhere, without
/// one only on a loopback admin listener (as the admin API is meant to be).
fn usable(token_required: bool, admin: Option<std::net::SocketAddr>) -> bool {
    token_required || admin.is_some_and(|a| a.ip().is_loopback())
}

/// A form-encoded body, at most 64 KiB (larger ones read as empty).
async fn read_form(session: &mut ServerSession) -> Vec<(String, String)> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = session.read_request_body().await {
        body.extend_from_slice(&chunk);
        if body.len() > 64 * 1024 {
            return Vec::new();
        }
    }
    form_urlencoded::parse(&body).into_owned().collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn without_a_token_only_a_loopback_listener_serves_the_console() {
        let at = |a: &str| Some(a.parse().unwrap());
        assert!(super::usable(false, at("127.0.0.1:9180")));
        assert!(super::usable(false, at("[::1]:9180")));
        assert!(!super::usable(false, at("0.0.0.0:9180")));
        assert!(!super::usable(false, at("10.1.2.3:9180")));
        assert!(super::usable(true, at("0.0.0.0:9180")));
    }
}
