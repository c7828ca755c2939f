//! `flow` route integrations and `flow` topic subscriptions: the flow must
//! exist, and a signature check must be complete for its kind.

use super::diagnostics::Reporter;
use super::model::{FlowIntegration, Messaging};
use super::raw::{FlowIntegrationRaw, FlowTargetRaw, SignatureRaw};
use crate::config::signature::{Signature, SignatureKind};
use std::collections::BTreeSet;
use std::time::Duration;

pub fn check(
    raw: &FlowIntegrationRaw,
    flows: &BTreeSet<String>,
    path: &str,
    r: &mut Reporter,
) -> Option<FlowIntegration> {
    let (name, signature, name_path) = match raw {
        FlowIntegrationRaw::Name(name) => (name, None, path.to_string()),
        FlowIntegrationRaw::Full(FlowTargetRaw { name, signature }) => {
            (name, signature.as_ref(), format!("{path}.name"))
        }
    };
    if !flows.contains(name) {
        let known: Vec<&str> = flows.iter().map(String::as_str).collect();
        r.error(
            &name_path,
            format!(
                "no flow `{name}` in flows/{}",
                super::de::did_you_mean(name, &known)
            ),
        );
        return None;
    }
    let signature = match signature {
        Some(s) => Some(check_signature(s, &format!("{path}.signature"), r)?),
        None => None,
    };
    Some(FlowIntegration {
        flow: name.clone(),
        signature,
    })
}

/// Topic subscriptions with protocol `flow` name a flow in `flows/`.
pub fn check_subscriptions(messaging: &Messaging, flows: &BTreeSet<String>, r: &mut Reporter) {
    for topic in &messaging.topics {
        for (i, s) in topic.subscriptions.iter().enumerate() {
            if s.protocol == "flow" && !flows.contains(&s.endpoint) {
                let known: Vec<&str> = flows.iter().map(String::as_str).collect();
                r.error(
                    &format!(
                        "messaging.topics.{}.subscriptions[{i}].endpoint",
                        topic.name
                    ),
                    format!(
                        "no flow `{}` in flows/{}",
                        s.endpoint,
                        super::de::did_you_mean(&s.endpoint, &known)
                    ),
                );
            }
        }
    }
}

fn check_signature(raw: &SignatureRaw, path: &str, r: &mut Reporter) -> Option<Signature> {
    if raw.secret.is_empty() {
        r.error(&format!("{path}.secret"), "the secret is empty");
        return None;
    }
    let only_for = |field: &str, set: bool, kinds: &str, r: &mut Reporter| {
        if set {
            r.error(
                &format!("{path}.{field}"),
                format!("`{field}` applies to kind {kinds} only"),
            );
        }
    };
    let kind = match raw.kind.as_str() {
        "github" | "stripe" => {
            only_for("header", raw.header.is_some(), "hmac", r);
            only_for("prefix", raw.prefix.is_some(), "hmac", r);
            only_for("encoding", raw.encoding.is_some(), "hmac", r);
            if raw.kind == "github" {
                only_for("tolerance", raw.tolerance.is_some(), "stripe", r);
                SignatureKind::Github
            } else {
                SignatureKind::Stripe {
                    tolerance: raw
                        .tolerance
                        .as_ref()
                        .map_or(Duration::from_secs(300), |t| t.0),
                }
            }
        }
        "hmac" => {
            only_for("tolerance", raw.tolerance.is_some(), "stripe", r);
            let Some(header) = raw.header.as_deref() else {
                r.error(path, "kind hmac needs `header`: where the signature is");
                return None;
            };
            let Ok(header) = http::HeaderName::from_bytes(header.as_bytes()) else {
                r.error(
                    &format!("{path}.header"),
                    format!("bad header name `{header}`"),
                );
                return None;
            };
            let base64 = match raw.encoding.as_deref() {
                None | Some("hex") => false,
                Some("base64") => true,
                Some(other) => {
                    r.error(
                        &format!("{path}.encoding"),
                        format!("unknown encoding `{other}`: hex or base64"),
                    );
                    return None;
                }
            };
            SignatureKind::Hmac {
                header,
                prefix: raw.prefix.clone().unwrap_or_default(),
                base64,
            }
        }
        other => {
            r.error(
                &format!("{path}.kind"),
                format!("unknown signature kind `{other}`: github, stripe or hmac"),
            );
            return None;
        }
    };
    Some(Signature::new(kind, &raw.secret))
}
