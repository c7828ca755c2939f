//! `gatehouse routes`: the resolved route table.

use crate::config::{self, model::Integration};
use std::path::Path;

pub fn run(dir: &Path) -> bool {
    match config::load(dir) {
        Ok(loaded) => {
            print!("{}", route_table(&loaded.config));
            true
        }
        Err(diags) => {
            eprint!("{diags}");
            false
        }
    }
}

/// Routes in the order the router tries them within each host tier.
fn route_table(config: &config::Config) -> String {
    let mut rows = vec![[
        "API".to_string(),
        "HOSTS".into(),
        "METHODS".into(),
        "PATH".into(),
        "ROUTE".into(),
        "INTEGRATION".into(),
    ]];
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
            Integration::Publish(p) => format!("{} -> {}", route.integration.kind(), p.target),
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
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
