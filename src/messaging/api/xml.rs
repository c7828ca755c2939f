//! The Query protocol's output: a JSON-shaped result written as XML. SQS
//! flattens lists (`<Message>` repeated); SNS wraps them in `<member>`.

use serde_json::{Map, Value};
use std::fmt::Write;

pub const SQS_NS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";
pub const SNS_NS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Sqs,
    Sns,
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// SNS actions whose answer AWS wraps in an empty `<ActionResult/>`:
/// botocore reads the wrapper and fails without it.
const EMPTY_RESULTS: &[&str] = &["TagResource", "UntagResource"];

/// `<ActionResponse><ActionResult>...</ActionResult><ResponseMetadata>...`
pub fn response(
    style: Style,
    action: &str,
    result: &Map<String, Value>,
    request_id: &str,
) -> String {
    let ns = match style {
        Style::Sqs => SQS_NS,
        Style::Sns => SNS_NS,
    };
    let mut out = format!("<?xml version=\"1.0\"?><{action}Response xmlns=\"{ns}\">");
    if result.is_empty() && style == Style::Sns && EMPTY_RESULTS.contains(&action) {
        let _ = write!(out, "<{action}Result/>");
    } else if !result.is_empty() {
        let _ = write!(out, "<{action}Result>");
        fields(style, action, result, &mut out);
        let _ = write!(out, "</{action}Result>");
    }
    let _ = write!(
        out,
        "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    );
    out
}

pub fn error(style: Style, fault: &str, code: &str, message: &str, request_id: &str) -> String {
    let ns = match style {
        Style::Sqs => SQS_NS,
        Style::Sns => SNS_NS,
    };
    format!(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{ns}\"><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(code),
        escape(message)
    )
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => escape(s),
        Value::Null => String::new(),
        other => escape(&other.to_string()),
    }
}

fn fields(style: Style, action: &str, map: &Map<String, Value>, out: &mut String) {
    for (key, value) in map {
        match (style, key.as_str(), value) {
            (Style::Sqs, "Attributes", Value::Object(m)) => {
                for (k, v) in m {
                    let _ = write!(
                        out,
                        "<Attribute><Name>{}</Name><Value>{}</Value></Attribute>",
                        escape(k),
                        scalar(v)
                    );
                }
            }
            (Style::Sqs, "MessageAttributes", Value::Object(m)) => {
                for (k, v) in m {
                    let _ = write!(out, "<MessageAttribute><Name>{}</Name><Value>", escape(k));
                    if let Value::Object(inner) = v {
                        fields(style, action, inner, out);
                    }
                    out.push_str("</Value></MessageAttribute>");
                }
            }
            (Style::Sqs, "Tags", Value::Object(m)) => {
                for (k, v) in m {
                    let _ = write!(
                        out,
                        "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                        escape(k),
                        scalar(v)
                    );
                }
            }
            (Style::Sqs, _, Value::Array(items)) => {
                let member = sqs_member(action, key);
                for item in items {
                    element(style, action, &member, item, out);
                }
            }
            (Style::Sns, "Attributes", Value::Object(m)) => {
                out.push_str("<Attributes>");
                for (k, v) in m {
                    let _ = write!(
                        out,
                        "<entry><key>{}</key><value>{}</value></entry>",
                        escape(k),
                        scalar(v)
                    );
                }
                out.push_str("</Attributes>");
            }
            (Style::Sns, _, Value::Array(items)) => {
                let _ = write!(out, "<{key}>");
                for item in items {
                    element(style, action, "member", item, out);
                }
                let _ = write!(out, "</{key}>");
            }
            _ => element(style, action, key, value, out),
        }
    }
}

fn element(style: Style, action: &str, name: &str, value: &Value, out: &mut String) {
    match value {
        Value::Object(m) => {
            let _ = write!(out, "<{name}>");
            fields(style, action, m, out);
            let _ = write!(out, "</{name}>");
        }
        v => {
            let _ = write!(out, "<{name}>{}</{name}>", scalar(v));
        }
    }
}

/// The element name of one item of an SQS list.
fn sqs_member(action: &str, key: &str) -> String {
    match key {
        "Messages" => "Message".into(),
        "QueueUrls" | "queueUrls" => "QueueUrl".into(),
        "Successful" => format!("{action}ResultEntry"),
        "Failed" => "BatchResultErrorEntry".into(),
        "Results" => format!("{action}ResultEntry"),
        other => other.trim_end_matches('s').to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sqs_lists_are_flattened() {
        let result = json!({
            "Messages": [{"MessageId": "m1", "Attributes": {"SentTimestamp": "1"}}]
        });
        let xml = response(
            Style::Sqs,
            "ReceiveMessage",
            result.as_object().unwrap(),
            "r1",
        );
        assert!(xml.contains("<ReceiveMessageResult><Message><Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute><MessageId>m1</MessageId></Message></ReceiveMessageResult>"), "{xml}");
    }

    #[test]
    fn sns_lists_are_wrapped_and_text_escaped() {
        let result = json!({"Topics": [{"TopicArn": "a<b"}]});
        let xml = response(Style::Sns, "ListTopics", result.as_object().unwrap(), "r1");
        assert!(
            xml.contains("<Topics><member><TopicArn>a&lt;b</TopicArn></member></Topics>"),
            "{xml}"
        );
    }
}
