//! Queue depth as a signal: the admin listener's /metrics shows per-queue
//! depth gauges and per-queue/per-topic counters after real SDK traffic,
//! and the shipped alert rules (docs/prometheus/alerts.yml) name only
//! metrics Gatehouse exports and pass promtool's checks and unit tests.

mod common;

use common::{aws, Gatehouse};
use std::path::Path;
use std::process::Command;

async fn scrape(gh: &Gatehouse) -> String {
    reqwest::get(gh.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the one sample whose line starts with `series`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn queue_depth_and_message_counters_are_exported() {
    let gh = Gatehouse::start("messaging", &[]);
    let sqs = aws::sqs(&gh);
    let sns = aws::sns(&gh);
    let url = sqs
        .get_queue_url()
        .queue_name("work")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let send = |body: &'static str| {
        let sqs = sqs.clone();
        let url = url.clone();
        async move {
            sqs.send_message()
                .queue_url(&url)
                .message_body(body)
                .send()
                .await
                .unwrap();
        }
    };
    // `work` sends a message to `work-dlq` on its third receive
    // (max_receive_count 2); handing each receive back at once makes that
    // happen now.
    send("a").await;
    let mut received = 0;
    for _ in 0..3 {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        received += got.messages.unwrap_or_default().len();
    }
    assert_eq!(received, 2);
    // Two more; both taken in flight, one deleted.
    send("b").await;
    send("c").await;
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .visibility_timeout(60)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    received += got.len();
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(got[0].receipt_handle.clone().unwrap())
        .send()
        .await
        .unwrap();
    let topic = sns
        .create_topic()
        .name("events")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let declared_arn = "arn:aws:sqs:us-east-1:000000000000:declared";
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(declared_arn)
        .send()
        .await
        .unwrap();
    sns.publish()
        .topic_arn(&topic)
        .message("hello")
        .send()
        .await
        .unwrap();

    let m = scrape(&gh).await;
    let q = |name: &str, queue: &str| sample(&m, &format!("gatehouse_{name}{{queue=\"{queue}\"}}"));
    assert_eq!(q("sqs_messages_sent_total", "work"), Some(3.0), "{m}");
    assert_eq!(
        q("sqs_messages_received_total", "work"),
        Some(received as f64)
    );
    assert_eq!(q("sqs_messages_deleted_total", "work"), Some(1.0));
    assert_eq!(q("sqs_messages_moved_to_dlq_total", "work"), Some(1.0));
    // Left in `work`: the one of b and c not deleted, in flight.
    assert_eq!(q("sqs_messages_visible", "work"), Some(0.0));
    assert_eq!(q("sqs_messages_in_flight", "work"), Some(1.0));
    assert_eq!(q("sqs_messages_delayed", "work"), Some(0.0));
    assert_eq!(q("sqs_messages_visible", "work-dlq"), Some(1.0));
    let age = q("sqs_oldest_message_age_seconds", "work").unwrap();
    assert!((0.0..60.0).contains(&age), "{age}");
    assert_eq!(
        sample(
            &m,
            "gatehouse_sqs_dead_letter_queue_messages{dead_letter_queue=\"work-dlq\",queue=\"work\"}"
        ),
        Some(1.0)
    );
    assert_eq!(q("sqs_messages_sent_total", "declared"), Some(1.0));
    let t = |name: &str, rest: &str| {
        sample(&m, &format!("gatehouse_{name}{{{rest}topic=\"{topic}\"}}"))
    };
    assert_eq!(t("sns_messages_published_total", ""), Some(1.0));
    assert_eq!(
        t(
            "sns_deliveries_total",
            "outcome=\"delivered\",protocol=\"sqs\","
        ),
        Some(1.0)
    );

    // Every metric the shipped alert rules read is one Gatehouse exports.
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/prometheus/alerts.yml"),
    )
    .unwrap();
    let mut named = 0;
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("gatehouse_") && !word.starts_with("gatehouse_messaging") {
            assert!(
                m.contains(&format!("# TYPE {word} ")),
                "alerts.yml reads {word}, which /metrics does not export"
            );
            named += 1;
        }
    }
    assert!(named >= 4, "{named}");
}

/// `promtool check rules` and `promtool test rules` (alerts_test.yml fires
/// each alert on the series that should trip it, and not before its
/// `for:`). `.ci/setup` installs promtool from Debian's prometheus package.
#[test]
fn alert_rules_pass_promtool() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/prometheus");
    let Ok(check) = Command::new("promtool")
        .args(["check", "rules", "alerts.yml"])
        .current_dir(&dir)
        .output()
    else {
        eprintln!("skipped: promtool is not installed (.ci/setup installs it)");
        return;
    };
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let test = Command::new("promtool")
        .args(["test", "rules", "alerts_test.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
}
