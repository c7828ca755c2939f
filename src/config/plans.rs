//! Usage plans and config-declared API keys.

use super::diagnostics::Reporter;
use super::model::{Quota, QuotaPeriod, RateKey, RateLimit, UsagePlan};
use super::raw::{ApiKeyRaw, UsagePlanRaw};
use crate::keys::{self, KeyRecord};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub fn usage_plans(
    raw: &BTreeMap<String, UsagePlanRaw>,
    r: &mut Reporter,
) -> BTreeMap<String, Arc<UsagePlan>> {
    let mut out = BTreeMap::new();
    for (name, plan) in raw {
        let path = format!("usage_plans.{name}");
        let throttle = match plan.rate.as_deref().map(super::policies::parse_rate) {
            None => None,
            Some(Ok((count, period))) => {
                let burst = plan.burst.unwrap_or(count);
                if burst == 0 {
                    r.error(&format!("{path}.burst"), "burst must be at least 1");
                }
                Some(Arc::new(RateLimit {
                    key: RateKey::Route,
                    count,
                    period,
                    burst: burst.max(1),
                }))
            }
            Some(Err(m)) => {
                r.error(&format!("{path}.rate"), m);
                None
            }
        };
        let quota = match plan.quota.as_deref().map(parse_quota) {
            None => None,
            Some(Ok(q)) => Some(q),
            Some(Err(m)) => {
                r.error(&format!("{path}.quota"), m);
                None
            }
        };
        out.insert(
            name.clone(),
            Arc::new(UsagePlan {
                name: name.clone(),
                throttle,
                quota,
            }),
        );
    }
    out
}

fn parse_quota(text: &str) -> Result<Quota, String> {
    let bad = || format!("bad quota `{text}`: expected N/day, N/week or N/month, like `1000/day`");
    let (n, unit) = text.split_once('/').ok_or_else(bad)?;
    let limit: u64 = n.trim().parse().map_err(|_| bad())?;
    let period = match unit.trim() {
        "day" | "d" => QuotaPeriod::Day,
        "week" | "w" => QuotaPeriod::Week,
        "month" => QuotaPeriod::Month,
        _ => return Err(bad()),
    };
    Ok(Quota { limit, period })
}

pub fn declared_keys(
    raw: &[ApiKeyRaw],
    plans: &BTreeMap<String, Arc<UsagePlan>>,
    r: &mut Reporter,
) -> Vec<KeyRecord> {
    let mut out: Vec<KeyRecord> = Vec::new();
    let mut names = HashSet::new();
    for (i, key) in raw.iter().enumerate() {
        let path = format!("api_keys[{i}]");
        if !names.insert(key.name.clone()) {
            r.error(
                &format!("{path}.name"),
                format!("duplicate key name `{}`", key.name),
            );
        }
        if !plans.contains_key(&key.plan) {
            let known: Vec<&str> = plans.keys().map(String::as_str).collect();
            r.error(
                &format!("{path}.plan"),
                format!(
                    "unknown usage plan `{}`{}",
                    key.plan,
                    super::de::did_you_mean(&key.plan, &known)
                ),
            );
            continue;
        }
        let record = match (&key.key, &key.sha256) {
            (Some(plain), None) if plain.len() >= 16 => {
                keys::record_for(plain, &key.name, &key.plan, 0)
            }
            (Some(_), None) => {
                r.error(
                    &format!("{path}.key"),
                    "a key must be at least 16 characters",
                );
                continue;
            }
            (None, Some(hash))
                if hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                let hash = hash.to_ascii_lowercase();
                KeyRecord {
                    id: hash[..12].to_string(),
                    name: key.name.clone(),
                    plan: key.plan.clone(),
                    hash,
                    created_at: 0,
                    revoked_at: None,
                }
            }
            (None, Some(_)) => {
                r.error(&format!("{path}.sha256"), "expected 64 hex digits");
                continue;
            }
            _ => {
                r.error(&path, "set either `key` or `sha256`");
                continue;
            }
        };
        if out.iter().any(|k| k.hash == record.hash) {
            r.error(&path, "the same key is declared twice");
            continue;
        }
        out.push(record);
    }
    out
}
