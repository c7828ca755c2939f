//! Documented AWS behaviour that existing boto3 code relies on, through
//! boto3 against the real server: each case of
//! `tests/python/aws_documented.py` on its own Gatehouse (`.ci/setup`
//! installs boto3).

mod common;

use common::Gatehouse;
use std::process::Command;

fn case(name: &str) {
    let gh = Gatehouse::start("messaging", &[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/aws_documented.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(gh.messaging_url())
        .arg(name)
        .output()
        .expect("python3 must be installed (.ci/setup installs boto3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "{name} failed:\n{stdout}\n{stderr}"
    );
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
