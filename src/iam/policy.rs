//! IAM policy documents as SQS queues and SNS topics hold them in their
//! `Policy` attribute: parsed once (refused with a reason when malformed,
//! rather than silently granting or denying), then evaluated per request.
//!
//! Supported: `Effect`, `Principal`/`NotPrincipal` (`*`, `{"AWS": ...}`
//! with account ids, `arn:aws:iam::ACCOUNT:root` or user ARNs,
//! `{"Service": ...}`), `Action`/`NotAction` and `Resource`/`NotResource`
//! with `*` and `?` wildcards, and the conditions in `condition`.

use super::condition::Condition;
use super::{Caller, RequestContext};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// What a policy says about one request: an explicit deny wins over any
/// allow; no matching statement says nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    NotApplicable,
}

#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    /// None: the statement names no principal (an identity policy's
    /// statements apply to their own principal).
    principal: Option<Negatable<Vec<PrincipalPattern>>>,
    action: Negatable<Vec<String>>,
    /// None: any resource.
    resource: Option<Negatable<Vec<String>>>,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone)]
struct Negatable<T> {
    items: T,
    negated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PrincipalPattern {
    Anyone,
    Account(String),
    Arn(String),
    Service(String),
}

impl Policy {
    /// Parses a policy document; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let json: Value =
            serde_json::from_str(text).map_err(|e| format!("the policy is not JSON: {e}"))?;
        Policy::from_json(&json)
    }

    pub fn from_json(json: &Value) -> Result<Policy, String> {
        let statements = match json.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            Some(_) => return Err("`Statement` must be an object or a list".into()),
            None => return Err("the policy has no `Statement`".into()),
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(i, s)| statement(s).map_err(|why| format!("statement {}: {why}", i + 1)))
            .collect::<Result<_, _>>()?;
        Ok(Policy { statements })
    }

    /// Explicit deny, else allow if any statement allows.
    pub fn evaluate(&self, ctx: &RequestContext<'_>) -> Decision {
        let mut decision = Decision::NotApplicable;
        for s in &self.statements {
            if s.applies(ctx) {
                match s.effect {
                    Effect::Deny => return Decision::Deny,
                    Effect::Allow => decision = Decision::Allow,
                }
            }
        }
        decision
    }
}

impl Statement {
    fn applies(&self, ctx: &RequestContext<'_>) -> bool {
        let principal_ok = self
            .principal
            .as_ref()
            .is_none_or(|p| p.negated != p.items.iter().any(|pattern| pattern.matches(ctx.caller)));
        let action_ok = self.action.negated
            != self
                .action
                .items
                .iter()
                .any(|a| wildcard(&a.to_ascii_lowercase(), &ctx.action.to_ascii_lowercase()));
        let resource_ok = self
            .resource
            .as_ref()
            .is_none_or(|r| r.negated != r.items.iter().any(|p| wildcard(p, ctx.resource)));
        principal_ok && action_ok && resource_ok && self.conditions.iter().all(|c| c.holds(ctx))
    }
}

impl PrincipalPattern {
    fn matches(&self, caller: &Caller) -> bool {
        match (self, caller) {
            (PrincipalPattern::Anyone, _) => true,
            (PrincipalPattern::Account(a), Caller::User { account, .. }) => a == account,
            (PrincipalPattern::Arn(arn), Caller::User { arn: own, .. }) => arn == own,
            (PrincipalPattern::Service(s), Caller::Service { name, .. }) => s == name,
            _ => false,
        }
    }
}

fn statement(s: &Value) -> Result<Statement, String> {
    let Value::Object(fields) = s else {
        return Err("must be an object".into());
    };
    for key in fields.keys() {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(format!("unknown field `{key}`"));
        }
    }
    let effect = match fields.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err("`Effect` must be \"Allow\" or \"Deny\"".into()),
    };
    let principal = match either(fields, "Principal", "NotPrincipal")? {
        None => None,
        Some((value, negated)) => Some(Negatable {
            items: principals(value)?,
            negated,
        }),
    };
    let action = match either(fields, "Action", "NotAction")? {
        Some((value, negated)) => Negatable {
            items: strings(value, "Action")?,
            negated,
        },
        None => return Err("needs `Action` or `NotAction`".into()),
    };
    let resource = match either(fields, "Resource", "NotResource")? {
        Some((value, negated)) => Some(Negatable {
            items: strings(value, "Resource")?,
            negated,
        }),
        None => None,
    };
    let conditions = match fields.get("Condition") {
        Some(c) => super::condition::parse(c)?,
        None => Vec::new(),
    };
    Ok(Statement {
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

/// `Foo` or `NotFoo`, never both.
fn either<'a>(
    fields: &'a serde_json::Map<String, Value>,
    plain: &str,
    not: &str,
) -> Result<Option<(&'a Value, bool)>, String> {
    match (fields.get(plain), fields.get(not)) {
        (Some(_), Some(_)) => Err(format!("has both `{plain}` and `{not}`")),
        (Some(v), None) => Ok(Some((v, false))),
        (None, Some(v)) => Ok(Some((v, true))),
        (None, None) => Ok(None),
    }
}

/// A string or a list of strings.
pub(super) fn strings(value: &Value, field: &str) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                _ => Err(format!("`{field}` must hold strings")),
            })
            .collect(),
        Value::Number(n) => Ok(vec![n.to_string()]),
        Value::Bool(b) => Ok(vec![b.to_string()]),
        _ => Err(format!("`{field}` must be a string or a list of strings")),
    }
}

fn principals(value: &Value) -> Result<Vec<PrincipalPattern>, String> {
    if value.as_str() == Some("*") {
        return Ok(vec![PrincipalPattern::Anyone]);
    }
    let Value::Object(kinds) = value else {
        return Err("`Principal` must be \"*\" or an object such as {\"AWS\": ...}".into());
    };
    let mut out = Vec::new();
    for (kind, ids) in kinds {
        for id in strings(ids, "Principal")? {
            out.push(match kind.as_str() {
                "AWS" => aws_principal(&id)?,
                "Service" => PrincipalPattern::Service(id),
                other => return Err(format!("unsupported principal type `{other}`")),
            });
        }
    }
    Ok(out)
}

fn aws_principal(id: &str) -> Result<PrincipalPattern, String> {
    if id == "*" {
        return Ok(PrincipalPattern::Anyone);
    }
    if is_account_id(id) {
        return Ok(PrincipalPattern::Account(id.to_string()));
    }
    if let Some(rest) = id.strip_prefix("arn:aws:iam::") {
        if let Some(account) = rest.strip_suffix(":root") {
            if is_account_id(account) {
                return Ok(PrincipalPattern::Account(account.to_string()));
            }
        }
        if rest.split_once(':').is_some_and(|(a, _)| is_account_id(a)) {
            return Ok(PrincipalPattern::Arn(id.to_string()));
        }
    }
    Err(format!(
        "invalid principal `{id}`: an account id, arn:aws:iam::ACCOUNT:root or a user ARN"
    ))
}

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// IAM's wildcards: `*` any run of characters, `?` any one character.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and where in the text it started matching: on a
    // mismatch, let it swallow one more character (linear backtracking).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("sqs:*", "sqs:sendmessage"));
        assert!(wildcard("*", ""));
        assert!(wildcard(
            "arn:aws:sqs:*:123456789012:q?",
            "arn:aws:sqs:us-east-1:123456789012:q1"
        ));
        assert!(!wildcard(
            "arn:aws:sqs:*:123456789012:q?",
            "arn:aws:sqs:us-east-1:123456789012:q12"
        ));
        assert!(wildcard("a*b*c", "aXXbYYbc"));
        assert!(!wildcard("a*b*c", "aXXbYYb"));
    }

    #[test]
    fn malformed_policies_say_why() {
        let cases = [
            ("{", "the policy is not JSON"),
            ("{}", "the policy has no `Statement`"),
            (
                r#"{"Statement":[{"Effect":"Maybe","Action":"*"}]}"#,
                "statement 1: `Effect`",
            ),
            (
                r#"{"Statement":{"Effect":"Allow"}}"#,
                "statement 1: needs `Action`",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Principal":{"AWS":"bob"}}}"#,
                "invalid principal `bob`",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"StringSortOf":{"aws:SourceArn":"x"}}}}"#,
                "unsupported condition operator `StringSortOf`",
            ),
        ];
        for (text, want) in cases {
            let err = Policy::parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
