//! boto3 and the AWS CLI against the real server: `.ci/setup` installs them
//! (pip), and the script asserts what those clients see, including the MD5
//! digests botocore verifies on every receive.

mod common;

use common::Gatehouse;
use std::process::Command;

#[test]
fn boto3_and_the_aws_cli_work_unmodified() {
    let gh = Gatehouse::start("messaging", &[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/messaging_clients.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(gh.messaging_url())
        .output()
        .expect("python3 must be installed (.ci/setup installs boto3 and awscli)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "python client checks failed:\n{stdout}\n{stderr}"
    );
}
