//! A statement's `Condition` block: `{"Operator": {"key": value-or-list}}`.
//! Every operator must hold (AND); within one, any listed value may match
//! (OR). As IAM: a key the request does not carry fails a positive operator
//! and satisfies a negated one; `...IfExists` makes a missing key satisfy
//! any operator.
//!
//! Keys, case-insensitive: `aws:SourceArn` and `aws:SourceAccount` (a
//! topic delivering to a queue; `AWS:SourceOwner` is the same account),
//! `aws:SecureTransport`, `aws:SourceIp`, `aws:PrincipalAccount`,
//! `aws:PrincipalArn`, `aws:username`.

use super::policy::{strings, wildcard};
use super::RequestContext;
use serde_json::Value;
use std::borrow::Cow;

#[derive(Debug, Clone)]
pub struct Condition {
    test: Test,
    negated: bool,
    if_exists: bool,
    /// Lowercase: condition keys are case-insensitive.
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    Equals,
    EqualsIgnoreCase,
    Like,
    Bool,
    Ip,
    Null,
}

pub fn parse(block: &Value) -> Result<Vec<Condition>, String> {
    let Value::Object(operators) = block else {
        return Err("`Condition` must be an object".into());
    };
    let mut out = Vec::new();
    for (operator, keys) in operators {
        let (test, negated, if_exists) = operator_of(operator)?;
        let Value::Object(keys) = keys else {
            return Err(format!("condition `{operator}` must map keys to values"));
        };
        for (key, values) in keys {
            let values = strings(values, "Condition")?;
            if test == Test::Ip {
                for v in &values {
                    if cidr(v).is_none() {
                        return Err(format!("`{v}` is not an IP address or CIDR block"));
                    }
                }
            }
            out.push(Condition {
                test,
                negated,
                if_exists,
                key: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

fn operator_of(name: &str) -> Result<(Test, bool, bool), String> {
    let (base, if_exists) = match name.strip_suffix("IfExists") {
        Some(base) if base != "Null" => (base, true),
        _ => (name, false),
    };
    let (test, negated) = match base {
        "StringEquals" | "ArnEquals" => (Test::Equals, false),
        "StringNotEquals" | "ArnNotEquals" => (Test::Equals, true),
        "StringEqualsIgnoreCase" => (Test::EqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Test::EqualsIgnoreCase, true),
        "StringLike" | "ArnLike" => (Test::Like, false),
        "StringNotLike" | "ArnNotLike" => (Test::Like, true),
        "Bool" => (Test::Bool, false),
        "IpAddress" => (Test::Ip, false),
        "NotIpAddress" => (Test::Ip, true),
        "Null" => (Test::Null, false),
        _ => return Err(format!("unsupported condition operator `{name}`")),
    };
    Ok((test, negated, if_exists))
}

impl Condition {
    pub fn holds(&self, ctx: &RequestContext<'_>) -> bool {
        let found = ctx.key(&self.key);
        if self.test == Test::Null {
            // {"Null": {"aws:SourceArn": "true"}}: the key is absent.
            let wants_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return found.is_none() == wants_absent;
        }
        let Some(actual) = found else {
            return self.if_exists || self.negated;
        };
        let any = self.values.iter().any(|v| self.test.matches(v, &actual));
        any != self.negated
    }
}

impl Test {
    fn matches(self, expected: &str, actual: &str) -> bool {
        match self {
            Test::Equals => {
                // ArnEquals takes wildcards as ArnLike does; string
                // equality has none, and a literal `*` in an ARN is rare.
                expected == actual || (expected.starts_with("arn:") && wildcard(expected, actual))
            }
            Test::EqualsIgnoreCase => expected.eq_ignore_ascii_case(actual),
            Test::Like => wildcard(expected, actual),
            Test::Bool => expected.eq_ignore_ascii_case(actual),
            Test::Ip => match (cidr(expected), actual.parse::<std::net::IpAddr>()) {
                (Some(net), Ok(ip)) => net.contains(&ip),
                _ => false,
            },
            Test::Null => false,
        }
    }
}

fn cidr(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

impl RequestContext<'_> {
    /// The value of a (lowercase) condition key for this request.
    fn key(&self, key: &str) -> Option<Cow<'_, str>> {
        use super::Caller;
        match (key, self.caller) {
            ("aws:sourcearn", Caller::Service { source_arn, .. }) => {
                Some(Cow::Borrowed(source_arn.as_str()))
            }
            ("aws:sourceaccount" | "aws:sourceowner", Caller::Service { source_account, .. }) => {
                Some(Cow::Borrowed(source_account.as_str()))
            }
            ("aws:principalaccount", Caller::User { account, .. }) => {
                Some(Cow::Borrowed(account.as_str()))
            }
            ("aws:principalarn", Caller::User { arn, .. }) => Some(Cow::Borrowed(arn.as_str())),
            ("aws:username", Caller::User { user, .. }) => Some(Cow::Borrowed(user.as_str())),
            ("aws:securetransport", _) => Some(Cow::Borrowed(if self.secure_transport {
                "true"
            } else {
                "false"
            })),
            ("aws:sourceip", _) => self.source_ip.map(|ip| Cow::Owned(ip.to_string())),
            _ => None,
        }
    }
}
