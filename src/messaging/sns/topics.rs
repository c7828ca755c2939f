//! SNS topics and subscriptions: create, list, attributes, subscribe and the
//! http(s) confirmation handshake. Publishing is in `publish.rs`, http
//! deliveries in `delivery.rs`.

use super::filter_policy::FilterPolicy;
use crate::config::queue_settings::AttributeMap;
use crate::messaging::broker::Broker;
use crate::messaging::clock::now_ms;
use crate::messaging::error::{ApiError, ApiResult, ErrorKind};
use crate::messaging::journal::{DeliveryRecord, Op, SubscriptionRecord, TopicRecord};
use crate::messaging::names::Naming;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Topic {
    pub record: TopicRecord,
    pub fifo: bool,
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub record: SubscriptionRecord,
    pub filter: Option<Arc<FilterPolicy>>,
    /// FilterPolicyScope is MessageBody.
    pub body_scope: bool,
    pub raw: bool,
}

impl Subscription {
    pub fn confirmed(&self) -> bool {
        self.record.confirm_token.is_none()
    }

    pub fn from_record(record: SubscriptionRecord) -> Subscription {
        let body_scope = record
            .attributes
            .get("FilterPolicyScope")
            .is_some_and(|s| s == "MessageBody");
        let filter = record
            .attributes
            .get("FilterPolicy")
            .filter(|p| !p.is_empty())
            .and_then(|p| FilterPolicy::parse(p, body_scope).ok())
            .map(Arc::new);
        let raw = record
            .attributes
            .get("RawMessageDelivery")
            .is_some_and(|v| v == "true");
        Subscription {
            record,
            filter,
            body_scope,
            raw,
        }
    }
}

/// A FIFO topic's deduplication key: (topic ARN, deduplication id).
pub type DedupKey = (String, String);
/// What a duplicate answers with: (expiry, message id, sequence).
pub type Deduped = (i64, String, u64);

#[derive(Default)]
pub struct SnsState {
    pub topics: RwLock<BTreeMap<String, Topic>>,
    pub subscriptions: RwLock<BTreeMap<String, Subscription>>,
    pub dedup: parking_lot::Mutex<HashMap<DedupKey, Deduped>>,
}

const TOPIC_SETTABLE: &[&str] = &[
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "KmsMasterKeyId",
    "SignatureVersion",
    "TracingConfig",
    "ContentBasedDeduplication",
    "FifoTopic",
    "ArchivePolicy",
    "FifoThroughputScope",
];

const SUBSCRIPTION_SETTABLE: &[&str] = &[
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
    "ReplayPolicy",
];

pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidParameter, message)
}

pub fn topic_not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "Topic does not exist")
}

pub fn subscription_not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "Subscription does not exist")
}

pub fn check_topic_attribute(name: &str, value: &str, fifo: bool, creating: bool) -> ApiResult<()> {
    if !TOPIC_SETTABLE.contains(&name) {
        return Err(invalid(format!(
            "Invalid parameter: AttributeName: {name} is not a topic attribute"
        )));
    }
    match name {
        "FifoTopic" if !creating || value != fifo.to_string() => Err(invalid(
            "Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.",
        )),
        "ContentBasedDeduplication" if !fifo => Err(invalid(
            "Invalid parameter: ContentBasedDeduplication: Content-based deduplication can only be set for FIFO topics",
        )),
        "ContentBasedDeduplication" if value != "true" && value != "false" => {
            Err(invalid("Invalid parameter: ContentBasedDeduplication: must be true or false"))
        }
        "Policy" if !value.is_empty() => crate::iam::Policy::parse(value)
            .map(|_| ())
            .map_err(|why| invalid(format!("Invalid parameter: Policy Error: {why}"))),
        "DeliveryPolicy" if !value.is_empty() => serde_json::from_str::<serde_json::Value>(value)
            .map(|_| ())
            .map_err(|_| invalid(format!("Invalid parameter: {name}: not valid JSON"))),
        _ => Ok(()),
    }
}

/// Checks a subscription attribute; `body_scope` is the scope it will have.
pub fn check_subscription_attribute(name: &str, value: &str, body_scope: bool) -> ApiResult<()> {
    if !SUBSCRIPTION_SETTABLE.contains(&name) {
        return Err(invalid(format!(
            "Invalid parameter: AttributeName: {name} is not a subscription attribute"
        )));
    }
    match name {
        "FilterPolicy" if !value.is_empty() => {
            FilterPolicy::parse(value, body_scope).map(|_| ()).map_err(invalid)
        }
        "FilterPolicyScope" if !matches!(value, "MessageAttributes" | "MessageBody") => Err(invalid(
            "Invalid parameter: FilterPolicyScope: Invalid filter policy scope, it must be MessageAttributes or MessageBody",
        )),
        "RawMessageDelivery" if value != "true" && value != "false" => {
            Err(invalid("Invalid parameter: RawMessageDelivery: must be true or false"))
        }
        "RedrivePolicy" if !value.is_empty() => {
            let json: serde_json::Value = serde_json::from_str(value)
                .map_err(|_| invalid("Invalid parameter: RedrivePolicy: not valid JSON"))?;
            json.get("deadLetterTargetArn")
                .and_then(|v| v.as_str())
                .map(|_| ())
                .ok_or_else(|| invalid("Invalid parameter: RedrivePolicy: deadLetterTargetArn is missing"))
        }
        "DeliveryPolicy" if !value.is_empty() => super::delivery::RetryPolicy::parse(value)
            .map(|_| ())
            .map_err(|why| invalid(format!("Invalid parameter: DeliveryPolicy: {why}"))),
        _ => Ok(()),
    }
}

/// 1-256 letters, digits, `-` and `_`; FIFO topics end in `.fifo`.
pub fn check_topic_name(name: &str) -> ApiResult<bool> {
    let fifo = name.ends_with(".fifo");
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    let ok = !stem.is_empty()
        && name.len() <= 256
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(invalid(
            "Invalid parameter: Topic Name must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.",
        ));
    }
    Ok(fifo)
}

impl Broker {
    pub(crate) fn restore_topics(
        &self,
        topics: Vec<TopicRecord>,
        subscriptions: Vec<SubscriptionRecord>,
    ) {
        let sns = self.sns();
        let mut t = sns.topics.write();
        for record in topics {
            let fifo = record.name.ends_with(".fifo");
            t.insert(record.arn.clone(), Topic { record, fifo });
        }
        let mut s = sns.subscriptions.write();
        for record in subscriptions {
            s.insert(record.arn.clone(), Subscription::from_record(record));
        }
    }

    pub async fn create_topic(
        &self,
        name: &str,
        attributes: AttributeMap,
        tags: BTreeMap<String, String>,
    ) -> ApiResult<String> {
        let fifo = check_new_topic(name, &attributes)?;
        let arn = self.naming().topic_arn(name);
        let committed = {
            let mut topics = self.sns().topics.write();
            if let Some(existing) = topics.get(&arn) {
                let differs = attributes
                    .iter()
                    .any(|(k, v)| existing.record.attributes.get(k) != Some(v));
                if differs {
                    return Err(invalid(
                        "Invalid parameter: Attributes Reason: Topic already exists with different attributes",
                    ));
                }
                return Ok(arn);
            }
            let record = TopicRecord {
                arn: arn.clone(),
                name: name.to_string(),
                attributes,
                tags,
            };
            let committed = self.journal().commit(vec![Op::PutTopic(record.clone())]);
            topics.insert(arn.clone(), Topic { record, fifo });
            committed
        };
        committed.wait().await.map_err(ApiError::internal)?;
        Ok(arn)
    }

    pub fn topic(&self, arn: &str) -> ApiResult<Topic> {
        self.sns()
            .topics
            .read()
            .get(arn)
            .cloned()
            .ok_or_else(topic_not_found)
    }

    pub async fn delete_topic(&self, arn: &str) -> ApiResult<()> {
        let committed = {
            let mut topics = self.sns().topics.write();
            if topics.remove(arn).is_none() {
                return Ok(()); // deleting a missing topic succeeds, as in SNS
            }
            self.sns()
                .subscriptions
                .write()
                .retain(|_, s| s.record.topic_arn != arn);
            self.journal()
                .commit(vec![Op::DeleteTopic(arn.to_string())])
        };
        committed.wait().await.map_err(ApiError::internal)
    }

    pub fn list_topics(&self) -> Vec<String> {
        self.sns().topics.read().keys().cloned().collect()
    }

    pub fn topic_attributes(&self, arn: &str) -> ApiResult<AttributeMap> {
        let topic = self.topic(arn)?;
        let (mut confirmed, mut pending) = (0, 0);
        for s in self.sns().subscriptions.read().values() {
            if s.record.topic_arn == arn {
                if s.confirmed() {
                    confirmed += 1;
                } else {
                    pending += 1;
                }
            }
        }
        Ok(topic_attributes_of(
            &topic,
            self.naming(),
            confirmed,
            pending,
        ))
    }

    pub async fn set_topic_attribute(&self, arn: &str, name: &str, value: String) -> ApiResult<()> {
        let committed = {
            let mut topics = self.sns().topics.write();
            let topic = topics.get_mut(arn).ok_or_else(topic_not_found)?;
            check_topic_attribute(name, &value, topic.fifo, false)?;
            topic.record.attributes.insert(name.to_string(), value);
            self.journal()
                .commit(vec![Op::PutTopic(topic.record.clone())])
        };
        committed.wait().await.map_err(ApiError::internal)
    }

    pub async fn tag_topic(
        &self,
        arn: &str,
        change: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> ApiResult<()> {
        let committed = {
            let mut topics = self.sns().topics.write();
            let topic = topics.get_mut(arn).ok_or_else(|| {
                ApiError::new(ErrorKind::ResourceNotFound, "Resource does not exist")
            })?;
            // Changed on a copy: a refused change leaves the tags as they were.
            let mut tags = topic.record.tags.clone();
            change(&mut tags);
            if tags.len() > 50 {
                return Err(ApiError::new(
                    ErrorKind::TagLimitExceeded,
                    "Could not complete request: tag quota of per resource exceeded",
                ));
            }
            topic.record.tags = tags;
            self.journal()
                .commit(vec![Op::PutTopic(topic.record.clone())])
        };
        committed.wait().await.map_err(ApiError::internal)
    }

    /// Subscribes an endpoint. `sqs` subscriptions (a queue of this broker,
    /// by ARN) are confirmed at once; `http`/`https` ones get a
    /// SubscriptionConfirmation message and wait for ConfirmSubscription.
    pub async fn subscribe(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
        attributes: AttributeMap,
    ) -> ApiResult<Subscription> {
        let topic = self.topic(topic_arn)?;
        let queue_fifo = match protocol {
            "sqs" => self
                .queue_by_arn(endpoint)
                .map(|q| q.unjournaled(|q| q.is_fifo())),
            _ => None,
        };
        let endpoints = Endpoints {
            allow_private: self.allow_private_endpoints(),
            flows: self.flows(),
        };
        check_subscribe(
            &topic,
            protocol,
            endpoint,
            &attributes,
            queue_fifo,
            &endpoints,
        )
        .await?;
        // Subscribing the same endpoint again returns the existing one.
        if let Some(existing) = self.sns().subscriptions.read().values().find(|s| {
            s.record.topic_arn == topic_arn
                && s.record.protocol == protocol
                && s.record.endpoint == endpoint
        }) {
            return Ok(existing.clone());
        }
        let record = new_subscription(topic_arn, protocol, endpoint, attributes);
        let token = record.confirm_token.clone();
        let subscription = Subscription::from_record(record.clone());
        // In memory before its confirmation is scheduled, so the delivery
        // worker finds it.
        self.sns()
            .subscriptions
            .write()
            .insert(record.arn.clone(), subscription.clone());
        let mut ops = vec![Op::PutSubscription(record.clone())];
        if let Some(token) = &token {
            let version = super::signing::signature_version(&topic.record.attributes);
            ops.push(self.confirmation_delivery(&record, token, version));
        }
        let committed = self.journal().commit(ops);
        committed.wait().await.map_err(ApiError::internal)?;
        self.wake_deliveries();
        Ok(subscription)
    }

    pub async fn confirm_subscription(&self, topic_arn: &str, token: &str) -> ApiResult<String> {
        self.topic(topic_arn)?;
        let committed = {
            let mut subs = self.sns().subscriptions.write();
            let Some(sub) = subs.values_mut().find(|s| {
                s.record.topic_arn == topic_arn && s.record.confirm_token.as_deref() == Some(token)
            }) else {
                return Err(invalid("Invalid token"));
            };
            sub.record.confirm_token = None;
            let arn = sub.record.arn.clone();
            (
                arn,
                self.journal()
                    .commit(vec![Op::PutSubscription(sub.record.clone())]),
            )
        };
        committed.1.wait().await.map_err(ApiError::internal)?;
        Ok(committed.0)
    }

    pub fn subscription(&self, arn: &str) -> ApiResult<Subscription> {
        self.sns()
            .subscriptions
            .read()
            .get(arn)
            .cloned()
            .ok_or_else(subscription_not_found)
    }

    pub async fn unsubscribe(&self, arn: &str) -> ApiResult<()> {
        let committed = {
            if self.sns().subscriptions.write().remove(arn).is_none() {
                return Err(subscription_not_found());
            }
            self.journal()
                .commit(vec![Op::DeleteSubscription(arn.to_string())])
        };
        committed.wait().await.map_err(ApiError::internal)
    }

    /// Every subscription, or those of one topic.
    pub fn list_subscriptions(&self, topic_arn: Option<&str>) -> Vec<Subscription> {
        self.sns()
            .subscriptions
            .read()
            .values()
            .filter(|s| topic_arn.is_none_or(|t| s.record.topic_arn == t))
            .cloned()
            .collect()
    }

    pub fn subscription_attributes(&self, arn: &str) -> ApiResult<AttributeMap> {
        let sub = self.subscription(arn)?;
        Ok(subscription_attributes_of(&sub, self.naming()))
    }

    pub async fn set_subscription_attribute(
        &self,
        arn: &str,
        name: &str,
        value: String,
    ) -> ApiResult<()> {
        let committed = {
            let mut subs = self.sns().subscriptions.write();
            let sub = subs.get_mut(arn).ok_or_else(subscription_not_found)?;
            *sub = with_subscription_attribute(sub, name, value)?;
            self.journal()
                .commit(vec![Op::PutSubscription(sub.record.clone())])
        };
        committed.wait().await.map_err(ApiError::internal)
    }

    fn confirmation_delivery(&self, record: &SubscriptionRecord, token: &str, version: u8) -> Op {
        let mut delivery = confirmation(self.naming(), record, token, version);
        delivery.id = self.next_seq();
        self.deliveries().add(delivery)
    }
}

/// Where subscribers confirm: the API's own ConfirmSubscription.
pub fn subscribe_url(naming: &Naming, topic_arn: &str, token: &str) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "{}/?Action=ConfirmSubscription&TopicArn={}&Token={}",
        naming.base_url.trim_end_matches('/'),
        enc(topic_arn),
        enc(token)
    )
}

/// The SubscriptionConfirmation an http(s) endpoint is sent (its id is
/// the store's to give).
pub fn confirmation(
    naming: &Naming,
    record: &SubscriptionRecord,
    token: &str,
    version: u8,
) -> DeliveryRecord {
    let message_id = uuid::Uuid::from_u128(fastrand::u128(..)).to_string();
    let url = subscribe_url(naming, &record.topic_arn, token);
    let mut body = serde_json::json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": message_id,
        "Token": token,
        "TopicArn": record.topic_arn,
        "Message": format!(
            "You have chosen to subscribe to the topic {}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
            record.topic_arn
        ),
        "SubscribeURL": url,
        "Timestamp": crate::messaging::clock::iso8601(now_ms()),
    });
    if let Some(envelope) = body.as_object_mut() {
        super::signing::sign_with(naming, envelope, version);
    }
    DeliveryRecord {
        id: 0,
        subscription_arn: record.arn.clone(),
        body: body.to_string(),
        due_at: now_ms(),
        attempts: 0,
        message_id,
        kind: "SubscriptionConfirmation".into(),
    }
}

/// A new subscription: its ARN, and for http(s) endpoints the token the
/// confirmation carries (it is pending until confirmed).
pub fn new_subscription(
    topic_arn: &str,
    protocol: &str,
    endpoint: &str,
    attributes: AttributeMap,
) -> SubscriptionRecord {
    SubscriptionRecord {
        arn: format!("{topic_arn}:{}", uuid::Uuid::from_u128(fastrand::u128(..))),
        topic_arn: topic_arn.to_string(),
        protocol: protocol.to_string(),
        endpoint: endpoint.to_string(),
        attributes,
        confirm_token: matches!(protocol, "http" | "https").then(random_token),
    }
}

/// A new topic's name and attributes; true for a FIFO topic.
pub fn check_new_topic(name: &str, attributes: &AttributeMap) -> ApiResult<bool> {
    let fifo = check_topic_name(name)?;
    if fifo && attributes.get("FifoTopic").map(String::as_str) != Some("true") {
        return Err(invalid(
            "Invalid parameter: Topic Name: FIFO topics need the FifoTopic attribute set to true",
        ));
    }
    for (k, v) in attributes {
        check_topic_attribute(k, v, fifo, true)?;
    }
    Ok(fifo)
}

/// GetTopicAttributes: the stored ones and the computed ones.
pub fn topic_attributes_of(
    topic: &Topic,
    naming: &Naming,
    confirmed: usize,
    pending: usize,
) -> AttributeMap {
    let mut all = topic.record.attributes.clone();
    all.insert("TopicArn".into(), topic.record.arn.clone());
    all.insert("Owner".into(), naming.account_id.clone());
    all.entry("DisplayName".into()).or_default();
    // An empty Policy (RemovePermission took its last statement) is the
    // default again.
    if all.get("Policy").is_none_or(|p| p.is_empty()) {
        all.insert(
            "Policy".into(),
            default_topic_policy(&topic.record.arn, &naming.account_id),
        );
    }
    all.insert("SubscriptionsConfirmed".into(), confirmed.to_string());
    all.insert("SubscriptionsPending".into(), pending.to_string());
    all.insert("SubscriptionsDeleted".into(), "0".into());
    if topic.fifo {
        all.entry("ContentBasedDeduplication".into())
            .or_insert_with(|| "false".into());
    }
    all.insert(
        "EffectiveDeliveryPolicy".into(),
        super::delivery::RetryPolicy::default().to_json(),
    );
    all
}

/// The access policy a topic has until one is set: AWS's default, which
/// lets the owning account do everything with the topic.
pub fn default_topic_policy(arn: &str, account_id: &str) -> String {
    serde_json::json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "SNS:GetTopicAttributes",
                "SNS:SetTopicAttributes",
                "SNS:AddPermission",
                "SNS:RemovePermission",
                "SNS:DeleteTopic",
                "SNS:Subscribe",
                "SNS:ListSubscriptionsByTopic",
                "SNS:Publish",
            ],
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account_id}},
        }],
    })
    .to_string()
}

/// GetSubscriptionAttributes: the stored ones and the computed ones.
pub fn subscription_attributes_of(sub: &Subscription, naming: &Naming) -> AttributeMap {
    let r = &sub.record;
    let mut all = r.attributes.clone();
    all.insert("SubscriptionArn".into(), r.arn.clone());
    all.insert("TopicArn".into(), r.topic_arn.clone());
    all.insert("Protocol".into(), r.protocol.clone());
    all.insert("Endpoint".into(), r.endpoint.clone());
    all.insert("Owner".into(), naming.account_id.clone());
    all.insert("PendingConfirmation".into(), (!sub.confirmed()).to_string());
    all.insert(
        "ConfirmationWasAuthenticated".into(),
        sub.confirmed().to_string(),
    );
    all.entry("RawMessageDelivery".into())
        .or_insert_with(|| "false".into());
    all
}

/// The subscription with one attribute set (an empty value removes it),
/// checked against the scope it will have.
pub fn with_subscription_attribute(
    sub: &Subscription,
    name: &str,
    value: String,
) -> ApiResult<Subscription> {
    let body_scope = if name == "FilterPolicyScope" {
        value == "MessageBody"
    } else {
        sub.body_scope
    };
    check_subscription_attribute(name, &value, body_scope)?;
    if name == "FilterPolicyScope" {
        if let Some(policy) = sub.record.attributes.get("FilterPolicy") {
            FilterPolicy::parse(policy, body_scope).map_err(invalid)?;
        }
    }
    let mut record = sub.record.clone();
    if value.is_empty() {
        record.attributes.remove(name);
    } else {
        record.attributes.insert(name.to_string(), value);
    }
    Ok(Subscription::from_record(record))
}

/// What subscribing checks beyond the store: which endpoints may be reached.
pub struct Endpoints<'a> {
    pub allow_private: bool,
    pub flows: Option<&'a super::flow_target::FlowDoor>,
}

/// Checks a Subscribe: its attributes, and that the endpoint suits the
/// topic (`queue_fifo`: whether the sqs endpoint is a FIFO queue, None when
/// it is no queue here).
pub async fn check_subscribe(
    topic: &Topic,
    protocol: &str,
    endpoint: &str,
    attributes: &AttributeMap,
    queue_fifo: Option<bool>,
    endpoints: &Endpoints<'_>,
) -> ApiResult<()> {
    let body_scope = attributes
        .get("FilterPolicyScope")
        .is_some_and(|s| s == "MessageBody");
    for (k, v) in attributes {
        check_subscription_attribute(k, v, body_scope)?;
    }
    // FIFO topics deliver to SQS queues only (AWS's text names the protocol).
    let fifo_only = || {
        invalid(format!(
            "Invalid parameter: Invalid protocol type: {protocol}"
        ))
    };
    match protocol {
        "sqs" => {
            // Any SQS queue ARN, here or not (AWS accepts one in another
            // account or region; deliveries to a queue that is not here
            // fail and are logged). FIFO topics may deliver to standard
            // queues; standard topics not to FIFO queues.
            let is_queue_arn = {
                let parts: Vec<&str> = endpoint.splitn(6, ':').collect();
                parts.len() == 6 && parts[0] == "arn" && parts[2] == "sqs" && !parts[5].is_empty()
            };
            if !is_queue_arn {
                return Err(invalid("Invalid parameter: SQS endpoint ARN"));
            }
            let fifo_queue = queue_fifo.unwrap_or_else(|| endpoint.ends_with(".fifo"));
            if fifo_queue && !topic.fifo {
                return Err(invalid(
                    "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics",
                ));
            }
        }
        "http" | "https" => {
            if topic.fifo {
                return Err(fifo_only());
            }
            super::delivery::check_endpoint(endpoint, protocol, endpoints.allow_private)
                .map_err(|why| invalid(format!("Invalid parameter: Endpoint: {why}")))?;
        }
        "flow" => {
            if topic.fifo {
                return Err(fifo_only());
            }
            let known = match endpoints.flows {
                Some(door) => door.has_flow(endpoint).await,
                None => false,
            };
            if !known {
                return Err(invalid(format!(
                    "Invalid parameter: Endpoint: no flow named {endpoint}"
                )));
            }
        }
        other => {
            return Err(invalid(format!(
                "Invalid parameter: Amazon SNS does not support this protocol string: {other}"
            )))
        }
    }
    Ok(())
}

pub fn random_token() -> String {
    (0..4)
        .map(|_| format!("{:016x}", fastrand::u64(..)))
        .collect()
}
