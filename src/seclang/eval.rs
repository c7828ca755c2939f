//! One request through a rule set's request phases, with ModSecurity's
//! semantics: targets minus exclusions, transformations, the operator
//! (negated with `!`), chains (every link must match; the actions of all
//! links run when the whole chain does), `skipAfter` to a marker, `setvar`
//! with macros, `ctl` for this request only, and the disruptive action
//! (`block` is the phase's default action: CRS's anomaly mode passes and
//! lets rule 949110 deny on the total score).

use super::operator::Operator;
use super::request::{Body, Request};
use super::rule::{Action, Ctl, Disruptive, Rule, SetValue, Target};
use super::transform::{apply_all, Transform};
use super::vars::{Macro, Part, Var};
use super::{EngineMode, Entry, RuleSet};
use std::borrow::Cow;
use std::collections::HashMap;

/// What the rules decided.
#[derive(Debug, Default)]
pub struct Verdict {
    /// A `deny`/`drop`: the rule and the status to answer.
    pub blocked: Option<(u64, u16)>,
    /// Rules that matched (chain heads), in order.
    pub matched: Vec<u64>,
    /// The inbound anomaly score the rules added up, and the rules that
    /// added to it.
    pub score: i64,
    pub scored: Vec<u64>,
    /// `SecRuleEngine DetectionOnly`: it would have blocked.
    pub detection_only: bool,
}

/// One matched value.
struct Hit {
    name: String,
    value: Vec<u8>,
    captures: Vec<Vec<u8>>,
}

/// Rules removed or narrowed for this request by `ctl`.
#[derive(Default)]
struct Removed {
    ids: Vec<(u64, u64)>,
    tags: Vec<String>,
    targets_by_id: Vec<(Vec<(u64, u64)>, Target)>,
    targets_by_tag: Vec<(String, Target)>,
}

struct Tx<'a> {
    set: &'a RuleSet,
    req: &'a Request,
    body: Body,
    vars: HashMap<String, String>,
    matched_var: Vec<u8>,
    matched_var_name: String,
    matched_vars: Vec<(String, Vec<u8>)>,
    removed: Removed,
    engine_off: bool,
    /// The rule being run, for `%{rule.id}` and `%{rule.msg}`.
    rule_id: u64,
    /// Rules that added to an anomaly score.
    scored: Vec<u64>,
}

/// Runs phases 1 and 2. `tx` seeds the TX collection (settings such as
/// the paranoia level, set before the rules run).
pub fn run(set: &RuleSet, req: &Request) -> Verdict {
    let mut verdict = Verdict::default();
    if set.engine == EngineMode::Off {
        return verdict;
    }
    let mut tx = Tx {
        set,
        req,
        body: Body::default(),
        vars: HashMap::new(),
        matched_var: Vec::new(),
        matched_var_name: String::new(),
        matched_vars: Vec::new(),
        removed: Removed::default(),
        engine_off: false,
        rule_id: 0,
        scored: Vec::new(),
    };
    let mut processor = req.default_processor();
    'phases: for phase in 1..=2u8 {
        if phase == 2 {
            // A `ctl:requestBodyProcessor` in phase 1 chose another reader.
            if let Some(p) = tx.vars.remove("\u{0}processor") {
                processor = match p.as_str() {
                    "JSON" => "JSON",
                    "XML" => "XML",
                    "URLENCODED" => "URLENCODED",
                    "MULTIPART" => "MULTIPART",
                    _ => processor,
                };
            }
            tx.body = req.read_body(processor);
        }
        let entries = &set.phases[usize::from(phase - 1)];
        let mut i = 0;
        while i < entries.len() {
            if tx.engine_off {
                break 'phases;
            }
            let Entry::Rule(rule) = &entries[i] else {
                i += 1;
                continue;
            };
            tx.rule_id = rule.id;
            if tx.is_removed(rule) || !tx.matches_chain(rule) {
                i += 1;
                continue;
            }
            verdict.matched.push(rule.id);
            let disruptive = match rule.disruptive {
                Some(Disruptive::Block) | None => set.block_as(phase),
                Some(d) => d,
            };
            match disruptive {
                Disruptive::Deny | Disruptive::Drop => {
                    verdict.blocked = Some((rule.id, rule.status.unwrap_or(403)));
                    break 'phases;
                }
                Disruptive::Allow => break 'phases,
                Disruptive::Pass | Disruptive::Block => {}
            }
            if let Some(marker) = &rule.skip_after {
                i = entries[i..]
                    .iter()
                    .position(|e| matches!(e, Entry::Marker(m) if m == marker))
                    .map_or(entries.len(), |at| i + at + 1);
                continue;
            }
            if rule.skip > 0 {
                let mut left = rule.skip;
                i += 1;
                while i < entries.len() && left > 0 {
                    if matches!(entries[i], Entry::Rule(_)) {
                        left -= 1;
                    }
                    i += 1;
                }
                continue;
            }
            i += 1;
        }
    }
    verdict.score = ["blocking_inbound_anomaly_score", "anomaly_score"]
        .iter()
        .find_map(|k| tx.vars.get(*k))
        .map_or(0, |v| super::operator::atoi(v.as_bytes()));
    verdict.scored = tx.scored;
    if set.engine == EngineMode::DetectionOnly && verdict.blocked.take().is_some() {
        verdict.detection_only = true;
    }
    verdict
}

impl Tx<'_> {
    fn is_removed(&self, rule: &Rule) -> bool {
        self.removed
            .ids
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&rule.id))
            || rule.tags.iter().any(|t| self.removed.tags.contains(t))
    }

    /// Whether the rule and every link of its chain match. As ModSecurity,
    /// a link's own actions (`setvar`, `ctl`) run as soon as it matches, so
    /// the next link can read what it set; CRS scores in the last link, so
    /// they count only when the whole chain does.
    fn matches_chain(&mut self, rule: &Rule) -> bool {
        self.matched_vars.clear();
        let mut link = Some(rule);
        while let Some(current) = link {
            if !self.matches_as(current, rule) {
                return false;
            }
            self.run_actions(current);
            link = current.chain.as_deref();
        }
        true
    }

    /// One rule's targets against its operator; exclusions and `ctl`
    /// removals are the head's (a chain's id is its head's).
    fn matches_as(&mut self, rule: &Rule, head: &Rule) -> bool {
        if rule.targets.is_empty() {
            // SecAction, or a rule every target of which was removed.
            return matches!(rule.operator, Operator::Unconditional);
        }
        let mut hits: Vec<Hit> = Vec::new();
        for target in &rule.targets {
            let mut found = Vec::new();
            self.collect(target, &mut found);
            found.retain(|(name, var, _)| !self.excluded(rule, head, *var, name));
            if target.count {
                let n = found.len().to_string().into_bytes();
                let name = format!("&{}", target.var.name());
                found = vec![(name, target.var, Cow::Owned(n))];
            }
            for (name, _var, value) in found {
                if let Some(hit) = self.check(rule, name, &value) {
                    hits.push(hit);
                }
            }
        }
        let matched = !hits.is_empty();
        for hit in hits {
            if !hit.captures.is_empty() {
                for (i, c) in hit.captures.iter().enumerate() {
                    self.vars
                        .insert(i.to_string(), String::from_utf8_lossy(c).into_owned());
                }
            }
            self.matched_var = hit.value.clone();
            self.matched_var_name = hit.name.clone();
            self.matched_vars.push((hit.name, hit.value));
        }
        matched
    }

    /// Transformations then the operator on one value.
    fn check(&self, rule: &Rule, name: String, value: &[u8]) -> Option<Hit> {
        let mut candidates: Vec<Cow<'_, [u8]>> = Vec::new();
        if rule.multi_match {
            // Every stage of the transformations is matched.
            let mut current: Cow<'_, [u8]> = Cow::Borrowed(value);
            candidates.push(current.clone());
            for t in &rule.transforms {
                if let Some(next) = Transform::apply(*t, &current) {
                    current = Cow::Owned(next);
                    candidates.push(current.clone());
                }
            }
        } else {
            candidates.push(apply_all(value, &rule.transforms));
        }
        for candidate in candidates {
            let mut captures = Vec::new();
            let expand = |m: &Macro| self.expand(m);
            let hit =
                rule.operator
                    .matches(&candidate, &expand, rule.capture.then_some(&mut captures));
            if hit != rule.negated {
                return Some(Hit {
                    name,
                    value: candidate.into_owned(),
                    captures: if hit { captures } else { Vec::new() },
                });
            }
        }
        None
    }

    fn excluded(&self, rule: &Rule, head: &Rule, var: Var, name: &str) -> bool {
        let key = name.split_once(':').map_or("", |(_, k)| k);
        rule.exclusions.iter().any(|t| t.selects(var, key))
            || self.removed.targets_by_id.iter().any(|(ids, t)| {
                ids.iter().any(|(lo, hi)| (*lo..=*hi).contains(&head.id)) && t.selects(var, key)
            })
            || self
                .removed
                .targets_by_tag
                .iter()
                .any(|(tag, t)| head.tags.contains(tag) && t.selects(var, key))
    }

    /// A target's values: (MATCHED_VAR_NAME, variable, value).
    fn collect<'s>(&'s self, target: &Target, out: &mut Vec<(String, Var, Cow<'s, [u8]>)>) {
        let var = target.var;
        let mut pairs = |list: &'s [(String, Vec<u8>)], as_var: Var, names: bool| {
            for (k, v) in list {
                if target.selects(var, k) {
                    let value: Cow<'s, [u8]> = if names {
                        Cow::Owned(k.as_bytes().to_vec())
                    } else {
                        Cow::Borrowed(v.as_slice())
                    };
                    out.push((format!("{}:{k}", as_var.name()), var, value));
                }
            }
        };
        let req = self.req;
        match var {
            Var::Args => {
                pairs(&req.args_get, Var::Args, false);
                pairs(&self.body.args, Var::Args, false);
            }
            Var::ArgsNames => {
                pairs(&req.args_get, Var::ArgsNames, true);
                pairs(&self.body.args, Var::ArgsNames, true);
            }
            Var::ArgsGet => pairs(&req.args_get, var, false),
            Var::ArgsGetNames => pairs(&req.args_get, var, true),
            Var::ArgsPost => pairs(&self.body.args, var, false),
            Var::ArgsPostNames => pairs(&self.body.args, var, true),
            Var::RequestHeaders => pairs(&req.headers, var, false),
            Var::RequestHeadersNames => pairs(&req.headers, var, true),
            Var::RequestCookies => pairs(&req.cookies, var, false),
            Var::RequestCookiesNames => pairs(&req.cookies, var, true),
            Var::Files | Var::MultipartFilename => pairs(&self.body.files, var, false),
            Var::FilesNames | Var::MultipartName => pairs(&self.body.files, var, true),
            Var::FilesSizes => pairs(&self.body.file_sizes, var, false),
            Var::MultipartPartHeaders => pairs(&self.body.part_headers, var, false),
            Var::MatchedVars => {
                for (k, v) in &self.matched_vars {
                    out.push((k.clone(), var, Cow::Owned(v.clone())));
                }
            }
            Var::MatchedVarsNames => {
                for (k, _) in &self.matched_vars {
                    out.push((k.clone(), var, Cow::Owned(k.clone().into_bytes())));
                }
            }
            Var::Tx | Var::Ip | Var::Global | Var::Session | Var::User | Var::Resource => {
                if var == Var::Tx {
                    for (k, v) in &self.vars {
                        if !k.starts_with('\u{0}') && target.selects(var, k) {
                            out.push((format!("TX:{k}"), var, Cow::Borrowed(v.as_bytes())));
                        }
                    }
                }
                // Persistent collections are not kept across requests.
            }
            Var::Xml => {
                for v in &self.body.xml {
                    out.push(("XML:/*".into(), var, Cow::Borrowed(v.as_slice())));
                }
            }
            Var::Env | Var::Geo | Var::Response => {}
            scalar => {
                if let Some(v) = self.scalar(scalar) {
                    out.push((scalar.name().to_string(), var, v));
                }
            }
        }
    }

    fn scalar(&self, var: Var) -> Option<Cow<'_, [u8]>> {
        let req = self.req;
        let text = |s: &str| Some(Cow::Owned(s.as_bytes().to_vec()));
        match var {
            Var::RequestMethod => text(&req.method),
            Var::RequestProtocol => text(&req.protocol),
            Var::RequestLine => text(&format!("{} {} {}", req.method, req.uri_raw, req.protocol)),
            Var::RequestUri => text(&req.uri),
            Var::RequestUriRaw => text(&req.uri_raw),
            Var::RequestFilename => text(&req.path),
            Var::RequestBasename => text(req.path.rsplit('/').next().unwrap_or("")),
            Var::QueryString => text(&req.query),
            Var::RequestBody => Some(Cow::Borrowed(req.body.as_slice())),
            Var::RequestBodyLength => text(&req.body.len().to_string()),
            Var::ArgsCombinedSize => {
                let size: usize = req
                    .args_get
                    .iter()
                    .chain(&self.body.args)
                    .map(|(k, v)| k.len() + v.len())
                    .sum();
                text(&size.to_string())
            }
            Var::FilesCombinedSize => {
                let size: i64 = self
                    .body
                    .file_sizes
                    .iter()
                    .map(|(_, v)| super::operator::atoi(v))
                    .sum();
                text(&size.to_string())
            }
            Var::ReqbodyError => text(if self.body.error.is_some() { "1" } else { "0" }),
            Var::ReqbodyErrorMsg => text(self.body.error.as_deref().unwrap_or("")),
            Var::ReqbodyProcessor => text(self.body.processor),
            Var::MultipartStrictError => text(if self.body.multipart_strict_error {
                "1"
            } else {
                "0"
            }),
            Var::MultipartUnmatchedBoundary => text("0"),
            Var::UniqueId => text(&req.unique_id),
            Var::RemoteAddr | Var::RemoteHost => text(&req.remote_addr),
            Var::RemotePort => text(&req.remote_port.to_string()),
            Var::ServerName => text(
                &req.header("host")
                    .map(|h| String::from_utf8_lossy(h).into_owned())
                    .unwrap_or_default(),
            ),
            Var::ServerPort => text("0"),
            Var::Duration => text("0"),
            Var::TimeEpoch => text(&chrono::Utc::now().timestamp().to_string()),
            Var::MatchedVar => Some(Cow::Borrowed(self.matched_var.as_slice())),
            Var::MatchedVarName => text(&self.matched_var_name),
            _ => None,
        }
    }

    fn expand(&self, m: &Macro) -> String {
        let mut out = String::new();
        for part in &m.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Rule(what) => {
                    if what == "id" {
                        out.push_str(&self.rule_id.to_string());
                    }
                }
                Part::Var(Var::Tx, Some(key)) => {
                    if let Some(v) = self.vars.get(key) {
                        out.push_str(v);
                    }
                }
                Part::Var(var, key) => {
                    let target = Target {
                        var: *var,
                        selector: match key {
                            Some(k) => super::rule::Selector::Key(k.clone()),
                            None => super::rule::Selector::All,
                        },
                        count: false,
                    };
                    let mut found = Vec::new();
                    self.collect(&target, &mut found);
                    if let Some((_, _, v)) = found.first() {
                        out.push_str(&String::from_utf8_lossy(v));
                    }
                }
            }
        }
        out
    }

    fn run_actions(&mut self, rule: &Rule) {
        for action in &rule.actions {
            match action {
                Action::SetVar { name, value } => {
                    let Some(key) = name.strip_prefix("tx.") else {
                        // Persistent collections (ip., global.) are per request
                        // here: nothing reads them back.
                        continue;
                    };
                    let key = self.expand(&Macro::parse(key).unwrap_or(Macro(Vec::new())));
                    let new = match value {
                        SetValue::Assign(m) => self.expand(m),
                        SetValue::Add(m) | SetValue::Subtract(m) => {
                            let current = self
                                .vars
                                .get(&key)
                                .map_or(0, |v| super::operator::atoi(v.as_bytes()));
                            let by = super::operator::atoi(self.expand(m).as_bytes());
                            let total = if matches!(value, SetValue::Add(_)) {
                                current.saturating_add(by)
                            } else {
                                current.saturating_sub(by)
                            };
                            total.to_string()
                        }
                    };
                    if matches!(value, SetValue::Add(_))
                        && key.contains("anomaly_score")
                        && !self.scored.contains(&self.rule_id)
                    {
                        self.scored.push(self.rule_id);
                    }
                    self.vars.insert(key.to_ascii_lowercase(), new);
                }
                Action::DelVar(name) => {
                    if let Some(key) = name.strip_prefix("tx.") {
                        self.vars.remove(key);
                    }
                }
                Action::Ctl(ctl) => match ctl {
                    Ctl::RuleEngineOff => self.engine_off = true,
                    Ctl::RemoveById(ids) => self.removed.ids.extend(ids.iter().copied()),
                    Ctl::RemoveByTag(tag) => self.removed.tags.push(tag.clone()),
                    Ctl::RemoveTargetById(ids, target) => self
                        .removed
                        .targets_by_id
                        .push((ids.clone(), target.clone())),
                    Ctl::RemoveTargetByTag(tag, target) => self
                        .removed
                        .targets_by_tag
                        .push((tag.clone(), target.clone())),
                    Ctl::BodyProcessor(p) => {
                        self.vars.insert("\u{0}processor".into(), p.clone());
                    }
                    Ctl::Other => {}
                },
            }
        }
        let _ = self.set;
    }
}
