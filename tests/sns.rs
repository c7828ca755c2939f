//! SNS through the AWS SDK for Rust: topics, fan-out to queues with filter
//! policies, raw delivery, FIFO, and http subscriptions against an in-test
//! receiver (confirmation handshake, retries, dead-letter queue).

mod common;

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use common::{aws, hook, Gatehouse};
use serde_json::Value;

fn start() -> Gatehouse {
    Gatehouse::start("messaging", &[])
}

fn code<E: aws_sdk_sns::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or_default().to_string()
}

fn string_attr(v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .unwrap()
}

async fn queue(gh: &Gatehouse, name: &str) -> (String, String) {
    let sqs = aws::sqs(gh);
    let mut req = sqs.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        req = req.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    let url = req.send().await.unwrap().queue_url.unwrap();
    (url, format!("arn:aws:sqs:us-east-1:000000000000:{name}"))
}

/// Every body currently in a queue (received with a long visibility).
async fn bodies(gh: &Gatehouse, url: &str, wait: i32) -> Vec<String> {
    let got = aws::sqs(gh)
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(300)
        .wait_time_seconds(wait)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    got.into_iter().map(|m| m.body.unwrap()).collect()
}

#[tokio::test]
async fn topic_lifecycle_attributes_and_tags() {
    let gh = start();
    let sns = aws::sns(&gh);
    let arn = sns
        .create_topic()
        .name("events")
        .attributes("DisplayName", "Events")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    assert_eq!(arn, "arn:aws:sns:us-east-1:000000000000:events");
    let again = sns.create_topic().name("events").send().await.unwrap();
    assert_eq!(again.topic_arn.unwrap(), arn);
    let conflict = sns
        .create_topic()
        .name("events")
        .attributes("DisplayName", "Other")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&conflict), "InvalidParameter");
    let bad = sns
        .create_topic()
        .name("no spaces")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&bad), "InvalidParameter");

    let topics = sns.list_topics().send().await.unwrap().topics.unwrap();
    assert_eq!(topics.len(), 1);
    let attrs = sns
        .get_topic_attributes()
        .topic_arn(&arn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attrs["DisplayName"], "Events");
    assert_eq!(attrs["TopicArn"], arn);
    assert_eq!(attrs["SubscriptionsConfirmed"], "0");
    sns.set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("DisplayName")
        .attribute_value("Renamed")
        .send()
        .await
        .unwrap();
    sns.tag_resource()
        .resource_arn(&arn)
        .tags(
            aws_sdk_sns::types::Tag::builder()
                .key("team")
                .value("core")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let tags = sns
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(tags[0].key, "team");
    sns.untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    sns.delete_topic().topic_arn(&arn).send().await.unwrap();
    let missing = sns
        .get_topic_attributes()
        .topic_arn(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_not_found_exception(), "{missing:?}");
    let publish = sns
        .publish()
        .topic_arn(&arn)
        .message("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(publish.is_not_found_exception(), "{publish:?}");
}

#[tokio::test]
async fn fan_out_to_queues_with_filters_and_raw_delivery() {
    let gh = start();
    let sns = aws::sns(&gh);
    let topic = sns
        .create_topic()
        .name("orders")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let (all_url, all_arn) = queue(&gh, "all").await;
    let (eu_url, eu_arn) = queue(&gh, "eu-only").await;
    let (big_url, big_arn) = queue(&gh, "big-orders").await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&all_arn)
        .send()
        .await
        .unwrap();
    let eu = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&eu_arn)
        .attributes("FilterPolicy", r#"{"region":[{"prefix":"eu-"}]}"#)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap()
        .subscription_arn
        .unwrap();
    assert!(eu.starts_with(&topic));
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&big_arn)
        .attributes("FilterPolicyScope", "MessageBody")
        .attributes(
            "FilterPolicy",
            r#"{"order":{"total":[{"numeric":[">=",100]}]}}"#,
        )
        .send()
        .await
        .unwrap();

    let publish = |region: &str, body: &str| {
        sns.publish()
            .topic_arn(&topic)
            .message(body)
            .subject("new order")
            .message_attributes("region", string_attr(region))
            .send()
    };
    let first = publish("eu-west-1", r#"{"order":{"total":250}}"#)
        .await
        .unwrap();
    publish("us-east-1", r#"{"order":{"total":20}}"#)
        .await
        .unwrap();

    // Publish answers after the queues have the messages.
    let all = bodies(&gh, &all_url, 0).await;
    assert_eq!(all.len(), 2);
    let envelope: Value = serde_json::from_str(&all[0]).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic);
    assert_eq!(envelope["Subject"], "new order");
    assert_eq!(envelope["MessageId"], first.message_id.unwrap());
    assert_eq!(
        envelope["MessageAttributes"]["region"]["Value"],
        "eu-west-1"
    );
    assert_eq!(envelope["Message"], r#"{"order":{"total":250}}"#);

    let eu_msgs = aws::sqs(&gh)
        .receive_message()
        .queue_url(&eu_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(eu_msgs.len(), 1, "the filter keeps us-east-1 out");
    assert_eq!(
        eu_msgs[0].body.as_deref(),
        Some(r#"{"order":{"total":250}}"#),
        "raw"
    );
    assert_eq!(
        eu_msgs[0].message_attributes.as_ref().unwrap()["region"]
            .string_value
            .as_deref(),
        Some("eu-west-1")
    );
    let big = bodies(&gh, &big_url, 0).await;
    assert_eq!(big.len(), 1, "the body filter keeps the small order out");

    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    assert_eq!(subs.subscriptions.unwrap().len(), 3);
    let attrs = sns
        .get_subscription_attributes()
        .subscription_arn(&eu)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attrs["RawMessageDelivery"], "true");
    assert_eq!(attrs["Endpoint"], eu_arn);

    // Invalid filter policies get SNS's own error.
    let err = sns
        .set_subscription_attributes()
        .subscription_arn(&eu)
        .attribute_name("FilterPolicy")
        .attribute_value(r#"{"a":[{"regex":"x"}]}"#)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "InvalidParameter");
    assert_eq!(
        err.meta().message(),
        Some("Invalid parameter: FilterPolicy: Unrecognized match type regex")
    );
    sns.unsubscribe()
        .subscription_arn(&eu)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sns.list_subscriptions()
            .send()
            .await
            .unwrap()
            .subscriptions
            .unwrap()
            .len(),
        2
    );

    let batch = sns
        .publish_batch()
        .topic_arn(&topic)
        .publish_batch_request_entries(
            PublishBatchRequestEntry::builder()
                .id("a")
                .message("one")
                .build()
                .unwrap(),
        )
        .publish_batch_request_entries(
            PublishBatchRequestEntry::builder()
                .id("b")
                .message("")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(batch.successful.unwrap().len(), 1);
    assert_eq!(batch.failed.unwrap()[0].id, "b");
}

#[tokio::test]
async fn fifo_topics_deliver_in_order_to_fifo_queues() {
    let gh = start();
    let sns = aws::sns(&gh);
    let topic = sns
        .create_topic()
        .name("ledger.fifo")
        .attributes("FifoTopic", "true")
        .attributes("ContentBasedDeduplication", "true")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let (url, arn) = queue(&gh, "ledger.fifo").await;
    // A standard topic may not deliver to a FIFO queue (the other way
    // round is allowed).
    let standard_topic = sns
        .create_topic()
        .name("ledger-standard")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let refused = sns
        .subscribe()
        .topic_arn(&standard_topic)
        .protocol("sqs")
        .endpoint(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&refused), "InvalidParameter");
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    for i in 0..5 {
        sns.publish()
            .topic_arn(&topic)
            .message(format!("entry-{i}"))
            .message_group_id("acct-1")
            .send()
            .await
            .unwrap();
    }
    // A duplicate (same content) within 5 minutes is dropped.
    sns.publish()
        .topic_arn(&topic)
        .message("entry-0")
        .message_group_id("acct-1")
        .send()
        .await
        .unwrap();
    let no_group = sns
        .publish()
        .topic_arn(&topic)
        .message("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&no_group), "InvalidParameter");
    assert_eq!(
        bodies(&gh, &url, 0).await,
        (0..5).map(|i| format!("entry-{i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn http_subscriptions_confirm_retry_and_dead_letter() {
    let gh = start();
    let sns = aws::sns(&gh);
    let topic = sns
        .create_topic()
        .name("hooks")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let mut hook = hook::start("/hook", 2).await;
    let pending = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(&hook.url)
        .attributes(
            "DeliveryPolicy",
            r#"{"healthyRetryPolicy":{"numRetries":3,"minDelayTarget":1,"maxDelayTarget":1}}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        pending.subscription_arn.as_deref(),
        Some("pending confirmation")
    );
    // The confirmation fails twice (500) and is retried.
    let mut confirmation = None;
    for _ in 0..3 {
        let (headers, body) = hook.next().await;
        assert_eq!(
            headers["x-amz-sns-message-type"],
            "SubscriptionConfirmation"
        );
        confirmation = Some(body);
    }
    let confirmation = confirmation.unwrap();
    assert_eq!(confirmation["Type"], "SubscriptionConfirmation");
    assert_eq!(confirmation["TopicArn"], topic);
    // Unconfirmed subscriptions get nothing.
    sns.publish()
        .topic_arn(&topic)
        .message("too early")
        .send()
        .await
        .unwrap();
    // The subscriber follows SubscribeURL, unsigned, as real ones do.
    let confirm = reqwest::get(confirmation["SubscribeURL"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(confirm.status(), 200);
    assert!(confirm
        .text()
        .await
        .unwrap()
        .contains("<SubscriptionArn>arn:aws:sns:us-east-1:000000000000:hooks:"));

    sns.publish()
        .topic_arn(&topic)
        .message("hello hook")
        .message_attributes("kind", string_attr("greeting"))
        .send()
        .await
        .unwrap();
    let (headers, body) = hook.next().await;
    assert_eq!(headers["x-amz-sns-message-type"], "Notification");
    assert_eq!(headers["x-amz-sns-topic-arn"], topic.as_str());
    assert_eq!(
        body["Message"], "hello hook",
        "not the unconfirmed-time message"
    );
    assert_eq!(body["MessageAttributes"]["kind"]["Value"], "greeting");

    // An endpoint that always fails: one retry, then the dead-letter queue.
    let (dlq_url, dlq_arn) = queue(&gh, "hook-dlq").await;
    let mut broken = hook::start("/broken", usize::MAX).await;
    let sub = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(&broken.url)
        .return_subscription_arn(true)
        .attributes(
            "DeliveryPolicy",
            r#"{"healthyRetryPolicy":{"numRetries":1,"minDelayTarget":1,"maxDelayTarget":1}}"#,
        )
        .attributes(
            "RedrivePolicy",
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}"}}"#),
        )
        .send()
        .await
        .unwrap()
        .subscription_arn
        .unwrap();
    let (_, confirmation) = broken.next().await;
    sns.confirm_subscription()
        .topic_arn(&topic)
        .token(confirmation["Token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let attrs = sns
        .get_subscription_attributes()
        .subscription_arn(&sub)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attrs["PendingConfirmation"], "false");
    sns.publish()
        .topic_arn(&topic)
        .message("doomed")
        .send()
        .await
        .unwrap();
    let dead = bodies(&gh, &dlq_url, 10).await;
    assert_eq!(dead.len(), 1);
    let envelope: Value = serde_json::from_str(&dead[0]).unwrap();
    assert_eq!(envelope["Message"], "doomed");
    // The healthy hook got it once.
    let (_, body) = hook.next().await;
    assert_eq!(body["Message"], "doomed");
}

#[tokio::test]
async fn subscription_endpoints_are_checked() {
    let gh = Gatehouse::start("messaging_open", &[]);
    let sns = aws::sns(&gh);
    let topic = sns
        .create_topic()
        .name("t")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    // Without allow_private_endpoints, internal addresses are refused (SSRF).
    for endpoint in [
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest",
        "http://localhost/",
    ] {
        let err = sns
            .subscribe()
            .topic_arn(&topic)
            .protocol("http")
            .endpoint(endpoint)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(code(&err), "InvalidParameter", "{endpoint}");
    }
    let err = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("email")
        .endpoint("a@b.c")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "InvalidParameter");
    let err = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "InvalidParameter");
    // A queue ARN that is not here is accepted, as AWS accepts one in
    // another account (its deliveries fail and are logged).
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:000000000000:missing")
        .send()
        .await
        .unwrap();
}
