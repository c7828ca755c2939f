//! The resolved route table, as `gatehouse routes` prints it and the
//! console shows it: every route in the order the router tries them
//! within each host tier, with its API, hosts, methods, path, id and
//! integration.

use super::model::{Config, Integration};

pub const HEADER: [&str; 6] = ["API", "HOSTS", "METHODS", "PATH", "ROUTE", "INTEGRATION"];

/// One row per route: API, hosts, methods, path, route id, integration.
pub fn rows(config: &Config) -> Vec<[String; 6]> {
    let mut rows = Vec::new();
    let mut routes: Vec<_> = config
        .apis
        .iter()
        .flat_map(|api| api.routes.iter().map(move |r| (api, r)))
        .collect();
    routes.sort_by(|(a, x), (b, y)| {
        a.hosts
            .is_empty()
            .cmp(&b.hosts.is_empty())
            .then_with(|| x.template.specificity_cmp(&y.template))
    });
    for (api, route) in routes {
        let hosts = if api.hosts.is_empty() {
            "*".to_string()
        } else {
            api.hosts
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let integration = match &route.integration {
            Integration::Http(h) => format!(
                "http -> {}{}",
                h.upstream,
                h.rewrite
                    .as_ref()
                    .map(|t| format!(" {}", t.source))
                    .unwrap_or_default()
            ),
            Integration::Mock(m) => format!("mock {}", m.status),
            Integration::WebSocket(w) => format!(
                "websocket: {}",
                w.routes.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            Integration::Publish(p) => format!("{} -> {}", route.integration.kind(), p.target),
            Integration::Job(j) => format!("job -> {}", j.definition),
            Integration::Flow(f) => format!(
                "flow -> {}{}",
                f.flow,
                if f.signature.is_some() {
                    " (signed)"
                } else {
                    ""
                }
            ),
        };
        rows.push([
            api.id.clone(),
            hosts,
            route.methods.to_string(),
            route.template.source.clone(),
            route.id.clone(),
            integration,
        ]);
    }
    rows
}
