//! Encryption at rest: with `messaging.encryption`, the bodies and
//! attributes of messages in queues with SqsManagedSseEnabled (the default)
//! or KmsMasterKeyId are sealed in the SQLite file (AES-256-GCM under a data
//! key wrapped by the ring's key); clients see them intact (botocore's MD5
//! checks pass), across a restart and a key rotation.

mod common;

use common::{aws, Gatehouse, Options};
use std::path::Path;

const K1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; // 32 bytes of 1
const K2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="; // 32 bytes of 2

fn with_ring(dir: &Path, current: &str) {
    let config = dir.join("gatehouse.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let start = text.find("  encryption:").unwrap_or(text.len());
    let kept = &text[..start];
    let ring = format!(
        "{kept}  encryption:\n    current_key: {current}\n    keys:\n      k1: ${{RING_K1}}\n      k2: ${{RING_K2}}\n"
    );
    // `encryption:` goes last under `messaging:`, which ends the file.
    std::fs::write(&config, ring).unwrap();
}

fn options() -> Options<'static> {
    Options {
        env: vec![("RING_K1", K1.to_string()), ("RING_K2", K2.to_string())],
        ..Default::default()
    }
}

/// Every byte of the database files (the WAL too).
fn stored(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir.join("data")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("gatehouse.db") {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    occurrences(haystack, needle) > 0
}

fn occurrences(haystack: &[u8], needle: &str) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

async fn receive_one(sqs: &aws_sdk_sqs::Client, url: &str) -> aws_sdk_sqs::types::Message {
    let got = sqs
        .receive_message()
        .queue_url(url)
        .message_attribute_names("All")
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    got.into_iter().next().unwrap()
}

#[tokio::test]
async fn sealed_queues_keep_no_plaintext_on_disk_and_survive_restart_and_rotation() {
    let gh = Gatehouse::start_with("messaging", options(), |dir: &Path| with_ring(dir, "k1"));
    let sqs = aws::sqs(&gh);
    let vault = sqs
        .create_queue()
        .queue_name("vault")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let clear = sqs
        .create_queue()
        .queue_name("clear")
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::SqsManagedSseEnabled,
            "false",
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    // A queue may name its key; a key the ring does not hold is refused.
    let pinned = sqs
        .create_queue()
        .queue_name("pinned")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::KmsMasterKeyId, "k2")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let refused = sqs
        .create_queue()
        .queue_name("unknown-key")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::KmsMasterKeyId, "k9")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        aws_sdk_sqs::error::ProvideErrorMetadata::code(&refused),
        Some("InvalidAttributeValue")
    );
    sqs.send_message()
        .queue_url(&pinned)
        .message_body("SECRET-BODY-pinned-0c4d")
        .send()
        .await
        .unwrap();
    let attribute = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value("SECRET-ATTRIBUTE-7f3a")
        .build()
        .unwrap();
    sqs.send_message()
        .queue_url(&vault)
        .message_body("SECRET-BODY-k1-91c2")
        .message_attributes("note", attribute)
        .send()
        .await
        .unwrap();
    sqs.send_message()
        .queue_url(&clear)
        .message_body("PLAIN-BODY-5d0e")
        .send()
        .await
        .unwrap();
    let dir = gh.stop();
    let disk = stored(dir.path());
    // The file shows plaintext where it is stored in the clear, so its
    // absence below means something.
    assert!(contains(&disk, "PLAIN-BODY-5d0e"));
    assert!(!contains(&disk, "SECRET-BODY"));
    assert!(!contains(&disk, "SECRET-ATTRIBUTE"));
    assert!(contains(&disk, "ghseal1:k1:"));
    // The pinned queue's message is under its own key, not the current one.
    let under_k2 = occurrences(&disk, "ghseal1:k2:");
    assert!(under_k2 > 0);

    // Rotated: new messages under k2, the old one still readable.
    with_ring(dir.path(), "k2");
    let gh = Gatehouse::launch(dir, &options());
    let sqs = aws::sqs(&gh);
    let old = receive_one(&sqs, &vault).await;
    assert_eq!(old.body.as_deref(), Some("SECRET-BODY-k1-91c2"));
    assert_eq!(
        old.message_attributes.unwrap()["note"].string_value(),
        Some("SECRET-ATTRIBUTE-7f3a")
    );
    sqs.send_message()
        .queue_url(&vault)
        .message_body("SECRET-BODY-k2-44aa")
        .send()
        .await
        .unwrap();
    let dir = gh.stop();
    let disk = stored(dir.path());
    assert!(!contains(&disk, "SECRET-BODY-k1"), "old body");
    assert!(!contains(&disk, "SECRET-BODY-k2"), "new body");
    assert!(!contains(&disk, "SECRET-ATTRIBUTE"), "attribute");
    // The message sent after the rotation is under k2, the new current key.
    assert!(occurrences(&disk, "ghseal1:k2:") > under_k2);

    // Without the ring the sealed store does not start: it says why.
    let config = dir.path().join("gatehouse.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let start = text.find("  encryption:").unwrap();
    std::fs::write(&config, &text[..start]).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "-C"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("messaging.encryption is not configured"),
        "{stderr}"
    );
}

/// Fleet mode seals the same way: PostgreSQL's rows hold no plaintext, and
/// another node opens what one sealed.
#[tokio::test]
async fn fleet_nodes_seal_in_postgres_and_open_each_others_messages() {
    let fleet = common::fleet::Fleet::start_with(2, "sealed", |dir: &Path| {
        let config = dir.join("gatehouse.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        // (The test's webhook endpoint is on 127.0.0.1.)
        let ring = format!(
            "  allow_private_endpoints: true\n  encryption:\n    current_key: k1\n    keys:\n      k1: {K1}\n"
        );
        std::fs::write(&config, format!("{text}{ring}")).unwrap();
    });
    let (a, b) = (aws::sqs(fleet.node(0)), aws::sqs(fleet.node(1)));
    let url = a
        .create_queue()
        .queue_name("vault")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    a.send_message()
        .queue_url(&url)
        .message_body("SECRET-FLEET-BODY-3e1f")
        .message_attributes(
            "note",
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value("SECRET-FLEET-ATTRIBUTE-8b20")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (pg, conn) = tokio_postgres::connect(common::fleet::STORE_URL, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = pg
        .query(
            &format!(
                "SELECT body, attributes::text FROM {}.mq_messages",
                fleet.schema
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let (body, attributes): (String, String) = (rows[0].get(0), rows[0].get(1));
    assert!(
        body.starts_with("ghseal1:k1:") && !body.contains("SECRET"),
        "{body}"
    );
    assert!(!attributes.contains("SECRET"), "{attributes}");
    let got = receive_one(&b, &url).await;
    assert_eq!(got.body.as_deref(), Some("SECRET-FLEET-BODY-3e1f"));
    assert_eq!(
        got.message_attributes.unwrap()["note"].string_value(),
        Some("SECRET-FLEET-ATTRIBUTE-8b20")
    );

    // A sealed topic's pending deliveries are sealed in PostgreSQL too.
    let mut hook = common::hook::start("/hook", 0).await;
    let slow = std::time::Duration::from_secs(30);
    let sns = aws::sns(fleet.node(0));
    let topic = sns
        .create_topic()
        .name("sealed-events")
        .attributes("KmsMasterKeyId", "k1")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    hook.subscribe_confirmed(&sns, &topic, slow).await;
    hook.refuse(usize::MAX);
    sns.publish()
        .topic_arn(&topic)
        .message("SECRET-FLEET-NOTIFICATION-77d1")
        .send()
        .await
        .unwrap();
    // That attempt read the row back and opened it: the endpoint got the
    // text, while the row stays sealed for the retries.
    assert_eq!(
        hook.next_within(slow).await.1["Message"],
        "SECRET-FLEET-NOTIFICATION-77d1"
    );
    let pending = pg
        .query(
            &format!("SELECT body FROM {}.mq_deliveries", fleet.schema),
            &[],
        )
        .await
        .unwrap();
    assert!(!pending.is_empty());
    for row in &pending {
        let body: String = row.get(0);
        assert!(
            body.starts_with("ghseal1:k1:") && !body.contains("SECRET"),
            "{body}"
        );
    }
    fleet.drop_schema().await;
}

/// A topic with a KmsMasterKeyId keeps its pending deliveries sealed: a
/// notification an endpoint keeps refusing waits on disk without its text,
/// and is delivered intact once the endpoint recovers after a restart.
#[tokio::test]
async fn a_sealed_topics_pending_deliveries_hold_no_plaintext() {
    let mut hook = common::hook::start("/hook", 0).await;
    let gh = Gatehouse::start_with("messaging", options(), |dir: &Path| with_ring(dir, "k1"));
    let sns = aws::sns(&gh);
    let refused = sns
        .create_topic()
        .name("unknown-key")
        .attributes("KmsMasterKeyId", "k9")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        aws_sdk_sns::error::ProvideErrorMetadata::code(&refused),
        Some("InvalidParameter")
    );
    let topic = sns
        .create_topic()
        .name("sealed-events")
        .attributes("KmsMasterKeyId", "alias/aws/sns")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    hook.subscribe_confirmed(&sns, &topic, std::time::Duration::from_secs(10))
        .await;
    hook.refuse(usize::MAX);
    sns.publish()
        .topic_arn(&topic)
        .message("SECRET-NOTIFICATION-51aa")
        .send()
        .await
        .unwrap();
    // The first attempt failed: the delivery is pending.
    assert_eq!(hook.next().await.1["Message"], "SECRET-NOTIFICATION-51aa");
    let dir = gh.stop();
    assert!(!contains(&stored(dir.path()), "SECRET-NOTIFICATION"));
    // What arrives from now on was read back from the disk.
    hook.drain();
    // After a restart the pending delivery opens and reaches the endpoint.
    hook.refuse(0);
    let gh = Gatehouse::launch(dir, &options());
    let (_, delivered) = hook.next().await;
    assert_eq!(delivered["Message"], "SECRET-NOTIFICATION-51aa");
    drop(gh);
}
