//! The `queue` source: drains a Gatehouse queue. Each message body is a
//! record (a JSON object; an array is several records). Messages are
//! deleted only after the run's files and manifest are committed, so a run
//! that fails leaves them in the queue, and they are read again once their
//! visibility timeout ends. A message seen twice in one run (its timeout
//! ended mid-run) is written once.

use crate::config::flow_spec::QueueSource;
use crate::flows::error::FlowError;
use crate::messaging::broker::ReceiveRequest;
use crate::messaging::error::{ApiError, ErrorKind};
use crate::messaging::message::Message;
use crate::messaging::payloads::{self, Payloads};
use crate::messaging::queues::Queues;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Messages taken per receive: SQS's maximum.
const BATCH: usize = 10;
/// Messages per delete call once the run has committed.
const DELETE_CHUNK: usize = 1000;
/// Receives per page: pages of up to 500 records.
const RECEIVES_PER_PAGE: usize = 50;

/// The largest offloaded body a run reads into a record: the record is
/// held whole, as every record is.
const MAX_RESOLVED_BYTES: u64 = 64 * 1024 * 1024;

pub struct QueueReader {
    queues: Arc<dyn Queues>,
    /// Where extended-client pointers lead (`messaging::payloads`).
    payloads: Option<Arc<Payloads>>,
    spec: QueueSource,
    /// Message id -> the latest receipt handle, for the deletes after commit.
    taken: HashMap<String, String>,
    drained: bool,
    /// Messages whose body is not a record: filed as invalid.
    rejected: Vec<(Value, String)>,
}

impl QueueReader {
    pub fn new(
        queues: Option<&Arc<dyn Queues>>,
        payloads: Option<Arc<Payloads>>,
        spec: &QueueSource,
    ) -> Result<QueueReader, FlowError> {
        let queues = queues.ok_or_else(|| {
            FlowError::Source(
                "a queue flow runs inside `gatehouse serve` (start it with the admin API: POST /flows/NAME/runs)".into(),
            )
        })?;
        Ok(QueueReader {
            queues: queues.clone(),
            payloads,
            spec: spec.clone(),
            taken: HashMap::new(),
            drained: false,
            rejected: Vec::new(),
        })
    }

    /// The next page of records; None once the queue has nothing visible or
    /// the run has taken `max_messages`.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Value>>, FlowError> {
        let mut page = Vec::new();
        for _ in 0..RECEIVES_PER_PAGE {
            let room = self
                .spec
                .max_messages
                .saturating_sub(self.taken.len() as u64);
            if self.drained || room == 0 {
                break;
            }
            let request = ReceiveRequest {
                max: BATCH.min(room as usize),
                visibility: Some(self.spec.visibility_timeout),
                wait_seconds: Some(0),
                attempt_id: None,
            };
            let got = self
                .queues
                .receive(&self.spec.queue, &request)
                .await
                .map_err(|e| self.source_error(e))?;
            if got.is_empty() {
                self.drained = true;
                break;
            }
            for delivery in got {
                let id = delivery.message.id.to_string();
                let seen = self.taken.insert(id, delivery.receipt).is_some();
                if seen {
                    continue;
                }
                let body = match self.resolve(&delivery.message).await {
                    Ok(body) => body,
                    Err(why) => {
                        let body = &*delivery.message.body;
                        self.rejected
                            .push((serde_json::json!({ "body": body }), why));
                        continue;
                    }
                };
                match serde_json::from_str::<Value>(&body) {
                    Ok(Value::Object(o)) => page.push(Value::Object(o)),
                    Ok(Value::Array(items)) if items.iter().all(Value::is_object) => {
                        page.extend(items)
                    }
                    _ => self.rejected.push((
                        serde_json::json!({ "body": &*body }),
                        "the message body is not a JSON object or an array of objects".into(),
                    )),
                }
            }
        }
        if page.is_empty() && self.rejected.is_empty() && (self.drained || self.at_limit()) {
            return Ok(None);
        }
        Ok(Some(page))
    }

    /// The message's body, or the body its extended-client pointer leads
    /// to; why not, when the pointer cannot be followed.
    async fn resolve(&self, message: &Message) -> Result<String, String> {
        let Some(pointer) = payloads::pointer_of(&message.body, &message.attributes) else {
            return Ok(message.body.to_string());
        };
        let Some(store) = &self.payloads else {
            return Err(
                "the message points at an offloaded payload, and `messaging.large_payloads` is off"
                    .into(),
            );
        };
        let bytes = store
            .resolve(&pointer, MAX_RESOLVED_BYTES)
            .await
            .map_err(|e| format!("the offloaded payload {}: {e}", pointer.key))?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("the offloaded payload {} is not UTF-8", pointer.key))
    }

    fn source_error(&self, e: ApiError) -> FlowError {
        let queue = &self.spec.queue;
        FlowError::Source(match e.kind {
            ErrorKind::QueueDoesNotExist => format!("no queue `{queue}`"),
            _ => format!("receiving from `{queue}`: {}", e.message),
        })
    }

    fn at_limit(&self) -> bool {
        self.taken.len() as u64 >= self.spec.max_messages
    }

    /// Bodies that were not records since the last call.
    pub fn take_rejected(&mut self) -> Vec<(Value, String)> {
        std::mem::take(&mut self.rejected)
    }

    /// After the commit: deletes every message the run took. A failure here
    /// is logged, not fatal: the files are committed, and the messages come
    /// back after their timeout (at-least-once, like any SQS consumer).
    pub async fn acknowledge(&mut self) {
        let handles: Vec<String> = self.taken.drain().map(|(_, h)| h).collect();
        for chunk in handles.chunks(DELETE_CHUNK) {
            match self.queues.delete(&self.spec.queue, chunk).await {
                Ok(results) => {
                    let failed = results.iter().filter(|r| r.is_err()).count();
                    if failed > 0 {
                        tracing::warn!(queue = %self.spec.queue, failed, "messages not deleted after the run; they will be read again");
                    }
                }
                Err(e) => {
                    tracing::warn!(queue = %self.spec.queue, error = %e.message, "messages not deleted after the run; they will be read again")
                }
            }
        }
    }
}
