//! Flow run events, the glue between steps of a pipeline: a flow with
//! `events: {topic}` publishes `FlowRunStarted` when a run begins and
//! `FlowRunSucceeded` or `FlowRunFailed` when it ends (flow, run id,
//! trigger, counts, output keys, error), with `eventType` and `flow`
//! message attributes for subscription filter policies. A topic
//! subscription can then start another flow, feed a worker's queue, or call
//! an endpoint. Publishing is best effort: a run never fails because its
//! event could not be published (logged).

use crate::messaging::message::{AttributeValue, Attributes};
use crate::messaging::pubsub::Topics;
use crate::messaging::sns::publish::PublishInput;
use crate::store::flows::{RunRecord, RunStatus};
use serde_json::{json, Value};

pub const STARTED: &str = "FlowRunStarted";
pub const SUCCEEDED: &str = "FlowRunSucceeded";
pub const FAILED: &str = "FlowRunFailed";

/// The event for a run that began.
pub fn started(flow: &str, run_id: &str, trigger: &str, at: &str) -> Value {
    json!({
        "type": STARTED,
        "flow": flow,
        "run_id": run_id,
        "trigger": trigger,
        "started_at": at,
    })
}

/// The event for a run that ended.
pub fn ended(run: &RunRecord) -> Value {
    let kind = if run.status == RunStatus::Successful {
        SUCCEEDED
    } else {
        FAILED
    };
    json!({
        "type": kind,
        "flow": run.flow,
        "run_id": run.id,
        "trigger": run.trigger,
        "status": run.status.as_str(),
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "records": {
            "read": run.records_read,
            "filtered": run.records_filtered,
            "invalid": run.records_invalid,
            "written": run.records_written,
        },
        "bytes_written": run.bytes_written,
        "output_keys": run.files.iter().map(|f| f.key.clone()).collect::<Vec<_>>(),
        "error": run.error,
    })
}

/// Publishes `event` to `topic`.
pub async fn publish(topics: &dyn Topics, topic: &str, event: &Value) {
    let text = |v: &str| AttributeValue {
        data_type: "String".into(),
        string_value: Some(v.to_string()),
        binary_value: None,
    };
    let mut attributes = Attributes::new();
    let kind = event["type"].as_str().unwrap_or_default();
    let flow = event["flow"].as_str().unwrap_or_default();
    attributes.insert("eventType".into(), text(kind));
    attributes.insert("flow".into(), text(flow));
    let published = topics
        .publish(PublishInput {
            topic_arn: topics.naming().topic_arn(topic),
            message: event.to_string(),
            subject: Some(kind.to_string()),
            json_structure: false,
            attributes,
            group_id: None,
            dedup_id: None,
        })
        .await;
    if let Err(e) = published {
        tracing::warn!(flow, event = kind, topic, error = %e.message, "cannot publish a flow event");
    }
}
