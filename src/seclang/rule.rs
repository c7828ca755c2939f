//! One `SecRule` / `SecAction`: its targets, operator, transformations and
//! actions, parsed from a directive's arguments.

use super::operator::Operator;
use super::prefilter::Slot;
use super::transform::{ChainId, Transform};
use super::vars::{Macro, Var};
use std::path::Path;

pub struct Rule {
    pub id: u64,
    pub phase: u8,
    /// `file:line`, for errors and the log.
    pub at: String,
    pub targets: Vec<Target>,
    pub exclusions: Vec<Target>,
    pub operator: Operator,
    pub negated: bool,
    pub transforms: Vec<Transform>,
    /// `transforms`, interned in the rule set's chains.
    pub transform_chain: ChainId,
    /// Its place in the literal prefilter, when its regex requires literals
    /// (and a match, not a miss, is what counts: not negated).
    pub prefilter: Option<Slot>,
    /// The rule set's group of its targets and chain (a chain head only).
    pub group: Option<u32>,
    /// `t:none` given: the default action's transformations do not apply.
    pub no_default_transforms: bool,
    pub multi_match: bool,
    pub capture: bool,
    pub actions: Vec<Action>,
    pub disruptive: Option<Disruptive>,
    pub skip_after: Option<String>,
    pub skip: u32,
    pub tags: Vec<String>,
    pub msg: Option<Macro>,
    pub severity: Option<String>,
    pub status: Option<u16>,
    pub chained: bool,
    pub chain: Option<Box<Rule>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disruptive {
    Pass,
    /// The phase's default disruptive action (CRS's anomaly mode: pass).
    Block,
    Deny,
    Drop,
    Allow,
}

#[derive(Clone)]
pub struct Target {
    pub var: Var,
    pub selector: Selector,
    /// `&VAR`: the number of values, not the values.
    pub count: bool,
}

#[derive(Clone)]
pub enum Selector {
    All,
    /// Lowercase: keys compare without case, as ModSecurity's.
    Key(String),
    Regex(regex::Regex),
}

pub enum Action {
    /// `setvar:tx.KEY=...`; the key may hold macros. Other collections
    /// (`ip.`, `global.`) persist across requests in ModSecurity and are
    /// per request here, where nothing reads them back: `key` is None.
    SetVar {
        key: Option<Macro>,
        value: SetValue,
    },
    /// `setvar:!tx.KEY`.
    DelVar(Option<String>),
    Ctl(Ctl),
}

pub enum SetValue {
    Assign(Macro),
    Add(Macro),
    Subtract(Macro),
}

pub enum Ctl {
    RuleEngineOff,
    RemoveById(Vec<(u64, u64)>),
    RemoveByTag(String),
    RemoveTargetById(Vec<(u64, u64)>, Target),
    RemoveTargetByTag(String, Target),
    BodyProcessor(String),
    /// Audit and logging settings: nothing to do here.
    Other,
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, String> {
        let (count, text) = match text.strip_prefix('&') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (name, key) = match text.split_once(':') {
            Some((n, k)) => (n, Some(k)),
            None => (text, None),
        };
        let var = Var::by_name(name).ok_or_else(|| format!("unknown variable `{name}`"))?;
        let selector = match key {
            None => Selector::All,
            // An XPath expression: every text node (ModSecurity's XML:/*).
            Some(_) if var == Var::Xml => Selector::All,
            Some(k) => {
                let k = k.trim_matches('\'');
                match k.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
                    Some(pattern) => Selector::Regex(
                        regex::RegexBuilder::new(pattern)
                            .case_insensitive(true)
                            .build()
                            .map_err(|e| format!("bad key regex `{pattern}`: {e}"))?,
                    ),
                    None if k.starts_with('/') => {
                        return Err(format!("key regex `{k}` is not closed"))
                    }
                    None => Selector::Key(k.to_ascii_lowercase()),
                }
            }
        };
        Ok(Target {
            var,
            selector,
            count,
        })
    }

    /// Whether a value named `name` of this variable is this target's.
    pub fn selects(&self, var: Var, name: &str) -> bool {
        self.var == var
            && match &self.selector {
                Selector::All => true,
                Selector::Key(k) => name.eq_ignore_ascii_case(k),
                Selector::Regex(re) => re.is_match(name),
            }
    }
}

/// `A|!B:x|&C|D:/re|gex/` -> the parts, a `/.../` key kept whole.
pub fn split_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_regex = false;
    let mut prev = ' ';
    for c in text.chars() {
        match c {
            // XML's key is an XPath expression, not a regex.
            '/' if prev == ':'
                && !in_regex
                && !current
                    .trim_start_matches('!')
                    .to_ascii_uppercase()
                    .starts_with("XML") =>
            {
                in_regex = true;
                current.push(c);
            }
            '/' if in_regex && prev != '\\' => {
                in_regex = false;
                current.push(c);
            }
            '|' if !in_regex => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
        prev = c;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out.into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Actions split on commas outside single quotes, each `name` or
/// `name:value` (quotes removed).
pub fn split_actions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    out.push(current);
    out.into_iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .map(|a| match a.split_once(':') {
            Some((n, v)) => {
                let v = v.trim();
                let v = v
                    .strip_prefix('\'')
                    .and_then(|v| v.strip_suffix('\''))
                    .unwrap_or(v);
                (n.trim().to_ascii_lowercase(), v.to_string())
            }
            None => (a.to_ascii_lowercase(), String::new()),
        })
        .collect()
}

/// `942100` or `942100-942199`, space or comma separated.
pub fn id_ranges(text: &str) -> Result<Vec<(u64, u64)>, String> {
    text.split([' ', ','])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (lo, hi) = p.split_once('-').unwrap_or((p, p));
            match (lo.trim().parse(), hi.trim().parse()) {
                (Ok(lo), Ok(hi)) => Ok((lo, hi)),
                _ => Err(format!("bad rule id `{p}`")),
            }
        })
        .collect()
}

impl Rule {
    /// A `SecRule VARIABLES OPERATOR [ACTIONS]` (or, with `targets` None, a
    /// `SecAction ACTIONS`).
    pub fn parse(
        targets: Option<(&str, &str)>,
        actions: &str,
        file: &Path,
        line: usize,
    ) -> Result<Rule, String> {
        let dir = file.parent().unwrap_or(Path::new("."));
        let mut rule = Rule {
            id: 0,
            phase: 2,
            at: format!("{}:{line}", file.display()),
            targets: Vec::new(),
            exclusions: Vec::new(),
            operator: Operator::Unconditional,
            negated: false,
            transforms: Vec::new(),
            transform_chain: 0,
            prefilter: None,
            group: None,
            no_default_transforms: false,
            multi_match: false,
            capture: false,
            actions: Vec::new(),
            disruptive: None,
            skip_after: None,
            skip: 0,
            tags: Vec::new(),
            msg: None,
            severity: None,
            status: None,
            chained: false,
            chain: None,
        };
        if let Some((variables, operator)) = targets {
            for t in split_targets(variables) {
                match t.strip_prefix('!') {
                    Some(excluded) => rule.exclusions.push(Target::parse(excluded)?),
                    None => rule.targets.push(Target::parse(&t)?),
                }
            }
            let (negated, op) = match operator.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, operator),
            };
            rule.negated = negated;
            rule.operator = match op.strip_prefix('@') {
                Some(rest) => {
                    let (name, arg) = rest.split_once(' ').unwrap_or((rest, ""));
                    Operator::compile(name, arg, dir)?
                }
                // No operator name: a regex.
                None => Operator::compile("rx", op, dir)?,
            };
        }
        rule.apply_actions(actions)?;
        Ok(rule)
    }

    pub fn apply_actions(&mut self, actions: &str) -> Result<(), String> {
        for (name, value) in split_actions(actions) {
            match name.as_str() {
                "id" => self.id = value.parse().map_err(|_| format!("bad id `{value}`"))?,
                "phase" => {
                    self.phase = match value.as_str() {
                        "request" => 2,
                        "response" => 4,
                        "logging" => 5,
                        v => v.parse().map_err(|_| format!("bad phase `{v}`"))?,
                    }
                }
                "t" if value.eq_ignore_ascii_case("none") => {
                    self.transforms.clear();
                    self.no_default_transforms = true;
                }
                "t" => self.transforms.push(
                    Transform::by_name(&value)
                        .ok_or_else(|| format!("unknown transformation t:{value}"))?,
                ),
                "chain" => self.chained = true,
                "multimatch" => self.multi_match = true,
                "capture" => self.capture = true,
                "pass" => self.disruptive = Some(Disruptive::Pass),
                "block" => self.disruptive = Some(Disruptive::Block),
                "deny" => self.disruptive = Some(Disruptive::Deny),
                "drop" => self.disruptive = Some(Disruptive::Drop),
                "allow" => self.disruptive = Some(Disruptive::Allow),
                "status" => self.status = value.parse().ok(),
                "skipafter" => self.skip_after = Some(value),
                "skip" => self.skip = value.parse().unwrap_or(0),
                "tag" => self.tags.push(value),
                "msg" => self.msg = Some(Macro::parse(&value)?),
                "severity" => self.severity = Some(value),
                "setvar" => self.actions.push(setvar(&value)?),
                "ctl" => self.actions.push(Action::Ctl(ctl(&value)?)),
                // For logs and audit logs only, or persistent collections
                // this engine keeps per request.
                "log"
                | "nolog"
                | "auditlog"
                | "noauditlog"
                | "logdata"
                | "ver"
                | "rev"
                | "accuracy"
                | "maturity"
                | "expirevar"
                | "initcol"
                | "setuid"
                | "setsid"
                | "sanitisematched"
                | "sanitisearg"
                | "sanitiserequestheader"
                | "sanitisematchedbytes"
                | "redirect"
                | "proxy"
                | "pause"
                | "append"
                | "prepend"
                | "deprecatevar"
                | "exec"
                | "xmlns" => {}
                other => return Err(format!("unknown action `{other}`")),
            }
        }
        Ok(())
    }
}

fn setvar(value: &str) -> Result<Action, String> {
    let tx_key = |name: &str| {
        name.trim()
            .to_ascii_lowercase()
            .strip_prefix("tx.")
            .map(str::to_string)
    };
    if let Some(name) = value.strip_prefix('!') {
        return Ok(Action::DelVar(tx_key(name)));
    }
    let (name, rhs) = value.split_once('=').unwrap_or((value, "1"));
    if !name.contains('.') {
        return Err(format!("setvar `{value}`: expected COLLECTION.name"));
    }
    let key = tx_key(name).map(|k| Macro::parse(&k)).transpose()?;
    let value = match (rhs.strip_prefix('+'), rhs.strip_prefix('-')) {
        (Some(n), _) => SetValue::Add(Macro::parse(n)?),
        (_, Some(n)) => SetValue::Subtract(Macro::parse(n)?),
        _ => SetValue::Assign(Macro::parse(rhs)?),
    };
    Ok(Action::SetVar { key, value })
}

fn ctl(value: &str) -> Result<Ctl, String> {
    let (name, arg) = value.split_once('=').unwrap_or((value, ""));
    Ok(match name.to_ascii_lowercase().as_str() {
        "ruleengine" if arg.eq_ignore_ascii_case("off") => Ctl::RuleEngineOff,
        "ruleremovebyid" => Ctl::RemoveById(id_ranges(arg)?),
        "ruleremovebytag" => Ctl::RemoveByTag(arg.to_string()),
        "ruleremovetargetbyid" => {
            let (ids, target) = arg
                .split_once(';')
                .ok_or_else(|| format!("ctl:{value}: expected ID;TARGET"))?;
            Ctl::RemoveTargetById(id_ranges(ids)?, Target::parse(target)?)
        }
        "ruleremovetargetbytag" => {
            let (tag, target) = arg
                .split_once(';')
                .ok_or_else(|| format!("ctl:{value}: expected TAG;TARGET"))?;
            Ctl::RemoveTargetByTag(tag.to_string(), Target::parse(target)?)
        }
        "requestbodyprocessor" => Ctl::BodyProcessor(arg.to_ascii_uppercase()),
        _ => Ctl::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_actions() {
        assert_eq!(
            split_targets("REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|ARGS:/^(a|b)$/|&TX:x"),
            [
                "REQUEST_COOKIES",
                "!REQUEST_COOKIES:/__utm/",
                "ARGS:/^(a|b)$/",
                "&TX:x"
            ]
        );
        assert_eq!(
            split_actions("id:1, msg:'a, b',setvar:'tx.x=+%{tx.y}',t:none"),
            [
                ("id".to_string(), "1".to_string()),
                ("msg".into(), "a, b".into()),
                ("setvar".into(), "tx.x=+%{tx.y}".into()),
                ("t".into(), "none".into()),
            ]
        );
        let rule = Rule::parse(
            Some(("ARGS|!ARGS:safe", "!@rx ^[a-z]+$")),
            "id:5,phase:1,block,t:lowercase,chain,ctl:ruleRemoveTargetById=942100;ARGS:q",
            Path::new("/x/y.conf"),
            3,
        )
        .unwrap();
        assert_eq!(
            (rule.id, rule.phase, rule.negated, rule.chained),
            (5, 1, true, true)
        );
        assert_eq!(rule.targets.len(), 1);
        assert!(rule.exclusions[0].selects(Var::Args, "SAFE"));
        assert_eq!(rule.at, "/x/y.conf:3");
        assert!(Rule::parse(Some(("NOPE", "@rx a")), "id:1", Path::new("x"), 1).is_err());
        assert!(Rule::parse(None, "id:1,frobnicate", Path::new("x"), 1).is_err());
    }
}
