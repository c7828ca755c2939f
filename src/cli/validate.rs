//! `gatehouse validate`: every config error at once, or a one-line summary.

use crate::config;
use crate::wording::count;
use std::path::Path;

pub fn run(dir: &Path) -> bool {
    match config::load(dir) {
        Ok(loaded) => {
            let c = &loaded.config;
            let routes: usize = c.apis.iter().map(|a| a.routes.len()).sum();
            let workers = if c.workers.is_empty() {
                String::new()
            } else {
                format!(", {}", count(c.workers.len(), "worker"))
            };
            println!(
                "ok: {}, {}, {}, {}{workers}",
                count(c.apis.len(), "API"),
                count(routes, "route"),
                count(c.upstreams.len(), "upstream"),
                count(c.flows.len(), "flow"),
            );
            true
        }
        Err(diags) => {
            eprint!("{diags}");
            eprintln!("{} error(s)", diags.len());
            false
        }
    }
}
