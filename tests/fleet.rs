//! Fleet mode: three gatehouse processes on one PostgreSQL schema and one
//! Redis key prefix (each test its own), behind no balancer: the test sends
//! round-robin itself. Keys, quotas and rate limits hold fleet-wide; a
//! revoked key is refused everywhere within a second; a node whose store is
//! unreachable refuses to start.

mod common;

use common::{client, json, Gatehouse, Options};
use std::time::{Duration, Instant};

const STORE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL: &str = "redis://127.0.0.1:6379";

struct Fleet {
    nodes: Vec<Gatehouse>,
    schema: String,
}

impl Fleet {
    fn start(n: usize, test: &str) -> Fleet {
        let schema = format!(
            "fleet_{test}_{}_{:x}",
            std::process::id(),
            fastrand::u32(..)
        );
        let env = vec![
            ("STORE_URL", STORE_URL.to_string()),
            ("STORE_SCHEMA", schema.clone()),
            ("REDIS_URL", REDIS_URL.to_string()),
            ("REDIS_PREFIX", format!("{schema}:")),
        ];
        // All at once: their migrations must not collide.
        let starting: Vec<_> = (0..n)
            .map(|_| {
                let env = env.clone();
                std::thread::spawn(move || {
                    let env: Vec<(&str, String)> =
                        env.iter().map(|(k, v)| (*k, v.clone())).collect();
                    Gatehouse::start_with(
                        "fleet",
                        Options {
                            env,
                            ..Default::default()
                        },
                        |_| {},
                    )
                })
            })
            .collect();
        let nodes = starting.into_iter().map(|t| t.join().unwrap()).collect();
        Fleet { nodes, schema }
    }

    fn node(&self, i: usize) -> &Gatehouse {
        &self.nodes[i % self.nodes.len()]
    }

    async fn drop_schema(&self) {
        let (pg, conn) = tokio_postgres::connect(STORE_URL, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        pg.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .await
            .unwrap();
    }
}

async fn create_key(node: &Gatehouse, plan: &str) -> (String, String) {
    let resp = client()
        .post(node.admin_url("/keys"))
        .json(&serde_json::json!({"plan": plan}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body = json(resp).await;
    (
        body["id"].as_str().unwrap().to_string(),
        body["key"].as_str().unwrap().to_string(),
    )
}

async fn get(node: &Gatehouse, path: &str, key: Option<&str>) -> u16 {
    let mut req = client().get(node.url(path));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_quotas_and_rate_limits_hold_across_three_nodes() {
    let fleet = Fleet::start(3, "limits");
    // Ready: each node reaches the store.
    for node in &fleet.nodes {
        let ready = client()
            .get(node.admin_url("/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }

    // A key created on node 0 works on nodes 1 and 2.
    let (id, key) = create_key(fleet.node(0), "metered").await;
    assert_eq!(get(fleet.node(1), "/f/metered", Some(&key)).await, 200);
    assert_eq!(get(fleet.node(2), "/f/metered", Some(&key)).await, 200);

    // The quota (30/day) is exact across the fleet: 28 more admitted in
    // all, whichever node they reach, and nothing after.
    let mut admitted = 2;
    for i in 0..60 {
        match get(fleet.node(i), "/f/metered", Some(&key)).await {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(admitted, 30);

    // A route limit of 10/min counts in Redis: 10 admitted in all.
    let mut limited = 0;
    for i in 0..30 {
        if get(fleet.node(i), "/f/limited", None).await == 200 {
            limited += 1;
        }
    }
    assert_eq!(limited, 10);

    // Revoked through node 0, refused by node 2 within a second.
    let (_, fresh) = create_key(fleet.node(0), "metered").await;
    assert_eq!(get(fleet.node(2), "/f/metered", Some(&fresh)).await, 200);
    let fresh_id = {
        let resp = client()
            .get(fleet.node(0).admin_url("/keys"))
            .send()
            .await
            .unwrap();
        let all = json(resp).await;
        all["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] != id.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let resp = client()
        .delete(fleet.node(0).admin_url(&format!("/keys/{fresh_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let revoked_at = Instant::now();
    loop {
        if get(fleet.node(2), "/f/metered", Some(&fresh)).await == 403 {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "node 2 still admits a key revoked on node 0"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fleet.drop_schema().await;
}

#[tokio::test]
async fn serve_fails_fast_when_the_store_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&common::fixture("fleet"), dir.path());
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("-C")
        .arg(dir.path())
        .arg("serve")
        // Nothing listens on port 1.
        .env("STORE_URL", "postgres://postgres@127.0.0.1:1/test")
        .env("STORE_SCHEMA", "unreachable")
        .env("REDIS_URL", REDIS_URL)
        .env("REDIS_PREFIX", "unreachable:")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the store (PostgreSQL at 127.0.0.1:1)"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn validate_checks_the_store_and_redis_urls() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&common::fixture("fleet"), dir.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("-C")
        .arg(dir.path())
        .arg("validate")
        .env("STORE_URL", "mysql://root@127.0.0.1/test")
        .env("STORE_SCHEMA", "Bad-Name")
        .env("REDIS_URL", "http://127.0.0.1:6379")
        .env("REDIS_PREFIX", "p:")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(
            "gatehouse.yaml:12:8: store.url: expected a URL like postgres://user@host:5432/db"
        ),
        "{text}"
    );
    assert!(
        text.contains("store.schema: bad schema `Bad-Name`"),
        "{text}"
    );
    assert!(
        text.contains("rate_limits.url: expected a URL like redis://"),
        "{text}"
    );
}

#[test]
fn the_messaging_api_is_refused_on_a_shared_store_until_topics_move_there() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gatehouse.yaml"),
        "store: postgres://postgres@127.0.0.1:5432/test\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("-C")
        .arg(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(
            "gatehouse.yaml:1:8: store: the SQS/SNS API does not run on a shared store yet"
        ),
        "{text}"
    );
}
