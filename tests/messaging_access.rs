//! Access policies through boto3 (`tests/python/aws_access.py`): access
//! keys act for principals of the owning or another account; AddPermission
//! and RemovePermission edit queue and topic policies; resource and
//! identity policies, their conditions, and a queue's policy on topic
//! deliveries decide, with AWS's AccessDenied and AuthorizationError texts.

mod common;

use common::python::{https_url, run_case, start_tls};
use common::Gatehouse;

fn case(name: &str) {
    let gh = Gatehouse::start("messaging_access", &[]);
    run_case("aws_access.py", name, &gh.messaging_url(), &[]);
}

/// Another account's key reaches a queue only through AddPermission's
/// grant, for the granted actions, until RemovePermission.
#[test]
fn another_account_reaches_a_queue_through_add_permission() {
    case("cross_account_queue");
}

/// A key's identity policy limits it; in the owning account a resource
/// policy's grant is enough; an explicit deny wins; bad policies are
/// refused when set.
#[test]
fn identity_policies_and_explicit_denies() {
    case("identity_policies");
}

/// aws:SourceIp, aws:SecureTransport, aws:PrincipalAccount, aws:username.
#[test]
fn policy_conditions_decide() {
    case("conditions");
}

/// A deny of plain HTTP lets TLS requests through.
#[test]
fn secure_transport_is_true_over_tls() {
    let (gh, bundle) = start_tls("messaging_access");
    run_case(
        "aws_access.py",
        "secure_transport",
        &https_url(&gh),
        &[("AWS_CA_BUNDLE", bundle.path().as_os_str())],
    );
}

/// Topics: the default policy grants the owner only; AddPermission grants
/// another account Publish; SNS's refusals and texts.
#[test]
fn topic_policies_grant_and_refuse() {
    case("topics");
}

/// A queue's policy decides which topics may deliver to it (aws:SourceArn).
#[test]
fn queue_policies_decide_which_topics_deliver() {
    case("topic_to_queue");
}
