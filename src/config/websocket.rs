//! The `websocket` integration's settings: the route selection expression
//! (`$request.body.FIELD[.FIELD...]`, as API Gateway writes it), the route
//! keys with what answers them, and the limits API Gateway documents.

use super::diagnostics::Reporter;
use super::model::{Methods, WebSocketIntegration};
use super::raw::WebSocketIntegrationRaw;
use std::sync::Arc;
use std::time::Duration;

const PREFIX: &str = "$request.body.";

pub fn websocket(
    raw: &WebSocketIntegrationRaw,
    methods: &Methods,
    path: &str,
    r: &mut Reporter,
) -> Arc<WebSocketIntegration> {
    if !methods.allows(&http::Method::GET) {
        r.error(
            path,
            "a WebSocket API answers the GET upgrade request: the route must allow GET",
        );
    }
    let expression = raw
        .route_selection_expression
        .as_deref()
        .unwrap_or("$request.body.action");
    let selection: Vec<String> = match expression.strip_prefix(PREFIX) {
        Some(rest)
            if rest.split('.').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            }) =>
        {
            rest.split('.').map(str::to_string).collect()
        }
        _ => {
            r.error(
                &format!("{path}.route_selection_expression"),
                format!(
                    "`{expression}`: expected `$request.body.FIELD` (dotted for nested fields)"
                ),
            );
            Vec::new()
        }
    };
    let mut routes = std::collections::BTreeMap::new();
    for (key, route) in &raw.routes {
        let at = format!("{path}.routes.{key}");
        if key.starts_with('$') && key != "$default" {
            r.error(
                &at,
                format!("`{key}`: the route keys are `$default` and your own (`$connect` and `$disconnect` take the route's policies and need an http integration, which WebSocket APIs do not have yet)"),
            );
            continue;
        }
        if key.is_empty() || key.len() > 128 {
            r.error(&at, "a route key has 1 to 128 characters");
            continue;
        }
        routes.insert(
            key.clone(),
            super::validate::mock(&route.mock, &format!("{at}.mock"), r),
        );
    }
    if routes.is_empty() {
        r.error(
            &format!("{path}.routes"),
            "a WebSocket API needs at least one route",
        );
    }
    let size = |v: Option<super::units::ByteSize>, default: u64, field: &str, r: &mut Reporter| {
        let n = v.map_or(default, |b| b.0);
        if n == 0 || n > 16 * 1024 * 1024 {
            r.error(&format!("{path}.{field}"), "must be between 1B and 16MiB");
        }
        n.clamp(1, 16 * 1024 * 1024) as usize
    };
    let max_message = size(raw.max_message, 128 * 1024, "max_message", r);
    let max_frame = size(raw.max_frame, 32 * 1024, "max_frame", r);
    Arc::new(WebSocketIntegration {
        selection,
        routes,
        idle_timeout: raw.idle_timeout.map_or(Duration::from_secs(600), |d| d.0),
        max_duration: raw.max_duration.map_or(Duration::from_secs(7200), |d| d.0),
        max_message,
        max_frame: max_frame.min(max_message),
    })
}
