//! A rule set's `crs:`: the OWASP Core Rule Set compiled by `seclang` when
//! the config loads, so a rule file that cannot be loaded is a config
//! error (naming the rule file, line and rule id) and a reload that fails
//! keeps the running rules.

use super::diagnostics::Reporter;
use super::raw::CrsRaw;
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
    // unset): CRS 3 and CRS 4 names both.
    let settings = format!(
        "SecAction \"id:9000001,phase:1,pass,nolog,t:none,\
         setvar:tx.paranoia_level={paranoia_level},\
         setvar:tx.blocking_paranoia_level={paranoia_level},\
         setvar:tx.inbound_anomaly_score_threshold={threshold}\"\n"
    );
    let mut exclusions = String::new();
    for (i, e) in raw.exclusions.iter().enumerate() {
        let at = format!("{path}.exclusions[{i}]");
        match (&e.remove_rule, &e.remove_tag, &e.remove_target) {
            (Some(rule), None, None) => match ids(rule) {
                Some(ids) => exclusions.push_str(&format!("SecRuleRemoveById {ids}\n")),
                None => r.error(
                    &format!("{at}.remove_rule"),
                    "a rule id or a range like 942100-942199",
                ),
            },
            (None, Some(tag), None) => exclusions.push_str(&format!(
                "SecRuleRemoveByTag \"{}\"\n",
                tag.replace('"', "")
            )),
            (None, None, Some(t)) => match ids(&t.rule) {
                Some(ids) => exclusions.push_str(&format!(
                    "SecRuleUpdateTargetById {ids} \"!{}\"\n",
                    t.target.replace('"', "")
                )),
                None => r.error(&format!("{at}.remove_target.rule"), "a rule id or a range"),
            },
            _ => r.error(&at, "exactly one of remove_rule, remove_tag, remove_target"),
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
