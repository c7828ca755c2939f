//! The command line: schema, routes, certs generate.

use std::process::Command;

fn gatehouse(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

fn root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn schema_describes_both_file_kinds() {
    let out = gatehouse(root(), &["schema", "route"]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["title"], "ApiFile");
    assert_eq!(schema["additionalProperties"], false);
    for field in ["hosts", "base_path", "defaults", "routes"] {
        assert!(
            schema["properties"].get(field).is_some(),
            "route schema lacks {field}"
        );
    }
    let out = gatehouse(root(), &["schema", "gatehouse"]);
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in ["listeners", "admin", "data_dir", "upstreams", "limits"] {
        assert!(
            schema["properties"].get(field).is_some(),
            "gatehouse schema lacks {field}"
        );
    }
}

#[test]
fn routes_prints_the_resolved_table_most_specific_first() {
    let dir = root().join("tests/fixtures/config_ok");
    let out = gatehouse(&dir, &["routes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("API"));
    let paths: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().nth(3).unwrap())
        .collect();
    assert_eq!(
        paths,
        ["/shop/users/me", "/shop/users/{id}", "/shop/users/{proxy+}"]
    );
    assert!(lines[2].contains("http -> users /v1/users/{id}"));
}

#[test]
fn certs_generate_writes_a_usable_certificate_and_a_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = gatehouse(dir.path(), &["certs", "generate", "--host", "localhost"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = dir.path().join("certs/localhost.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let (store, errors) = gatehouse::tls::CertStore::load(&dir.path().join("certs"));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        store.describe(),
        [("localhost.crt".to_string(), vec!["localhost".to_string()])]
    );
    // With a certificate present, the default config adds the HTTPS listener.
    let loaded = gatehouse::config::load(dir.path()).unwrap();
    let names: Vec<&str> = loaded
        .config
        .listeners
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, ["http", "https"]);
}

#[test]
fn help_is_available_everywhere() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["certs", "generate", "--help"],
        &["schema", "--help"],
    ] {
        let out = gatehouse(root(), args);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}
