//! Lambda's SQS event shape, and the answer's rules: a worker's target gets
//! `{"Records":[...]}` as a Lambda function behind an event-source mapping
//! would, and may answer `{"batchItemFailures":[{"itemIdentifier":ID}]}`
//! (ReportBatchItemFailures). Lambda's documented rules for the answer:
//! empty, `null` or an empty list is a complete success; invalid JSON or an
//! identifier that is empty, missing or not in the batch is a complete
//! failure.

use crate::messaging::broker::Delivery;
use crate::messaging::message::md5_of_attributes;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// The event for a batch.
pub fn event(batch: &[Delivery], queue_arn: &str, region: &str) -> Value {
    let records: Vec<Value> = batch.iter().map(|d| record(d, queue_arn, region)).collect();
    json!({ "Records": records })
}

fn record(d: &Delivery, queue_arn: &str, region: &str) -> Value {
    use base64::Engine;
    let m = &d.message;
    let mut attributes: Map<String, Value> = d
        .system_attributes()
        .into_iter()
        .map(|(name, value)| (name.to_string(), Value::from(value)))
        .collect();
    // Lambda's events always have it; a received message always has one.
    attributes
        .entry("ApproximateFirstReceiveTimestamp")
        .or_insert_with(|| Value::from(m.first_receive_at.unwrap_or(m.sent_at).to_string()));
    let message_attributes: Map<String, Value> = m
        .attributes
        .iter()
        .map(|(name, v)| {
            let binary = v
                .binary_value
                .as_ref()
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b));
            (
                name.clone(),
                json!({
                    "stringValue": v.string_value,
                    "binaryValue": binary,
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": v.data_type,
                }),
            )
        })
        .collect();
    let mut out = json!({
        "messageId": m.id.as_ref(),
        "receiptHandle": d.receipt,
        "body": m.body.as_ref(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": m.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    });
    if let Some(md5) = md5_of_attributes(&m.attributes) {
        out["md5OfMessageAttributes"] = md5.into();
    }
    out
}

/// What the target's answer says about the batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    AllSucceeded,
    /// These message ids failed; the rest succeeded.
    Partial(HashSet<String>),
    /// The whole batch failed, and why.
    Failed(String),
}

/// Reads an answer under Lambda's rules for `ids` (the batch's message ids).
pub fn verdict(answer: &[u8], ids: &[&str]) -> Verdict {
    if answer.iter().all(u8::is_ascii_whitespace) {
        return Verdict::AllSucceeded;
    }
    let json: Value = match serde_json::from_slice(answer) {
        Ok(v) => v,
        Err(e) => return Verdict::Failed(format!("the answer is not JSON: {e}")),
    };
    let failures = match json.get("batchItemFailures") {
        None | Some(Value::Null) => return Verdict::AllSucceeded,
        Some(Value::Array(list)) => list,
        Some(_) => return Verdict::Failed("batchItemFailures is not a list".into()),
    };
    let mut failed = HashSet::new();
    for item in failures {
        match item.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if !id.is_empty() && ids.contains(&id) => {
                failed.insert(id.to_string());
            }
            Some(id) if !id.is_empty() => {
                return Verdict::Failed(format!("itemIdentifier {id} is not in the batch"))
            }
            _ => return Verdict::Failed("an itemIdentifier is empty or missing".into()),
        }
    }
    if failed.is_empty() {
        Verdict::AllSucceeded
    } else {
        Verdict::Partial(failed)
    }
}

/// Which of the batch's messages to leave on the queue. On a FIFO queue a
/// failed message holds back every later message of its group, so the
/// group's order survives the retry.
pub fn to_keep(batch: &[Delivery], failed: &HashSet<String>) -> Vec<bool> {
    let mut blocked_groups: HashSet<&str> = HashSet::new();
    batch
        .iter()
        .map(|d| {
            let group = d.message.group_id.as_deref().filter(|_| d.fifo);
            let failed_here = failed.contains(d.message.id.as_ref());
            let blocked = group.is_some_and(|g| blocked_groups.contains(g));
            if failed_here {
                if let Some(g) = group {
                    blocked_groups.insert(g);
                }
            }
            failed_here || blocked
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambdas_rules_for_the_answer() {
        let ids = ["a", "b", "c"];
        assert_eq!(verdict(b"", &ids), Verdict::AllSucceeded);
        assert_eq!(verdict(b"null", &ids), Verdict::AllSucceeded);
        assert_eq!(verdict(b"{}", &ids), Verdict::AllSucceeded);
        assert_eq!(
            verdict(br#"{"batchItemFailures":[]}"#, &ids),
            Verdict::AllSucceeded
        );
        assert_eq!(
            verdict(br#"{"batchItemFailures":null}"#, &ids),
            Verdict::AllSucceeded
        );
        assert_eq!(
            verdict(br#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#, &ids),
            Verdict::Partial(HashSet::from(["b".to_string()]))
        );
        for bad in [
            &b"not json"[..],
            br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
            br#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            br#"{"batchItemFailures":[{"id":"a"}]}"#,
            br#"{"batchItemFailures":[{"itemIdentifier":"zzz"}]}"#,
            br#"{"batchItemFailures":"a"}"#,
        ] {
            assert!(
                matches!(verdict(bad, &ids), Verdict::Failed(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
