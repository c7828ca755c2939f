//! `gatehouse flow ...`: list, run, history and preview, in this process,
//! against the same data dir (and run locks) as the server.

use super::FlowCommand;
use crate::config;
use crate::flows::engine::Engine;
use crate::flows::run::Progress;
use crate::store::flows::{RunRecord, RunStatus};
use anyhow::{anyhow, Context};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn run(root: &Path, command: FlowCommand) -> anyhow::Result<bool> {
    let loaded = config::load(root).map_err(|d| anyhow!("the config has errors:\n{d}"))?;
    let config = &loaded.config;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let store = runtime.block_on(crate::store::open_flows(config))?;
    let engine = Engine::new(
        config.flows.clone(),
        config.data_dir.clone(),
        store.clone(),
        None,
        None,
    );
    match command {
        FlowCommand::List { json } => {
            let rows = runtime.block_on(engine.overview())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<24} {:<8} {:<22} {:<12} {:<12} LAST RUN",
                    "FLOW", "SOURCE", "SCHEDULE", "STATE", "LAST STATUS"
                );
                for r in &rows {
                    let state = if r["deactivated"].as_bool().unwrap_or(false) {
                        "deactivated"
                    } else if r["enabled"].as_bool().unwrap_or(false) {
                        "enabled"
                    } else {
                        "disabled"
                    };
                    println!(
                        "{:<24} {:<8} {:<22} {:<12} {:<12} {}",
                        r["flow"].as_str().unwrap_or(""),
                        r["source"].as_str().unwrap_or(""),
                        r["schedule"].as_str().unwrap_or("-"),
                        state,
                        r["last_status"].as_str().unwrap_or("-"),
                        r["last_run"].as_str().unwrap_or("-"),
                    );
                }
            }
            Ok(true)
        }
        FlowCommand::Run { name, body, json } => {
            // A webhook flow's records are its body: without one, or with
            // one that holds no records, no run starts (none is recorded,
            // none counts towards deactivation).
            let payload = match body {
                Some(path) => {
                    let body = bytes::Bytes::from(
                        std::fs::read(&path)
                            .with_context(|| format!("reading {}", path.display()))?,
                    );
                    engine
                        .payload(&name, body)
                        .map_err(|e| anyhow!("{}: {e}", path.display()))?
                }
                None if engine.needs_payload(&name)? => {
                    return Err(anyhow!(
                        "flow `{name}` reads its records from the webhook body: pass them with --body FILE"
                    ));
                }
                None => None,
            };
            let progress = Arc::new(Progress::default());
            let shown = progress.clone();
            let run = runtime.block_on(async move {
                let ticker = std::io::stderr().is_terminal().then(|| {
                    tokio::spawn(async move {
                        let started = Instant::now();
                        loop {
                            tokio::time::sleep(Duration::from_millis(250)).await;
                            let read = shown.read.load(Ordering::Relaxed);
                            let written = shown.written.load(Ordering::Relaxed);
                            let total = shown.total.load(Ordering::Relaxed);
                            eprint!(
                                "\r\x1b[2K{}",
                                progress_line(read, written, total, started.elapsed())
                            );
                        }
                    })
                });
                let run = engine
                    .run(&name, "on_demand", payload, false, progress)
                    .await;
                if let Some(t) = ticker {
                    t.abort();
                    eprint!("\r\x1b[2K");
                }
                run
            })?;
            print_run(&run, json)?;
            Ok(run.status == RunStatus::Successful)
        }
        FlowCommand::Activate { name } => {
            runtime.block_on(engine.activate(&name))?;
            println!("{name}: activated; its schedule fires again");
            Ok(true)
        }
        FlowCommand::History { name, limit, json } => {
            engine.spec(&name)?;
            let runs = runtime.block_on(store.runs(Some(&name), limit))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                println!(
                    "{:<24} {:<11} {:<10} {:>8} {:>8} {:>8} {:>8}  {:<24} ERROR",
                    "RUN", "STATUS", "TRIGGER", "READ", "FILTERED", "INVALID", "WRITTEN", "STARTED"
                );
                for r in &runs {
                    println!(
                        "{:<24} {:<11} {:<10} {:>8} {:>8} {:>8} {:>8}  {:<24} {}",
                        r.id,
                        r.status.as_str(),
                        r.trigger,
                        r.records_read,
                        r.records_filtered,
                        r.records_invalid,
                        r.records_written,
                        r.started_at,
                        r.error.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(true)
        }
        FlowCommand::Preview { name, limit, body } => {
            let payload = match body {
                Some(path) => Some(bytes::Bytes::from(
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
                )),
                None => None,
            };
            let shown = runtime.block_on(engine.preview(&name, limit, payload))?;
            for p in shown {
                println!("{}", serde_json::to_string(&p)?);
            }
            Ok(true)
        }
    }
}

fn print_run(run: &RunRecord, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(run)?);
        return Ok(());
    }
    if run.status == RunStatus::Successful {
        println!(
            "run {} {}: read {}, filtered {}, invalid {}, written {} ({} bytes in {} files)",
            run.id,
            run.status.as_str(),
            run.records_read,
            run.records_filtered,
            run.records_invalid,
            run.records_written,
            run.bytes_written,
            run.files.len()
        );
    } else {
        println!(
            "run {} {}: read {}, filtered {}; nothing committed",
            run.id,
            run.status.as_str(),
            run.records_read,
            run.records_filtered,
        );
    }
    for w in &run.warnings {
        println!("warning: {w}");
    }
    if let Some(e) = &run.error {
        println!("error: {e}");
    }
    Ok(())
}

/// `read 1200/5010  written 1180  400 records/s  ETA 10s`: the total and
/// the time left when the source reports how many records there are.
fn progress_line(read: u64, written: u64, total: u64, elapsed: Duration) -> String {
    let rate = read as f64 / elapsed.as_secs_f64().max(0.001);
    if total == 0 {
        return format!("read {read}  written {written}  {rate:.0} records/s");
    }
    let left = total.saturating_sub(read) as f64;
    let eta = if rate >= 1.0 {
        format!("ETA {}s", (left / rate).ceil() as u64)
    } else {
        "ETA -".to_string()
    };
    format!("read {read}/{total}  written {written}  {rate:.0} records/s  {eta}")
}

#[cfg(test)]
mod tests {
    use super::progress_line;
    use std::time::Duration;

    #[test]
    fn progress_shows_the_time_left_when_the_total_is_known() {
        assert_eq!(
            progress_line(1200, 1180, 5000, Duration::from_secs(3)),
            "read 1200/5000  written 1180  400 records/s  ETA 10s"
        );
        assert_eq!(
            progress_line(10, 10, 0, Duration::from_secs(1)),
            "read 10  written 10  10 records/s"
        );
    }
}
