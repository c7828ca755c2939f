//! A rule set's `crs:`: the OWASP Core Rule Set compiled by `seclang` when
//! the config loads, so a rule file that cannot be loaded is a config
//! error (naming the rule file, line and rule id) and a reload that fails
//! keeps the running rules.

use super::diagnostics::Reporter;
use super::raw::{CrsExclusionRaw, CrsRaw, CrsRouteRaw};
use crate::seclang::eval::Tuning;
use crate::seclang::rule::{id_ranges, Target};
use crate::seclang::{RuleSet, Source};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Debian's CRS setup file, used when the CRS folder has none.
const DEBIAN_SETUP: &str = "/etc/modsecurity/crs/crs-setup.conf";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Block,
    Detect,
}

pub struct Crs {
    pub rules: Arc<RuleSet>,
    pub paranoia_level: u8,
    pub threshold: u32,
    pub mode: Mode,
    /// How requests start: the paranoia level and threshold as TX
    /// variables the settings rule reads.
    pub tuning: Tuning,
}

/// The TX variables the settings rule copies into CRS's own: a route may
/// start its requests with others (the compiled rules are the same).
fn settings_tx(paranoia_level: u8, threshold: u32) -> Vec<(String, String)> {
    vec![
        (
            "gatehouse_paranoia_level".into(),
            paranoia_level.to_string(),
        ),
        ("gatehouse_inbound_threshold".into(), threshold.to_string()),
    ]
}

/// A route's CRS settings over its rule set's: None when the route turns
/// the CRS off.
pub fn route(raw: &CrsRouteRaw, base: &Crs, path: &str, r: &mut Reporter) -> Option<Tuning> {
    if raw.enabled == Some(false) {
        return None;
    }
    let paranoia_level = raw.paranoia_level.unwrap_or(base.paranoia_level);
    if !(1..=4).contains(&paranoia_level) {
        r.error(&format!("{path}.paranoia_level"), "from 1 to 4");
    }
    let threshold = raw.inbound_anomaly_threshold.unwrap_or(base.threshold);
    if threshold == 0 {
        r.error(&format!("{path}.inbound_anomaly_threshold"), "at least 1");
    }
    let mut tuning = Tuning {
        tx: settings_tx(paranoia_level, threshold),
        ..Tuning::default()
    };
    for (i, e) in raw.exclusions.iter().enumerate() {
        let at = format!("{path}.exclusions[{i}]");
        match exclusion(e, &at, r) {
            Some(Exclusion::Rule(ids)) => tuning.removed_ids.extend(ids),
            Some(Exclusion::Tag(tag)) => tuning.removed_tags.push(tag),
            Some(Exclusion::Target(ids, target)) => {
                match Target::parse(target.trim_start_matches('!')) {
                    Ok(t) => tuning.removed_targets.push((ids, t)),
                    Err(e) => r.error(&format!("{at}.remove_target.target"), e),
                }
            }
            None => {}
        }
    }
    Some(tuning)
}

/// One exclusion, checked.
enum Exclusion {
    Rule(Vec<(u64, u64)>),
    Tag(String),
    Target(Vec<(u64, u64)>, String),
}

fn exclusion(e: &CrsExclusionRaw, at: &str, r: &mut Reporter) -> Option<Exclusion> {
    let ranges = |value: &serde_json::Value| ids(value).and_then(|t| id_ranges(&t).ok());
    match (&e.remove_rule, &e.remove_tag, &e.remove_target) {
        (Some(rule), None, None) => match ranges(rule) {
            Some(ids) => Some(Exclusion::Rule(ids)),
            None => {
                r.error(
                    &format!("{at}.remove_rule"),
                    "a rule id or a range like 942100-942199",
                );
                None
            }
        },
        (None, Some(tag), None) => Some(Exclusion::Tag(tag.replace('"', ""))),
        (None, None, Some(t)) => match ranges(&t.rule) {
            Some(ids) => Some(Exclusion::Target(ids, t.target.replace('"', ""))),
            None => {
                r.error(&format!("{at}.remove_target.rule"), "a rule id or a range");
                None
            }
        },
        _ => {
            r.error(at, "exactly one of remove_rule, remove_tag, remove_target");
            None
        }
    }
}

impl std::fmt::Debug for Crs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crs")
            .field("rules", &self.rules.rules)
            .field("paranoia_level", &self.paranoia_level)
            .field("threshold", &self.threshold)
            .field("mode", &self.mode)
            .finish()
    }
}

/// A rule id or range from YAML (`942100`, `"942100-942199"`).
fn ids(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        serde_json::Value::String(s)
            if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '-') =>
        {
            Some(s.clone())
        }
        _ => None,
    }
}

pub fn build(raw: &CrsRaw, root: &Path, path: &str, r: &mut Reporter) -> Option<Crs> {
    let folder = root.join(&raw.path);
    let rules = folder.join("rules");
    if !rules.is_dir() {
        r.error(
            &format!("{path}.path"),
            format!("{} has no rules/ folder (install Debian's modsecurity-crs, or point at a CRS checkout)", folder.display()),
        );
        return None;
    }
    let setup = match &raw.setup {
        Some(s) => root.join(s),
        None => [
            folder.join("crs-setup.conf"),
            folder.join("crs-setup.conf.example"),
            PathBuf::from(DEBIAN_SETUP),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| folder.join("crs-setup.conf")),
    };
    if !setup.is_file() {
        r.error(
            &format!("{path}.setup"),
            format!("no CRS setup file at {}", setup.display()),
        );
        return None;
    }
    let paranoia_level = raw.paranoia_level.unwrap_or(1);
    if !(1..=4).contains(&paranoia_level) {
        r.error(&format!("{path}.paranoia_level"), "from 1 to 4");
        return None;
    }
    let threshold = raw.inbound_anomaly_threshold.unwrap_or(5);
    if threshold == 0 {
        r.error(&format!("{path}.inbound_anomaly_threshold"), "at least 1");
        return None;
    }
    let mode = match raw.mode.as_deref().unwrap_or("block") {
        "block" => Mode::Block,
        "detect" => Mode::Detect,
        other => {
            r.error(
                &format!("{path}.mode"),
                format!("unknown mode `{other}`: block or detect"),
            );
            return None;
        }
    };
    // Before the rules (CRS reads these in phase 1 and sets only what is
    // unset): CRS 3 and CRS 4 names both. The values come from TX variables
    // each request starts with, so routes can run the same rules tuned
    // otherwise.
    let settings = "SecAction \"id:9000001,phase:1,pass,nolog,t:none,\
         setvar:tx.paranoia_level=%{tx.gatehouse_paranoia_level},\
         setvar:tx.blocking_paranoia_level=%{tx.gatehouse_paranoia_level},\
         setvar:tx.inbound_anomaly_score_threshold=%{tx.gatehouse_inbound_threshold}\"\n"
        .to_string();
    let mut exclusions = String::new();
    for (i, e) in raw.exclusions.iter().enumerate() {
        let at = format!("{path}.exclusions[{i}]");
        let range = |ids: &[(u64, u64)]| {
            ids.iter()
                .map(|(lo, hi)| {
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}-{hi}")
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        match exclusion(e, &at, r) {
            Some(Exclusion::Rule(ids)) => {
                exclusions.push_str(&format!("SecRuleRemoveById {}\n", range(&ids)))
            }
            Some(Exclusion::Tag(tag)) => {
                exclusions.push_str(&format!("SecRuleRemoveByTag \"{tag}\"\n"))
            }
            Some(Exclusion::Target(ids, target)) => exclusions.push_str(&format!(
                "SecRuleUpdateTargetById {} \"!{target}\"\n",
                range(&ids)
            )),
            None => {}
        }
    }
    let sources = [
        Source::File(setup),
        Source::Text {
            name: format!("{path} (settings)"),
            text: settings,
        },
        Source::File(rules.join("*.conf")),
        Source::Text {
            name: format!("{path}.exclusions"),
            text: exclusions,
        },
    ];
    match RuleSet::load(&sources) {
        Ok(rules) => Some(Crs {
            rules: Arc::new(rules),
            paranoia_level,
            threshold,
            mode,
            tuning: Tuning {
                tx: settings_tx(paranoia_level, threshold),
                ..Tuning::default()
            },
        }),
        Err(e) => {
            r.error(
                &format!("{path}.path"),
                format!("the rules do not load: {e}"),
            );
            None
        }
    }
}
