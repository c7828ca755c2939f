//! `gatehouse jobs ...`: submit, list, describe and cancel jobs in the data
//! dir's store; the server on this folder runs them (it looks twice a
//! second).

use super::JobsCommand;
use crate::config;
use crate::jobs::{describe, status, Submit};
use crate::store::jobs::Cancelled;
use anyhow::{anyhow, bail};
use std::path::Path;

pub fn run(dir: &Path, command: JobsCommand) -> anyhow::Result<bool> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_jobs(dir, command))
}

async fn run_jobs(dir: &Path, command: JobsCommand) -> anyhow::Result<bool> {
    let loaded = config::load(dir).map_err(|d| anyhow!("invalid config:\n{d}"))?;
    let config = &loaded.config;
    let store = crate::store::open_jobs(config)?;
    let print =
        |v: serde_json::Value| println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    match command {
        JobsCommand::Submit {
            definition,
            params,
            array,
            priority,
        } => {
            let mut parameters = std::collections::BTreeMap::new();
            for p in params {
                let (k, v) = p
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--param {p}: expected NAME=VALUE"))?;
                parameters.insert(k.to_string(), v.to_string());
            }
            let req = Submit {
                definition,
                parameters,
                array_size: array,
                priority,
            };
            let ids = crate::jobs::submit(store.as_ref(), config, req).await?;
            print(serde_json::json!({ "job_ids": ids }));
        }
        JobsCommand::List {
            status: wanted,
            limit,
        } => {
            let wanted = wanted
                .as_deref()
                .map(status)
                .transpose()
                .map_err(|e| anyhow!(e))?;
            let jobs = store.jobs(wanted, limit).await?;
            for j in &jobs {
                println!(
                    "{}  {:<9}  {:<20}  attempts {}/{}{}",
                    j.id,
                    j.status.as_str(),
                    j.definition,
                    j.attempts,
                    j.max_attempts,
                    j.reason
                        .as_deref()
                        .map(|r| format!("  ({r})"))
                        .unwrap_or_default()
                );
            }
        }
        JobsCommand::Describe { id } => match store.job(&id).await? {
            Some(job) => print(describe(&job)),
            None => bail!("no job {id}"),
        },
        JobsCommand::Cancel { id, reason } => {
            let reason = reason.unwrap_or_else(|| "cancelled from the command line".into());
            let now = crate::messaging::clock::now_ms();
            match store.cancel(&id, &reason, now).await? {
                Some(Cancelled::Stopped) => println!("{id}: cancelled (FAILED)"),
                Some(Cancelled::Requested) => println!("{id}: running; the server stops it"),
                Some(Cancelled::TooLate) => {
                    eprintln!("{id}: already finished");
                    return Ok(false);
                }
                None => bail!("no job {id}"),
            }
        }
    }
    Ok(true)
}
