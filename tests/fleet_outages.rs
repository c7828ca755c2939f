//! Fleet mode, outages: a PostgreSQL and a Redis of the test's own (on free
//! ports), so stopping them does not disturb tests running beside it.

mod common;

use common::fleet::{create_key, get, Fleet, REDIS_URL, STORE_URL};
use common::{client, json, Gatehouse, Options};
use std::time::{Duration, Instant};

use std::process::{Child, Command, Stdio};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pg_bin(name: &str) -> std::path::PathBuf {
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL binaries in /usr/lib/postgresql (see .ci/setup)")
        .map(|e| e.unwrap().path())
        .collect();
    versions.sort();
    versions.last().unwrap().join("bin").join(name)
}

/// Runs a PostgreSQL binary as the `postgres` user when we are root
/// (initdb and postgres refuse to run as root).
fn as_postgres(bin: &str) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(pg_bin(bin));
        c
    } else {
        Command::new(pg_bin(bin))
    }
}

/// A throwaway PostgreSQL: its own data folder and port.
struct PrivatePg {
    dir: tempfile::TempDir,
    port: u16,
    server: Option<Child>,
}

impl PrivatePg {
    fn init() -> PrivatePg {
        let dir = tempfile::tempdir().unwrap();
        let _ = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path())
            .status();
        let out = as_postgres("initdb")
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = PrivatePg {
            dir,
            port: free_port(),
            server: None,
        };
        pg.start();
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&mut self) {
        let child = as_postgres("postgres")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(["-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "private PostgreSQL did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A fast shutdown (SIGINT): sessions are cut, as in a restart.
    fn stop(&mut self) {
        let Some(mut child) = self.server.take() else {
            return;
        };
        // SIGINT to the postmaster itself (runuser does not pass it on):
        // a fast shutdown that cuts every session.
        let pid_file = self.dir.path().join("data/postmaster.pid");
        let postmaster = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok());
        if let Some(pid) = postmaster {
            unsafe { libc_kill(pid, 2) };
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while pid_file.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        self.stop();
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

async fn send(node: &Gatehouse, queue_url: &str, body: &str) -> (u16, serde_json::Value) {
    let resp = client()
        .post(node.messaging_url())
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", "AmazonSQS.SendMessage")
        .json(&serde_json::json!({"QueueUrl": queue_url, "MessageBody": body}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_fails_requests_clearly_and_loses_nothing() {
    let mut pg = PrivatePg::init();
    let env = [
        ("STORE_URL", pg.url()),
        ("STORE_SCHEMA", "gatehouse".to_string()),
        ("REDIS_URL", REDIS_URL.to_string()),
        ("REDIS_PREFIX", format!("outage-{}:", fastrand::u64(..))),
    ];
    let start = || {
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.clone())).collect();
        Gatehouse::start_with(
            "fleet",
            Options {
                env,
                ..Default::default()
            },
            |_| {},
        )
    };
    let (a, b) = (start(), start());
    let sqs = common::aws::sqs(&a);
    let url = sqs
        .create_queue()
        .queue_name("durable")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let (_, key) = create_key(&a, "thousand").await;

    let mut acknowledged = Vec::new();
    for i in 0..50 {
        let (status, _) = send(&a, &url, &format!("before-{i}")).await;
        assert_eq!(status, 200);
        acknowledged.push(format!("before-{i}"));
    }
    pg.stop();
    // Down: the SQS API answers AWS's ServiceUnavailable (SDKs retry
    // it), the gateway 503 for a key it cannot check, readiness 503.
    let (status, body) = send(&a, &url, "during").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["__type"], "com.amazonaws.sqs#ServiceUnavailable",
        "{body}"
    );
    assert_eq!(
        get(
            &b,
            "/f/metered",
            Some("gh_unknown_key_during_outage_0000000000000")
        )
        .await,
        503
    );
    let ready = client().get(b.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(json(ready).await["store"].as_str().is_some());
    // Routes that need no store keep serving.
    assert_eq!(get(&b, "/f/limited", None).await, 200);

    pg.start();
    // Back without restarting gatehouse: sends succeed again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    loop {
        let body = format!("after-{i}");
        let (status, answer) = send(&a, &url, &body).await;
        if status == 200 {
            acknowledged.push(body);
            break;
        }
        assert_eq!(status, 503, "{answer}");
        assert!(Instant::now() < deadline, "the store did not come back");
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&b, "/f/metered", Some(&key)).await, 200);
    let ready = client().get(b.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    // Everything acknowledged is there, through the other node.
    let sqs_b = common::aws::sqs(&b);
    let url_b = sqs_b
        .get_queue_url()
        .queue_name("durable")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let mut received = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.len() < acknowledged.len() {
        assert!(
            Instant::now() < deadline,
            "missing after the restart: {}",
            acknowledged.len() - received.len()
        );
        let got = sqs_b
            .receive_message()
            .queue_url(&url_b)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages.unwrap_or_default() {
            received.insert(m.body.unwrap());
        }
    }
    for body in &acknowledged {
        assert!(received.contains(body), "{body} lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_limits_fall_back_to_each_nodes_share() {
    let port = free_port();
    let mut redis = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (see .ci/setup)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "private Redis did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let schema = format!("fleet_redis_{}_{:x}", std::process::id(), fastrand::u32(..));
    let env = [
        ("STORE_URL", STORE_URL.to_string()),
        ("STORE_SCHEMA", schema.clone()),
        ("REDIS_URL", format!("redis://127.0.0.1:{port}")),
        ("REDIS_PREFIX", "t:".to_string()),
    ];
    let start = || {
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.clone())).collect();
        Gatehouse::start_with(
            "fleet",
            Options {
                env,
                ..Default::default()
            },
            |_| {},
        )
    };
    let fleet = Fleet {
        nodes: vec![start(), start(), start()],
        schema,
    };
    let _ = redis.kill();
    let _ = redis.wait();
    // 10/min shared by three nodes: each admits its share, 3, alone.
    let mut admitted = 0;
    for i in 0..30 {
        match get(fleet.node(i), "/f/limited", None).await {
            200 => admitted += 1,
            429 => {}
            other => panic!("status {other}"),
        }
    }
    assert_eq!(admitted, 9);
    for node in &fleet.nodes {
        let metrics = node.metrics().await;
        assert!(
            metrics.contains("gatehouse_rate_limit_redis_up 0"),
            "{metrics}"
        );
        assert!(!metrics.contains("gatehouse_rate_limit_fallbacks_total 0\n"));
        node.wait_stderr("rate limits: Redis is unreachable").await;
    }
    fleet.drop_schema().await;
}
