//! `gatehouse bench sqs` against the real server: the load generator signs
//! like an SDK, cycles every message exactly once, and cleans up its queue.

mod common;

use common::{aws, Gatehouse};

const KEY: &str = "AKIDGATEHOUSETEST";
const SECRET: &str = "test-secret-not-for-production";

fn bench(gh: &Gatehouse, secret: &str, extra: &[&str]) -> std::process::Output {
    let endpoint = gh.messaging_url();
    let mut args = vec![
        "bench",
        "sqs",
        "--endpoint",
        &endpoint,
        "--access-key",
        KEY,
        "--secret-key",
        secret,
        "--duration",
        "1s",
        "--producers",
        "2",
        "--consumers",
        "2",
        "--json",
    ];
    args.extend_from_slice(extra);
    gh.cli(&args)
}

#[tokio::test]
async fn sqs_load_cycles_every_message_once() {
    let gh = Gatehouse::start("messaging", &[]);
    for extra in [
        &["--rate", "2000"][..],
        &["--rate", "2000", "--fifo", "--groups", "8"],
    ] {
        let out = bench(&gh, SECRET, extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sent = report["sent"].as_u64().unwrap();
        // Paced at 2000/s for 1 s: every producer's first batch goes at once.
        assert!((1000..=2040).contains(&sent), "{report}");
        assert_eq!(report["received"], sent, "{report}");
        assert_eq!(report["deleted"], sent, "{report}");
        assert_eq!(report["end_to_end"]["count"], sent, "{report}");
        for zero in ["lost", "duplicates", "out_of_order", "errors"] {
            assert_eq!(report[zero], 0, "{zero}: {report}");
        }
        assert_eq!(report["offered_rate"], 2000);
        assert_eq!(
            report["queue"].as_str().unwrap().ends_with(".fifo"),
            extra.contains(&"--fifo")
        );
        assert!(report["end_to_end"]["p99_ms"].as_f64().unwrap() > 0.0);
    }
    // Each run deletes the queue it made.
    let left = aws::sqs(&gh)
        .list_queues()
        .queue_name_prefix("gatehouse-bench-")
        .send()
        .await
        .unwrap();
    assert!(left.queue_urls().is_empty(), "{left:?}");
}

#[test]
fn sqs_load_reports_a_bad_signature() {
    let gh = Gatehouse::start("messaging", &[]);
    let out = bench(&gh, "wrong-secret", &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CreateQueue: 403 Forbidden") && stderr.contains("SignatureDoesNotMatch"),
        "{stderr}"
    );
    let out = bench(&gh, SECRET, &["--batch", "11"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--batch must be 1 to 10"));
}
