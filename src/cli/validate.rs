//! `gatehouse validate`: every config error at once, or a one-line summary.

use crate::config;
use crate::wording::count;
use std::path::Path;

pub fn run(dir: &Path) -> bool {
    match config::load(dir) {
        Ok(loaded) => {
            let c = &loaded.config;
            let routes: usize = c.apis.iter().map(|a| a.routes.len()).sum();
            println!(
                "ok: {}, {}, {}, {}",
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
