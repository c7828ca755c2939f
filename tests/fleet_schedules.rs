//! Fleet mode, schedules: each tick runs once across the nodes, and a dead
//! node's run lease expires.

mod common;

use common::fleet::Fleet;
use common::{client, json, Gatehouse};
use std::time::{Duration, Instant};

use common::saas::Saas;
use serde_json::Value;

async fn runs(node: &Gatehouse, flow: &str) -> Vec<Value> {
    let resp = client()
        .get(node.admin_url(&format!("/flows/{flow}/runs?limit=200")))
        .send()
        .await
        .unwrap();
    json(resp).await["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn seconds(rfc3339: &str) -> f64 {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    t.timestamp_millis() as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_runs_once_per_tick_across_three_nodes() {
    let saas = Saas::start(5).await;
    let url = saas.url();
    let fleet = Fleet::start_with(3, "ticks", move |dir| {
        std::fs::create_dir_all(dir.join("flows")).unwrap();
        std::fs::write(
            dir.join("flows/ticking.yaml"),
            format!(
                "trigger: {{schedule: rate(2 seconds)}}\nallow_private_network: true\nsource:\n  http:\n    base_url: {url}\n    path: /generic/items\n    records: items\n"
            ),
        )
        .unwrap();
    });
    // Every node fires every tick; the store lets one of them run it.
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let done: Vec<Value> = runs(fleet.node(0), "ticking")
            .await
            .into_iter()
            .filter(|r| r["status"] != "InProgress")
            .collect();
        if done.len() >= 20 {
            break done;
        }
        assert!(Instant::now() < deadline, "only {} runs", done.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut starts: Vec<f64> = done
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "Successful", "{r}");
            assert_eq!(r["trigger"], "schedule");
            seconds(r["started_at"].as_str().unwrap())
        })
        .collect();
    starts.sort_by(f64::total_cmp);
    // One run per tick: starts two seconds apart, never two for a tick.
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap > 1.0, "two runs for one tick: {starts:?}");
        assert!(gap < 3.0, "a tick without a run: {starts:?}");
    }
    // Every node's admin API shows the same history.
    assert!(runs(fleet.node(2), "ticking").await.len() >= 20);
    fleet.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_run_leaves_its_lease_to_expire() {
    let saas = Saas::start(5).await;
    let url = saas.url();
    let mut fleet = Fleet::start_with(3, "lease", move |dir| {
        std::fs::create_dir_all(dir.join("flows")).unwrap();
        // Each request takes 1.5 s: a run is in progress long enough to
        // kill its node.
        std::fs::write(
            dir.join("flows/slow.yaml"),
            format!(
                "trigger: {{schedule: rate(2 seconds)}}\nallow_private_network: true\nsource:\n  http:\n    base_url: {url}\n    path: /generic/slow\n    records: items\n"
            ),
        )
        .unwrap();
    });
    // The node that started a run is the one to kill.
    let deadline = Instant::now() + Duration::from_secs(30);
    let runner = loop {
        if let Some(i) = (0..3).find(|i| fleet.nodes[*i].count_stderr("flow run started") > 0) {
            break i;
        }
        assert!(Instant::now() < deadline, "no run started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let killed = fleet.nodes.remove(runner);
    let _dir = killed.kill_hard();
    let killed_at = Instant::now();
    // Its run stays InProgress until the lease (30 s) lapses; then a
    // live node takes the lease, marks it interrupted and runs the
    // next tick.
    let deadline = Instant::now() + Duration::from_secs(75);
    let after = loop {
        let all = runs(&fleet.nodes[0], "slow").await;
        let interrupted = all.iter().any(|r| {
            r["status"] == "Error" && r["error"].as_str().unwrap_or("").contains("interrupted")
        });
        let succeeded = all.iter().any(|r| r["status"] == "Successful");
        if interrupted && succeeded {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "no run after the lease expired: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        killed_at.elapsed() > Duration::from_secs(20),
        "the lease held"
    );
    assert!(after.iter().all(|r| r["trigger"] == "schedule"));
    fleet.drop_schema().await;
}
