//! `gatehouse keys ...`: API keys in the data-dir store, from the shell.

use super::KeysCommand;
use crate::config;
use crate::gateway::policy::quota::period_bounds;
use crate::hex::sha256_hex;
use crate::keys::{new_key, unix_now, KeyRecord};
use crate::store::KeyStore;
use anyhow::{anyhow, bail};
use std::path::Path;

pub fn run(dir: &Path, command: KeysCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_keys(dir, command))
}

async fn run_keys(dir: &Path, command: KeysCommand) -> anyhow::Result<()> {
    let loaded = config::load(dir).map_err(|d| anyhow!("invalid config:\n{d}"))?;
    let config = &loaded.config;
    let store = crate::store::open_keys(config).await?;
    match command {
        KeysCommand::Create { plan, name } => {
            if !config.usage_plans.contains_key(&plan) {
                let known: Vec<&str> = config.usage_plans.keys().map(String::as_str).collect();
                bail!("unknown usage plan `{plan}` (plans: {})", known.join(", "));
            }
            let new = new_key("", &plan, unix_now())?;
            let mut record = new.record;
            record.name = name.unwrap_or_else(|| format!("key-{}", record.id));
            store.insert_key(&record).await?;
            println!(
                "created key {} ({}, plan {})",
                record.id, record.name, record.plan
            );
            println!("{}", new.plain);
            eprintln!("this is the only time the key is shown; gatehouse keeps only its SHA-256");
        }
        KeysCommand::List => {
            println!(
                "{:<14} {:<24} {:<12} {:<8} STATUS",
                "ID", "NAME", "PLAN", "SOURCE"
            );
            let declared = config.api_keys.iter().map(|k| (k, "config"));
            let stored = store.list_keys().await?;
            for (k, source) in declared.chain(stored.iter().map(|k| (k, "store"))) {
                let status = if k.is_active() { "active" } else { "revoked" };
                println!(
                    "{:<14} {:<24} {:<12} {:<8} {status}",
                    k.id, k.name, k.plan, source
                );
            }
        }
        KeysCommand::Revoke { key } => {
            let hash = sha256_hex(key.as_bytes());
            let declared = config
                .api_keys
                .iter()
                .position(|k| k.hash == hash || k.id == key || k.name == key);
            if let Some(i) = declared {
                bail!(
                    "key `{key}` is declared in gatehouse.yaml (api_keys[{i}]), not created with \
                     `keys create`: remove it there and reload (SIGHUP) to revoke it"
                );
            }
            if store.revoke_key(&key, unix_now()).await? {
                println!("revoked {key}");
            } else {
                println!("{key} was already revoked");
            }
        }
        KeysCommand::Usage { key } => {
            let record = find(store.as_ref(), &config.api_keys, &key).await?;
            let quota = config.usage_plans.get(&record.plan).and_then(|p| p.quota);
            let Some(quota) = quota else {
                println!(
                    "{} ({}): plan {} has no quota",
                    record.id, record.name, record.plan
                );
                return Ok(());
            };
            let (start, end) = period_bounds(quota.period, unix_now());
            let used = store.usage(&record.id, start).await?;
            println!(
                "{} ({}): {used} of {} requests {} (resets at {})",
                record.id,
                record.name,
                quota.limit,
                match quota.period {
                    crate::config::model::QuotaPeriod::Day => "today",
                    crate::config::model::QuotaPeriod::Week => "this week",
                    crate::config::model::QuotaPeriod::Month => "this month",
                },
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(end as u64)
                ),
            );
        }
    }
    Ok(())
}

/// By plain key, id or name; config-declared keys included.
async fn find(
    store: &dyn KeyStore,
    declared: &[KeyRecord],
    key: &str,
) -> anyhow::Result<KeyRecord> {
    let hash = sha256_hex(key.as_bytes());
    let from_config = declared
        .iter()
        .find(|k| k.hash == hash || k.id == key || k.name == key)
        .cloned();
    let found = match from_config {
        Some(k) => Some(k),
        None => match store.find_by_hash(&hash).await? {
            Some(k) => Some(k),
            None => store.find(key).await?,
        },
    };
    found.ok_or_else(|| anyhow!("no key `{key}`"))
}
