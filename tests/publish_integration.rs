//! Gateway routes that publish: the `queue` and `topic` integrations put
//! the request body into the messaging engine and answer with its MessageId.

mod common;

use common::{aws, client, json, Gatehouse, Options};
use std::path::Path;

const ROUTES: &str = r#"
base_path: /hooks
routes:
  - method: POST
    path: /jobs/{kind}
    integration:
      queue:
        queue: work
        message_attributes:
          kind: param:kind
          tenant: header:x-tenant
          priority: query:priority
          origin: "'gateway'"
  - method: POST
    path: /ledger/{account}
    integration:
      queue:
        queue: ledger.fifo
        message_group_id: param:account
        deduplication_id: header:idempotency-key
  - method: POST
    path: /events
    integration:
      topic:
        topic: events
        subject: "'from the edge'"
        message_attributes:
          type: header:x-event-type
"#;

const MESSAGING: &str = r#"
    ledger.fifo:
      attributes:
        FifoQueue: "true"
  topics:
    events:
      subscriptions:
        - protocol: sqs
          endpoint: declared
          attributes:
            FilterPolicy: '{"type":["order.created"]}'
"#;

fn prepare(dir: &Path) {
    std::fs::create_dir_all(dir.join("routes")).unwrap();
    std::fs::write(dir.join("routes/hooks.yaml"), ROUTES).unwrap();
    let config = std::fs::read_to_string(dir.join("gatehouse.yaml")).unwrap();
    std::fs::write(
        dir.join("gatehouse.yaml"),
        format!("{}{MESSAGING}", config.trim_end()),
    )
    .unwrap();
}

#[tokio::test]
async fn routes_enqueue_and_publish() {
    let gh = Gatehouse::start_with("messaging", Options::default(), prepare);
    let c = client();
    let sqs = aws::sqs(&gh);
    let queue = |name: &str| format!("{}/000000000000/{name}", gh.messaging_url());

    let resp = c
        .post(gh.url("/hooks/jobs/resize?priority=high"))
        .header("x-tenant", "acme")
        .body("resize photo 7")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = json(resp).await["MessageId"].as_str().unwrap().to_string();
    let got = sqs
        .receive_message()
        .queue_url(queue("work"))
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(got[0].message_id.as_deref(), Some(id.as_str()));
    assert_eq!(got[0].body.as_deref(), Some("resize photo 7"));
    let attrs = got[0].message_attributes.as_ref().unwrap();
    for (name, value) in [
        ("kind", "resize"),
        ("tenant", "acme"),
        ("priority", "high"),
        ("origin", "gateway"),
    ] {
        assert_eq!(attrs[name].string_value.as_deref(), Some(value), "{name}");
    }

    // FIFO: the group from the path, deduplication from a header.
    let mut first = None;
    for (key, body) in [
        ("k1", "debit 5"),
        ("k1", "debit 5 (retry)"),
        ("k2", "credit 3"),
    ] {
        let resp = c
            .post(gh.url("/hooks/ledger/acct-9"))
            .header("idempotency-key", key)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v = json(resp).await;
        assert!(v["SequenceNumber"].is_string());
        first.get_or_insert(v["MessageId"].clone());
    }
    let ledger = sqs
        .receive_message()
        .queue_url(queue("ledger.fifo"))
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    let bodies: Vec<_> = ledger.iter().map(|m| m.body.clone().unwrap()).collect();
    assert_eq!(
        bodies,
        vec!["debit 5", "credit 3"],
        "the retry was deduplicated"
    );
    // No idempotency key on a FIFO queue without content-based dedup: 400 JSON.
    let resp = c
        .post(gh.url("/hooks/ledger/acct-9"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v = json(resp).await;
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("ContentBasedDeduplication"),
        "{v}"
    );

    // Topic: fan-out through the filter policy.
    for kind in ["order.created", "order.deleted"] {
        let resp = c
            .post(gh.url("/hooks/events"))
            .header("x-event-type", kind)
            .body(format!("{{\"event\":\"{kind}\"}}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let events = sqs
        .receive_message()
        .queue_url(queue("declared"))
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(events.len(), 1);
    let envelope: serde_json::Value =
        serde_json::from_str(events[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(envelope["Subject"], "from the edge");
    assert_eq!(envelope["Message"], r#"{"event":"order.created"}"#);

    // Bodies that cannot be messages.
    let resp = c
        .post(gh.url("/hooks/jobs/x"))
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = c
        .post(gh.url("/hooks/jobs/x"))
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(json(resp).await["message"]
        .as_str()
        .unwrap()
        .contains("MessageBody"));
}
