//! One request through a rule set's request phases, with ModSecurity's
//! semantics: targets minus exclusions, transformations, the operator
//! (negated with `!`), chains (every link must match; the actions of all
//! links run when the whole chain does), `skipAfter` to a marker, `setvar`
//! with macros, `ctl` for this request only, and the disruptive action
//! (`block` is the phase's default action: CRS's anomaly mode passes and
//! lets rule 949110 deny on the total score).

use super::operator::Operator;
use super::request::{Body, Request};
use super::rule::{Action, Ctl, Disruptive, Rule, Selector, SetValue, Target};
use super::texts::Texts;
use super::transform::{apply_all, Transform};
use super::vars::{Macro, Part, Var};
use super::{EngineMode, Entry, RuleSet};
use std::borrow::Cow;
use std::cell::RefCell;

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

/// A value a target selected: its variable (as named in MATCHED_VAR_NAME),
/// its key, the value. The name is only built when the value matches.
struct Item<'s> {
    var: Var,
    key: &'s str,
    value: Cow<'s, [u8]>,
    /// A value of the request itself (stable for the whole request), whose
    /// transformations can be cached.
    stable: bool,
}

impl Item<'_> {
    fn write_name(&self, name: &mut String) {
        name.clear();
        name.push_str(self.var.name());
        if !self.key.is_empty() {
            name.push(':');
            name.push_str(self.key);
        }
    }
}

/// multiMatch stages followed per value; CRS's longest chain has nine
/// steps.
const MAX_STAGES: usize = 32;

/// One matched value.
#[derive(Default)]
struct Hit {
    name: String,
    value: Vec<u8>,
    captures: Vec<Vec<u8>>,
}

/// Matched values whose buffers are kept for the next rule: a clean
/// request matches dozens of rules (paranoia-level checks, settings), and
/// each would otherwise allocate its names and values anew.
#[derive(Default)]
struct Hits {
    list: Vec<Hit>,
    len: usize,
}

impl Hits {
    fn clear(&mut self) {
        self.len = 0;
    }

    /// The next hit's buffers, not yet counted (`push` counts them).
    fn next(&mut self) -> &mut Hit {
        if self.list.len() == self.len {
            self.list.push(Hit::default());
        }
        &mut self.list[self.len]
    }

    fn push(&mut self) {
        self.len += 1;
    }

    fn last_mut(&mut self) -> Option<&mut Hit> {
        self.len.checked_sub(1).map(|at| &mut self.list[at])
    }

    fn iter(&self) -> impl Iterator<Item = &Hit> {
        self.list[..self.len].iter()
    }

    /// Appends a copy of `hit`, reusing a kept entry's buffers.
    fn push_copy(&mut self, hit: &Hit) {
        let slot = self.next();
        slot.name.clone_from(&hit.name);
        slot.value.clone_from(&hit.value);
        self.push();
    }
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
    vars: foldhash::HashMap<String, String>,
    matched_var: Vec<u8>,
    matched_var_name: String,
    /// MATCHED_VARS: what the links of the current chain matched.
    matched_vars: Hits,
    /// What the rule being run matches, before it counts.
    hits: RefCell<Hits>,
    removed: Removed,
    engine_off: bool,
    /// The rule being run, for `%{rule.id}` and `%{rule.msg}`.
    rule_id: u64,
    /// Rules that added to an anomaly score.
    scored: Vec<u64>,
    /// A body processor a `ctl` chose in phase 1.
    processor: Option<&'static str>,
    request_line: String,
    /// The request's values through the rules' transformation chains.
    texts: RefCell<Texts>,
}

/// Runs phases 1 and 2, untuned: for rule sets that carry their own
/// settings (the gateway's CRS reads its settings from the tuning: use
/// `run_tuned`).
pub fn run(set: &RuleSet, req: &Request) -> Verdict {
    run_phases(set, req, 2, &Tuning::default())
}

/// How a caller starts a request: TX variables the rules read (settings
/// such as the paranoia level), and rules removed or narrowed for it as a
/// `ctl` would. One compiled rule set serves callers tuned differently
/// (the gateway's routes).
#[derive(Clone, Default)]
pub struct Tuning {
    /// Keys lowercase.
    pub tx: Vec<(String, String)>,
    pub removed_ids: Vec<(u64, u64)>,
    pub removed_tags: Vec<String>,
    pub removed_targets: Vec<(Vec<(u64, u64)>, Target)>,
}

/// Runs phases 1 and 2 as `tuning` starts them.
pub fn run_tuned(set: &RuleSet, req: &Request, tuning: &Tuning) -> Verdict {
    run_phases(set, req, 2, tuning)
}

/// Runs phases 1 to `last` (1: the headers only, as a cost breakdown).
pub fn run_phases(set: &RuleSet, req: &Request, last: u8, tuning: &Tuning) -> Verdict {
    let mut verdict = Verdict::default();
    if set.engine == EngineMode::Off {
        return verdict;
    }
    let mut tx = Tx {
        set,
        req,
        body: Body::default(),
        vars: {
            // CRS sets about 150 TX variables per request: room for them
            // up front rather than growing the table several times.
            let mut vars = foldhash::HashMap::with_capacity_and_hasher(256, Default::default());
            vars.extend(tuning.tx.iter().cloned());
            vars
        },
        matched_var: Vec::new(),
        matched_var_name: String::new(),
        matched_vars: Hits::default(),
        hits: Default::default(),
        removed: Removed {
            ids: tuning.removed_ids.clone(),
            tags: tuning.removed_tags.clone(),
            targets_by_id: tuning.removed_targets.clone(),
            targets_by_tag: Vec::new(),
        },
        engine_off: false,
        rule_id: 0,
        scored: Vec::new(),
        processor: None,
        request_line: format!("{} {} {}", req.method, req.uri_raw, req.protocol),
        texts: Default::default(),
    };
    let mut processor = req.default_processor();
    'phases: for phase in 1..=last.min(2) {
        if phase == 2 {
            // A `ctl:requestBodyProcessor` in phase 1 chose another reader.
            if let Some(p) = tx.processor {
                processor = p;
            }
            tx.body = req.read_body(processor);
            tx.texts.get_mut().end_phase();
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
            if tx.is_removed(rule) || !tx.group_may_match(rule) || !tx.matches_chain(rule) {
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
            if rule.skip_after.is_some() {
                i = set.skip_to[usize::from(phase - 1)][i];
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
        if self.removed.ids.is_empty() && self.removed.tags.is_empty() {
            return false;
        }
        self.removed
            .ids
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&rule.id))
            || rule.tags.iter().any(|t| self.removed.tags.contains(t))
    }

    /// Whether any value of the rule's target group holds one of its
    /// literals (true for a rule without a group).
    fn group_may_match(&self, rule: &Rule) -> bool {
        let (Some(group), Some(slot)) = (rule.group, rule.prefilter) else {
            return true;
        };
        let pf = &self.set.prefilter;
        if let Some(at) = self.texts.borrow().group(group) {
            return self.texts.borrow().group_may_match(at, slot);
        }
        let plan = &self.set.groups[group as usize];
        let at = self.texts.borrow_mut().start_group(group, pf);
        for target in &plan.targets {
            self.each_value(target, &mut |item| {
                let mut texts = self.texts.borrow_mut();
                let text = item.stable.then(|| {
                    let value: &[u8] = &item.value;
                    (texts.get(value, plan.chain, &self.set.chains), value)
                });
                texts.add_to_group(at, text, pf);
            });
        }
        let texts = self.texts.borrow();
        texts.group_may_match(at, slot)
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
        self.hits.get_mut().clear();
        for target in &rule.targets {
            if target.count {
                let mut n = 0usize;
                self.each_value(target, &mut |item| {
                    if !self.excluded(rule, head, item.var, item.key) {
                        n += 1;
                    }
                });
                let item = Item {
                    var: target.var,
                    key: "",
                    value: Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec()),
                    stable: false,
                };
                if self.check(rule, &item) {
                    if let Some(hit) = self.hits.get_mut().last_mut() {
                        hit.name.clear();
                        hit.name.push('&');
                        hit.name.push_str(target.var.name());
                    }
                }
                continue;
            }
            self.each_value(target, &mut |item| {
                if !self.excluded(rule, head, item.var, item.key) {
                    self.check(rule, &item);
                }
            });
        }
        let hits = self.hits.get_mut();
        for hit in hits.iter() {
            for (i, c) in hit.captures.iter().enumerate() {
                let value = String::from_utf8_lossy(c).into_owned();
                self.vars
                    .insert(itoa::Buffer::new().format(i).to_owned(), value);
            }
            self.matched_var.clone_from(&hit.value);
            self.matched_var_name.clone_from(&hit.name);
            self.matched_vars.push_copy(hit);
        }
        hits.len > 0
    }

    /// Transformations then the operator on one value. A value of the
    /// request itself goes through the shared texts (each chain step once
    /// per request, and the literal prefilter); others are transformed
    /// here.
    fn check(&self, rule: &Rule, item: &Item<'_>) -> bool {
        let value: &[u8] = &item.value;
        if !item.stable {
            return if rule.multi_match {
                self.each_stage(rule, item, value)
            } else {
                self.operate(rule, item, &apply_all(value, &rule.transforms))
            };
        }
        let chains = &self.set.chains;
        let mut texts = self.texts.borrow_mut();
        // The chain's stages (multiMatch: the value and every step that
        // changed it), first to last.
        let mut stages = [0; MAX_STAGES];
        let mut count = 1;
        stages[0] = rule.transform_chain;
        if rule.multi_match {
            let mut at = rule.transform_chain;
            while let Some((before, _)) = chains.last_step(at) {
                if count < MAX_STAGES {
                    stages[count] = before;
                    count += 1;
                }
                at = before;
            }
            stages[..count].reverse();
        }
        let mut last = None;
        for &chain in &stages[..count] {
            let text = texts.get(value, chain, chains);
            if last == Some(text) {
                continue;
            }
            last = Some(text);
            if let Some(slot) = rule.prefilter {
                if !texts.may_match(text, value, slot, &self.set.prefilter) {
                    continue;
                }
            }
            if self.operate(rule, item, texts.bytes(text, value)) {
                return true;
            }
        }
        false
    }

    /// multiMatch on a value that is not the request's own: the value and
    /// each step that changed it.
    fn each_stage(&self, rule: &Rule, item: &Item<'_>, value: &[u8]) -> bool {
        let mut current: Cow<'_, [u8]> = Cow::Borrowed(value);
        if self.operate(rule, item, &current) {
            return true;
        }
        for t in &rule.transforms {
            if let Some(next) = Transform::apply(*t, &current) {
                current = Cow::Owned(next);
                if self.operate(rule, item, &current) {
                    return true;
                }
            }
        }
        false
    }

    /// The operator on one (transformed) value; a match is added to
    /// `hits`.
    fn operate(&self, rule: &Rule, item: &Item<'_>, text: &[u8]) -> bool {
        let expand = |m: &Macro| self.expand(m);
        let mut hits = self.hits.borrow_mut();
        let hit = hits.next();
        hit.captures.clear();
        let matched =
            rule.operator
                .matches(text, &expand, rule.capture.then_some(&mut hit.captures));
        if matched == rule.negated {
            return false;
        }
        if !matched {
            hit.captures.clear();
        }
        item.write_name(&mut hit.name);
        hit.value.clear();
        hit.value.extend_from_slice(text);
        hits.push();
        true
    }

    fn excluded(&self, rule: &Rule, head: &Rule, var: Var, key: &str) -> bool {
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

    /// A target's values, each given to `f`.
    fn each_value<'s>(&'s self, target: &Target, f: &mut dyn FnMut(Item<'s>)) {
        let var = target.var;
        let mut pairs = |list: &'s [(String, Vec<u8>)], as_var: Var, names: bool| {
            for (k, v) in list {
                if target.selects(var, k) {
                    let value: &'s [u8] = if names { k.as_bytes() } else { v };
                    f(Item {
                        var: as_var,
                        key: k,
                        value: Cow::Borrowed(value),
                        stable: true,
                    });
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
            Var::MatchedVars | Var::MatchedVarsNames => {
                for hit in self.matched_vars.iter() {
                    let value = if var == Var::MatchedVars {
                        Cow::Borrowed(hit.value.as_slice())
                    } else {
                        Cow::Borrowed(hit.name.as_bytes())
                    };
                    f(Item {
                        var,
                        key: &hit.name,
                        value,
                        stable: false,
                    });
                }
            }
            Var::Tx => match &target.selector {
                // The common case (`TX:paranoia_level`): one lookup.
                Selector::Key(key) => {
                    if let Some((k, v)) = self.vars.get_key_value(key.as_str()) {
                        f(Item {
                            var,
                            key: k,
                            value: Cow::Borrowed(v.as_bytes()),
                            stable: false,
                        });
                    }
                }
                _ => {
                    for (k, v) in &self.vars {
                        if target.selects(var, k) {
                            f(Item {
                                var,
                                key: k,
                                value: Cow::Borrowed(v.as_bytes()),
                                stable: false,
                            });
                        }
                    }
                }
            },
            // Persistent collections are not kept across requests.
            Var::Ip | Var::Global | Var::Session | Var::User | Var::Resource => {}
            Var::Xml => {
                for v in &self.body.xml {
                    f(Item {
                        var,
                        key: "/*",
                        value: Cow::Borrowed(v.as_slice()),
                        stable: true,
                    });
                }
            }
            Var::Env | Var::Geo | Var::Response => {}
            scalar => {
                if let Some((value, stable)) = self.scalar(scalar) {
                    f(Item {
                        var,
                        key: "",
                        value,
                        stable,
                    });
                }
            }
        }
    }

    /// A single-valued variable, and whether it is the request's own
    /// (stable) text.
    fn scalar<'s>(&'s self, var: Var) -> Option<(Cow<'s, [u8]>, bool)> {
        let req = self.req;
        fn borrowed(s: &str) -> Option<(Cow<'_, [u8]>, bool)> {
            Some((Cow::Borrowed(s.as_bytes()), true))
        }
        let text = |s: &str| Some((Cow::Owned(s.as_bytes().to_vec()), false));
        match var {
            Var::RequestMethod => borrowed(&req.method),
            Var::RequestProtocol => borrowed(&req.protocol),
            Var::RequestLine => borrowed(&self.request_line),
            Var::RequestUri => borrowed(&req.uri),
            Var::RequestUriRaw => borrowed(&req.uri_raw),
            Var::RequestFilename => borrowed(&req.path),
            Var::RequestBasename => borrowed(req.path.rsplit('/').next().unwrap_or("")),
            Var::QueryString => borrowed(&req.query),
            Var::RequestBody => Some((Cow::Borrowed(req.body.as_slice()), true)),
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
            Var::UniqueId => borrowed(&req.unique_id),
            Var::RemoteAddr | Var::RemoteHost => borrowed(&req.remote_addr),
            Var::RemotePort => text(&req.remote_port.to_string()),
            Var::ServerName => req.header("host").map(|h| (Cow::Borrowed(h), true)),
            Var::ServerPort => text("0"),
            Var::Duration => text("0"),
            Var::TimeEpoch => text(&chrono::Utc::now().timestamp().to_string()),
            Var::MatchedVar => Some((Cow::Borrowed(self.matched_var.as_slice()), false)),
            Var::MatchedVarName => text(&self.matched_var_name),
            _ => None,
        }
    }

    /// A macro's text: borrowed when it is all literal (most are).
    fn expanded<'m>(&self, m: &'m Macro) -> Cow<'m, str> {
        match m.literal() {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(self.expand(m)),
        }
    }

    fn expand(&self, m: &Macro) -> String {
        let mut out = String::new();
        for part in &m.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Rule(what) => {
                    if what == "id" {
                        out.push_str(itoa::Buffer::new().format(self.rule_id));
                    }
                }
                Part::Var(Var::Tx, Some(key)) => {
                    if let Some(v) = self.vars.get(key) {
                        out.push_str(v);
                    }
                }
                Part::Var(Var::MatchedVar, None) => {
                    out.push_str(&String::from_utf8_lossy(&self.matched_var));
                }
                Part::Var(Var::MatchedVarName, None) => out.push_str(&self.matched_var_name),
                Part::Var(var, key) => {
                    let target = Target {
                        var: *var,
                        selector: match key {
                            Some(k) => Selector::Key(k.clone()),
                            None => Selector::All,
                        },
                        count: false,
                    };
                    let mut first = None;
                    self.each_value(&target, &mut |item| {
                        if first.is_none() {
                            first = Some(String::from_utf8_lossy(&item.value).into_owned());
                        }
                    });
                    if let Some(value) = first {
                        out.push_str(&value);
                    }
                }
            }
        }
        out
    }

    fn run_actions(&mut self, rule: &Rule) {
        for action in &rule.actions {
            match action {
                Action::SetVar { key, value } => {
                    let Some(key) = key else { continue };
                    let mut key = self.expanded(key);
                    if key.bytes().any(|b| b.is_ascii_uppercase()) {
                        key.to_mut().make_ascii_lowercase();
                    }
                    let new = match value {
                        SetValue::Assign(m) => self.expanded(m),
                        SetValue::Add(m) | SetValue::Subtract(m) => {
                            let current = self
                                .vars
                                .get(&*key)
                                .map_or(0, |v| super::operator::atoi(v.as_bytes()));
                            let by = super::operator::atoi(self.expanded(m).as_bytes());
                            let total = if matches!(value, SetValue::Add(_)) {
                                current.saturating_add(by)
                            } else {
                                current.saturating_sub(by)
                            };
                            Cow::Owned(itoa::Buffer::new().format(total).to_owned())
                        }
                    };
                    if matches!(value, SetValue::Add(_))
                        && key.contains("anomaly_score")
                        && !self.scored.contains(&self.rule_id)
                    {
                        self.scored.push(self.rule_id);
                    }
                    // An existing variable keeps its buffers.
                    match self.vars.get_mut(&*key) {
                        Some(slot) => {
                            slot.clear();
                            slot.push_str(&new);
                        }
                        None => {
                            self.vars.insert(key.into_owned(), new.into_owned());
                        }
                    }
                }
                Action::DelVar(key) => {
                    if let Some(key) = key {
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
                        self.processor = match p.as_str() {
                            "JSON" => Some("JSON"),
                            "XML" => Some("XML"),
                            "URLENCODED" => Some("URLENCODED"),
                            "MULTIPART" => Some("MULTIPART"),
                            _ => self.processor,
                        };
                    }
                    Ctl::Other => {}
                },
            }
        }
    }
}
