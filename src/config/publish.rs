//! `queue` and `topic` route integrations: the target must be declared under
//! `messaging:`, and every value source must name something the request has.

use super::diagnostics::Reporter;
use super::model::{Messaging, PublishIntegration, ValueSource};
use super::raw::{QueueIntegrationRaw, TopicIntegrationRaw};
use crate::config::path_template::PathTemplate;
use http::HeaderName;
use std::collections::BTreeMap;

pub fn queue(
    raw: &QueueIntegrationRaw,
    template: &PathTemplate,
    messaging: Option<&Messaging>,
    path: &str,
    r: &mut Reporter,
) -> PublishIntegration {
    let declared: Vec<&str> = messaging
        .map(|m| m.queues.iter().map(|q| q.name.as_str()).collect())
        .unwrap_or_default();
    check_target(&raw.queue, "queue", &declared, messaging.is_some(), path, r);
    if let Some(d) = raw.delay_seconds.filter(|d| *d > 900) {
        r.error(
            &format!("{path}.delay_seconds"),
            format!("{d} is more than 900"),
        );
    }
    let fifo = raw.queue.ends_with(".fifo");
    if fifo && raw.message_group_id.is_none() {
        r.error(path, "a FIFO queue needs `message_group_id`");
    }
    if !fifo && (raw.message_group_id.is_some() || raw.deduplication_id.is_some()) {
        r.error(
            path,
            "`message_group_id` and `deduplication_id` are for FIFO queues (named *.fifo)",
        );
    }
    PublishIntegration {
        topic: false,
        target: raw.queue.clone(),
        attributes: attributes(&raw.message_attributes, template, path, r),
        subject: None,
        group_id: optional(
            raw.message_group_id.as_deref(),
            template,
            &format!("{path}.message_group_id"),
            r,
        ),
        dedup_id: optional(
            raw.deduplication_id.as_deref(),
            template,
            &format!("{path}.deduplication_id"),
            r,
        ),
        delay_seconds: raw.delay_seconds,
    }
}

pub fn topic(
    raw: &TopicIntegrationRaw,
    template: &PathTemplate,
    messaging: Option<&Messaging>,
    path: &str,
    r: &mut Reporter,
) -> PublishIntegration {
    let declared: Vec<&str> = messaging
        .map(|m| m.topics.iter().map(|t| t.name.as_str()).collect())
        .unwrap_or_default();
    check_target(&raw.topic, "topic", &declared, messaging.is_some(), path, r);
    let fifo = raw.topic.ends_with(".fifo");
    if fifo && raw.message_group_id.is_none() {
        r.error(path, "a FIFO topic needs `message_group_id`");
    }
    PublishIntegration {
        topic: true,
        target: raw.topic.clone(),
        attributes: attributes(&raw.message_attributes, template, path, r),
        subject: optional(
            raw.subject.as_deref(),
            template,
            &format!("{path}.subject"),
            r,
        ),
        group_id: optional(
            raw.message_group_id.as_deref(),
            template,
            &format!("{path}.message_group_id"),
            r,
        ),
        dedup_id: optional(
            raw.deduplication_id.as_deref(),
            template,
            &format!("{path}.deduplication_id"),
            r,
        ),
        delay_seconds: None,
    }
}

pub(super) fn check_target(
    name: &str,
    kind: &str,
    declared: &[&str],
    enabled: bool,
    path: &str,
    r: &mut Reporter,
) {
    if !enabled {
        r.error(
            path,
            format!("the {kind} integration needs the messaging API (messaging.enabled is false)"),
        );
    } else if !declared.contains(&name) {
        r.error(
            &format!("{path}.{kind}"),
            format!(
                "no {kind} `{name}` is declared under `messaging.{kind}s` in gatehouse.yaml{}",
                super::de::did_you_mean(name, declared)
            ),
        );
    }
}

fn attributes(
    raw: &BTreeMap<String, String>,
    template: &PathTemplate,
    path: &str,
    r: &mut Reporter,
) -> Vec<(String, ValueSource)> {
    if raw.len() > super::queue_settings::MAX_ATTRIBUTES {
        r.error(
            &format!("{path}.message_attributes"),
            "at most 10 message attributes",
        );
    }
    raw.iter()
        .filter_map(|(name, source)| {
            let at = format!("{path}.message_attributes.{name}");
            let valid_name = !name.is_empty()
                && name.len() <= 256
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                && !name.to_ascii_lowercase().starts_with("aws.");
            if !valid_name {
                r.error(
                    &at,
                    format!("bad attribute name `{name}`: letters, digits, `_`, `-` and `.`"),
                );
            }
            parse_source(source, template, &at, r).map(|s| (name.clone(), s))
        })
        .collect()
}

fn optional(
    source: Option<&str>,
    template: &PathTemplate,
    path: &str,
    r: &mut Reporter,
) -> Option<ValueSource> {
    source.and_then(|s| parse_source(s, template, path, r))
}

/// `header:NAME`, `param:NAME`, `query:NAME`, `method`, `path`,
/// `request_id` or `'literal'`.
pub fn parse_source(
    text: &str,
    template: &PathTemplate,
    path: &str,
    r: &mut Reporter,
) -> Option<ValueSource> {
    let source = match text.split_once(':') {
        Some(("header", name)) => match HeaderName::from_bytes(name.as_bytes()) {
            Ok(h) => ValueSource::Header(h),
            Err(_) => {
                r.error(path, format!("bad header name `{name}`"));
                return None;
            }
        },
        Some(("param", name)) => {
            if !template.param_names().any(|p| p == name) {
                r.error(
                    path,
                    format!("`{name}` is not a parameter of the route path"),
                );
                return None;
            }
            ValueSource::Param(name.to_string())
        }
        Some(("query", name)) if !name.is_empty() => ValueSource::Query(name.to_string()),
        _ if text == "method" => ValueSource::Method,
        _ if text == "path" => ValueSource::Path,
        _ if text == "request_id" => ValueSource::RequestId,
        _ if text.len() >= 2 && text.starts_with('\'') && text.ends_with('\'') => {
            ValueSource::Literal(text[1..text.len() - 1].to_string())
        }
        _ => {
            r.error(
                path,
                format!("bad value source `{text}`: expected header:NAME, param:NAME, query:NAME, method, path, request_id or 'text'"),
            );
            return None;
        }
    };
    Some(source)
}
