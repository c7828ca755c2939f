//! Documented AWS behaviour that existing boto3 code relies on, through
//! boto3 against the real server: each case of
//! `tests/python/aws_documented.py` on its own Gatehouse (`.ci/setup`
//! installs boto3).

mod common;

use common::python::{https_url, run_case, start_tls};
use common::Gatehouse;
use std::path::Path;

fn case(name: &str) {
    let gh = Gatehouse::start("messaging", &[]);
    run(name, &gh.messaging_url(), &[]);
}

fn run(name: &str, endpoint: &str, env: &[(&str, &std::ffi::OsStr)]) {
    run_case("aws_documented.py", name, endpoint, env);
}

/// TagResource/UntagResource answer `<...Result/>` (botocore needs it); the
/// 51st tag is refused with TagLimitExceeded and changes nothing.
#[test]
fn sns_tags_work_with_boto3_and_the_limit_changes_nothing() {
    case("sns_tags");
}

/// `true`/`false`/`null` match values; numbers to five decimal places;
/// String.Array attributes match by any element.
#[test]
fn filter_policies_take_booleans_null_and_five_decimals() {
    case("filter_policies");
}

/// MessageDeduplicationId (content-based too) and the other system
/// attributes, by MessageSystemAttributeNames and the legacy AttributeNames.
#[test]
fn system_attributes_are_returned_when_asked_for() {
    case("system_attributes");
}

/// A bare queue name is a QueueUrl; an unparseable URL names no queue.
#[test]
fn queue_urls_may_be_bare_names() {
    case("queue_url_forms");
}

/// A FIFO batch entry without a group or deduplication id fails the whole
/// request, SQS and SNS.
#[test]
fn fifo_batches_fail_whole_on_a_missing_group_or_dedup_id() {
    case("fifo_batches");
}

/// MessageGroupId on a standard topic is accepted and reaches standard
/// queues (fair queues).
#[test]
fn standard_topics_forward_group_ids() {
    case("group_ids_on_standard_topics");
}

/// Remote queue ARNs are accepted, FIFO topics deliver to standard queues,
/// and the refused combinations carry AWS's texts.
#[test]
fn subscriptions_follow_aws_rules() {
    case("subscriptions");
}

/// Boolean attributes without case, the default topic Policy, a redrive
/// policy's count as a number, increasing 20-digit sequence numbers.
#[test]
fn attributes_as_aws_keeps_them() {
    case("attributes");
}

/// AWS's texts for empty batches and repeated ids, SNS's own for SNS.
#[test]
fn batch_errors_carry_aws_texts() {
    case("error_texts");
}

/// An earlier receive's handle deletes on a standard queue; on a FIFO queue
/// only the latest receive's acts (design.md, "Receipt handles").
#[test]
fn stale_receipt_handles_act_as_sqs_does() {
    case("stale_receipts");
}

/// `messaging.tls: true` serves the API over TLS with the certificates in
/// `certs/`: boto3 verifies the certificate against the test CA and gets
/// https:// queue URLs; a plain-HTTP request gets no answer.
#[tokio::test]
async fn the_messaging_api_serves_tls_with_the_certs_folder() {
    let (gh, bundle) = start_tls("messaging");
    let endpoint = https_url(&gh);
    run(
        "tls",
        &endpoint,
        &[("AWS_CA_BUNDLE", bundle.path().as_os_str())],
    );
    let plain = reqwest::Client::new()
        .post(gh.messaging_url())
        .header("x-amz-target", "AmazonSQS.ListQueues")
        .body("{}")
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
}

/// SNS signatures as AWS makes them: confirmations and notifications (http
/// and the SQS envelope, SignatureVersion 1 and 2) pass npm's
/// sns-validator fetching the certificate from Gatehouse over HTTPS; a
/// tampered notification fails; the UnsubscribeURL unsubscribes.
#[test]
fn sns_signatures_pass_a_real_validator() {
    let installed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/node_modules/sns-validator");
    if !installed.is_dir() {
        eprintln!("skipped: npm's sns-validator is not installed (.ci/setup installs it)");
        return;
    }
    let (gh, bundle) = start_tls("messaging");
    let endpoint = https_url(&gh);
    run(
        "signatures",
        &endpoint,
        &[("AWS_CA_BUNDLE", bundle.path().as_os_str())],
    );
}
