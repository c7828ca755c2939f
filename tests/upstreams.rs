//! Upstream pools: each balancing method's distribution, active health checks,
//! passive ejection, retries, and the 502/504 paths.

mod common;

use common::{client, json, upstream, Gatehouse};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

struct Setup {
    gh: Gatehouse,
    a: upstream::Upstream,
    b: upstream::Upstream,
    c: upstream::Upstream,
    dead: String,
}

async fn setup() -> Setup {
    let a = upstream::start("a").await;
    let b = upstream::start("b").await;
    let c = upstream::start("c").await;
    let dead = upstream::closed_port().to_string();
    let gh = Gatehouse::start(
        "upstreams",
        &[
            ("A", a.address()),
            ("B", b.address()),
            ("C", c.address()),
            ("DEAD", dead.clone()),
        ],
    );
    Setup { gh, a, b, c, dead }
}

/// Which upstream answered each of `n` GETs to `path`.
async fn servers(gh: &Gatehouse, path: &str, n: usize) -> HashMap<String, usize> {
    let c = client();
    let mut counts = HashMap::new();
    for _ in 0..n {
        let resp = c.get(gh.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let server = json(resp).await["server"].as_str().unwrap().to_string();
        *counts.entry(server).or_default() += 1;
    }
    counts
}

fn count(map: &HashMap<String, usize>, k: &str) -> usize {
    map.get(k).copied().unwrap_or(0)
}

#[tokio::test]
async fn round_robin_and_weighted_are_exact() {
    let s = setup().await;
    let rr = servers(&s.gh, "/rr/x", 30).await;
    assert_eq!(
        (count(&rr, "a"), count(&rr, "b"), count(&rr, "c")),
        (10, 10, 10)
    );
    let w = servers(&s.gh, "/weighted/x", 40).await;
    assert_eq!((count(&w, "a"), count(&w, "b")), (30, 10));
}

#[tokio::test]
async fn random_follows_weights() {
    let s = setup().await;
    let r = servers(&s.gh, "/random/x", 400).await;
    let share = count(&r, "a") as f64 / 400.0;
    // Binomial(400, 0.75): 0.6..0.9 is more than five standard deviations wide.
    assert!((0.6..0.9).contains(&share), "share of a: {share}");
    assert!(count(&r, "b") > 0);
}

#[tokio::test]
async fn consistent_hashing_is_sticky_by_header_and_cookie() {
    let s = setup().await;
    let c = client();
    for (path, make) in [
        (
            "/by-header/x",
            Box::new(|u: usize| ("x-user", format!("user-{u}")))
                as Box<dyn Fn(usize) -> (&'static str, String)>,
        ),
        (
            "/by-cookie/x",
            Box::new(|u: usize| ("cookie", format!("theme=dark; sid=session-{u}"))),
        ),
    ] {
        let mut used = std::collections::HashSet::new();
        for user in 0..30 {
            let (name, value) = make(user);
            let mut first = None;
            for _ in 0..3 {
                let v = json(
                    c.get(s.gh.url(path))
                        .header(name, &value)
                        .send()
                        .await
                        .unwrap(),
                )
                .await;
                let server = v["server"].as_str().unwrap().to_string();
                assert_eq!(
                    *first.get_or_insert(server.clone()),
                    server,
                    "{path} {value} moved"
                );
            }
            used.insert(first.unwrap());
        }
        assert_eq!(
            used.len(),
            3,
            "{path}: 30 keys should reach all 3 targets, got {used:?}"
        );
    }
}

async fn target_up(gh: &Gatehouse, pool: &str, target: &str) -> Option<bool> {
    let text = gh.metrics().await;
    let needle =
        format!("gatehouse_upstream_target_up{{target=\"{target}\",upstream=\"{pool}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .map(|v| v.trim() == "1")
}

async fn wait_target(gh: &Gatehouse, pool: &str, target: &str, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while target_up(gh, pool, target).await != Some(up) {
        assert!(
            Instant::now() < deadline,
            "{target} in {pool} never became up={up}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn health_checks_eject_and_restore_targets() {
    let s = setup().await;
    wait_target(&s.gh, "checked", &s.b.address(), true).await;
    let before = servers(&s.gh, "/checked/x", 10).await;
    assert_eq!((count(&before, "a"), count(&before, "b")), (5, 5));

    s.b.healthy.store(false, Ordering::SeqCst);
    wait_target(&s.gh, "checked", &s.b.address(), false).await;
    let hits_b = s.b.hits.load(Ordering::SeqCst);
    let during = servers(&s.gh, "/checked/x", 10).await;
    assert_eq!(count(&during, "a"), 10);
    assert_eq!(
        s.b.hits.load(Ordering::SeqCst),
        hits_b,
        "no traffic to a failing target"
    );

    s.b.healthy.store(true, Ordering::SeqCst);
    wait_target(&s.gh, "checked", &s.b.address(), true).await;
    let after = servers(&s.gh, "/checked/x", 10).await;
    assert_eq!((count(&after, "a"), count(&after, "b")), (5, 5));
}

#[tokio::test]
async fn passive_ejection_takes_a_failing_target_out() {
    let s = setup().await;
    let c = client();
    // Round robin starts on the dead target; without retries that request fails.
    let resp = c.get(s.gh.url("/passive/x")).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(json(resp).await["code"], "BadGateway");
    wait_target(&s.gh, "passive", &s.dead, false).await;
    let after = servers(&s.gh, "/passive/x", 10).await;
    assert_eq!(count(&after, "a"), 10);
    let metrics = s.gh.metrics().await;
    assert!(metrics.contains(&format!(
        "gatehouse_upstream_ejections_total{{target=\"{}\",upstream=\"passive\"}} 1",
        s.dead
    )));
}

#[tokio::test]
async fn connect_failures_are_retried_for_idempotent_methods_only() {
    let s = setup().await;
    let c = client();
    for _ in 0..6 {
        let resp = c.get(s.gh.url("/retrying/x")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            c.post(s.gh.url("/retrying/x"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 502, 502]);
}

#[tokio::test]
async fn no_healthy_target_is_502_and_slow_upstreams_are_504() {
    let s = setup().await;
    let c = client();
    for _ in 0..2 {
        let resp = c.get(s.gh.url("/all-dead/x")).send().await.unwrap();
        assert_eq!(resp.status(), 502);
        assert_eq!(json(resp).await["code"], "BadGateway");
    }
    let resp = c.get(s.gh.url("/all-dead/x")).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    let v = json(resp).await;
    assert_eq!(v["code"], "NoHealthyUpstream");
    assert!(v["request_id"].is_string());

    let started = Instant::now();
    let resp = c.get(s.gh.url("/slow/slow/3000")).send().await.unwrap();
    assert_eq!(resp.status(), 504);
    assert_eq!(json(resp).await["code"], "GatewayTimeout");
    assert!(started.elapsed() < Duration::from_millis(2500));

    let started = Instant::now();
    let resp = c.get(s.gh.url("/deadline/slow/3000")).send().await.unwrap();
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() < Duration::from_millis(2500));
    // Within the deadline, the same pool answers.
    let resp = c.get(s.gh.url("/deadline/slow/10")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let _ = (&s.a, &s.c);
}

#[tokio::test]
async fn an_ejected_target_comes_back_after_its_ejection_time() {
    let s = setup().await;
    let c = client();
    assert_eq!(
        c.get(s.gh.url("/brief/x")).send().await.unwrap().status(),
        502
    );
    assert_eq!(target_up(&s.gh, "brief", &s.dead).await, Some(false));
    let resp = c.get(s.gh.url("/brief/x")).send().await.unwrap();
    assert_eq!(json(resp).await["code"], "NoHealthyUpstream");
    // No health check: the gauge and the balancer see the expiry on their own.
    wait_target(&s.gh, "brief", &s.dead, true).await;
    let resp = c.get(s.gh.url("/brief/x")).send().await.unwrap();
    assert_eq!(
        json(resp).await["code"],
        "BadGateway",
        "the target is tried again"
    );
}
