//! Incremental flows while the source changes: the watermark travels the
//! way each API reads it (Salesforce's SOQL, Slack's fractional `ts`,
//! HubSpot's search past its 10,000-result cap), a record is written once
//! per run however pages shift, and syncs with changes between and during
//! runs lose nothing.

mod common;

use common::flows::{run_records, FlowDir};
use common::saas::{Change, Saas, CLIENT_ID, CLIENT_SECRET, TOKEN};
use serde_json::Value;
use std::collections::BTreeMap;

/// Ids a run wrote, with how often each appears.
fn ids(dir: &FlowDir, run: &Value) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for r in run_records(&dir.lake(), run) {
        *out.entry(r["id"].as_u64().unwrap()).or_default() += 1;
    }
    out
}

fn once(ids: impl IntoIterator<Item = u64>) -> BTreeMap<u64, usize> {
    ids.into_iter().map(|i| (i, 1)).collect()
}

fn salesforce(saas: &Saas, q: &str) -> String {
    let url = saas.url();
    format!(
        "allow_private_network: true
source:
  http:
    preset: salesforce
    base_url: {url}
    query: {{q: \"{q}\"}}
    id: id
    auth:
      oauth2: {{token_url: {url}/services/oauth2/token, client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}}}
    incremental: {{field: updated_at, first_run: all}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_reads_only_what_changed_through_the_soql_where() {
    let saas = Saas::start(23).await;
    let dir = FlowDir::new();
    dir.flow(
        "accounts",
        &salesforce(
            &saas,
            "SELECT Id FROM Account WHERE updated_at >= {watermark} ORDER BY updated_at",
        ),
    );
    let first = dir.run("accounts");
    assert_eq!(first["status"], "Successful", "{first}");
    assert_eq!(ids(&dir, &first), once(1..=23));
    // Reading everything: the WHERE gets the epoch.
    assert_eq!(
        saas.seen()[0].query["q"],
        "SELECT Id FROM Account WHERE updated_at >= 1970-01-01T00:00:00Z ORDER BY updated_at"
    );

    saas.insert();
    saas.insert();
    saas.update(5, 555);
    let before = saas.seen().len();
    let second = dir.run("accounts");
    assert_eq!(second["status"], "Successful", "{second}");
    // The changes, and record 23 on the watermark itself (`>=`).
    assert_eq!(second["records_read"], 4, "{second}");
    assert_eq!(ids(&dir, &second), once([5, 23, 24, 25]));
    let q = &saas.seen()[before].query["q"];
    assert_eq!(
        q,
        &format!(
            "SELECT Id FROM Account WHERE updated_at >= {} ORDER BY updated_at",
            first["watermark_after"].as_str().unwrap()
        )
    );

    // An incremental Salesforce flow whose SOQL has no place for the
    // watermark would re-read everything forever: refused up front.
    dir.flow("accounts", &salesforce(&saas, "SELECT Id FROM Account"));
    let (ok, _, stderr) = dir.cli(&["validate"]);
    assert!(!ok);
    assert!(
        stderr.contains("flows/accounts.yaml:")
            && stderr.contains("`{watermark}` appears in no query value, header or body text"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_ts_is_read_as_fractional_seconds_and_sent_back_as_oldest() {
    let saas = Saas::start(12).await;
    let dir = FlowDir::new();
    let url = saas.url();
    dir.flow(
        "messages",
        &format!(
            "allow_private_network: true
source:
  http:
    preset: slack
    base_url: {url}/api
    query: {{channel: C123, limit: \"5\"}}
    auth: {{bearer: {TOKEN}}}
    incremental: {{first_run: all}}
"
        ),
    );
    let first = dir.run("messages");
    assert_eq!(first["status"], "Successful", "{first}");
    assert_eq!(first["records_written"], 12);
    // Record 12: updated at 00:12:00, ts "1793491920.000012".
    assert_eq!(first["watermark_after"], "2026-11-01T00:12:00.000012Z");
    assert_eq!(first["warnings"], serde_json::json!([]));

    saas.insert();
    let before = saas.seen().len();
    let second = dir.run("messages");
    assert_eq!(second["status"], "Successful", "{second}");
    assert_eq!(saas.seen()[before].query["oldest"], "1793491920.000012");
    assert_eq!(second["records_read"], 1, "{second}");
    assert_eq!(second["watermark_after"], "2026-11-01T00:13:00.000013Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watermark_field_that_cannot_be_read_is_a_warning() {
    let saas = Saas::start(3).await;
    let dir = FlowDir::new();
    dir.flow(
        "names",
        &format!(
            "allow_private_network: true
source:
  http:
    base_url: {}
    path: /generic/items
    records: items
    incremental: {{field: name, inject: 'query:since', first_run: all}}
",
            saas.url()
        ),
    );
    let run = dir.run("names");
    assert_eq!(run["status"], "Successful", "{run}");
    assert_eq!(run["watermark_after"], Value::Null);
    let warnings = run["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{run}");
    let text = warnings[0].as_str().unwrap();
    assert!(
        text.starts_with("3 records have a `name` that cannot be read as a time")
            && text.contains("\"customer 1\""),
        "{text}"
    );
    let (_, stdout, _) = dir.cli(&["flow", "run", "names"]);
    assert!(
        stdout.contains("warning: 3 records have a `name`"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubspot_search_gets_past_its_10000_result_cap() {
    const RECORDS: u64 = 10_050;
    let saas = Saas::start(RECORDS).await;
    let dir = FlowDir::new();
    dir.flow(
        "contacts",
        &format!(
            "allow_private_network: true
source:
  http:
    preset: hubspot
    base_url: {}
    auth: {{bearer: {TOKEN}}}
    incremental: {{field: updated_at, first_run: all}}
",
            saas.url()
        ),
    );
    let run = dir.run("contacts");
    assert_eq!(run["status"], "Successful", "{run}");
    assert_eq!(ids(&dir, &run), once(1..=RECORDS));
    // Record 10,000 is the 10,000th result: the search starts again from
    // its time (GTE), reads it again, and writes it once.
    assert_eq!(run["records_read"], RECORDS + 1);
    assert_eq!(run["records_filtered"], 1);
    let seen = saas.seen();
    assert_eq!(seen.len(), 101, "100 pages of 100, then one of 51");
    let restart = &seen[100];
    assert_eq!(restart.body.get("after"), None);
    let record = &saas.records()[9_999];
    assert_eq!(
        restart.body["filterGroups"][0]["filters"][0]["value"],
        (record.updated * 1000).to_string()
    );
    assert!(
        run["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("1 records came more than once in this run"),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_is_written_once_when_an_insert_shifts_the_pages() {
    let saas = Saas::start(25).await;
    let dir = FlowDir::new();
    dir.flow(
        "newest",
        &format!(
            "allow_private_network: true
source:
  http:
    base_url: {}
    path: /generic/items
    query: {{order: desc}}
    records: items
    id: id
    pagination: {{kind: offset, param: offset, size_param: limit, size: 10}}
",
            saas.url()
        ),
    );
    // Newest first: a record inserted after page 1 pushes record 16 (the
    // last of page 1) onto page 2.
    saas.during(1, Change::Insert);
    let run = dir.run("newest");
    assert_eq!(run["status"], "Successful", "{run}");
    assert_eq!(ids(&dir, &run), once(1..=25));
    assert_eq!(run["records_read"], 26);
    assert_eq!(run["records_filtered"], 1);
    assert_eq!(
        run["warnings"],
        serde_json::json!([
            "1 records came more than once in this run and were written once (by their `id`)"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_syncs_with_changes_between_and_during_runs_lose_nothing() {
    let saas = Saas::start(30).await;
    let dir = FlowDir::new();
    dir.flow(
        "customers",
        &format!(
            "allow_private_network: true
source:
  http:
    preset: stripe
    base_url: {}
    path: /v1/customers
    query: {{limit: \"5\"}}
    auth: {{bearer: {TOKEN}}}
    incremental: {{field: updated_at, first_run: all}}
",
            saas.url()
        ),
    );
    let mut runs = Vec::new();
    let mut run = |changes: Vec<(usize, Change)>| {
        let base = saas.seen().len();
        for (after, change) in changes {
            saas.during(base + after, change);
        }
        let run = dir.run("customers");
        assert_eq!(run["status"], "Successful", "{run}");
        // None written twice within a run.
        assert!(ids(&dir, &run).values().all(|&n| n == 1), "{run}");
        runs.push(run);
    };
    // Run 1: record 3 (already read) changes, a record is added.
    run(vec![
        (
            2,
            Change::Update {
                id: 3,
                amount: 3003,
            },
        ),
        (3, Change::Insert),
    ]);
    saas.insert();
    saas.update(10, 1010);
    // Run 2: a record read in run 1 and the one just added change again.
    run(vec![
        (
            1,
            Change::Update {
                id: 31,
                amount: 3131,
            },
        ),
        (1, Change::Update { id: 7, amount: 707 }),
        (2, Change::Insert),
    ]);
    saas.update(1, 1001);
    run(vec![]);
    // Run 1 read record 3 twice (once before its change) and the record
    // added mid-run: 30 + 2, one held back.
    assert_eq!(runs[0]["records_read"], 32, "{}", runs[0]);
    assert_eq!(runs[0]["records_filtered"], 1, "{}", runs[0]);

    // The union, the last version written of each record, is the source.
    let mut union: BTreeMap<u64, (i64, String)> = BTreeMap::new();
    for run in &runs {
        for r in run_records(&dir.lake(), run) {
            let at = r["updated_at"].as_str().unwrap().to_string();
            let id = r["id"].as_u64().unwrap();
            if union.get(&id).is_none_or(|(_, seen)| *seen <= at) {
                union.insert(id, (r["amount"].as_i64().unwrap(), at));
            }
        }
    }
    let source: BTreeMap<u64, (i64, String)> = saas
        .records()
        .iter()
        .map(|r| (r.id, (r.amount, r.rfc3339())))
        .collect();
    assert_eq!(union, source);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_github_flow_loses_no_issue_updated_during_a_run() {
    let saas = Saas::start(150).await;
    let dir = FlowDir::new();
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/flows/github-issues.yaml"
    ))
    .unwrap();
    // The shipped file, pointed at the mock.
    let flow = format!("allow_private_network: true\n{shipped}")
        .replace(
            "preset: github",
            &format!("preset: github\n    base_url: {}", saas.url()),
        )
        .replace("${GITHUB_REPO:-rust-lang/rust}", "acme/shop")
        .replace("${GITHUB_TOKEN:-}", TOKEN)
        .replace("first_run: 7d", "first_run: all");
    dir.flow("github-issues", &flow);
    // Issue 5 (on page 1, already read) is updated before page 2.
    saas.during(1, Change::Update { id: 5, amount: 55 });
    let mut written: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for _ in 0..2 {
        let run = dir.run("github-issues");
        assert_eq!(run["status"], "Successful", "{run}");
        let mut in_run = std::collections::BTreeSet::new();
        for file in run["files"].as_array().unwrap() {
            let path = dir.lake().join(file["key"].as_str().unwrap());
            for row in common::flows::parquet_rows(&path) {
                let id = row["id"].as_u64().unwrap();
                assert!(in_run.insert(id), "issue {id} written twice in one run");
                let at = row["updated_at"].as_str().unwrap().to_string();
                written.entry(id).or_default().push(at);
            }
        }
    }
    // Every issue, and issue 5's latest version, landed.
    for r in saas.records() {
        let versions = written
            .get(&r.id)
            .unwrap_or_else(|| panic!("issue {} lost", r.id));
        assert!(
            versions.contains(&r.rfc3339()),
            "issue {}: {versions:?}",
            r.id
        );
    }
}
