//! `gatehouse routes`: the resolved route table.

use crate::config;
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
    let mut rows = vec![config::route_table::HEADER.map(str::to_string)];
    rows.extend(config::route_table::rows(config));
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
