//! `gatehouse bench signing`: what SNS message signing costs per
//! notification, in process: one representative Notification envelope
//! serialised as it is sent, unsigned (raw delivery skips the envelope;
//! this is its cost without a signature), signed with SignatureVersion 1
//! (SHA1withRSA) and with 2 (SHA256withRSA), 2048-bit key. Every envelope
//! (http(s) deliveries and SQS subscriptions without raw delivery) is
//! signed, so this bounds how many such deliveries one core makes.

use crate::messaging::sns::signing::Signer;
use serde_json::{Map, Value};

#[derive(clap::Args)]
pub struct SigningArgs {
    /// Notifications per case.
    #[arg(long, default_value_t = 2_000)]
    pub iterations: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 256)]
    pub message_bytes: usize,
}

pub fn run(args: SigningArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-signing-{}", std::process::id()));
    let signer = Signer::load_or_create(&dir, "https://127.0.0.1:9324");
    let _ = std::fs::remove_dir_all(&dir);
    let signer = signer?;
    let envelope = notification(args.message_bytes);
    let unsigned = super::latency::per_call(args.iterations, || {
        std::hint::black_box(Value::Object(envelope.clone()).to_string());
    });
    println!(
        "{:<28} {:>9.1} µs per notification (p99 of batches {:>9.1})",
        "unsigned envelope", unsigned.0, unsigned.1
    );
    let mut n = 0u64;
    for version in [1u8, 2] {
        let (mean, p99) = super::latency::per_call(args.iterations, || {
            // A new message each time: no signature to reuse.
            let mut e = envelope.clone();
            n += 1;
            e.insert("MessageId".into(), n.to_string().into());
            signer.sign(&mut e, version);
            std::hint::black_box(Value::Object(e).to_string());
        });
        println!(
            "{:<28} {:>9.1} µs per notification (p99 of batches {:>9.1}), {:.0} per second per core, {:.0}x unsigned",
            format!("SignatureVersion {version}"),
            mean,
            p99,
            1e6 / mean,
            mean / unsigned.0
        );
    }
    // One publication to five subscriptions: the canonical string leaves
    // the subscription out, so one signature serves all five.
    let (mean, _) = super::latency::per_call(args.iterations / 5, || {
        n += 1;
        for sub in 0..5 {
            let mut e = envelope.clone();
            e.insert("MessageId".into(), n.to_string().into());
            e.insert(
                "UnsubscribeURL".into(),
                format!("https://127.0.0.1:9324/?s={sub}").into(),
            );
            signer.sign(&mut e, 1);
            std::hint::black_box(Value::Object(e).to_string());
        }
    });
    println!(
        "{:<28} {:>9.1} µs per notification ({:.0} notifications per second per core)",
        "one publish, 5 subscribers",
        mean / 5.0,
        5e6 / mean
    );
    Ok(())
}

fn notification(message_bytes: usize) -> Map<String, Value> {
    let arn = "arn:aws:sns:us-east-1:000000000000:events";
    let fields = [
        ("Type", "Notification".to_string()),
        (
            "MessageId",
            "9b4c9a0e-8e4b-4d4e-9d7e-2f8c1f0a6b11".to_string(),
        ),
        ("TopicArn", arn.to_string()),
        ("Subject", "order created".to_string()),
        ("Message", "m".repeat(message_bytes)),
        ("Timestamp", "2026-11-30T10:00:00.000Z".to_string()),
        (
            "UnsubscribeURL",
            format!("https://127.0.0.1:9324/?Action=Unsubscribe&SubscriptionArn={arn}:1"),
        ),
    ];
    fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect()
}
