//! boto3 and the AWS CLI against the real server: `.ci/setup` installs them
//! (pip), and the script asserts what those clients see, including the MD5
//! digests botocore verifies on every receive.

mod common;

use common::python::run_case;
use common::Gatehouse;

#[test]
fn boto3_and_the_aws_cli_work_unmodified() {
    let gh = Gatehouse::start("messaging", &[]);
    // The script runs every check; it takes no case name.
    run_case("messaging_clients.py", "all", &gh.messaging_url(), &[]);
}
