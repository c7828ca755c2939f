//! `gatehouse validate`: every config error at once, or a one-line summary.

use crate::config;
use crate::wording::count;
use std::path::Path;

pub fn run(dir: &Path) -> bool {
    match config::load(dir) {
        Ok(loaded) => {
            let c = &loaded.config;
            let routes: usize = c.apis.iter().map(|a| a.routes.len()).sum();
            let mut more = String::new();
            if !c.workers.is_empty() {
                more.push_str(&format!(", {}", count(c.workers.len(), "worker")));
            }
            if !c.job_definitions.is_empty() {
                more.push_str(&format!(
                    ", {}",
                    count(c.job_definitions.len(), "job definition")
                ));
            }
            println!(
                "ok: {}, {}, {}, {}{more}",
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
