//! The `messaging` section: the SQS/SNS listener, its naming and access
//! keys, and declared queues and topics, checked with the same rules the API
//! applies.

use super::diagnostics::Reporter;
use super::model::{AccessKey, DeclaredQueue, DeclaredSubscription, DeclaredTopic, Messaging};
use super::queue_settings as settings;
use super::raw::MessagingRaw;
use super::validate::socket_addr;
use std::collections::BTreeMap;

pub const DEFAULT_ADDR: &str = "127.0.0.1:9324";

pub fn messaging(raw: Option<&MessagingRaw>, r: &mut Reporter) -> Option<Messaging> {
    let empty = MessagingRaw::default();
    let raw = raw.unwrap_or(&empty);
    if raw.enabled == Some(false) {
        return None;
    }
    let address = match &raw.address {
        Some(a) => socket_addr(a, "messaging.address", r)?,
        None => DEFAULT_ADDR.parse().ok()?,
    };
    if raw.access_keys.is_empty() && !address.ip().is_loopback() {
        r.error(
            "messaging.address",
            "without `access_keys` the messaging API is open, so it may only listen on a loopback address",
        );
    }
    let region = raw.region.clone().unwrap_or_else(|| "us-east-1".into());
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        r.error(
            "messaging.region",
            format!("bad region `{region}`: lowercase letters, digits and `-`"),
        );
    }
    let account_id = raw
        .account_id
        .clone()
        .unwrap_or_else(|| "000000000000".into());
    if account_id.len() != 12 || !account_id.chars().all(|c| c.is_ascii_digit()) {
        r.error(
            "messaging.account_id",
            format!("bad account id `{account_id}`: 12 digits"),
        );
    }
    if let Some(url) = &raw.public_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            r.error(
                "messaging.public_url",
                "must start with http:// or https://",
            );
        }
    }
    let mut access_keys = BTreeMap::new();
    for (i, key) in raw.access_keys.iter().enumerate() {
        let path = format!("messaging.access_keys[{i}]");
        if key.id.is_empty() || key.secret.is_empty() {
            r.error(&path, "`id` and `secret` must not be empty");
        }
        let key_account = key.account_id.clone().unwrap_or_else(|| account_id.clone());
        if !crate::iam::policy::is_account_id(&key_account) {
            r.error(
                &format!("{path}.account_id"),
                format!("bad account id `{key_account}`: 12 digits"),
            );
        }
        let user = key.user.clone().unwrap_or_else(|| key.id.clone());
        if user.is_empty()
            || user.len() > 64
            || !user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        {
            r.error(
                &format!("{path}.user"),
                format!("bad user name `{user}`: up to 64 letters, digits and +=,.@_-"),
            );
        }
        let policy = key.policy.as_ref().map(|p| match p {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        });
        if let Some(Err(why)) = policy.as_deref().map(crate::iam::Policy::parse) {
            r.error(&format!("{path}.policy"), why);
        }
        let entry = AccessKey {
            secret: key.secret.clone(),
            account_id: key_account,
            user,
            policy,
        };
        if access_keys.insert(key.id.clone(), entry).is_some() {
            r.error(
                &format!("{path}.id"),
                format!("duplicate access key `{}`", key.id),
            );
        }
    }
    let mut queues = Vec::new();
    for (name, q) in &raw.queues {
        let path = format!("messaging.queues.{name}");
        let fifo = match settings::check_queue_name(name) {
            Ok(fifo) => fifo,
            Err(e) => {
                r.error(&path, format!("bad queue name `{name}`: {e}"));
                continue;
            }
        };
        let mut attributes = q.attributes.clone();
        for (k, v) in &q.attributes {
            if k == "RedrivePolicy" {
                continue; // checked against the queues when they are created
            }
            if let Err(e) = settings::check(k, v, fifo, true) {
                r.error(&format!("{path}.attributes.{k}"), e.to_string());
            }
        }
        if let Some(dlq) = &q.dead_letter_queue {
            if !raw.queues.contains_key(dlq) {
                r.error(
                    &format!("{path}.dead_letter_queue"),
                    format!("no queue `{dlq}` is declared"),
                );
            }
            let count = q.max_receive_count.unwrap_or(5);
            if !(1..=1000).contains(&count) {
                r.error(
                    &format!("{path}.max_receive_count"),
                    "must be between 1 and 1000",
                );
            }
            attributes.insert(
                "RedrivePolicy".into(),
                serde_json::json!({
                    "deadLetterTargetArn": format!("arn:aws:sqs:{region}:{account_id}:{dlq}"),
                    "maxReceiveCount": count,
                })
                .to_string(),
            );
        } else if q.max_receive_count.is_some() {
            r.error(
                &format!("{path}.max_receive_count"),
                "needs `dead_letter_queue`",
            );
        }
        queues.push(DeclaredQueue {
            name: name.clone(),
            attributes,
            tags: q.tags.clone(),
        });
    }
    let mut topics = Vec::new();
    for (name, t) in &raw.topics {
        let path = format!("messaging.topics.{name}");
        let subscriptions = t
            .subscriptions
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                if !matches!(s.protocol.as_str(), "sqs" | "http" | "https" | "flow") {
                    r.error(
                        &format!("{path}.subscriptions[{i}].protocol"),
                        format!(
                            "unknown protocol `{}`: expected sqs, http, https or flow",
                            s.protocol
                        ),
                    );
                    return None;
                }
                if s.protocol == "sqs" && !raw.queues.contains_key(&s.endpoint) {
                    r.error(
                        &format!("{path}.subscriptions[{i}].endpoint"),
                        format!("no queue `{}` is declared", s.endpoint),
                    );
                }
                Some(DeclaredSubscription {
                    protocol: s.protocol.clone(),
                    endpoint: s.endpoint.clone(),
                    attributes: s.attributes.clone(),
                })
            })
            .collect();
        topics.push(DeclaredTopic {
            name: name.clone(),
            attributes: t.attributes.clone(),
            tags: t.tags.clone(),
            subscriptions,
        });
    }
    Some(Messaging {
        address,
        region,
        account_id,
        public_url: raw.public_url.clone(),
        fsync: raw.fsync.unwrap_or(true),
        allow_private_endpoints: raw.allow_private_endpoints.unwrap_or(false),
        max_connections: raw.max_connections.filter(|n| {
            if *n == 0 {
                r.error("messaging.max_connections", "must be at least 1");
            }
            *n > 0
        }),
        large_payloads: super::large_payloads::large_payloads(raw.large_payloads.as_ref(), r),
        access_keys,
        tls: raw.tls.unwrap_or(false),
        key_ring: raw.encryption.as_ref().and_then(|e| {
            crate::sealing::KeyRing::new(&e.current_key, &e.keys)
                .map_err(|why| r.error("messaging.encryption", why))
                .ok()
        }),
        queues,
        topics,
    })
}
