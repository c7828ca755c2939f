//! Large payloads the extended client's way: the gateway's queue and topic
//! integrations offload bodies over `messaging.large_payloads.threshold`
//! to the object store (moto's S3 here, the data dir's lake by default) and
//! send the pointer; PyPI's amazon-sqs-extended-client reads them whole;
//! the flows `queue` source follows pointers; a 2 GiB body streams through
//! without being held in memory.

mod common;

use common::flows::{run_records, wait_for_run};
use common::python::run_case;
use common::{aws, client, Gatehouse, Options};
use serde_json::{json, Value};
use std::path::Path;

/// What the Python side checks bodies against: a 16-character run.
fn pattern(size: usize) -> String {
    "0123456789abcdef".repeat(size / 16 + 1)[..size].to_string()
}

async fn post(gh: &Gatehouse, path: &str, body: String) -> Value {
    let resp = client().post(gh.url(path)).body(body).send().await.unwrap();
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer["MessageId"].is_string(), "{answer}");
    answer
}

#[tokio::test]
async fn the_extended_client_reads_offloaded_bodies_and_flows_follow_pointers() {
    gatehouse::tls::install_crypto();
    let moto = common::moto::moto().await;
    let made = client()
        .put(format!("{}/payloads", moto.url))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    let endpoint = moto.url.clone();
    let gh = Gatehouse::start_with("large_payloads", Options::default(), |dir: &Path| {
        let config = dir.join("gatehouse.yaml");
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "messaging:\n",
            &format!(
                "messaging:\n  large_payloads:\n    url: s3://payloads\n    s3: {{endpoint: \"{endpoint}\", allow_http: true, region: us-east-1, access_key_id: moto, secret_access_key: moto}}\n"
            ),
        );
        std::fs::write(config, text).unwrap();
    });
    let big = 1024 * 1024 + 17;
    post(&gh, "/inbox", pattern(big)).await;
    post(&gh, "/inbox", pattern(1000)).await;
    post(&gh, "/events", pattern(big)).await;
    // On the queues: the extended client's pointer into the bucket, and the
    // body's size; the small body as it was.
    let sqs = aws::sqs(&gh);
    for (queue, pointers, inline) in [("inbox", 1, 1), ("fanout", 1, 0)] {
        let got = sqs
            .receive_message()
            .queue_url(format!("{}/000000000000/{queue}", gh.messaging_url()))
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let (mut seen_pointers, mut seen_inline) = (0, 0);
        for m in got.messages() {
            let body = m.body().unwrap();
            match m
                .message_attributes()
                .and_then(|a| a.get("ExtendedPayloadSize"))
            {
                Some(size) => {
                    assert_eq!(size.data_type(), "Number");
                    assert_eq!(size.string_value(), Some(big.to_string().as_str()));
                    let pointer: Value = serde_json::from_str(body).unwrap();
                    assert_eq!(
                        pointer[0],
                        "software.amazon.payloadoffloading.PayloadS3Pointer"
                    );
                    assert_eq!(pointer[1]["s3BucketName"], "payloads");
                    seen_pointers += 1;
                }
                None => {
                    assert_eq!(body, pattern(1000));
                    seen_inline += 1;
                }
            }
        }
        assert_eq!((seen_pointers, seen_inline), (pointers, inline), "{queue}");
    }
    let big_size = big.to_string();
    let env = [
        ("MOTO_URL", moto.url.as_ref()),
        ("BIG_SIZE", std::ffi::OsStr::new(&big_size)),
    ];
    run_case(
        "extended_client.py",
        "receive_offloaded",
        &gh.messaging_url(),
        &env,
    );

    // A flow draining a queue reads records whose bodies were offloaded by
    // a route and by the extended client itself.
    let record = json!({"id": "from-gateway", "blob": pattern(600 * 1024)});
    post(&gh, "/records", record.to_string()).await;
    run_case(
        "extended_client.py",
        "send_for_flow",
        &gh.messaging_url(),
        &env,
    );
    let resp = client()
        .post(gh.admin_url("/flows/records/runs"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = wait_for_run(&gh, "records", &id).await;
    assert_eq!(run["status"], "Successful", "{run}");
    assert_eq!(run["records_written"], 2, "{run}");
    let mut got: Vec<(String, usize)> = run_records(&gh.dir.path().join("data/lake"), &run)
        .iter()
        .map(|r| {
            let blob = r["blob"].as_str().unwrap();
            assert_eq!(blob, pattern(blob.len()));
            (r["id"].as_str().unwrap().to_string(), blob.len())
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("from-gateway".to_string(), 600 * 1024),
            ("from-python".to_string(), 2 * 1024 * 1024)
        ]
    );
}

/// The largest the process grew to, from /proc.
fn peak_rss_bytes(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// 2 GiB in chunked encoding to a queue route: stored in the lake as it
/// arrives, the message points at it, and the server's peak memory stays
/// far below the body's size.
#[tokio::test]
async fn a_two_gibibyte_body_streams_into_the_lake() {
    const CHUNK: usize = 1 << 20;
    const CHUNKS: u64 = 2048;
    let gh = Gatehouse::start("large_payloads", &[]);
    let chunk = bytes::Bytes::from(vec![b'x'; CHUNK]);
    let stream = futures_util::stream::iter(
        (0..CHUNKS).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    let resp = client()
        .post(gh.url("/inbox"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let size = CHUNKS * CHUNK as u64;
    let sqs = aws::sqs(&gh);
    let url = gh.messaging_url() + "/000000000000/inbox";
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let message = &got.messages()[0];
    let attribute = &message.message_attributes().unwrap()["ExtendedPayloadSize"];
    assert_eq!(attribute.string_value(), Some(size.to_string().as_str()));
    let pointer: Value = serde_json::from_str(message.body().unwrap()).unwrap();
    assert_eq!(
        pointer[0],
        "software.amazon.payloadoffloading.PayloadS3Pointer"
    );
    assert_eq!(pointer[1]["s3BucketName"], "gatehouse-payloads");
    let key = pointer[1]["s3Key"].as_str().unwrap();
    let stored = gh.dir.path().join("data/lake").join(key);
    assert_eq!(std::fs::metadata(&stored).unwrap().len(), size);
    let peak = peak_rss_bytes(gh.pid());
    eprintln!("peak memory after 2 GiB: {} MiB", peak >> 20);
    assert!(peak < 400 << 20, "peak memory {} MiB", peak >> 20);
}

/// Offloaded uploads that cannot finish leave nothing behind: a body over
/// the route's limit gets 413 and a client that stalls mid-body gets 408,
/// each with a JSON body, no message and no object in the lake.
#[tokio::test]
async fn oversized_and_stalled_bodies_leave_no_message_and_no_object() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gh = Gatehouse::start_with("large_payloads", Options::default(), |dir: &Path| {
        let config = dir.join("gatehouse.yaml");
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("client_body_timeout: 10m", "client_body_timeout: 1s");
        std::fs::write(&config, text).unwrap();
        let routes = dir.join("routes/big.yaml");
        let text = std::fs::read_to_string(&routes).unwrap()
            + "  - method: POST\n    path: /small\n    integration:\n      queue: {queue: inbox}\n    policies:\n      validate: {max_body: 1MiB}\n";
        std::fs::write(&routes, text).unwrap();
    });
    let chunk = bytes::Bytes::from(vec![b'y'; 256 * 1024]);
    let stream =
        futures_util::stream::iter((0..8).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let resp = client()
        .post(gh.url("/small"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    // The server may close before the client has sent everything.
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
        let answer: Value = resp.json().await.unwrap();
        assert!(answer["message"].is_string(), "{answer}");
    }

    // 400 KiB of a chunked body, then silence.
    let address = gh.url("/inbox").replace("http://", "");
    let (host, _) = address.split_once('/').unwrap();
    let mut tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /inbox HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n",
        400 * 1024
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&vec![b'z'; 400 * 1024]).await.unwrap();
    tcp.write_all(b"\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"message\""), "{answer}");

    let sqs = aws::sqs(&gh);
    let got = sqs
        .receive_message()
        .queue_url(format!("{}/000000000000/inbox", gh.messaging_url()))
        .send()
        .await
        .unwrap();
    assert!(got.messages().is_empty(), "{got:?}");
    let payloads = gh.dir.path().join("data/lake/payloads");
    let left = common::flows::files_under(&payloads);
    assert!(left.is_empty(), "{left:?}");
}
