//! The suite every `Topics` + `Outbox` implementation passes: the broker
//! over the in-memory journal twin (below), the broker over SQLite
//! (`store::sqlite_messages`), and any shared backend a fleet adds. No
//! delivery worker runs: the suite claims from the outbox itself.

use super::broker::ReceiveRequest;
use super::error::ErrorKind;
use super::journal::DeliveryRecord;
use super::message::{AttributeValue, Attributes};
use super::pubsub::{Outbox, Topics};
use super::queues::Queues;
use super::sns::publish::PublishInput;
use crate::config::queue_settings::AttributeMap;
use serde_json::Value;

const FAR: i64 = i64::MAX / 2;

fn attrs(pairs: &[(&str, &str)]) -> AttributeMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn message(topic_arn: &str, text: &str, kind: &str) -> PublishInput {
    let mut attributes = Attributes::new();
    attributes.insert(
        "kind".into(),
        AttributeValue {
            data_type: "String".into(),
            string_value: Some(kind.into()),
            binary_value: None,
        },
    );
    PublishInput {
        topic_arn: topic_arn.into(),
        message: text.into(),
        attributes,
        ..Default::default()
    }
}

async fn bodies(queues: &dyn Queues, queue: &str) -> Vec<String> {
    let req = ReceiveRequest {
        max: 10,
        visibility: Some(30),
        wait_seconds: Some(0),
        attempt_id: None,
    };
    let got = queues.receive(queue, &req).await.unwrap();
    got.iter().map(|d| d.message.body.to_string()).collect()
}

/// Claims everything due by `at` of `kind`.
async fn claim(outbox: &dyn Outbox, at: i64, kind: &str) -> Vec<DeliveryRecord> {
    let (claimed, _) = outbox.claim_due(at, 60_000, 100).await.unwrap();
    claimed.into_iter().filter(|d| d.kind == kind).collect()
}

/// A queue with an access policy takes only the topics it allows
/// (`aws:SourceArn`); `Queues::policy` reads it back; without one, its own
/// account's topics deliver.
async fn queue_policies(topics: &dyn Topics, queues: &dyn Queues, prefix: &str) {
    let name = format!("{prefix}-guarded");
    let topic = topics
        .create_topic(
            &format!("{prefix}-guard"),
            AttributeMap::new(),
            Default::default(),
        )
        .await
        .unwrap();
    queues
        .create_queue(&name, AttributeMap::new(), Default::default())
        .await
        .unwrap();
    assert_eq!(queues.policy(&name).await.unwrap(), None);
    let queue_arn = topics.naming().queue_arn(&name);
    topics
        .subscribe(
            &topic,
            "sqs",
            &queue_arn,
            attrs(&[("RawMessageDelivery", "true")]),
        )
        .await
        .unwrap();
    let allowing = |source: &str| {
        serde_json::json!({"Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": source}},
        }]})
        .to_string()
    };
    let publish = |text: &str| PublishInput {
        topic_arn: topic.clone(),
        message: text.into(),
        ..Default::default()
    };
    let elsewhere = allowing(&topics.naming().topic_arn("another"));
    queues
        .set_attributes(&name, attrs(&[("Policy", &elsewhere)]))
        .await
        .unwrap();
    assert_eq!(queues.policy(&name).await.unwrap(), Some(elsewhere));
    topics.publish(publish("refused")).await.unwrap();
    assert!(bodies(queues, &name).await.is_empty());
    queues
        .set_attributes(&name, attrs(&[("Policy", &allowing(&topic))]))
        .await
        .unwrap();
    topics.publish(publish("allowed")).await.unwrap();
    assert_eq!(bodies(queues, &name).await, vec!["allowed"]);
    queues
        .set_attributes(&name, attrs(&[("Policy", "")]))
        .await
        .unwrap();
    assert_eq!(queues.policy(&name).await.unwrap(), None);
}

pub async fn conformance(
    topics: &dyn Topics,
    outbox: &dyn Outbox,
    queues: &dyn Queues,
    prefix: &str,
) {
    queue_policies(topics, queues, prefix).await;
    let name = format!("{prefix}-events");
    let arn = topics
        .create_topic(
            &name,
            attrs(&[("DisplayName", "Events")]),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(arn, topics.naming().topic_arn(&name));
    // Idempotent with the same attributes, refused with others.
    let again = topics
        .create_topic(
            &name,
            attrs(&[("DisplayName", "Events")]),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(again, arn);
    let clash = topics
        .create_topic(
            &name,
            attrs(&[("DisplayName", "Other")]),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(clash.kind, ErrorKind::InvalidParameter);
    assert!(topics.list_topics().await.unwrap().contains(&arn));
    topics
        .set_topic_attribute(&arn, "DisplayName", "Renamed".into())
        .await
        .unwrap();
    let attributes = topics.topic_attributes(&arn).await.unwrap();
    assert_eq!(attributes["DisplayName"], "Renamed");
    assert_eq!(attributes["TopicArn"], arn);
    // Tags.
    topics
        .tag_topic(&arn, [("team".to_string(), "edge".to_string())].into())
        .await
        .unwrap();
    topics
        .tag_topic(&arn, [("env".to_string(), "test".to_string())].into())
        .await
        .unwrap();
    topics
        .untag_topic(&arn, &["env".to_string()])
        .await
        .unwrap();
    let tags = topics.topic(&arn).await.unwrap().record.tags;
    assert_eq!(tags.len(), 1);
    assert_eq!(tags["team"], "edge");
    let missing = topics.naming().topic_arn("no-such-topic");
    assert_eq!(
        topics
            .tag_topic(&missing, Default::default())
            .await
            .unwrap_err()
            .kind,
        ErrorKind::ResourceNotFound
    );
    assert_eq!(
        topics.topic(&missing).await.unwrap_err().kind,
        ErrorKind::NotFound
    );

    // Queue subscriptions: confirmed at once, filtered, raw or wrapped.
    let (all_q, a_q) = (format!("{prefix}-all"), format!("{prefix}-only-a"));
    for q in [&all_q, &a_q] {
        queues
            .create_queue(q, AttributeMap::new(), Default::default())
            .await
            .unwrap();
    }
    let all = topics
        .subscribe(
            &arn,
            "sqs",
            &topics.naming().queue_arn(&all_q),
            AttributeMap::new(),
        )
        .await
        .unwrap();
    assert!(all.confirmed());
    let same = topics
        .subscribe(
            &arn,
            "sqs",
            &topics.naming().queue_arn(&all_q),
            AttributeMap::new(),
        )
        .await
        .unwrap();
    assert_eq!(same.record.arn, all.record.arn);
    let only_a = topics
        .subscribe(
            &arn,
            "sqs",
            &topics.naming().queue_arn(&a_q),
            attrs(&[
                ("FilterPolicy", r#"{"kind":["a"]}"#),
                ("RawMessageDelivery", "true"),
            ]),
        )
        .await
        .unwrap();
    let bad_policy = topics
        .subscribe(
            &arn,
            "sqs",
            &topics.naming().queue_arn(&a_q),
            attrs(&[("FilterPolicy", "not json")]),
        )
        .await
        .unwrap_err();
    assert_eq!(bad_policy.kind, ErrorKind::InvalidParameter);

    // An http subscription waits for its confirmation, sent via the outbox.
    let hook = topics
        .subscribe(
            &arn,
            "https",
            "https://example.com/hook",
            AttributeMap::new(),
        )
        .await
        .unwrap();
    assert!(!hook.confirmed());
    // Waiting in the outbox until a worker claims it.
    assert_eq!(
        outbox.pending().await.unwrap().get(&hook.record.arn),
        Some(&1)
    );
    let confirmations = claim(outbox, FAR, "SubscriptionConfirmation").await;
    assert_eq!(outbox.pending().await.unwrap().get(&hook.record.arn), None);
    assert_eq!(confirmations.len(), 1);
    let token = serde_json::from_str::<Value>(&confirmations[0].body).unwrap()["Token"]
        .as_str()
        .unwrap()
        .to_string();
    outbox.complete(confirmations[0].id).await.unwrap();
    let wrong = topics
        .confirm_subscription(&arn, "not-the-token")
        .await
        .unwrap_err();
    assert_eq!(wrong.kind, ErrorKind::InvalidParameter);
    let confirmed = topics.confirm_subscription(&arn, &token).await.unwrap();
    assert_eq!(confirmed, hook.record.arn);
    let listed = topics.list_subscriptions(Some(&arn)).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|s| s.confirmed()));
    assert_eq!(
        topics
            .subscription_attributes(&only_a.record.arn)
            .await
            .unwrap()["RawMessageDelivery"],
        "true"
    );

    // Publishing: queues have it when publish returns; the hook's delivery
    // waits in the outbox.
    let published = topics.publish(message(&arn, "first", "b")).await.unwrap();
    topics.publish(message(&arn, "second", "a")).await.unwrap();
    let wrapped = bodies(queues, &all_q).await;
    assert_eq!(wrapped.len(), 2);
    let envelopes: Vec<Value> = wrapped
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert!(envelopes
        .iter()
        .any(|e| e["Message"] == "first" && e["MessageId"] == published.message_id.as_str()));
    assert!(envelopes.iter().all(|e| e["TopicArn"] == arn.as_str()));
    assert_eq!(bodies(queues, &a_q).await, ["second"]);

    // The outbox: claimed once, retried later, completed for good.
    let notifications = claim(outbox, FAR, "Notification").await;
    assert_eq!(notifications.len(), 2);
    assert!(claim(outbox, FAR, "Notification").await.is_empty());
    let mut later = notifications[0].clone();
    later.attempts += 1;
    later.due_at = 5_000_000_000_000;
    outbox.retry(later.clone()).await.unwrap();
    outbox.complete(notifications[1].id).await.unwrap();
    assert!(claim(outbox, later.due_at - 1, "Notification")
        .await
        .is_empty());
    let (_, next) = outbox
        .claim_due(later.due_at - 1, 60_000, 100)
        .await
        .unwrap();
    assert_eq!(next, Some(later.due_at));
    let retried = claim(outbox, later.due_at, "Notification").await;
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, later.attempts);
    outbox.complete(retried[0].id).await.unwrap();

    // Unsubscribing and deleting.
    topics.unsubscribe(&only_a.record.arn).await.unwrap();
    assert_eq!(
        topics
            .unsubscribe(&only_a.record.arn)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    topics.delete_topic(&arn).await.unwrap();
    topics.delete_topic(&arn).await.unwrap(); // no error, as SNS
    assert!(topics
        .list_subscriptions(Some(&arn))
        .await
        .unwrap()
        .is_empty());
    assert!(!topics.list_topics().await.unwrap().contains(&arn));
    for q in [&all_q, &a_q] {
        queues.delete_queue(q).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_over_the_in_memory_journal_passes_the_suite() {
    let broker = super::queues_conformance::memory_broker();
    conformance(&broker, &broker, &broker, "memory").await;
    broker.close();
}
