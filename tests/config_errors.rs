//! One fixture per config error message: each folder under
//! tests/fixtures/config_errors holds a broken config and `expected.txt`,
//! the exact diagnostics `gatehouse validate` must print.

use std::path::Path;
use std::process::Command;

/// Fixtures must not depend on the machine's environment.
fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn every_error_fixture_reports_exactly_its_expected_diagnostics() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config_errors");
    let mut cases: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 25);
    let mut failures = Vec::new();
    for case in &cases {
        let expected = std::fs::read_to_string(case.join("expected.txt"))
            .unwrap_or_else(|_| panic!("{} has no expected.txt", case.display()));
        let actual = match gatehouse::config::load_with_env(case, &no_env) {
            Ok(_) => "(no error)\n".to_string(),
            Err(diags) => diags.to_string(),
        };
        if actual != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                case.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn validate_exits_0_on_the_shipped_config_and_1_with_file_line_on_a_broken_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ok = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["-C"])
        .arg(root)
        .arg("validate")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let broken = root.join("tests/fixtures/config_errors/dangling_upstream");
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("-C")
        .arg(&broken)
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "routes/api.yaml:5:19: routes[0].integration.http.upstream: unknown upstream `userz`"
        ),
        "{stderr}"
    );
    assert!(stderr.ends_with("1 error(s)\n"));
}

/// The README's example of `validate` output is this fixture's, verbatim.
#[test]
fn the_readme_shows_what_validate_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let case = root.join("tests/fixtures/config_errors/readme_example");
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("-C")
        .arg(&case)
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let printed = String::from_utf8(out.stderr).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&printed),
        "README.md does not show:\n{printed}"
    );
}

/// `first_run` is a duration or `all`; anything else names both.
#[test]
fn first_run_is_a_duration_or_all() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    let flow = |first_run: &str| {
        format!(
            "source:\n  http:\n    base_url: https://example.com\n    path: /items\n    records: items\n    incremental:\n      field: updated_at\n      inject: query:since\n      first_run: {first_run}\n"
        )
    };
    std::fs::write(dir.path().join("flows/sync.yaml"), flow("all")).unwrap();
    let ok = gatehouse::config::load_with_env(dir.path(), &no_env);
    assert!(ok.is_ok(), "{:?}", ok.err().map(|d| d.to_string()));
    std::fs::write(dir.path().join("flows/sync.yaml"), flow("forever")).unwrap();
    let errors = gatehouse::config::load_with_env(dir.path(), &no_env)
        .err()
        .unwrap()
        .to_string();
    assert!(
        errors.contains("flows/sync.yaml:9:18: source.http.incremental.first_run:")
            && errors.contains("or `all` to read everything the first time"),
        "{errors}"
    );
}
