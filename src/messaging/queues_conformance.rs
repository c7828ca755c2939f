//! The suite every `Queues` implementation passes: the broker over the
//! in-memory journal twin (`broker_tests` below), the broker over SQLite
//! (`store::sqlite_messages`), and any shared backend a fleet adds. Real
//! time passes (visibility and delays are whole seconds in SQS), so the
//! suite waits for events with deadlines rather than fixed sleeps.

use super::broker::{Broker, BrokerOptions, Delivery, ReceiveRequest};
use super::error::ErrorKind;
use super::names::Naming;
use super::queue::NewMessage;
use super::queues::{Depth, Queues};
use super::store::MemoryMessageStore;
use crate::config::queue_settings::AttributeMap;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn attrs(pairs: &[(&str, &str)]) -> AttributeMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn body(text: &str) -> NewMessage {
    NewMessage {
        body: text.into(),
        ..Default::default()
    }
}

fn in_group(text: &str, group: &str) -> NewMessage {
    NewMessage {
        body: text.into(),
        group_id: Some(group.into()),
        ..Default::default()
    }
}

fn receive_now(max: usize) -> ReceiveRequest {
    ReceiveRequest {
        max,
        visibility: Some(30),
        wait_seconds: Some(0),
        attempt_id: None,
    }
}

fn bodies(got: &[Delivery]) -> Vec<String> {
    got.iter().map(|d| d.message.body.to_string()).collect()
}

async fn count(queues: &dyn Queues, name: &str, attribute: &str) -> u64 {
    let got = queues
        .get_attributes(name, &[attribute.to_string()])
        .await
        .unwrap();
    got[attribute].parse().unwrap()
}

/// Runs every part; queue names start with `prefix` so suites can share a
/// backend.
pub async fn conformance(queues: &dyn Queues, prefix: &str) {
    lifecycle(queues, &format!("{prefix}-life")).await;
    visibility(queues, &format!("{prefix}-vis")).await;
    long_polling_and_delays(queues, &format!("{prefix}-poll")).await;
    fifo_groups_and_dedup(queues, &format!("{prefix}-fifo.fifo")).await;
    redrive(queues, &format!("{prefix}-src"), &format!("{prefix}-dlq")).await;
    purge(queues, &format!("{prefix}-purge")).await;
    stale_receipts(queues, &format!("{prefix}-stale")).await;
    stale_receipts(queues, &format!("{prefix}-stale.fifo")).await;
}

/// A receipt handle from an earlier receive of the same message: on a
/// standard queue it still changes the visibility and deletes; on a FIFO
/// queue it does neither (the delete succeeds without effect).
async fn stale_receipts(queues: &dyn Queues, name: &str) {
    let fifo = name.ends_with(".fifo");
    let attributes = if fifo {
        attrs(&[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")])
    } else {
        AttributeMap::new()
    };
    queues
        .create_queue(name, attributes, Default::default())
        .await
        .unwrap();
    let message = if fifo { in_group("m", "g") } else { body("m") };
    queues.send(name, vec![message]).await.unwrap();
    let first = queues.receive(name, &receive_now(1)).await.unwrap();
    let stale = first[0].receipt.clone();
    queues
        .change_visibility(name, &[(stale.clone(), 0)])
        .await
        .unwrap();
    let second = queues.receive(name, &receive_now(1)).await.unwrap();
    assert_eq!(second[0].message.receive_count, 2);
    let changed = queues
        .change_visibility(name, &[(stale.clone(), 30)])
        .await
        .unwrap();
    assert_eq!(changed[0].is_ok(), !fifo, "{name}: {changed:?}");
    let deleted = queues.delete(name, &[stale]).await.unwrap();
    assert!(deleted[0].is_ok(), "{name}: {deleted:?}");
    let left = count(queues, name, "ApproximateNumberOfMessagesNotVisible").await;
    assert_eq!(left, u64::from(fifo), "{name}");
    if fifo {
        let deleted = queues
            .delete(name, &[second[0].receipt.clone()])
            .await
            .unwrap();
        assert!(deleted[0].is_ok());
        assert_eq!(
            count(queues, name, "ApproximateNumberOfMessagesNotVisible").await,
            0
        );
    }
    queues.delete_queue(name).await.unwrap();
}

async fn lifecycle(queues: &dyn Queues, name: &str) {
    let missing = queues.check_queue(name).await.unwrap_err();
    assert_eq!(missing.kind, ErrorKind::QueueDoesNotExist);
    let url = queues
        .create_queue(
            name,
            attrs(&[("VisibilityTimeout", "40")]),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(url, queues.naming().queue_url(name));
    // Idempotent with the same attributes, refused with different ones.
    let again = queues
        .create_queue(
            name,
            attrs(&[("VisibilityTimeout", "40")]),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(again, url);
    let clash = queues
        .create_queue(
            name,
            attrs(&[("VisibilityTimeout", "41")]),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(clash.kind, ErrorKind::QueueNameExists);
    assert!(queues
        .list_queues(Some(name))
        .await
        .unwrap()
        .contains(&name.to_string()));
    let all = queues
        .get_attributes(name, &["All".to_string()])
        .await
        .unwrap();
    assert_eq!(all["VisibilityTimeout"], "40");
    assert_eq!(all["QueueArn"], queues.naming().queue_arn(name));
    assert_eq!(all["ApproximateNumberOfMessages"], "0");
    let unknown = queues
        .get_attributes(name, &["Colour".to_string()])
        .await
        .unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::InvalidAttributeName);
    queues
        .set_attributes(name, attrs(&[("DelaySeconds", "2")]))
        .await
        .unwrap();
    let bad = queues
        .set_attributes(name, attrs(&[("DelaySeconds", "901")]))
        .await
        .unwrap_err();
    assert_eq!(bad.kind, ErrorKind::InvalidAttributeValue);
    assert_eq!(count(queues, name, "DelaySeconds").await, 2);
    // Tags.
    queues
        .tag(name, [("team".to_string(), "edge".to_string())].into())
        .await
        .unwrap();
    queues
        .tag(name, [("env".to_string(), "test".to_string())].into())
        .await
        .unwrap();
    queues.untag(name, &["env".to_string()]).await.unwrap();
    let tags = queues.tags(name).await.unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags["team"], "edge");
    // Deleted: gone for every operation.
    queues.delete_queue(name).await.unwrap();
    assert_eq!(
        queues.check_queue(name).await.unwrap_err().kind,
        ErrorKind::QueueDoesNotExist
    );
    let send = queues.send(name, vec![body("late")]).await.unwrap_err();
    assert_eq!(send.kind, ErrorKind::QueueDoesNotExist);
    assert!(!queues
        .list_queues(Some(name))
        .await
        .unwrap()
        .contains(&name.to_string()));
}

async fn visibility(queues: &dyn Queues, name: &str) {
    queues
        .create_queue(name, AttributeMap::new(), Default::default())
        .await
        .unwrap();
    // Every message is checked by the queue, whoever sends it; a bad one
    // fails alone.
    let checked = queues
        .send(name, vec![body("\u{1}"), body(""), body("fine")])
        .await
        .unwrap();
    assert_eq!(
        checked[0].as_ref().unwrap_err().kind,
        ErrorKind::InvalidMessageContents
    );
    assert_eq!(
        checked[1].as_ref().unwrap_err().kind,
        ErrorKind::MissingParameter
    );
    assert!(checked[2].is_ok());
    let fine = queues.receive(name, &receive_now(10)).await.unwrap();
    assert_eq!(bodies(&fine), ["fine"]);
    queues
        .delete(name, &[fine[0].receipt.clone()])
        .await
        .unwrap();
    let sent = queues
        .send(name, vec![body("a"), body("b"), body("c")])
        .await
        .unwrap();
    assert!(sent.iter().all(Result::is_ok));
    let ids: BTreeSet<String> = sent
        .iter()
        .map(|r| r.as_ref().unwrap().message_id.clone())
        .collect();
    assert_eq!(ids.len(), 3);
    let got = queues.receive(name, &receive_now(10)).await.unwrap();
    let mut seen = bodies(&got);
    seen.sort();
    assert_eq!(seen, ["a", "b", "c"]);
    assert!(got.iter().all(|d| d.message.receive_count == 1));
    // In flight: invisible to other receivers.
    assert!(queues
        .receive(name, &receive_now(10))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        count(queues, name, "ApproximateNumberOfMessagesNotVisible").await,
        3
    );
    // The depth metrics and alarms read: the same counts, and the oldest
    // message's send time.
    let depth = queues.depth(name).await.unwrap();
    let oldest = got.iter().map(|d| d.message.sent_at).min();
    assert_eq!(
        depth,
        Depth {
            visible: 0,
            in_flight: 3,
            delayed: 0,
            oldest_sent_at: oldest,
        }
    );
    // Visible again at once with a timeout of 0, and counted again.
    let a = got.iter().find(|d| &*d.message.body == "a").unwrap();
    let changed = queues
        .change_visibility(name, &[(a.receipt.clone(), 0)])
        .await
        .unwrap();
    assert!(changed[0].is_ok());
    let again = queues.receive(name, &receive_now(10)).await.unwrap();
    assert_eq!(bodies(&again), ["a"]);
    assert_eq!(again[0].message.receive_count, 2);
    // Deletes succeed per entry; a malformed handle fails alone.
    let handles: Vec<String> = got
        .iter()
        .filter(|d| &*d.message.body != "a")
        .map(|d| d.receipt.clone())
        .chain([again[0].receipt.clone(), "not-a-handle".to_string()])
        .collect();
    let deleted = queues.delete(name, &handles).await.unwrap();
    assert!(deleted[..3].iter().all(Result::is_ok), "{deleted:?}");
    assert_eq!(
        deleted[3].as_ref().unwrap_err().kind,
        ErrorKind::ReceiptHandleIsInvalid
    );
    assert_eq!(
        count(queues, name, "ApproximateNumberOfMessagesNotVisible").await,
        0
    );
    assert_eq!(count(queues, name, "ApproximateNumberOfMessages").await, 0);
    assert_eq!(queues.depth(name).await.unwrap(), Depth::default());
    queues.delete_queue(name).await.unwrap();
}

async fn long_polling_and_delays(queues: &dyn Queues, name: &str) {
    queues
        .create_queue(name, AttributeMap::new(), Default::default())
        .await
        .unwrap();
    // A waiting receive returns as soon as a message arrives.
    let started = Instant::now();
    let waiting = queues.receive(
        name,
        &ReceiveRequest {
            max: 1,
            visibility: Some(30),
            wait_seconds: Some(10),
            attempt_id: None,
        },
    );
    let send = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        queues.send(name, vec![body("woke")]).await.unwrap();
    };
    let (got, ()) = tokio::join!(waiting, send);
    assert_eq!(bodies(&got.unwrap()), ["woke"]);
    assert!(started.elapsed() < Duration::from_secs(8));
    // A delayed message is counted as delayed, then received.
    let delayed = NewMessage {
        delay_seconds: Some(1),
        ..body("later")
    };
    queues.send(name, vec![delayed]).await.unwrap();
    assert!(queues
        .receive(name, &receive_now(1))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        count(queues, name, "ApproximateNumberOfMessagesDelayed").await,
        1
    );
    let got = queues
        .receive(
            name,
            &ReceiveRequest {
                max: 1,
                visibility: Some(30),
                wait_seconds: Some(5),
                attempt_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(bodies(&got), ["later"]);
    queues.delete_queue(name).await.unwrap();
}

async fn fifo_groups_and_dedup(queues: &dyn Queues, name: &str) {
    queues
        .create_queue(
            name,
            attrs(&[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")]),
            Default::default(),
        )
        .await
        .unwrap();
    let sent = queues
        .send(
            name,
            vec![
                in_group("a1", "a"),
                in_group("a2", "a"),
                in_group("b1", "b"),
            ],
        )
        .await
        .unwrap();
    let first_id = sent[0].as_ref().unwrap().message_id.clone();
    assert!(sent[0].as_ref().unwrap().sequence_number.is_some());
    // The same body again within five minutes is the same message.
    let dup = queues.send(name, vec![in_group("a1", "a")]).await.unwrap();
    assert_eq!(dup[0].as_ref().unwrap().message_id, first_id);
    // A group without its id is refused.
    let no_group = queues.send(name, vec![body("x")]).await.unwrap();
    assert_eq!(
        no_group[0].as_ref().unwrap_err().kind,
        ErrorKind::MissingParameter
    );
    let first = queues.receive(name, &receive_now(1)).await.unwrap();
    assert_eq!(bodies(&first), ["a1"]);
    // Group a is blocked while a1 is in flight; group b is not.
    let next = queues.receive(name, &receive_now(10)).await.unwrap();
    assert_eq!(bodies(&next), ["b1"]);
    assert!(queues
        .receive(name, &receive_now(10))
        .await
        .unwrap()
        .is_empty());
    queues
        .delete(name, &[first[0].receipt.clone()])
        .await
        .unwrap();
    let after = queues.receive(name, &receive_now(10)).await.unwrap();
    assert_eq!(bodies(&after), ["a2"]);
    queues.delete_queue(name).await.unwrap();
}

async fn redrive(queues: &dyn Queues, source: &str, dlq: &str) {
    queues
        .create_queue(dlq, AttributeMap::new(), Default::default())
        .await
        .unwrap();
    let dlq_arn = queues.naming().queue_arn(dlq);
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":1}}"#);
    queues
        .create_queue(
            source,
            attrs(&[("RedrivePolicy", &policy)]),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        queues.dead_letter_sources(dlq).await.unwrap(),
        [source.to_string()]
    );
    queues.send(source, vec![body("poison")]).await.unwrap();
    let got = queues.receive(source, &receive_now(1)).await.unwrap();
    queues
        .change_visibility(source, &[(got[0].receipt.clone(), 0)])
        .await
        .unwrap();
    // Past maxReceiveCount: the next receive moves it to the DLQ instead.
    assert!(queues
        .receive(source, &receive_now(1))
        .await
        .unwrap()
        .is_empty());
    let dead = queues.receive(dlq, &receive_now(1)).await.unwrap();
    // It says where it came from (DeadLetterQueueSourceArn).
    assert_eq!(
        dead[0].dead_letter_source.as_deref(),
        Some(queues.naming().queue_arn(source).as_str())
    );
    assert_eq!(bodies(&dead), ["poison"]);
    queues
        .change_visibility(dlq, &[(dead[0].receipt.clone(), 0)])
        .await
        .unwrap();
    // A move task sends it back to where it came from.
    let not_dlq = queues
        .start_move_task(&queues.naming().queue_arn(source), None, None)
        .await
        .unwrap_err();
    assert_eq!(not_dlq.kind, ErrorKind::InvalidParameterValue);
    let handle = queues.start_move_task(&dlq_arn, None, None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tasks = queues.list_move_tasks(&dlq_arn).await.unwrap();
        assert_eq!(tasks[0].handle, handle);
        if tasks[0].status == "COMPLETED" {
            assert_eq!(tasks[0].moved, 1);
            break;
        }
        assert!(Instant::now() < deadline, "move task: {tasks:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let back = queues.receive(source, &receive_now(1)).await.unwrap();
    assert_eq!(bodies(&back), ["poison"]);
    let unknown = queues
        .list_move_tasks(&queues.naming().queue_arn("no-such-queue"))
        .await
        .unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::ResourceNotFound);
    queues.delete_queue(source).await.unwrap();
    queues.delete_queue(dlq).await.unwrap();
}

async fn purge(queues: &dyn Queues, name: &str) {
    queues
        .create_queue(name, AttributeMap::new(), Default::default())
        .await
        .unwrap();
    queues.send(name, vec![body("x"), body("y")]).await.unwrap();
    queues.purge(name).await.unwrap();
    assert!(queues
        .receive(name, &receive_now(10))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(count(queues, name, "ApproximateNumberOfMessages").await, 0);
    let soon = queues.purge(name).await.unwrap_err();
    assert_eq!(soon.kind, ErrorKind::PurgeQueueInProgress);
    queues.delete_queue(name).await.unwrap();
}

/// The naming the suites' brokers use.
pub fn test_naming() -> Naming {
    Naming {
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        base_url: "http://127.0.0.1:9324".into(),
        signer: None,
    }
}

/// A broker over the in-memory journal twin, as the suites use it.
pub fn memory_broker() -> Broker {
    Broker::open(
        Box::new(MemoryMessageStore::default()),
        BrokerOptions {
            naming: test_naming(),
            allow_private_endpoints: false,
            flows: None,
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_over_the_in_memory_journal_passes_the_suite() {
    let broker = memory_broker();
    conformance(&broker, "memory").await;
    broker.close();
}
