//! The queue seam at operation depth: every SQS operation a client, a
//! gateway route or a flow performs on queues, with SQS's rules (visibility,
//! delays, FIFO groups, deduplication, redrive, long polling) inside the
//! implementation. The embedded implementation is the `Broker` (queues in
//! memory, every change journalled to a `MessageStore`: SQLite, or the
//! in-memory twin); a shared store (PostgreSQL) implements the same trait for
//! a fleet. `queues_conformance.rs` is the suite every implementation passes.
//!
//! Queues are named by their name; the API layer turns URLs and ARNs into
//! names with `naming()`.

use super::broker::{Broker, Delivery, ReceiveRequest, SendOk};
use super::error::{ApiError, ApiResult, ErrorKind};
use super::metrics;
use super::names::Naming;
use super::queue::NewMessage;
use crate::config::queue_settings::AttributeMap;
use std::collections::BTreeMap;

pub type Tags = BTreeMap<String, String>;

/// A redrive move task, as ListMessageMoveTasks reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveTaskStatus {
    pub handle: String,
    /// RUNNING, COMPLETED, CANCELLING, CANCELLED or FAILED.
    pub status: &'static str,
    pub failure_reason: Option<String>,
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub max_per_second: Option<u32>,
    pub moved: u64,
    pub to_move: u64,
    /// Unix milliseconds.
    pub started_at: i64,
}

/// A queue's depth: what the approximate counts say, and when its oldest
/// message (visible, in flight or delayed) was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Depth {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    /// Unix milliseconds; None for an empty queue.
    pub oldest_sent_at: Option<i64>,
}

#[async_trait::async_trait]
pub trait Queues: Send + Sync {
    /// How queue URLs and ARNs are made on this endpoint.
    fn naming(&self) -> &Naming;

    /// Creates a queue, or returns the existing one's URL when every given
    /// attribute matches (CreateQueue is idempotent); QueueNameExists when
    /// one differs.
    async fn create_queue(
        &self,
        name: &str,
        attributes: AttributeMap,
        tags: Tags,
    ) -> ApiResult<String>;
    /// Deletes the queue and its messages; later calls on it fail with
    /// QueueDoesNotExist.
    async fn delete_queue(&self, name: &str) -> ApiResult<()>;
    /// Queue names, sorted, starting with `prefix`.
    async fn list_queues(&self, prefix: Option<&str>) -> ApiResult<Vec<String>>;
    /// QueueDoesNotExist unless the queue exists.
    async fn check_queue(&self, name: &str) -> ApiResult<()>;
    /// The attributes named (`All` for every one), with the computed ones
    /// (`QueueArn`, the approximate counts, timestamps).
    async fn get_attributes(&self, name: &str, names: &[String]) -> ApiResult<AttributeMap>;
    /// The queue's access `Policy` attribute, if set: read on every
    /// signed request, so backends answer from memory or a short cache.
    async fn policy(&self, name: &str) -> ApiResult<Option<String>>;
    /// How deep the queue is, for metrics and alarms.
    async fn depth(&self, name: &str) -> ApiResult<Depth>;
    /// Sets attributes; an empty `RedrivePolicy`, `RedriveAllowPolicy` or
    /// `Policy` removes it.
    async fn set_attributes(&self, name: &str, attributes: AttributeMap) -> ApiResult<()>;
    async fn tags(&self, name: &str) -> ApiResult<Tags>;
    async fn tag(&self, name: &str, tags: Tags) -> ApiResult<()>;
    async fn untag(&self, name: &str, keys: &[String]) -> ApiResult<()>;

    /// Sends a batch; each entry succeeds or fails on its own. Durable when
    /// this returns.
    async fn send(&self, name: &str, batch: Vec<NewMessage>) -> ApiResult<Vec<ApiResult<SendOk>>>;
    /// Receives up to `req.max` messages, waiting up to the wait time for
    /// one to arrive or become visible (long polling).
    async fn receive(&self, name: &str, req: &ReceiveRequest) -> ApiResult<Vec<Delivery>>;
    /// Deletes by receipt handle; each entry succeeds or fails on its own.
    async fn delete(&self, name: &str, handles: &[String]) -> ApiResult<Vec<ApiResult<()>>>;
    /// Sets the visibility timeout of received messages, from now.
    async fn change_visibility(
        &self,
        name: &str,
        entries: &[(String, u32)],
    ) -> ApiResult<Vec<ApiResult<()>>>;
    /// Deletes every message; PurgeQueueInProgress within 60 s of the last.
    async fn purge(&self, name: &str) -> ApiResult<()>;

    /// Names of the queues whose redrive policy targets this one.
    async fn dead_letter_sources(&self, name: &str) -> ApiResult<Vec<String>>;
    /// Moves a dead-letter queue's messages back to their sources (or to
    /// `destination_arn`) in the background; the task's handle.
    async fn start_move_task(
        &self,
        source_arn: &str,
        destination_arn: Option<String>,
        max_per_second: Option<u32>,
    ) -> ApiResult<String>;
    /// The source queue's move tasks, newest first.
    async fn list_move_tasks(&self, source_arn: &str) -> ApiResult<Vec<MoveTaskStatus>>;
    /// Stops a running task; the number moved so far.
    async fn cancel_move_task(&self, handle: &str) -> ApiResult<u64>;
}

fn source_not_found() -> ApiError {
    ApiError::new(
        ErrorKind::ResourceNotFound,
        "The resource that you specified for the SourceArn parameter doesn't exist.",
    )
}

#[async_trait::async_trait]
impl Queues for Broker {
    fn naming(&self) -> &Naming {
        Broker::naming(self)
    }

    async fn create_queue(
        &self,
        name: &str,
        attributes: AttributeMap,
        tags: Tags,
    ) -> ApiResult<String> {
        Broker::create_queue(self, name, attributes, tags).await
    }

    async fn delete_queue(&self, name: &str) -> ApiResult<()> {
        let cell = self.queue_by_name(name)?;
        Broker::delete_queue(self, &cell).await
    }

    async fn list_queues(&self, prefix: Option<&str>) -> ApiResult<Vec<String>> {
        Ok(Broker::list_queues(self, prefix))
    }

    async fn check_queue(&self, name: &str) -> ApiResult<()> {
        self.queue_by_name(name).map(|_| ())
    }

    async fn get_attributes(&self, name: &str, names: &[String]) -> ApiResult<AttributeMap> {
        let cell = self.queue_by_name(name)?;
        Broker::get_attributes(self, &cell, names)
    }

    async fn policy(&self, name: &str) -> ApiResult<Option<String>> {
        let cell = self.queue_by_name(name)?;
        Ok(cell.unjournaled(|q| q.attributes.get("Policy").cloned()))
    }

    async fn depth(&self, name: &str) -> ApiResult<Depth> {
        let cell = self.queue_by_name(name)?;
        Ok(cell.unjournaled(|q| {
            let counts = q.counts(crate::messaging::clock::now_ms());
            Depth {
                visible: counts.ready,
                in_flight: counts.inflight,
                delayed: counts.delayed,
                oldest_sent_at: q.oldest_sent_at(),
            }
        }))
    }

    async fn set_attributes(&self, name: &str, attributes: AttributeMap) -> ApiResult<()> {
        let cell = self.queue_by_name(name)?;
        Broker::set_attributes(self, &cell, attributes).await
    }

    async fn tags(&self, name: &str) -> ApiResult<Tags> {
        let cell = self.queue_by_name(name)?;
        let tags = cell.unjournaled(|q| q.tags.clone());
        Ok(tags)
    }

    async fn tag(&self, name: &str, tags: Tags) -> ApiResult<()> {
        let cell = self.queue_by_name(name)?;
        Broker::tag(self, &cell, tags).await
    }

    async fn untag(&self, name: &str, keys: &[String]) -> ApiResult<()> {
        let cell = self.queue_by_name(name)?;
        Broker::untag(self, &cell, keys).await
    }

    async fn send(&self, name: &str, batch: Vec<NewMessage>) -> ApiResult<Vec<ApiResult<SendOk>>> {
        let cell = self.queue_by_name(name)?;
        Broker::send(self, &cell, batch).await
    }

    async fn receive(&self, name: &str, req: &ReceiveRequest) -> ApiResult<Vec<Delivery>> {
        let cell = self.queue_by_name(name)?;
        let got = Broker::receive(self, &cell, req).await;
        if let Ok(got) = &got {
            metrics::count(&metrics::RECEIVED, name, got.len());
        }
        got
    }

    async fn delete(&self, name: &str, handles: &[String]) -> ApiResult<Vec<ApiResult<()>>> {
        let cell = self.queue_by_name(name)?;
        let deleted = Broker::delete(self, &cell, handles).await;
        if let Ok(results) = &deleted {
            metrics::count(
                &metrics::DELETED,
                name,
                results.iter().filter(|r| r.is_ok()).count(),
            );
        }
        deleted
    }

    async fn change_visibility(
        &self,
        name: &str,
        entries: &[(String, u32)],
    ) -> ApiResult<Vec<ApiResult<()>>> {
        let cell = self.queue_by_name(name)?;
        Broker::change_visibility(self, &cell, entries).await
    }

    async fn purge(&self, name: &str) -> ApiResult<()> {
        let cell = self.queue_by_name(name)?;
        Broker::purge(self, &cell).await
    }

    async fn dead_letter_sources(&self, name: &str) -> ApiResult<Vec<String>> {
        let cell = self.queue_by_name(name)?;
        Ok(Broker::dead_letter_sources(self, &cell))
    }

    async fn start_move_task(
        &self,
        source_arn: &str,
        destination_arn: Option<String>,
        max_per_second: Option<u32>,
    ) -> ApiResult<String> {
        super::redrive::start(self, source_arn, destination_arn, max_per_second)
    }

    async fn list_move_tasks(&self, source_arn: &str) -> ApiResult<Vec<MoveTaskStatus>> {
        if self.queue_by_arn(source_arn).is_none() {
            return Err(source_not_found());
        }
        Ok(self
            .moves()
            .list(source_arn)
            .iter()
            .map(|t| {
                let (status, failure_reason) = t.status();
                MoveTaskStatus {
                    handle: t.handle.clone(),
                    status,
                    failure_reason,
                    source_arn: t.source_arn.clone(),
                    destination_arn: t.destination_arn.clone(),
                    max_per_second: t.rate,
                    moved: t.moved.load(std::sync::atomic::Ordering::SeqCst),
                    to_move: t.to_move,
                    started_at: t.started_at,
                }
            })
            .collect())
    }

    async fn cancel_move_task(&self, handle: &str) -> ApiResult<u64> {
        self.moves().cancel(handle)
    }
}
