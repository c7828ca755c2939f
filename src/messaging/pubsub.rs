//! The SNS seams at operation depth. `Topics`: topics, subscriptions and
//! publishing (fan-out into queues and the outbox inside). `Outbox`: the
//! pending http(s) and flow deliveries, which delivery workers claim, retry
//! and complete. The broker implements both (state in memory, journalled
//! to its `MessageStore`); a shared store implements them for a fleet, where
//! several nodes' workers claim from one outbox. `pubsub_conformance.rs` is
//! the suite every implementation passes.

use super::broker::Broker;
use super::error::ApiResult;
use super::journal::{DeliveryRecord, Op};
use super::names::Naming;
use super::queues::Tags;
use super::sns::publish::{PublishInput, Published};
use super::sns::topics::{Subscription, Topic};
use crate::config::queue_settings::AttributeMap;

#[async_trait::async_trait]
pub trait Topics: Send + Sync {
    fn naming(&self) -> &Naming;

    /// Creates a topic, or returns the existing one's ARN when every given
    /// attribute matches.
    async fn create_topic(
        &self,
        name: &str,
        attributes: AttributeMap,
        tags: Tags,
    ) -> ApiResult<String>;
    /// Deletes a topic and its subscriptions; a missing one is no error.
    async fn delete_topic(&self, arn: &str) -> ApiResult<()>;
    /// Topic ARNs, sorted.
    async fn list_topics(&self) -> ApiResult<Vec<String>>;
    /// NotFound unless the topic exists.
    async fn topic(&self, arn: &str) -> ApiResult<Topic>;
    async fn topic_attributes(&self, arn: &str) -> ApiResult<AttributeMap>;
    async fn set_topic_attribute(&self, arn: &str, name: &str, value: String) -> ApiResult<()>;
    /// ResourceNotFound for a missing topic; at most 50 tags.
    async fn tag_topic(&self, arn: &str, tags: Tags) -> ApiResult<()>;
    async fn untag_topic(&self, arn: &str, keys: &[String]) -> ApiResult<()>;

    /// Subscribes an endpoint (`sqs` by queue ARN, `http`/`https`, `flow`);
    /// the same endpoint again returns the existing subscription.
    async fn subscribe(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
        attributes: AttributeMap,
    ) -> ApiResult<Subscription>;
    /// Confirms an http(s) subscription by its token; its ARN.
    async fn confirm_subscription(&self, topic_arn: &str, token: &str) -> ApiResult<String>;
    async fn unsubscribe(&self, arn: &str) -> ApiResult<()>;
    /// One subscription; NotFound when it is gone.
    async fn subscription(&self, arn: &str) -> ApiResult<Subscription>;
    /// Every subscription, or one topic's.
    async fn list_subscriptions(&self, topic_arn: Option<&str>) -> ApiResult<Vec<Subscription>>;
    async fn subscription_attributes(&self, arn: &str) -> ApiResult<AttributeMap>;
    async fn set_subscription_attribute(
        &self,
        arn: &str,
        name: &str,
        value: String,
    ) -> ApiResult<()>;

    /// Publishes: queue subscriptions have the message when this returns;
    /// other subscriptions have a delivery in the outbox.
    async fn publish(&self, input: PublishInput) -> ApiResult<Published>;
}

#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Claims up to `max` deliveries due by `now` (unix ms) for `lease_ms`:
    /// no other worker gets them until the claim lapses unless `retry` or
    /// `complete` settles them first. Also when the next one is due.
    async fn claim_due(
        &self,
        now: i64,
        lease_ms: i64,
        max: usize,
    ) -> ApiResult<(Vec<DeliveryRecord>, Option<i64>)>;
    /// Schedules a claimed delivery again, at its (updated) `due_at`.
    async fn retry(&self, record: DeliveryRecord) -> ApiResult<()>;
    /// Forgets a delivery that succeeded or was given up.
    async fn complete(&self, id: u64) -> ApiResult<()>;
    /// Resolves when deliveries may be due sooner than the last claim said.
    async fn changed(&self);
    /// Deliveries waiting for their next attempt (not those a worker holds
    /// now), by subscription ARN: the console's per-subscription backlog.
    async fn pending(&self) -> ApiResult<std::collections::BTreeMap<String, u64>>;
}

#[async_trait::async_trait]
impl Topics for Broker {
    fn naming(&self) -> &Naming {
        Broker::naming(self)
    }

    async fn create_topic(
        &self,
        name: &str,
        attributes: AttributeMap,
        tags: Tags,
    ) -> ApiResult<String> {
        Broker::create_topic(self, name, attributes, tags).await
    }

    async fn delete_topic(&self, arn: &str) -> ApiResult<()> {
        Broker::delete_topic(self, arn).await
    }

    async fn list_topics(&self) -> ApiResult<Vec<String>> {
        Ok(Broker::list_topics(self))
    }

    async fn topic(&self, arn: &str) -> ApiResult<Topic> {
        Broker::topic(self, arn)
    }

    async fn topic_attributes(&self, arn: &str) -> ApiResult<AttributeMap> {
        Broker::topic_attributes(self, arn)
    }

    async fn set_topic_attribute(&self, arn: &str, name: &str, value: String) -> ApiResult<()> {
        Broker::set_topic_attribute(self, arn, name, value).await
    }

    async fn tag_topic(&self, arn: &str, tags: Tags) -> ApiResult<()> {
        Broker::tag_topic(self, arn, |t| t.extend(tags)).await
    }

    async fn untag_topic(&self, arn: &str, keys: &[String]) -> ApiResult<()> {
        Broker::tag_topic(self, arn, |t| t.retain(|k, _| !keys.contains(k))).await
    }

    async fn subscribe(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
        attributes: AttributeMap,
    ) -> ApiResult<Subscription> {
        Broker::subscribe(self, topic_arn, protocol, endpoint, attributes).await
    }

    async fn confirm_subscription(&self, topic_arn: &str, token: &str) -> ApiResult<String> {
        Broker::confirm_subscription(self, topic_arn, token).await
    }

    async fn unsubscribe(&self, arn: &str) -> ApiResult<()> {
        Broker::unsubscribe(self, arn).await
    }

    async fn subscription(&self, arn: &str) -> ApiResult<Subscription> {
        Broker::subscription(self, arn)
    }

    async fn list_subscriptions(&self, topic_arn: Option<&str>) -> ApiResult<Vec<Subscription>> {
        Ok(Broker::list_subscriptions(self, topic_arn))
    }

    async fn subscription_attributes(&self, arn: &str) -> ApiResult<AttributeMap> {
        Broker::subscription_attributes(self, arn)
    }

    async fn set_subscription_attribute(
        &self,
        arn: &str,
        name: &str,
        value: String,
    ) -> ApiResult<()> {
        Broker::set_subscription_attribute(self, arn, name, value).await
    }

    async fn publish(&self, input: PublishInput) -> ApiResult<Published> {
        Broker::publish(self, input).await
    }
}

/// In one process a claim is the record leaving the pending set: nothing
/// else could take it, and a crash forgets claims (the journal still holds
/// the record, so it is due again after a restart).
#[async_trait::async_trait]
impl Outbox for Broker {
    async fn claim_due(
        &self,
        now: i64,
        _lease_ms: i64,
        max: usize,
    ) -> ApiResult<(Vec<DeliveryRecord>, Option<i64>)> {
        Ok(self.deliveries().take_due(now, max))
    }

    async fn retry(&self, record: DeliveryRecord) -> ApiResult<()> {
        let op = self.deliveries().add(record);
        self.journal().record(vec![op]);
        self.wake_deliveries();
        Ok(())
    }

    async fn complete(&self, id: u64) -> ApiResult<()> {
        self.journal().record(vec![Op::DeleteDelivery(id)]);
        Ok(())
    }

    async fn changed(&self) {
        self.deliveries().changed().await
    }

    async fn pending(&self) -> ApiResult<std::collections::BTreeMap<String, u64>> {
        Ok(self.deliveries().by_subscription())
    }
}
