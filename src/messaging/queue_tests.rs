use super::*;
use crate::config::queue_settings::defaults;

fn queue(fifo: bool, extra: &[(&str, &str)]) -> Queue {
    let mut attributes = defaults(fifo);
    for (k, v) in extra {
        attributes.insert(k.to_string(), v.to_string());
    }
    Queue::new(
        QueueRecord {
            id: 1,
            name: "q".into(),
            attributes,
            tags: Default::default(),
            created_at: 0,
            modified_at: 0,
        },
        "arn:q".into(),
    )
}

struct Harness {
    q: Queue,
    seq: u64,
    ops: Vec<Op>,
}

impl Harness {
    fn new(q: Queue) -> Harness {
        Harness {
            q,
            seq: 0,
            ops: Vec::new(),
        }
    }

    fn send(&mut self, new: NewMessage, now: i64) -> QueueResult<(Sent, bool)> {
        self.seq += 1;
        let id: Arc<str> = format!("m{}", self.seq).into();
        self.q.send(new, self.seq, id, now, &mut self.ops)
    }

    fn send_body(&mut self, body: &str, now: i64) -> u64 {
        self.send(
            NewMessage {
                body: body.into(),
                ..Default::default()
            },
            now,
        )
        .unwrap()
        .0
        .seq
    }

    fn send_group(&mut self, body: &str, group: &str, now: i64) -> QueueResult<(Sent, bool)> {
        self.send(
            NewMessage {
                body: body.into(),
                group_id: Some(group.into()),
                dedup_id: Some(body.into()),
                ..Default::default()
            },
            now,
        )
    }

    fn receive(&mut self, max: usize, vt: u32, now: i64) -> Vec<Message> {
        self.q
            .receive(max, vt, None, None, now, &mut self.ops)
            .messages
    }

    fn bodies(&mut self, max: usize, vt: u32, now: i64) -> Vec<String> {
        self.receive(max, vt, now)
            .iter()
            .map(|m| m.body.to_string())
            .collect()
    }
}

fn receipt(m: &Message) -> Receipt {
    Receipt {
        queue_id: 1,
        seq: m.seq,
        nonce: m.nonce,
    }
}

#[test]
fn standard_send_receive_delete() {
    let mut h = Harness::new(queue(false, &[]));
    h.send_body("a", 0);
    h.send_body("b", 0);
    assert_eq!(h.q.counts(0).ready, 2);
    let got = h.receive(10, 30, 0);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].receive_count, 1);
    assert_eq!(
        h.q.counts(0),
        Counts {
            ready: 0,
            inflight: 2,
            delayed: 0
        }
    );
    assert!(h.receive(10, 30, 1).is_empty());
    assert!(h.q.delete(&receipt(&got[0]), &mut h.ops).unwrap());
    assert_eq!(h.q.counts(0).inflight, 1);
    // Deleting again is accepted and changes nothing.
    assert!(!h.q.delete(&receipt(&got[0]), &mut h.ops).unwrap());
}

#[test]
fn invisible_until_the_timeout_then_back_with_a_new_receipt() {
    let mut h = Harness::new(queue(false, &[]));
    h.send_body("a", 0);
    let first = h.receive(1, 30, 0);
    assert!(h.receive(1, 30, 29_999).is_empty());
    assert_eq!(h.q.next_due(), Some(30_000));
    let second = h.receive(1, 30, 30_000);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].receive_count, 2);
    assert_eq!(second[0].first_receive_at, Some(0));
    // On a standard queue the first receiver's handle still deletes it
    // (`acts_on`); the second's then finds nothing.
    assert!(h.q.delete(&receipt(&first[0]), &mut h.ops).unwrap());
    assert!(!h.q.delete(&receipt(&second[0]), &mut h.ops).unwrap());
}

#[test]
fn a_fifo_queue_acts_only_on_the_latest_receipt() {
    let mut h = Harness::new(queue(true, &[("ContentBasedDeduplication", "true")]));
    h.send_group("a", "g", 0).unwrap();
    let first = h.receive(1, 30, 0);
    let second = h.receive(1, 30, 30_000);
    assert_eq!(second.len(), 1);
    assert!(!h.q.delete(&receipt(&first[0]), &mut h.ops).unwrap());
    assert!(matches!(
        h.q.change_visibility(&receipt(&first[0]), 0, 30_000, &mut h.ops),
        Err(QueueError::NotInflight { .. })
    ));
    assert!(h.q.delete(&receipt(&second[0]), &mut h.ops).unwrap());
}

#[test]
fn delays_per_queue_and_per_message() {
    let mut h = Harness::new(queue(false, &[("DelaySeconds", "5")]));
    h.send_body("queue-delay", 0);
    h.send(
        NewMessage {
            body: "no-delay".into(),
            delay_seconds: Some(0),
            ..Default::default()
        },
        0,
    )
    .unwrap();
    assert_eq!(
        h.q.counts(0),
        Counts {
            ready: 1,
            inflight: 0,
            delayed: 1
        }
    );
    assert_eq!(h.bodies(10, 30, 0), vec!["no-delay"]);
    assert_eq!(h.bodies(10, 30, 4_999), Vec::<String>::new());
    assert_eq!(h.bodies(10, 30, 5_000), vec!["queue-delay"]);
}

#[test]
fn change_visibility_extends_or_releases() {
    let mut h = Harness::new(queue(false, &[]));
    h.send_body("a", 0);
    let m = h.receive(1, 30, 0).remove(0);
    h.q.change_visibility(&receipt(&m), 60, 10_000, &mut h.ops)
        .unwrap();
    assert!(h.receive(1, 30, 40_000).is_empty());
    let again = h.receive(1, 30, 70_000).remove(0);
    // On a standard queue the earlier handle still acts while the message
    // is in flight: released at once.
    h.q.change_visibility(&receipt(&m), 0, 70_000, &mut h.ops)
        .unwrap();
    let last = h.receive(1, 30, 70_000).remove(0);
    assert_eq!(last.receive_count, 3);
    assert!(h.q.delete(&receipt(&last), &mut h.ops).unwrap());
    // A message no longer in flight: an error, as in SQS.
    let err =
        h.q.change_visibility(&receipt(&again), 0, 70_000, &mut h.ops)
            .unwrap_err();
    assert!(matches!(err, QueueError::NotInflight { .. }));
    assert!(err
        .to_string()
        .contains("not available for visibility timeout change"));
}

#[test]
fn visibility_zero_makes_it_receivable_at_once() {
    let mut h = Harness::new(queue(false, &[]));
    h.send_body("a", 0);
    let m = h.receive(1, 30, 0).remove(0);
    h.q.change_visibility(&receipt(&m), 0, 1_000, &mut h.ops)
        .unwrap();
    assert_eq!(h.bodies(1, 30, 1_000), vec!["a"]);
}

#[test]
fn oversize_messages_are_refused() {
    let mut h = Harness::new(queue(false, &[("MaximumMessageSize", "1024")]));
    let err = h
        .send(
            NewMessage {
                body: "x".repeat(1025),
                ..Default::default()
            },
            0,
        )
        .unwrap_err();
    assert_eq!(err, QueueError::TooLong { max: 1024 });
    assert!(err.to_string().contains("shorter than 1024 bytes"));
}

#[test]
fn fifo_keeps_group_order_and_blocks_a_group_in_flight() {
    let mut h = Harness::new(queue(true, &[]));
    for (body, group) in [
        ("a1", "a"),
        ("b1", "b"),
        ("a2", "a"),
        ("b2", "b"),
        ("a3", "a"),
    ] {
        h.send_group(body, group, 0).unwrap();
    }
    // One receive of 2 takes group a's first two, in order.
    assert_eq!(h.bodies(2, 30, 0), vec!["a1", "a2"]);
    // Group a is blocked while a1/a2 are in flight; b is next.
    assert_eq!(h.bodies(10, 30, 0), vec!["b1", "b2"]);
    assert!(h.receive(10, 30, 1).is_empty());
    // After the timeout group a comes back from its head.
    assert_eq!(h.bodies(1, 30, 30_000), vec!["a1"]);
}

#[test]
fn fifo_group_unblocks_when_its_messages_are_deleted() {
    let mut h = Harness::new(queue(true, &[]));
    h.send_group("a1", "a", 0).unwrap();
    h.send_group("a2", "a", 0).unwrap();
    let m = h.receive(1, 30, 0).remove(0);
    assert!(h.receive(1, 30, 0).is_empty());
    h.q.delete(&receipt(&m), &mut h.ops).unwrap();
    assert_eq!(h.bodies(1, 30, 0), vec!["a2"]);
}

#[test]
fn fifo_deduplicates_within_five_minutes() {
    let mut h = Harness::new(queue(true, &[]));
    let (first, dup) = h.send_group("same", "g", 0).unwrap();
    assert!(!dup);
    let (again, dup) = h.send_group("same", "g", 299_999).unwrap();
    assert!(dup);
    assert_eq!(again.message_id, first.message_id);
    assert_eq!(h.q.counts(0).ready, 1);
    let (_, dup) = h.send_group("same", "g", 300_000).unwrap();
    assert!(!dup);
}

#[test]
fn fifo_content_based_and_per_group_dedup() {
    let mut h = Harness::new(queue(
        true,
        &[
            ("ContentBasedDeduplication", "true"),
            ("DeduplicationScope", "messageGroup"),
        ],
    ));
    let send = |h: &mut Harness, group: &str| {
        h.send(
            NewMessage {
                body: "body".into(),
                group_id: Some(group.into()),
                ..Default::default()
            },
            0,
        )
        .unwrap()
        .1
    };
    assert!(!send(&mut h, "a"));
    assert!(send(&mut h, "a"));
    assert!(!send(&mut h, "b"), "the scope is the group");
}

#[test]
fn fifo_requires_group_and_dedup_and_refuses_message_delay() {
    let mut h = Harness::new(queue(true, &[]));
    let err = h
        .send(
            NewMessage {
                body: "x".into(),
                ..Default::default()
            },
            0,
        )
        .unwrap_err();
    assert_eq!(err, QueueError::MissingGroupId);
    let err = h
        .send(
            NewMessage {
                body: "x".into(),
                group_id: Some("g".into()),
                ..Default::default()
            },
            0,
        )
        .unwrap_err();
    assert_eq!(err, QueueError::MissingDedupId);
    assert!(err.to_string().contains("ContentBasedDeduplication"));
    let err = h
        .send(
            NewMessage {
                body: "x".into(),
                group_id: Some("g".into()),
                dedup_id: Some("d".into()),
                delay_seconds: Some(3),
                ..Default::default()
            },
            0,
        )
        .unwrap_err();
    assert!(matches!(err, QueueError::DelayOnFifo { .. }));
    assert!(err.to_string().contains("DelaySeconds"));
}

#[test]
fn fifo_receive_attempt_is_replayed() {
    let mut h = Harness::new(queue(true, &[]));
    h.send_group("a1", "a", 0).unwrap();
    let first =
        h.q.receive(1, 30, None, Some("try-1"), 0, &mut h.ops)
            .messages;
    let again =
        h.q.receive(1, 30, None, Some("try-1"), 1_000, &mut h.ops)
            .messages;
    assert_eq!(first.len(), 1);
    assert_eq!(again[0].nonce, first[0].nonce);
    assert!(h
        .q
        .receive(1, 30, None, Some("try-2"), 1_000, &mut h.ops)
        .messages
        .is_empty());
}

#[test]
fn exhausted_messages_go_to_dead() {
    let mut h = Harness::new(queue(false, &[]));
    h.send_body("poison", 0);
    for round in 0..2 {
        let got = h.q.receive(1, 0, Some(2), None, round, &mut h.ops);
        assert_eq!(got.messages.len(), 1);
    }
    let got = h.q.receive(1, 0, Some(2), None, 10, &mut h.ops);
    assert!(got.messages.is_empty());
    assert_eq!(got.dead.len(), 1);
    assert_eq!(got.dead[0].receive_count, 2);
    assert_eq!(h.q.counts(10), Counts::default());
}

#[test]
fn retention_drops_old_messages() {
    let mut h = Harness::new(queue(false, &[("MessageRetentionPeriod", "60")]));
    h.send_body("old", 0);
    h.send_body("new", 30_000);
    assert_eq!(h.q.expire(59_999, &mut h.ops), 0);
    assert_eq!(h.q.expire(60_000, &mut h.ops), 1);
    assert_eq!(h.bodies(10, 30, 60_000), vec!["new"]);
}

#[test]
fn purge_empties_and_is_limited_to_once_a_minute() {
    let mut h = Harness::new(queue(false, &[]));
    h.send_body("a", 0);
    h.q.purge(0, &mut h.ops).unwrap();
    assert_eq!(h.q.counts(0), Counts::default());
    assert_eq!(
        h.q.purge(59_000, &mut h.ops).unwrap_err(),
        QueueError::PurgeTooSoon { queue: "q".into() }
    );
    assert!(h.q.purge(60_000, &mut h.ops).is_ok());
}

#[test]
fn restored_messages_keep_their_stage() {
    let mut h = Harness::new(queue(false, &[]));
    h.send_body("a", 0);
    h.send_body("b", 0);
    let inflight = h.receive(1, 30, 0).remove(0);
    let mut fresh = queue(false, &[]);
    fresh.restore(inflight.clone(), None, 10_000);
    let mut ready = inflight.clone();
    ready.seq = 99;
    ready.receive_count = 0;
    ready.visible_at = 0;
    fresh.restore(ready, None, 10_000);
    assert_eq!(
        fresh.counts(10_000),
        Counts {
            ready: 1,
            inflight: 1,
            delayed: 0
        }
    );
    assert_eq!(
        fresh.counts(30_000),
        Counts {
            ready: 2,
            inflight: 0,
            delayed: 0
        }
    );
}

#[test]
fn receipts_of_other_queues_are_invalid() {
    let mut h = Harness::new(queue(false, &[]));
    let r = Receipt {
        queue_id: 2,
        seq: 1,
        nonce: 1,
    };
    assert_eq!(
        h.q.delete(&r, &mut h.ops).unwrap_err(),
        QueueError::ForeignReceipt { handle: r.encode() }
    );
}
