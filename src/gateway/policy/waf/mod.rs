//! The WAF: a rule set's own rules by priority (block, allow, count), then
//! its managed groups. What matched goes to the access log and metrics, never
//! into the response.
//!
//! Every value is inspected as sent and URL-decoded once and twice, so double
//! encoding (`%2527`) hides nothing.

pub mod crs;
mod managed;
pub mod rate;
pub mod transform;

use crate::config::waf::{Action, Attached, Field, Statement, Test};
use pingora::http::RequestHeader;
use std::net::IpAddr;

pub enum Outcome {
    /// No rule decided; the request goes on. Carries the rules that counted.
    Pass(Vec<String>),
    /// An `allow` rule matched: the remaining rules are skipped.
    Allow(String),
    /// Blocked, by this rule (`managed:<group>` for managed groups).
    Block(String),
}

/// The request as the WAF sees it, decoded once up front.
pub struct Inputs<'a> {
    req: &'a RequestHeader,
    body: Option<&'a [u8]>,
    path: Vec<String>,
    /// Query values and cookie values (and their names), in decoded variants.
    values: Vec<String>,
    /// Every header value, as sent.
    headers: Vec<&'a str>,
}

impl<'a> Inputs<'a> {
    pub fn new(req: &'a RequestHeader, body: Option<&'a [u8]>) -> Inputs<'a> {
        let mut values = Vec::new();
        if let Some(body) = body {
            body_values(req, body, &mut values);
        }
        for pair in req
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            push_variants(&mut values, k);
            push_variants(&mut values, v);
        }
        for cookie in req.headers.get_all(http::header::COOKIE) {
            for pair in cookie.to_str().unwrap_or("").split(';') {
                let (_, v) = pair.trim().split_once('=').unwrap_or(("", pair.trim()));
                push_variants(&mut values, v);
            }
        }
        for name in [http::header::USER_AGENT, http::header::REFERER] {
            if let Some(v) = req.headers.get(&name).and_then(|v| v.to_str().ok()) {
                push_variants(&mut values, v);
            }
        }
        let mut path = Vec::new();
        push_variants(&mut path, req.uri.path());
        let headers = req
            .headers
            .values()
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        Inputs {
            req,
            body,
            path,
            values,
            headers,
        }
    }

    fn values(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(String::as_str)
    }

    fn path_and_values(&self) -> impl Iterator<Item = &str> {
        self.path.iter().map(String::as_str).chain(self.values())
    }

    fn everything(&self) -> impl Iterator<Item = &str> {
        self.path_and_values().chain(self.headers.iter().copied())
    }

    fn field(&self, field: &Field) -> Option<String> {
        match field {
            Field::Method => Some(self.req.method.as_str().to_string()),
            Field::Path => Some(self.req.uri.path().to_string()),
            Field::Query => Some(self.req.uri.query().unwrap_or("").to_string()),
            Field::Header(h) => {
                let all: Vec<&str> = self
                    .req
                    .headers
                    .get_all(h)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                (!all.is_empty()).then(|| all.join(", "))
            }
            Field::Body => self.body.map(|b| String::from_utf8_lossy(b).into_owned()),
            Field::Cookie(name) => self
                .req
                .headers
                .get_all(http::header::COOKIE)
                .iter()
                .find_map(|c| {
                    c.to_str().ok()?.split(';').find_map(|pair| {
                        let (k, v) = pair.trim().split_once('=')?;
                        (k == name).then(|| v.to_string())
                    })
                }),
        }
    }
}

/// The value as sent, URL-decoded, and decoded twice, without repeats.
/// Plain words (letters, digits, `_`, `.`, `-`) cannot carry any attack the
/// managed groups look for, so they are not inspected at all: most query
/// values are ids and names, and this keeps the WAF cheap for them.
/// The forms of a value the managed groups inspect: the value decoded as
/// a browser or a server would read it (URL encoding twice, `%u` and
/// full-width forms, HTML entities, JavaScript escapes). The
/// still-encoded value is not one of them when decoding changed it (`+`
/// is a space in a query: `(1+2)+(3+4)` is arithmetic, not SQL).
fn push_variants(out: &mut Vec<String>, raw: &str) {
    use crate::seclang::transform::Transform;
    let decode = |t: Transform, v: &str| {
        t.apply(v.as_bytes())
            .map(|d| String::from_utf8_lossy(&d).into_owned())
    };
    let once = decode(Transform::UrlDecodeUni, raw).unwrap_or_else(|| raw.to_string());
    let twice = decode(Transform::UrlDecodeUni, &once);
    let mut forms = vec![once];
    forms.extend(twice);
    for i in 0..forms.len() {
        // Full-width characters (`＜`) read as their ASCII forms, as
        // CRS's utf8toUnicode then urlDecodeUni does.
        if let Some(folded) = decode(Transform::Utf8ToUnicode, &forms[i])
            .and_then(|v| decode(Transform::UrlDecodeUni, &v))
        {
            forms.push(folded);
        }
        for t in [Transform::HtmlEntityDecode, Transform::JsDecode] {
            if let Some(decoded) = decode(t, &forms[i]) {
                forms.push(decoded);
            }
        }
    }
    for v in forms {
        if !v.is_empty() && !out.contains(&v) {
            out.push(v);
        }
    }
}

/// The strings in a JSON body (keys and string values, at any depth) or a
/// form body's names and values; other bodies only feed `field: body` rules.
fn body_values(req: &RequestHeader, body: &[u8], out: &mut Vec<String>) {
    let media = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media == "application/json" || media.ends_with("+json") {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
            json_strings(&value, out, 0);
        } else {
            // Not JSON after all: inspect it as text.
            push_variants(out, &String::from_utf8_lossy(body));
        }
    } else if media == "application/x-www-form-urlencoded" {
        for pair in String::from_utf8_lossy(body)
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            push_variants(out, k);
            push_variants(out, v);
        }
    }
}

fn json_strings(value: &serde_json::Value, out: &mut Vec<String>, depth: usize) {
    // Bounded: bodies are small, but nesting need not be.
    if depth > 64 {
        return;
    }
    match value {
        serde_json::Value::String(s) => push_variants(out, s),
        serde_json::Value::Array(items) => {
            items.iter().for_each(|v| json_strings(v, out, depth + 1))
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                push_variants(out, k);
                json_strings(v, out, depth + 1);
            }
        }
        _ => {}
    }
}

pub async fn evaluate(
    set: &Attached,
    req: &RequestHeader,
    body: Option<&[u8]>,
    client_ip: Option<IpAddr>,
    rates: &rate::RateRules,
) -> Outcome {
    let inputs = Inputs::new(req, body);
    let mut counted = Vec::new();
    for rule in &set.rules {
        let hit = match &rule.statement {
            Statement::Rate { block_for, .. } => match client_ip {
                Some(ip) => rates.over(&set.name, &rule.name, ip, *block_for).await,
                None => false,
            },
            other => matches(other, &inputs, client_ip),
        };
        if !hit {
            continue;
        }
        match rule.action {
            Action::Block => return Outcome::Block(rule.name.clone()),
            Action::Allow => return Outcome::Allow(rule.name.clone()),
            Action::Count => counted.push(rule.name.clone()),
        }
    }
    if let Some(group) = managed::check(&set.managed, &inputs) {
        return Outcome::Block(format!("managed:{}", group.name()));
    }
    if let Some((crs_set, tuning)) = set.crs() {
        match crs::check(crs_set, tuning, req, body, client_ip) {
            Some((true, label)) => return Outcome::Block(label),
            // `detect`: what would have blocked is counted, not enforced.
            Some((false, label)) => counted.push(label),
            None => {}
        }
    }
    Outcome::Pass(counted)
}

fn matches(statement: &Statement, inputs: &Inputs<'_>, client_ip: Option<IpAddr>) -> bool {
    match statement {
        Statement::IpSet(nets) => client_ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))),
        // Counted in `evaluate`, which holds the per-IP state.
        Statement::Rate { .. } => false,
        Statement::Match {
            field,
            transforms,
            test,
        } => {
            let Some(raw) = inputs.field(field) else {
                return false;
            };
            let value = transform::apply(&raw, transforms);
            match test {
                Test::Contains(s) => value.contains(s.as_str()),
                Test::Equals(s) => *value == **s,
                Test::StartsWith(s) => value.starts_with(s.as_str()),
                Test::Regex(re) => re.is_match(&value),
                Test::SizeOver(n) => value.len() > *n,
            }
        }
    }
}
