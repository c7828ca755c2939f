//! The `websocket` integration's settings: the route selection expression
//! (`$request.body.FIELD[.FIELD...]`, as API Gateway writes it), the route
//! keys with what answers them (`$connect`, `$disconnect`, `$default` and
//! your own), and the limits API Gateway documents.

use super::diagnostics::Reporter;
use super::model::{
    Config, Methods, Throttle, WebSocketHttp, WebSocketIntegration, WebSocketRoute, WebSocketTarget,
};
use super::raw::{ThrottleRaw, WebSocketIntegrationRaw, WebSocketRouteRaw};
use std::sync::Arc;
use std::time::Duration;

/// The route keys API Gateway reserves.
const RESERVED: [&str; 3] = ["$connect", "$disconnect", "$default"];

const PREFIX: &str = "$request.body.";

pub fn websocket(
    raw: &WebSocketIntegrationRaw,
    methods: &Methods,
    settings: &Config,
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
        if key.starts_with('$') && !RESERVED.contains(&key.as_str()) {
            r.error(
                &at,
                format!("`{key}`: the reserved route keys are `$connect`, `$disconnect` and `$default`; your own do not start with `$`"),
            );
            continue;
        }
        if key.is_empty() || key.len() > 128 {
            r.error(&at, "a route key has 1 to 128 characters");
            continue;
        }
        if let Some(route) = websocket_route(key, route, settings, &at, r) {
            routes.insert(key.clone(), route);
        }
    }
    if !routes.keys().any(|k| k != "$connect" && k != "$disconnect") {
        r.error(
            &format!("{path}.routes"),
            "a WebSocket API needs a route for messages: `$default` or one of your own",
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
        throttle: raw
            .throttle
            .as_ref()
            .and_then(|t| throttle(t, &format!("{path}.throttle"), r)),
        write_timeout: raw.write_timeout.map_or(Duration::from_secs(10), |d| d.0),
    })
}

fn websocket_route(
    key: &str,
    raw: &WebSocketRouteRaw,
    settings: &Config,
    at: &str,
    r: &mut Reporter,
) -> Option<WebSocketRoute> {
    let lifecycle = key == "$connect" || key == "$disconnect";
    let given = [
        raw.mock.is_some(),
        raw.http.is_some(),
        raw.queue.is_some(),
        raw.topic.is_some(),
        raw.flow.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        r.error(
            at,
            "a route has exactly one of `mock`, `http`, `queue`, `topic` and `flow`",
        );
        return None;
    }
    let target = if let Some(mock) = &raw.mock {
        WebSocketTarget::Mock(super::validate::mock(mock, &format!("{at}.mock"), r))
    } else if let Some(http) = &raw.http {
        let ipath = format!("{at}.http");
        if !super::validate::check_upstream(&http.upstream, &ipath, settings, r) {
            return None;
        }
        let path = http.path.clone().unwrap_or_else(|| "/".into());
        if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
            r.error(
                &format!("{ipath}.path"),
                format!("`{path}`: a path starting with `/`, without query or fragment"),
            );
        }
        let respond = http.respond.unwrap_or(false);
        if respond && lifecycle {
            r.error(
                &format!("{ipath}.respond"),
                format!("`{key}` has no client message to answer: `respond` is for message routes"),
            );
        }
        WebSocketTarget::Http(WebSocketHttp {
            upstream: http.upstream.clone(),
            path,
            respond,
            timeout: http.timeout.map_or(Duration::from_secs(29), |d| d.0),
        })
    } else if let Some(queue) = &raw.queue {
        super::publish::check_target(
            queue,
            "queue",
            &declared(settings, false),
            settings.messaging.is_some(),
            at,
            r,
        );
        WebSocketTarget::Queue(queue.clone())
    } else if let Some(topic) = &raw.topic {
        super::publish::check_target(
            topic,
            "topic",
            &declared(settings, true),
            settings.messaging.is_some(),
            at,
            r,
        );
        WebSocketTarget::Topic(topic.clone())
    } else {
        let flow = raw.flow.clone().unwrap_or_default();
        if !settings.flow_ids.contains(&flow) {
            let known: Vec<&str> = settings.flow_ids.iter().map(String::as_str).collect();
            r.error(
                &format!("{at}.flow"),
                format!(
                    "no flow `{flow}` in flows/{}",
                    super::de::did_you_mean(&flow, &known)
                ),
            );
        }
        WebSocketTarget::Flow(flow)
    };
    if lifecycle && raw.throttle.is_some() {
        r.error(
            &format!("{at}.throttle"),
            format!("`{key}` runs once per connection: throttle the upgrade with the route's `rate_limit` policy"),
        );
    }
    Some(WebSocketRoute {
        target,
        throttle: raw
            .throttle
            .as_ref()
            .and_then(|t| throttle(t, &format!("{at}.throttle"), r)),
    })
}

fn declared(settings: &Config, topics: bool) -> Vec<&str> {
    settings
        .messaging
        .as_ref()
        .map(|m| {
            if topics {
                m.topics.iter().map(|t| t.name.as_str()).collect()
            } else {
                m.queues.iter().map(|q| q.name.as_str()).collect()
            }
        })
        .unwrap_or_default()
}

fn throttle(raw: &ThrottleRaw, at: &str, r: &mut Reporter) -> Option<Throttle> {
    match super::policies::parse_rate(&raw.rate) {
        Ok((count, period)) => {
            let burst = raw.burst.unwrap_or(count);
            if burst == 0 {
                r.error(&format!("{at}.burst"), "must be at least 1");
                return None;
            }
            Some(Throttle {
                count,
                period,
                burst,
            })
        }
        Err(m) => {
            r.error(&format!("{at}.rate"), m);
            None
        }
    }
}
