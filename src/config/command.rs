//! A command to run (a worker's target, a job definition's command):
//! `program` with `args`, or a `shell` script when asked; its whole
//! environment; a working folder inside the config folder; limits.

use super::diagnostics::Reporter;
use super::model::CommandSpec;
use super::worker_raw::CommandRaw;
use std::path::Path;
use std::time::Duration;

/// `at` is the field's path (`command`) for errors.
pub fn command(c: CommandRaw, root: &Path, at: &str, r: &mut Reporter) -> Option<CommandSpec> {
    let (program, args, shell) = match (c.program, c.shell) {
        (Some(p), None) if !p.is_empty() => (p, c.args, false),
        (None, Some(script)) if !script.is_empty() => {
            if !c.args.is_empty() {
                r.error(
                    &format!("{at}.args"),
                    "a `shell` script takes no `args`: write them in the script",
                );
            }
            (script, Vec::new(), true)
        }
        _ => {
            r.error(
                at,
                "give `program` (run directly) or `shell` (a /bin/sh script), one of them",
            );
            return None;
        }
    };
    let dir = c.working_dir.as_deref().unwrap_or(".");
    let working_dir = root.join(dir);
    if !working_dir.is_dir() {
        r.error(
            &format!("{at}.working_dir"),
            format!("`{dir}` is not a folder (paths are relative to the config folder)"),
        );
    }
    Some(CommandSpec {
        program,
        args,
        shell,
        env: c.env,
        working_dir,
        timeout: c.timeout.map_or(Duration::from_secs(30), |d| d.0),
        cpu_seconds: c.cpu_seconds,
        memory: c.memory.map(|m| m.0),
        output_limit: c.output_limit.map_or(64 * 1024, |b| b.0 as usize),
    })
}
