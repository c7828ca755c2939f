//! Flows against a mock SaaS on 127.0.0.1, run by the real binary
//! (`gatehouse flow run`): every preset's pagination and auth, retries on
//! 429 and 5xx, incremental runs after inserts and updates, watermarks that
//! stay put when a run fails, loops that fail instead of spinning, and
//! secrets that never reach history.

mod common;

use common::flows::{files_under, run_records, FlowDir};
use common::saas::{Fault, Saas, CLIENT_ID, CLIENT_SECRET, TOKEN};
use serde_json::Value;
use std::collections::BTreeMap;

const RECORDS: u64 = 23;

/// Ids written by a run, sorted, with how often each appears.
fn ids(dir: &FlowDir, run: &Value) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for r in run_records(&dir.lake(), run) {
        *out.entry(r["id"].as_u64().unwrap()).or_default() += 1;
    }
    out
}

fn each_once(n: u64) -> BTreeMap<u64, usize> {
    (1..=n).map(|i| (i, 1)).collect()
}

/// The preset's flow file over the mock; every source also keeps a
/// watermark on `updated_at`, injected the preset's way.
fn preset_flow(preset: &str, saas: &Saas) -> String {
    let url = saas.url();
    let source = match preset {
        "stripe" => format!(
            "preset: stripe\n    base_url: {url}\n    path: /v1/customers\n    query: {{limit: \"5\"}}\n    auth: {{bearer: {TOKEN}}}"
        ),
        "github" => format!(
            "preset: github\n    base_url: {url}\n    path: /repos/acme/shop/issues\n    query: {{per_page: \"5\", direction: asc}}\n    auth: {{bearer: {TOKEN}}}"
        ),
        "salesforce" => format!(
            "preset: salesforce\n    base_url: {url}\n    query: {{q: \"SELECT Id FROM Account WHERE updated_at >= {{watermark}} ORDER BY updated_at\"}}\n    auth:\n      oauth2: {{token_url: {url}/services/oauth2/token, client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}}}"
        ),
        "slack" => format!(
            "preset: slack\n    base_url: {url}/api\n    query: {{channel: C123, limit: \"5\"}}\n    auth: {{bearer: {TOKEN}}}"
        ),
        "zendesk" => format!(
            "preset: zendesk\n    base_url: {url}\n    auth:\n      basic: {{username: agent@acme.test/token, password: zd-secret}}"
        ),
        "hubspot" => format!(
            "preset: hubspot\n    base_url: {url}\n    auth:\n      api_key: {{value: {TOKEN}, header: Authorization, prefix: \"Bearer \"}}"
        ),
        other => panic!("{other}"),
    };
    format!(
        "allow_private_network: true\nsource:\n  http:\n    {source}\n    incremental:\n      field: updated_at\n      first_run: 3650d\n    retry_base_delay: 10ms\n"
    )
}

// Multi-threaded: the CLI blocks one thread while the mock SaaS answers on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_preset_pages_through_every_record_exactly_once() {
    for preset in [
        "stripe",
        "github",
        "salesforce",
        "slack",
        "zendesk",
        "hubspot",
    ] {
        let saas = Saas::start(RECORDS).await;
        let dir = FlowDir::new();
        dir.flow(preset, &preset_flow(preset, &saas));
        let run = dir.run(preset);
        assert_eq!(run["status"], "Successful", "{preset}: {run}");
        assert_eq!(run["records_read"], RECORDS, "{preset}");
        assert_eq!(run["records_written"], RECORDS, "{preset}");
        assert_eq!(ids(&dir, &run), each_once(RECORDS), "{preset}");

        // The first request carried the watermark the preset's way.
        let seen = saas.seen();
        let first = &seen[0];
        let injected = match preset {
            "stripe" => first.query.get("created[gte]").cloned(),
            "github" => first.query.get("since").cloned(),
            // In the SOQL's WHERE; the query API ignores other parameters.
            "salesforce" => first
                .query
                .get("q")
                .filter(|q| q.contains("WHERE updated_at >= 20"))
                .cloned(),
            "slack" => first.query.get("oldest").cloned(),
            "zendesk" => first.query.get("start_time").cloned(),
            "hubspot" => first
                .body
                .pointer("/filterGroups/0/filters/0/value")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            _ => None,
        };
        assert!(injected.is_some(), "{preset}: no watermark in {first:?}");
        // Pages: 23 records in pages of 5 (Salesforce 4, Zendesk 3,
        // HubSpot's preset 100).
        let pages = match preset {
            "salesforce" => 6,
            "zendesk" => 8,
            "hubspot" => 1,
            _ => 5,
        };
        assert_eq!(seen.len(), pages, "{preset}: {seen:#?}");
        if preset == "hubspot" {
            // The preset's own search: POST to the search path, GTE on the
            // modification time, sorted by it.
            assert_eq!(first.method, "POST");
            assert_eq!(first.path, "/crm/v3/objects/contacts/search");
            assert_eq!(
                first.body["filterGroups"][0]["filters"][0]["operator"],
                "GTE"
            );
            assert_eq!(first.body["sorts"][0]["direction"], "ASCENDING");
            assert!(first.query.is_empty());
        }
        if preset == "salesforce" {
            assert_eq!(saas.tokens_issued(), 1);
        }
        // The watermark is the newest record's update time.
        let newest = saas.records().iter().map(|r| r.rfc3339()).max().unwrap();
        assert_eq!(run["watermark_after"], newest.as_str(), "{preset}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_runs_pick_up_inserts_and_updates_only() {
    let saas = Saas::start(10).await;
    let dir = FlowDir::new();
    dir.flow("customers", &preset_flow("stripe", &saas));
    let first = dir.run("customers");
    assert_eq!(first["status"], "Successful", "{first}");
    assert_eq!(ids(&dir, &first), each_once(10));

    for _ in 0..3 {
        saas.insert();
    }
    saas.update(2, 4242);
    let second = dir.run("customers");
    assert_eq!(second["status"], "Successful", "{second}");
    assert_eq!(second["watermark_before"], first["watermark_after"]);
    // Records 11-13 are new, 2 changed; 10 sits exactly on the stored
    // watermark (`created[gte]`), so it is read again: a record written at
    // that same second after the last run must not be lost.
    let got = ids(&dir, &second);
    assert_eq!(
        got,
        BTreeMap::from([(2, 1), (10, 1), (11, 1), (12, 1), (13, 1)])
    );
    let updated = run_records(&dir.lake(), &second)
        .into_iter()
        .find(|r| r["id"] == 2)
        .unwrap();
    assert_eq!(updated["amount"], 4242);

    let third = dir.run("customers");
    assert_eq!(third["status"], "Successful");
    assert_eq!(third["records_written"], 1, "only the boundary record");
    assert_eq!(third["watermark_after"], second["watermark_after"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_flaky_errors_are_retried_without_duplicates() {
    let saas = Saas::start(RECORDS).await;
    let dir = FlowDir::new();
    dir.flow("github", &preset_flow("github", &saas));
    saas.fault(Fault::TooMany(1));
    saas.fault(Fault::Unavailable);
    saas.fault(Fault::Unavailable);
    let started = std::time::Instant::now();
    let run = dir.run("github");
    assert_eq!(run["status"], "Successful", "{run}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(ids(&dir, &run), each_once(RECORDS));
    // Five pages, three of the requests refused and retried.
    assert_eq!(saas.seen().len(), 5 + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_bounded_and_the_run_fails_cleanly() {
    let saas = Saas::start(5).await;
    let dir = FlowDir::new();
    let flow = preset_flow("github", &saas).replace(
        "    retry_base_delay: 10ms\n",
        "    retry_base_delay: 10ms\n    max_retries: 2\n",
    );
    dir.flow("github", &flow);
    for _ in 0..3 {
        saas.fault(Fault::Unavailable);
    }
    let run = dir.run("github");
    assert_eq!(run["status"], "Error");
    assert!(
        run["error"].as_str().unwrap().contains("503"),
        "{}",
        run["error"]
    );
    assert_eq!(saas.seen().len(), 3, "the first try and two retries");
    assert!(
        !files_under(&dir.lake())
            .iter()
            .any(|f| f.ends_with("_manifest.json")),
        "a failed run commits nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_cursor_fails_the_run_instead_of_looping() {
    let saas = Saas::start(0).await;
    let dir = FlowDir::new();
    dir.flow(
        "loop",
        &format!(
            "allow_private_network: true\nsource:\n  http:\n    base_url: {}\n    path: /generic/loop\n    records: items\n    pagination: {{kind: cursor, from: next, param: cursor}}\n",
            saas.url()
        ),
    );
    let run = dir.run("loop");
    assert_eq!(run["status"], "Error");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("a cursor it had already returned"),
        "{}",
        run["error"]
    );
    assert_eq!(saas.seen().len(), 2);
    let (ok, history, _) = dir.cli(&["flow", "history", "loop", "--json"]);
    assert!(ok);
    let history: Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history[0]["status"], "Error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_and_page_pagination_stop_at_a_short_page() {
    let saas = Saas::start(RECORDS).await;
    let dir = FlowDir::new();
    let flow = |path: &str, pagination: &str| {
        format!(
            "allow_private_network: true\nsource:\n  http:\n    base_url: {}\n    path: {path}\n    records: items\n    pagination: {pagination}\n",
            saas.url()
        )
    };
    dir.flow(
        "offset",
        &flow(
            "/generic/items",
            "{kind: offset, param: offset, size_param: limit, size: 10}",
        ),
    );
    dir.flow(
        "pages",
        &flow(
            "/generic/pages",
            "{kind: page, param: page, size_param: per_page, size: 10}",
        ),
    );
    for name in ["offset", "pages"] {
        let run = dir.run(name);
        assert_eq!(run["status"], "Successful", "{run}");
        assert_eq!(ids(&dir, &run), each_once(RECORDS), "{name}");
    }
    // 10 + 10 + 3: the short page ends both, with no empty fourth request.
    assert_eq!(saas.seen().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_keeps_the_watermark_and_the_next_run_catches_up() {
    let saas = Saas::start(5).await;
    let dir = FlowDir::new();
    let out = dir.path().join("out");
    let flow = format!(
        "{}destination:\n  url: file://{}\n",
        preset_flow("stripe", &saas),
        out.display()
    );
    dir.flow("customers", &flow);
    let first = dir.run("customers");
    assert_eq!(first["status"], "Successful", "{first}");
    let watermark = first["watermark_after"].clone();

    // The destination becomes unwritable: a file where its folder was.
    for _ in 0..4 {
        saas.insert();
    }
    std::fs::rename(&out, dir.path().join("out-1")).unwrap();
    std::fs::write(&out, "not a folder").unwrap();
    let failed = dir.run("customers");
    assert_eq!(failed["status"], "Error", "{failed}");
    assert!(failed["error"]
        .as_str()
        .unwrap()
        .starts_with("destination:"));
    assert_eq!(failed["watermark_before"], watermark);
    assert_eq!(failed["watermark_after"], watermark);
    let (_, list, _) = dir.cli(&["flow", "list", "--json"]);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["watermark"], watermark);

    // Writable again: the next run reads from the old watermark, so the four
    // new records are there (and the boundary one again).
    std::fs::remove_file(&out).unwrap();
    let caught_up = dir.run("customers");
    assert_eq!(caught_up["status"], "Successful", "{caught_up}");
    let mut written = Vec::new();
    for file in caught_up["files"].as_array().unwrap() {
        let text = std::fs::read_to_string(out.join(file["key"].as_str().unwrap())).unwrap();
        written.extend(text.lines().map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        }));
    }
    written.sort();
    assert_eq!(written, vec![5, 6, 7, 8, 9]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_unless_the_flow_allows_them() {
    let saas = Saas::start(3).await;
    let dir = FlowDir::new();
    let flow = preset_flow("github", &saas).replace("allow_private_network: true\n", "");
    dir.flow("github", &flow);
    let run = dir.run("github");
    assert_eq!(run["status"], "Error");
    assert!(
        run["error"].as_str().unwrap().contains("127.0.0.1"),
        "{}",
        run["error"]
    );
    assert!(saas.seen().is_empty(), "no request left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_history_and_errors() {
    let saas = Saas::start(3).await;
    let dir = FlowDir::new();
    dir.flow(
        "leaky",
        &format!(
            "allow_private_network: true\nsource:\n  http:\n    base_url: {}\n    path: /no/such/endpoint\n    auth:\n      api_key: {{value: sk_live_do_not_log, query: api_key}}\n    max_retries: 0\n",
            saas.url()
        ),
    );
    let (ok, stdout, stderr) = dir.cli(&["flow", "run", "leaky", "--json"]);
    assert!(!ok);
    let run: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(run["status"], "Error");
    assert!(run["error"].as_str().unwrap().contains("404"), "{run}");
    let (_, history, _) = dir.cli(&["flow", "history", "leaky", "--json"]);
    for text in [&stdout, &stderr, &history] {
        assert!(
            !text.contains("sk_live_do_not_log"),
            "secret leaked: {text}"
        );
    }
    // The key did reach the API.
    assert_eq!(saas.seen()[0].query["api_key"], "sk_live_do_not_log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_what_the_tasks_make_of_records_and_writes_nothing() {
    let saas = Saas::start(RECORDS).await;
    let dir = FlowDir::new();
    let flow = format!(
        "{}tasks:\n  - filter: {{field: status, equals: open}}\n  - map: {{id: id, who: name}}\n  - mask: {{field: who, first: 8}}\n",
        preset_flow("github", &saas)
    );
    dir.flow("github", &flow);
    let (ok, stdout, stderr) = dir.cli(&["flow", "preview", "github", "--limit", "3"]);
    assert!(ok, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["outcome"], "kept");
    assert_eq!(
        lines[0]["record"],
        serde_json::json!({"id": 1, "who": "******** 1"})
    );
    assert_eq!(lines[2]["outcome"], "filtered"); // record 3 is closed
    assert!(!dir.lake().exists());
    let (_, history, _) = dir.cli(&["flow", "history", "github", "--json"]);
    assert_eq!(history.trim(), "[]");
}
