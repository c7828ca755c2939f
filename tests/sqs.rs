//! SQS through the AWS SDK for Rust, against the real server: every action,
//! standard and FIFO semantics, visibility, delays, redrive, long polling.

mod common;

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    QueueAttributeName, SendMessageBatchRequestEntry,
};
use common::{aws, Gatehouse};
use std::time::{Duration, Instant};

fn start() -> Gatehouse {
    Gatehouse::start("messaging", &[])
}

fn code<E: aws_sdk_sqs::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or_default().to_string()
}

fn md5(s: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn queue_lifecycle_and_listing() {
    let gh = start();
    let sqs = aws::sqs(&gh);
    let url = sqs
        .create_queue()
        .queue_name("alpha")
        .attributes(QueueAttributeName::VisibilityTimeout, "10")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    assert!(url.ends_with("/000000000000/alpha"), "{url}");
    // Idempotent with the same attributes, an error with different ones.
    let again = sqs
        .create_queue()
        .queue_name("alpha")
        .attributes(QueueAttributeName::VisibilityTimeout, "10")
        .send()
        .await
        .unwrap();
    assert_eq!(again.queue_url.unwrap(), url);
    let err = sqs
        .create_queue()
        .queue_name("alpha")
        .attributes(QueueAttributeName::VisibilityTimeout, "11")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_queue_name_exists(), "{err:?}");
    for name in ["alpha-2", "beta"] {
        sqs.create_queue().queue_name(name).send().await.unwrap();
    }
    let got = sqs.get_queue_url().queue_name("beta").send().await.unwrap();
    assert!(got.queue_url.unwrap().ends_with("/beta"));
    let missing = sqs
        .get_queue_url()
        .queue_name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_queue_does_not_exist(), "{missing:?}");

    let all = sqs.list_queues().send().await.unwrap().queue_urls.unwrap();
    assert_eq!(all.len(), 6, "{all:?}"); // three declared in the fixture
    let prefixed = sqs
        .list_queues()
        .queue_name_prefix("alpha")
        .send()
        .await
        .unwrap()
        .queue_urls
        .unwrap();
    assert_eq!(prefixed.len(), 2);
    // Pages of one, followed by NextToken.
    let first = sqs
        .list_queues()
        .queue_name_prefix("alpha")
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert!(first.queue_urls.unwrap()[0].ends_with("/alpha"));
    let second = sqs
        .list_queues()
        .queue_name_prefix("alpha")
        .max_results(1)
        .next_token(first.next_token.unwrap())
        .send()
        .await
        .unwrap();
    assert!(second.queue_urls.unwrap()[0].ends_with("/alpha-2"));
    assert!(second.next_token.is_none());

    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let err = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_queue_does_not_exist(), "{err:?}");
}

#[tokio::test]
async fn attributes_tags_and_counters() {
    let gh = start();
    let sqs = aws::sqs(&gh);
    let url = sqs
        .get_queue_url()
        .queue_name("declared")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "45");
    assert_eq!(
        attrs[&QueueAttributeName::QueueArn],
        "arn:aws:sqs:us-east-1:000000000000:declared"
    );
    assert_eq!(attrs[&QueueAttributeName::MessageRetentionPeriod], "345600");
    assert_eq!(attrs[&QueueAttributeName::ApproximateNumberOfMessages], "0");

    for delay in [0, 0, 60] {
        sqs.send_message()
            .queue_url(&url)
            .message_body("x")
            .delay_seconds(delay)
            .send()
            .await
            .unwrap();
    }
    sqs.receive_message().queue_url(&url).send().await.unwrap();
    let counters = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(counters.len(), 3);
    assert_eq!(
        counters[&QueueAttributeName::ApproximateNumberOfMessages],
        "1"
    );
    assert_eq!(
        counters[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "1"
    );
    assert_eq!(
        counters[&QueueAttributeName::ApproximateNumberOfMessagesDelayed],
        "1"
    );

    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::DelaySeconds, "7")
        .send()
        .await
        .unwrap();
    let err = sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::DelaySeconds, "901")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_attribute_value(), "{err:?}");
    let delay = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::DelaySeconds)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(delay[&QueueAttributeName::DelaySeconds], "7");

    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert_eq!(tags.tags.unwrap()["team"], "core");
    sqs.tag_queue()
        .queue_url(&url)
        .tags("env", "test")
        .send()
        .await
        .unwrap();
    sqs.untag_queue()
        .queue_url(&url)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags["env"], "test");

    sqs.purge_queue().queue_url(&url).send().await.unwrap();
    let err = sqs
        .purge_queue()
        .queue_url(&url)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_purge_queue_in_progress(), "{err:?}");
    let after = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(after[&QueueAttributeName::ApproximateNumberOfMessages], "0");
}

#[tokio::test]
async fn send_receive_delete_with_attributes() {
    let gh = start();
    let sqs = aws::sqs(&gh);
    let url = sqs
        .create_queue()
        .queue_name("plain")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body("hello ✓")
        .message_attributes(
            "colour",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("red")
                .build()
                .unwrap(),
        )
        .message_attributes(
            "size",
            MessageAttributeValue::builder()
                .data_type("Number.int")
                .string_value("42")
                .build()
                .unwrap(),
        )
        .message_attributes(
            "blob",
            MessageAttributeValue::builder()
                .data_type("Binary")
                .binary_value(aws_sdk_sqs::primitives::Blob::new(vec![0u8, 1, 2, 255]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        sent.md5_of_message_body.as_deref(),
        Some(md5("hello ✓").as_str())
    );
    assert!(sent.md5_of_message_attributes.is_some());
    assert!(sent.sequence_number.is_none());

    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.body.as_deref(), Some("hello ✓"));
    assert_eq!(m.message_id, sent.message_id);
    assert_eq!(m.md5_of_body.as_deref(), Some(md5("hello ✓").as_str()));
    assert_eq!(m.md5_of_message_attributes, sent.md5_of_message_attributes);
    let attrs = m.message_attributes.as_ref().unwrap();
    assert_eq!(attrs["colour"].string_value.as_deref(), Some("red"));
    assert_eq!(attrs["size"].data_type, "Number.int");
    assert_eq!(
        attrs["blob"].binary_value.as_ref().unwrap().as_ref(),
        &[0u8, 1, 2, 255]
    );
    let system = m.attributes.as_ref().unwrap();
    assert_eq!(
        system[&MessageSystemAttributeName::ApproximateReceiveCount],
        "1"
    );
    let sent_at: i64 = system[&MessageSystemAttributeName::SentTimestamp]
        .parse()
        .unwrap();
    assert!(sent_at > 1_700_000_000_000);
    assert!(system.contains_key(&MessageSystemAttributeName::ApproximateFirstReceiveTimestamp));

    // Only the attributes asked for, with their digest.
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle.clone().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let again = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("col.*")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    let only = again[0].message_attributes.as_ref().unwrap();
    assert_eq!(only.len(), 1);
    assert!(only.contains_key("colour"));
    assert_ne!(
        again[0].md5_of_message_attributes,
        sent.md5_of_message_attributes
    );
    assert!(again[0].attributes.is_none());

    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(again[0].receipt_handle.clone().unwrap())
        .send()
        .await
        .unwrap();
    let empty = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(empty.messages.unwrap_or_default().is_empty());
    let bad = sqs
        .delete_message()
        .queue_url(&url)
        .receipt_handle("not-a-handle")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad.is_receipt_handle_is_invalid(), "{bad:?}");
}

#[tokio::test]
async fn batches_and_their_errors() {
    let gh = start();
    let sqs = aws::sqs(&gh);
    let url = sqs
        .create_queue()
        .queue_name("batch")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let entry = |id: &str, body: &str| {
        SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body(body)
            .build()
            .unwrap()
    };
    let out = sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(
            (0..10)
                .map(|i| entry(&format!("e{i}"), &format!("m{i}")))
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(out.successful.len(), 10);
    assert!(out.failed.is_empty());
    // One bad entry fails alone.
    let mixed = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("ok", "fine"))
        .entries(entry("bad", "bell \u{7}"))
        .send()
        .await
        .unwrap();
    assert_eq!(mixed.successful.len(), 1);
    assert_eq!(mixed.failed.len(), 1);
    assert_eq!(mixed.failed[0].id, "bad");
    assert_eq!(mixed.failed[0].code, "InvalidMessageContents");
    assert!(mixed.failed[0].sender_fault);

    let dup = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("same", "a"))
        .entries(entry("same", "b"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(dup.is_batch_entry_ids_not_distinct(), "{dup:?}");
    let too_many = sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(
            (0..11).map(|i| entry(&format!("e{i}"), "x")).collect(),
        ))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        too_many.is_too_many_entries_in_batch_request(),
        "{too_many:?}"
    );
    let bad_id = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("no spaces", "x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_id.is_invalid_batch_entry_id(), "{bad_id:?}");

    let mut received = Vec::new();
    while received.len() < 11 {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        assert!(!got.is_empty(), "ran dry after {}", received.len());
        received.extend(got);
    }
    let mut bodies: Vec<_> = received.iter().map(|m| m.body.clone().unwrap()).collect();
    bodies.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    expected.push("fine".into());
    expected.sort();
    assert_eq!(bodies, expected);

    let deleted = sqs
        .delete_message_batch()
        .queue_url(&url)
        .set_entries(Some(
            received
                .iter()
                .enumerate()
                .take(10)
                .map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(format!("d{i}"))
                        .receipt_handle(m.receipt_handle.clone().unwrap())
                        .build()
                        .unwrap()
                })
                .chain(std::iter::once(
                    DeleteMessageBatchRequestEntry::builder()
                        .id("junk")
                        .receipt_handle("junk")
                        .build()
                        .unwrap(),
                ))
                .collect(),
        ))
        .send()
        .await;
    // 11 entries is one too many.
    assert!(deleted.is_err());
    let deleted = sqs
        .delete_message_batch()
        .queue_url(&url)
        .entries(
            DeleteMessageBatchRequestEntry::builder()
                .id("a")
                .receipt_handle(received[0].receipt_handle.clone().unwrap())
                .build()
                .unwrap(),
        )
        .entries(
            DeleteMessageBatchRequestEntry::builder()
                .id("junk")
                .receipt_handle("junk")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.successful.len(), 1);
    assert_eq!(deleted.failed[0].code, "ReceiptHandleIsInvalid");
}

#[tokio::test]
async fn visibility_timeouts_and_delays() {
    let gh = start();
    let sqs = aws::sqs(&gh);
    let url = sqs
        .create_queue()
        .queue_name("vis")
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sqs.send_message()
        .queue_url(&url)
        .message_body("again")
        .send()
        .await
        .unwrap();
    let first = sqs
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    let none = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(none.messages.unwrap_or_default().is_empty());
    // Long-poll until the 1 s timeout hands it back, with a new handle.
    let second = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(
        second[0].attributes.as_ref().unwrap()
            [&MessageSystemAttributeName::ApproximateReceiveCount],
        "2"
    );
    assert_ne!(first[0].receipt_handle, second[0].receipt_handle);
    // On a standard queue the first receive's handle still acts on the
    // message while it is in flight (design.md, "Receipt handles").
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(first[0].receipt_handle.clone().unwrap())
        .visibility_timeout(30)
        .send()
        .await
        .unwrap();
    // Extending the current one keeps it hidden past the queue's timeout.
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(second[0].receipt_handle.clone().unwrap())
        .visibility_timeout(30)
        .send()
        .await
        .unwrap();
    let hidden = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    assert!(hidden.messages.unwrap_or_default().is_empty());

    // A per-message delay.
    let started = Instant::now();
    sqs.send_message()
        .queue_url(&url)
        .message_body("later")
        .delay_seconds(1)
        .send()
        .await
        .unwrap();
    let later = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(later[0].body.as_deref(), Some("later"));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
}

#[tokio::test]
async fn long_polling_wakes_on_send() {
    let gh = start();
    let sqs = aws::sqs(&gh);
    let url = sqs
        .create_queue()
        .queue_name("poll")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let receiver = {
        let (sqs, url) = (sqs.clone(), url.clone());
        tokio::spawn(async move {
            let got = sqs
                .receive_message()
                .queue_url(&url)
                .wait_time_seconds(20)
                .send()
                .await
                .unwrap();
            (Instant::now(), got.messages.unwrap_or_default())
        })
    };
    // The receiver is parked once the queue reports it... give it a moment by
    // waiting on an empty receive of our own.
    sqs.receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    sqs.send_message()
        .queue_url(&url)
        .message_body("wake up")
        .send()
        .await
        .unwrap();
    let sent_at = Instant::now();
    let (woke_at, got) = receiver.await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body.as_deref(), Some("wake up"));
    let latency = woke_at.duration_since(sent_at);
    assert!(
        latency < Duration::from_millis(500),
        "woke after {latency:?}"
    );

    // An empty long poll lasts its wait time, no more and not much less.
    let started = Instant::now();
    let empty = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(empty.messages.unwrap_or_default().is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn fifo_order_groups_and_dedup() {
    let gh = start();
    let sqs = aws::sqs(&gh);
    let url = sqs
        .create_queue()
        .queue_name("jobs.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let mut seqs = Vec::new();
    for (body, group) in [
        ("a1", "a"),
        ("b1", "b"),
        ("a2", "a"),
        ("a3", "a"),
        ("b2", "b"),
    ] {
        let out = sqs
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .message_group_id(group)
            .send()
            .await
            .unwrap();
        seqs.push(out.sequence_number.unwrap());
    }
    let mut sorted = seqs.clone();
    sorted.sort();
    assert_eq!(seqs, sorted, "sequence numbers increase");
    // Content-based dedup: the same body again is accepted but not stored.
    let dup = sqs
        .send_message()
        .queue_url(&url)
        .message_body("a1")
        .message_group_id("a")
        .send()
        .await
        .unwrap();
    assert_eq!(dup.sequence_number.as_deref(), Some(seqs[0].as_str()));

    let bodies = |msgs: Option<Vec<aws_sdk_sqs::types::Message>>| -> Vec<String> {
        msgs.unwrap_or_default()
            .into_iter()
            .map(|m| m.body.unwrap())
            .collect()
    };
    let first = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(2)
        .send()
        .await
        .unwrap();
    let handles: Vec<String> = first
        .messages
        .clone()
        .unwrap()
        .iter()
        .map(|m| m.receipt_handle.clone().unwrap())
        .collect();
    assert_eq!(bodies(first.messages), vec!["a1", "a2"]);
    // Group a is blocked while in flight; b comes next, in order.
    let second = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(bodies(second.messages), vec!["b1", "b2"]);
    for h in handles {
        sqs.delete_message()
            .queue_url(&url)
            .receipt_handle(h)
            .send()
            .await
            .unwrap();
    }
    let third = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(third[0].body.as_deref(), Some("a3"));
    let system = third[0].attributes.as_ref().unwrap();
    assert_eq!(system[&MessageSystemAttributeName::MessageGroupId], "a");
    assert_eq!(system[&MessageSystemAttributeName::SequenceNumber], seqs[3]);

    // FIFO rules.
    let no_group = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&no_group), "MissingParameter");
    let delay = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("g")
        .delay_seconds(5)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&delay), "InvalidParameterValue");
    let wrong_name = sqs
        .create_queue()
        .queue_name("not-fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&wrong_name), "InvalidParameterValue");
}

#[tokio::test]
async fn dead_letter_queue_and_redrive() {
    let gh = start();
    let sqs = aws::sqs(&gh);
    let url = |name: &str| format!("{}/000000000000/{name}", gh.messaging_url());
    sqs.send_message()
        .queue_url(url("work"))
        .message_body("poison")
        .send()
        .await
        .unwrap();
    // maxReceiveCount is 2: two receives, then the third attempt moves it.
    for _ in 0..2 {
        let got = sqs
            .receive_message()
            .queue_url(url("work"))
            .visibility_timeout(0)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap();
        assert_eq!(got.len(), 1);
    }
    let third = sqs
        .receive_message()
        .queue_url(url("work"))
        .send()
        .await
        .unwrap();
    assert!(third.messages.unwrap_or_default().is_empty());
    let dead = sqs
        .receive_message()
        .queue_url(url("work-dlq"))
        .visibility_timeout(0)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(dead[0].body.as_deref(), Some("poison"));

    let sources = sqs
        .list_dead_letter_source_queues()
        .queue_url(url("work-dlq"))
        .send()
        .await
        .unwrap();
    assert_eq!(sources.queue_urls, vec![url("work")]);

    // Redrive it home.
    let dlq_arn = "arn:aws:sqs:us-east-1:000000000000:work-dlq";
    let task = sqs
        .start_message_move_task()
        .source_arn(dlq_arn)
        .send()
        .await
        .unwrap();
    assert!(task.task_handle.is_some());
    let back = sqs
        .receive_message()
        .queue_url(url("work"))
        .wait_time_seconds(5)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(back[0].body.as_deref(), Some("poison"));
    assert_eq!(
        back[0].attributes.as_ref().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount],
        "1",
        "a redriven message counts receives afresh"
    );
    let tasks = sqs
        .list_message_move_tasks()
        .source_arn(dlq_arn)
        .send()
        .await
        .unwrap()
        .results
        .unwrap();
    assert_eq!(tasks[0].status.as_deref(), Some("COMPLETED"));
    assert_eq!(tasks[0].approximate_number_of_messages_moved, 1);
    let cancel = sqs
        .cancel_message_move_task()
        .task_handle(task.task_handle.unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(cancel.is_resource_not_found_exception(), "{cancel:?}");
    let not_dlq = sqs
        .start_message_move_task()
        .source_arn("arn:aws:sqs:us-east-1:000000000000:declared")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&not_dlq), "InvalidParameterValue");

    // A redrive policy must point at an existing queue.
    let err = sqs
        .create_queue()
        .queue_name("orphan")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:missing","maxReceiveCount":"3"}"#,
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_attribute_value(), "{err:?}");
}

#[tokio::test]
async fn signatures_are_checked() {
    let gh = start();
    let wrong = aws::sqs_with(&gh, aws::ACCESS_KEY, "not-the-secret");
    let err = wrong
        .list_queues()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "SignatureDoesNotMatch");
    let unknown = aws::sqs_with(&gh, "AKIDUNKNOWN", aws::SECRET);
    let err = unknown
        .list_queues()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "InvalidClientTokenId");
    let resp = common::client()
        .post(gh.messaging_url())
        .header("x-amz-target", "AmazonSQS.ListQueues")
        .header("content-type", "application/x-amz-json-1.0")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-amzn-query-error"],
        "MissingAuthenticationToken;Sender"
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["__type"],
        "com.amazonaws.sqs#MissingAuthenticationToken"
    );
    // Refusals are counted, not logged one line each.
    let metrics = gh.metrics().await;
    let refused = r#"gatehouse_listener_client_errors_total{listener="messaging",reason="signature_refused"}"#;
    assert!(metrics.lines().any(|l| l.starts_with(refused)), "{metrics}");
    assert_eq!(gh.count_stderr("messaging request refused"), 0);
}
