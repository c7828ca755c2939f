//! Every error the gateway answers with, and the one place that maps each to
//! its status, code and message. Bodies are `{"message", "code", "request_id"}`.

use http::Method;
use pingora::{Error, ErrorSource, ErrorType};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    NotFound,
    MethodNotAllowed(Vec<Method>),
    PayloadTooLarge {
        limit: u64,
    },
    HeadersTooLarge {
        limit: usize,
    },
    BadRequest(String),
    /// Request validation: every violation found.
    ValidationFailed(Vec<String>),
    /// No credentials (`None`) or bad ones (`Some(why)`).
    Unauthorized(Option<String>),
    /// Valid token without every required scope (the required list).
    InsufficientScope(Vec<String>),
    /// The API-key policy found no key in its header (the header name).
    MissingApiKey(String),
    /// Unknown, revoked, or of a plan the route does not accept.
    InvalidApiKey,
    /// A usage plan's throttle, with its headers.
    RateLimitedWith(Vec<(&'static str, http::HeaderValue)>),
    /// A usage plan's quota is used up for the period, with its headers.
    QuotaExceeded(Vec<(&'static str, http::HeaderValue)>),
    /// The WAF blocked the request (which rule is logged, never answered).
    WafBlocked,
    /// The custom authorizer said no.
    AccessDenied,
    /// The identity provider (JWKS endpoint, authorizer) could not be reached.
    AuthUnavailable,
    /// A rate limit said no; its headers travel in the request's extra headers.
    RateLimited,
    CorsRejected,
    /// A WebSocket API's route asked without a WebSocket upgrade.
    UpgradeRequired,
    /// A webhook's signature header is missing or does not match (why).
    BadSignature(String),
    /// Gatehouse cannot take the request now (why); the client may retry.
    Unavailable(String),
    /// The client did not send its request head or body in time.
    RequestTimeout,
    /// An engine refused (a flow run): the status and code are the engine's
    /// own map (`FlowError::status`).
    Refused {
        status: u16,
        code: &'static str,
        message: String,
    },
    NoHealthyUpstream,
    UpstreamUnavailable,
    UpstreamTimeout,
    Internal,
}

impl GatewayError {
    pub fn status(&self) -> u16 {
        match self {
            GatewayError::NotFound => 404,
            GatewayError::MethodNotAllowed(_) => 405,
            GatewayError::PayloadTooLarge { .. } => 413,
            GatewayError::HeadersTooLarge { .. } => 431,
            GatewayError::BadRequest(_) | GatewayError::ValidationFailed(_) => 400,
            GatewayError::Unauthorized(_) | GatewayError::MissingApiKey(_) => 401,
            GatewayError::InvalidApiKey | GatewayError::WafBlocked => 403,
            GatewayError::RateLimitedWith(_) | GatewayError::QuotaExceeded(_) => 429,
            GatewayError::InsufficientScope(_) | GatewayError::AccessDenied => 403,
            GatewayError::AuthUnavailable => 503,
            GatewayError::RateLimited => 429,
            GatewayError::CorsRejected => 403,
            GatewayError::UpgradeRequired => 426,
            GatewayError::BadSignature(_) => 401,
            GatewayError::Unavailable(_) => 503,
            GatewayError::RequestTimeout => 408,
            GatewayError::Refused { status, .. } => *status,
            GatewayError::NoHealthyUpstream | GatewayError::UpstreamUnavailable => 502,
            GatewayError::UpstreamTimeout => 504,
            GatewayError::Internal => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::NotFound => "NotFound",
            GatewayError::MethodNotAllowed(_) => "MethodNotAllowed",
            GatewayError::PayloadTooLarge { .. } => "PayloadTooLarge",
            GatewayError::HeadersTooLarge { .. } => "RequestHeaderFieldsTooLarge",
            GatewayError::BadRequest(_) => "BadRequest",
            GatewayError::ValidationFailed(_) => "ValidationFailed",
            GatewayError::Unauthorized(_) | GatewayError::MissingApiKey(_) => "Unauthorized",
            GatewayError::InvalidApiKey | GatewayError::WafBlocked => "Forbidden",
            GatewayError::RateLimitedWith(_) => "TooManyRequests",
            GatewayError::QuotaExceeded(_) => "QuotaExceeded",
            GatewayError::InsufficientScope(_) | GatewayError::AccessDenied => "Forbidden",
            GatewayError::AuthUnavailable => "AuthUnavailable",
            GatewayError::RateLimited => "TooManyRequests",
            GatewayError::CorsRejected => "CorsRejected",
            GatewayError::UpgradeRequired => "UpgradeRequired",
            GatewayError::BadSignature(_) => "InvalidSignature",
            GatewayError::Unavailable(_) => "ServiceUnavailable",
            GatewayError::RequestTimeout => "RequestTimeout",
            GatewayError::Refused { code, .. } => code,
            GatewayError::NoHealthyUpstream => "NoHealthyUpstream",
            GatewayError::UpstreamUnavailable => "BadGateway",
            GatewayError::UpstreamTimeout => "GatewayTimeout",
            GatewayError::Internal => "InternalError",
        }
    }

    pub fn message(&self) -> String {
        match self {
            GatewayError::NotFound => "no route matches this request".into(),
            GatewayError::MethodNotAllowed(_) => "method not allowed on this path".into(),
            GatewayError::PayloadTooLarge { limit } => {
                format!("request body is larger than {limit} bytes")
            }
            GatewayError::HeadersTooLarge { limit } => {
                format!("request headers are larger than {limit} bytes")
            }
            GatewayError::BadRequest(m) => m.clone(),
            GatewayError::ValidationFailed(v) => format!(
                "request validation failed ({})",
                crate::wording::count(v.len(), "violation")
            ),
            GatewayError::MissingApiKey(header) => format!("missing API key (header `{header}`)"),
            GatewayError::InvalidApiKey => "invalid API key".into(),
            GatewayError::WafBlocked => "request blocked".into(),
            GatewayError::RateLimitedWith(_) => "rate limit exceeded; see Retry-After".into(),
            GatewayError::QuotaExceeded(_) => {
                "quota exceeded for this period; see Retry-After".into()
            }
            GatewayError::Unauthorized(None) => "missing bearer token".into(),
            GatewayError::Unauthorized(Some(why)) => format!("invalid token: {why}"),
            GatewayError::InsufficientScope(_) => "token lacks a required scope".into(),
            GatewayError::AccessDenied => "access denied".into(),
            GatewayError::AuthUnavailable => "cannot verify credentials right now".into(),
            GatewayError::RateLimited => "rate limit exceeded; see Retry-After".into(),
            GatewayError::CorsRejected => {
                "cross-origin request not allowed for this origin or method".into()
            }
            GatewayError::UpgradeRequired => {
                "this is a WebSocket API: connect with a WebSocket client (Upgrade: websocket, Sec-WebSocket-Version: 13)".into()
            }
            GatewayError::BadSignature(why) => format!("webhook signature refused: {why}"),
            GatewayError::Unavailable(why) => why.clone(),
            GatewayError::RequestTimeout => "the request was not received in time".into(),
            GatewayError::Refused { message, .. } => message.clone(),
            GatewayError::NoHealthyUpstream => "no healthy upstream target".into(),
            GatewayError::UpstreamUnavailable => "the upstream could not be reached".into(),
            GatewayError::UpstreamTimeout => "the upstream did not answer in time".into(),
            GatewayError::Internal => "internal error".into(),
        }
    }

    pub fn body(&self, request_id: &str) -> Vec<u8> {
        let mut body = serde_json::json!({
            "message": self.message(),
            "code": self.code(),
            "request_id": request_id,
        });
        if let GatewayError::ValidationFailed(violations) = self {
            body["violations"] = serde_json::json!(violations);
        }
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The `WWW-Authenticate` challenge (RFC 6750) for auth refusals.
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            GatewayError::Unauthorized(None) => Some("Bearer realm=\"gatehouse\"".into()),
            GatewayError::MissingApiKey(header) => {
                Some(format!("ApiKey realm=\"gatehouse\", header=\"{header}\""))
            }
            GatewayError::Unauthorized(Some(why)) => Some(format!(
                "Bearer realm=\"gatehouse\", error=\"invalid_token\", error_description=\"{why}\""
            )),
            GatewayError::InsufficientScope(scopes) => Some(format!(
                "Bearer realm=\"gatehouse\", error=\"insufficient_scope\", scope=\"{}\"",
                scopes.join(" ")
            )),
            _ => None,
        }
    }

    /// Headers that belong to the refusal itself (rate-limit and quota state).
    pub fn headers(&self) -> &[(&'static str, http::HeaderValue)] {
        match self {
            GatewayError::RateLimitedWith(h) | GatewayError::QuotaExceeded(h) => h,
            _ => &[],
        }
    }

    /// A pingora error carrying this one's status, for returning from a phase.
    pub fn into_pingora(&self) -> Box<Error> {
        Error::explain(ErrorType::HTTPStatus(self.status()), self.message())
    }

    /// Classifies an error pingora raised while proxying. `None` means the
    /// client went away and there is nobody to answer.
    pub fn from_pingora(e: &Error) -> Option<GatewayError> {
        use ErrorType::*;
        let by_type = match e.etype() {
            HTTPStatus(413) => GatewayError::PayloadTooLarge { limit: 0 },
            HTTPStatus(s) if *s == 502 => GatewayError::UpstreamUnavailable,
            ConnectTimedout | ReadTimedout | WriteTimedout => GatewayError::UpstreamTimeout,
            _ => match e.esource() {
                ErrorSource::Upstream => GatewayError::UpstreamUnavailable,
                ErrorSource::Downstream => match e.etype() {
                    WriteError | ReadError | ConnectionClosed => return None,
                    _ => GatewayError::BadRequest("malformed request".into()),
                },
                _ => GatewayError::Internal,
            },
        };
        // A client that stalled gets 408 (if it still listens), not 504.
        if matches!(by_type, GatewayError::UpstreamTimeout)
            && e.esource() == &ErrorSource::Downstream
        {
            return Some(GatewayError::RequestTimeout);
        }
        Some(by_type)
    }
}
