//! WAF rule sets: the validated model and how it is built from config.

use super::diagnostics::Reporter;
use super::raw::{RuleSetRaw, WafRuleRaw};
use http::HeaderName;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug)]
pub struct RuleSet {
    pub name: String,
    /// Sorted by priority, lowest first.
    pub rules: Vec<Rule>,
    pub managed: Vec<ManagedGroup>,
    /// Bodies up to this many bytes are inspected; `None`: bodies are not.
    pub inspect_body: Option<u64>,
    /// Block bodies over `inspect_body` rather than pass them uninspected.
    pub block_oversize: bool,
    /// The OWASP Core Rule Set, compiled.
    pub crs: Option<super::crs::Crs>,
}

/// A rule set as a route (or an API's routes) runs it.
pub struct Attached {
    pub set: Arc<RuleSet>,
    /// How the CRS starts these requests: the rule set's settings or the
    /// route's own; None when the rule set runs no CRS or the route turns
    /// it off.
    pub crs_tuning: Option<crate::seclang::eval::Tuning>,
}

impl Attached {
    /// The CRS to run and its tuning, if any.
    pub fn crs(&self) -> Option<(&super::crs::Crs, &crate::seclang::eval::Tuning)> {
        self.set.crs.as_ref().zip(self.crs_tuning.as_ref())
    }
}

impl std::ops::Deref for Attached {
    type Target = RuleSet;
    fn deref(&self) -> &RuleSet {
        &self.set
    }
}

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attached")
            .field("set", &self.set.name)
            .field("crs", &self.crs_tuning.is_some())
            .finish()
    }
}

/// Bodies are read before the upstream is contacted and replayed from
/// pingora's retry buffer, which holds 64 KiB.
pub const MAX_INSPECTED_BODY: u64 = 64 * 1024;

#[derive(Debug)]
pub struct Rule {
    pub name: String,
    pub priority: i32,
    pub action: Action,
    pub statement: Statement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Block,
    Allow,
    Count,
}

#[derive(Debug)]
pub enum Statement {
    IpSet(Vec<ipnet::IpNet>),
    /// More than `limit` requests from one client IP within `window`; the IP
    /// then matches for `block_for`.
    Rate {
        limit: u32,
        window: std::time::Duration,
        block_for: std::time::Duration,
    },
    Match {
        field: Field,
        transforms: Vec<Transform>,
        test: Test,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Method,
    Path,
    Query,
    Header(HeaderName),
    Cookie(String),
    Body,
}

#[derive(Debug)]
pub enum Test {
    Contains(String),
    Equals(String),
    StartsWith(String),
    Regex(regex::Regex),
    SizeOver(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    UrlDecode,
    HtmlEntityDecode,
    Lowercase,
    NormalizePath,
    CompressWhitespace,
    Base64Decode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedGroup {
    Sqli,
    Xss,
    PathTraversal,
    CommandInjection,
    KnownBadInputs,
}

impl ManagedGroup {
    pub fn name(self) -> &'static str {
        match self {
            ManagedGroup::Sqli => "sqli",
            ManagedGroup::Xss => "xss",
            ManagedGroup::PathTraversal => "path_traversal",
            ManagedGroup::CommandInjection => "command_injection",
            ManagedGroup::KnownBadInputs => "known_bad_inputs",
        }
    }
}

const MANAGED: [ManagedGroup; 5] = [
    ManagedGroup::Sqli,
    ManagedGroup::Xss,
    ManagedGroup::PathTraversal,
    ManagedGroup::CommandInjection,
    ManagedGroup::KnownBadInputs,
];

pub fn rule_sets(
    raw: &BTreeMap<String, RuleSetRaw>,
    root: &std::path::Path,
    r: &mut Reporter,
) -> BTreeMap<String, Arc<RuleSet>> {
    let mut out = BTreeMap::new();
    for (name, set) in raw {
        let path = format!("waf_rule_sets.{name}");
        let mut managed = Vec::new();
        for (i, group) in set.managed.iter().enumerate() {
            match MANAGED.iter().find(|g| g.name() == group) {
                Some(g) => managed.push(*g),
                None => {
                    let known: Vec<&str> = MANAGED.iter().map(|g| g.name()).collect();
                    r.error(
                        &format!("{path}.managed[{i}]"),
                        format!(
                            "unknown managed rule group `{group}`{}; groups: {}",
                            super::de::did_you_mean(group, &known),
                            known.join(", ")
                        ),
                    );
                }
            }
        }
        let mut rules: Vec<Rule> = set
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| build_rule(rule, &format!("{path}.rules[{i}]"), r))
            .collect();
        rules.sort_by_key(|rule| rule.priority);
        let crs = set
            .crs
            .as_ref()
            .and_then(|c| super::crs::build(c, root, &format!("{path}.crs"), r));
        // CRS reads bodies (phase 2): inspect them unless told a size.
        let inspect_body = set
            .inspect_body
            .map(|b| b.0)
            .or(set.crs.is_some().then_some(MAX_INSPECTED_BODY));
        if inspect_body.is_some_and(|b| b > MAX_INSPECTED_BODY) {
            r.error(
                &format!("{path}.inspect_body"),
                "bodies are inspected up to 64KiB",
            );
        }
        let block_oversize = match set.oversize.as_deref() {
            None | Some("continue") => false,
            Some("block") => true,
            Some(other) => {
                r.error(
                    &format!("{path}.oversize"),
                    format!("unknown action `{other}`: use continue or block"),
                );
                false
            }
        };
        if inspect_body.is_none()
            && rules.iter().any(|rule| {
                matches!(
                    &rule.statement,
                    Statement::Match {
                        field: Field::Body,
                        ..
                    }
                )
            })
        {
            r.error(
                &format!("{path}.inspect_body"),
                "rules on `body` need `inspect_body` (a size) on the rule set",
            );
        }
        out.insert(
            name.clone(),
            Arc::new(RuleSet {
                name: name.clone(),
                rules,
                managed,
                inspect_body: inspect_body.map(|b| b.min(MAX_INSPECTED_BODY)),
                block_oversize,
                crs,
            }),
        );
    }
    out
}

fn build_rule(raw: &WafRuleRaw, path: &str, r: &mut Reporter) -> Option<Rule> {
    let action = match raw.action.as_deref().unwrap_or("block") {
        "block" => Action::Block,
        "allow" => Action::Allow,
        "count" => Action::Count,
        other => {
            r.error(
                &format!("{path}.action"),
                format!("unknown action `{other}`: use block, allow or count"),
            );
            return None;
        }
    };
    let tests: Vec<Test> = [
        raw.contains.clone().map(Test::Contains),
        raw.equals.clone().map(Test::Equals),
        raw.starts_with.clone().map(Test::StartsWith),
        raw.size_over.map(Test::SizeOver),
    ]
    .into_iter()
    .flatten()
    .collect();
    let regex = match raw
        .regex
        .as_deref()
        .map(|re| regex::RegexBuilder::new(re).size_limit(1 << 20).build())
    {
        None => None,
        Some(Ok(re)) => Some(Test::Regex(re)),
        Some(Err(e)) => {
            // regex errors are multi-line pictures; keep the last line, the reason.
            let text = e.to_string();
            let reason = text
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or("invalid");
            let reason = reason.trim_start_matches("error: ");
            r.error(
                &format!("{path}.regex"),
                format!(
                    "bad regex `{}`: {reason}",
                    raw.regex.as_deref().unwrap_or("")
                ),
            );
            return None;
        }
    };
    let mut tests = tests;
    tests.extend(regex);
    let statement = match (raw.ip_set.is_empty(), tests.len(), &raw.field) {
        (true, 0, None) if raw.rate_over.is_some() => Statement::Rate {
            limit: raw.rate_over.unwrap_or(1).max(1),
            window: raw
                .window
                .map_or(std::time::Duration::from_secs(60), |d| d.0),
            block_for: raw
                .block_for
                .map_or(std::time::Duration::from_secs(300), |d| d.0),
        },
        (false, 0, None) => {
            let mut nets = Vec::new();
            for (i, text) in raw.ip_set.iter().enumerate() {
                match text
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                {
                    Ok(n) => nets.push(n),
                    Err(_) => r.error(
                        &format!("{path}.ip_set[{i}]"),
                        format!("bad network `{text}`"),
                    ),
                }
            }
            Statement::IpSet(nets)
        }
        (true, 1, Some(field)) => {
            let field = parse_field(field)
                .map_err(|m| r.error(&format!("{path}.field"), m))
                .ok()?;
            let mut transforms = Vec::new();
            for (i, t) in raw.transforms.iter().enumerate() {
                match parse_transform(t) {
                    Some(t) => transforms.push(t),
                    None => r.error(
                        &format!("{path}.transforms[{i}]"),
                        format!("unknown transform `{t}`: use url_decode, html_entity_decode, lowercase, normalize_path, compress_whitespace or base64_decode"),
                    ),
                }
            }
            Statement::Match {
                field,
                transforms,
                test: tests.pop()?,
            }
        }
        _ => {
            r.error(
                path,
                "a rule needs one statement: `ip_set`, `rate_over`, or a `field` with exactly one of `contains`, `equals`, `starts_with`, `regex`, `size_over`",
            );
            return None;
        }
    };
    Some(Rule {
        name: raw.name.clone(),
        priority: raw.priority.unwrap_or(100),
        action,
        statement,
    })
}

fn parse_field(text: &str) -> Result<Field, String> {
    match text.split_once(':') {
        None if text == "method" => Ok(Field::Method),
        None if text == "path" => Ok(Field::Path),
        None if text == "query" => Ok(Field::Query),
        None if text == "body" => Ok(Field::Body),
        Some(("header", h)) => HeaderName::try_from(h.trim())
            .map(Field::Header)
            .map_err(|_| format!("bad header name `{h}`")),
        Some(("cookie", c)) if !c.trim().is_empty() => Ok(Field::Cookie(c.trim().to_string())),
        _ => Err(format!(
            "bad field `{text}`: use method, path, query, header:NAME, cookie:NAME or body"
        )),
    }
}

fn parse_transform(text: &str) -> Option<Transform> {
    Some(match text {
        "url_decode" => Transform::UrlDecode,
        "html_entity_decode" => Transform::HtmlEntityDecode,
        "lowercase" => Transform::Lowercase,
        "normalize_path" => Transform::NormalizePath,
        "compress_whitespace" => Transform::CompressWhitespace,
        "base64_decode" => Transform::Base64Decode,
        _ => return None,
    })
}
