//! Running one case of a Python client script (`tests/python/*.py`, boto3
//! installed by `.ci/setup`) against a test's Gatehouse, and starting a
//! messaging fixture over TLS for the cases that need https.

use super::pki::Ca;
use super::Gatehouse;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// Runs `tests/python/SCRIPT CASE` with the endpoint; fails the test with
/// its output unless it printed `ok`.
pub fn run_case(script: &str, case: &str, endpoint: &str, env: &[(&str, &OsStr)]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = Command::new("python3")
        .arg(path)
        .arg(endpoint)
        .arg(case)
        .envs(env.iter().copied())
        .output()
        .expect("python3 must be installed (.ci/setup installs boto3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "{script} {case} failed:\n{stdout}\n{stderr}"
    );
}

/// The fixture with `messaging.tls` on and a certificate from a fresh test
/// CA; the CA in a file, for AWS_CA_BUNDLE.
pub fn start_tls(fixture: &str) -> (Gatehouse, tempfile::NamedTempFile) {
    let ca = Ca::new("Messaging Test CA");
    let leaf = ca.server(&["localhost", "127.0.0.1"]);
    let gh = Gatehouse::start_with(fixture, Default::default(), |dir: &Path| {
        super::pki::serve_messaging_tls(dir, &leaf)
    });
    let bundle = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bundle.path(), ca.pem()).unwrap();
    (gh, bundle)
}

/// The https:// form of the test's messaging endpoint.
pub fn https_url(gh: &Gatehouse) -> String {
    gh.messaging_url().replacen("http://", "https://", 1)
}
