//! What a failed or misconfigured flow says: counts that say what was
//! committed, the root cause of a transport failure, the token endpoint's
//! own error, and destination options checked before any run.

mod common;

use common::flows::FlowDir;
use common::saas::{Change, Saas, CLIENT_ID, CLIENT_SECRET};

fn generic(base_url: &str, extra: &str) -> String {
    format!(
        "allow_private_network: true
source:
  http:
    base_url: {base_url}
    path: /generic/items
    records: items
    pagination: {{kind: offset, param: offset, size_param: limit, size: 10}}
    retry_base_delay: 10ms
{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_counts_only_what_was_committed() {
    let saas = Saas::start(30).await;
    let dir = FlowDir::new();
    dir.flow("items", &generic(&saas.url(), "    max_retries: 0\n"));
    // Pages 1 and 2 are written to a file; page 3 fails.
    saas.during(2, Change::Fail);
    let run = dir.run("items");
    assert_eq!(run["status"], "Error", "{run}");
    assert_eq!(run["records_read"], 20);
    assert_eq!(run["records_written"], 0);
    assert_eq!(run["bytes_written"], 0);
    assert_eq!(run["files"], serde_json::json!([]));
    assert_eq!(
        run["warnings"],
        serde_json::json!(["20 records had been written to files that were not committed (the run's folder has no manifest); the next run reads them again"])
    );
    saas.during(saas.seen().len() + 2, Change::Fail);
    let (ok, stdout, _) = dir.cli(&["flow", "run", "items"]);
    assert!(!ok);
    assert!(
        stdout.contains(": read 20, filtered 0; nothing committed"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_failure_shows_its_root_cause() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = FlowDir::new();
    dir.flow("down", &generic(&url, "    max_retries: 1\n"));
    let run = dir.run("down");
    assert_eq!(run["status"], "Error", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("error sending request")
            && error.contains("Connection refused")
            && error.ends_with("(after 1 retries)"),
        "{error}"
    );
    // History keeps it too.
    let (_, history, _) = dir.cli(&["flow", "history", "down"]);
    assert!(history.contains("Connection refused"), "{history}");
}

fn oauth(saas: &Saas, secret: &str, client_auth: &str) -> String {
    let url = saas.url();
    format!(
        "allow_private_network: true
source:
  http:
    preset: salesforce
    base_url: {url}
    query: {{q: SELECT Id FROM Account}}
    auth:
      oauth2: {{token_url: {url}/services/oauth2/token, client_id: {CLIENT_ID}, client_secret: {secret}{client_auth}}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_credentials_go_in_the_body_when_asked_and_token_errors_are_shown() {
    let saas = Saas::start(5).await;
    let dir = FlowDir::new();
    dir.flow("form", &oauth(&saas, CLIENT_SECRET, ", client_auth: body"));
    let run = dir.run("form");
    assert_eq!(run["status"], "Successful", "{run}");
    assert_eq!(saas.tokens_for_form(), 1);

    dir.flow("basic", &oauth(&saas, CLIENT_SECRET, ""));
    assert_eq!(dir.run("basic")["status"], "Successful");
    assert_eq!(saas.tokens_issued(), 2);
    assert_eq!(saas.tokens_for_form(), 1, "basic is the default");

    dir.flow("wrong", &oauth(&saas, "not-the-secret", ""));
    let run = dir.run("wrong");
    assert_eq!(run["status"], "Error");
    let error = run["error"].as_str().unwrap();
    assert_eq!(
        error,
        "authentication failed: the token endpoint answered 401 Unauthorized: invalid_client"
    );
    assert!(!run.to_string().contains("not-the-secret"));

    dir.flow("typo", &oauth(&saas, CLIENT_SECRET, ", client_auth: post"));
    let (ok, _, stderr) = dir.cli(&["validate"]);
    assert!(!ok);
    assert!(
        stderr.contains("flows/typo.yaml:")
            && stderr.contains("unknown client_auth `post`: basic or body"),
        "{stderr}"
    );
}

#[test]
fn destination_options_are_checked_before_any_run() {
    let dir = FlowDir::new();
    let flow = |destination: &str| {
        format!("source:\n  webhook: {{}}\ndestination:\n  url: s3://lake/raw\n{destination}")
    };
    for (destination, line_col, message) in [
        (
            "  s3: {endpoint: \"http://127.0.0.1:9000\", region: us-east-1}\n",
            "flows/lake.yaml:5:",
            "destination.s3.endpoint: `http://127.0.0.1:9000` is plain http: set `allow_http: true`",
        ),
        (
            "  s3:\n    endpiont: https://minio.test\n",
            "flows/lake.yaml:6:15:",
            "destination.s3.endpiont: unknown S3 option `endpiont`",
        ),
        (
            "  s3: {access_key_id: AKIA}\n",
            "flows/lake.yaml:5:",
            "`access_key_id` and `secret_access_key` go together",
        ),
    ] {
        dir.flow("lake", &flow(destination));
        let (ok, _, stderr) = dir.cli(&["validate"]);
        assert!(!ok, "{destination}");
        assert!(
            stderr.contains(line_col) && stderr.contains(message),
            "{destination}: {stderr}"
        );
    }
    dir.flow(
        "lake",
        &flow("  s3: {endpoint: \"http://127.0.0.1:9000\", allow_http: true, region: us-east-1}\n"),
    );
    let (ok, _, stderr) = dir.cli(&["validate"]);
    assert!(ok, "{stderr}");
}
