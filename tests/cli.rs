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
    for (kind, title) in [("flow", "FlowFile"), ("worker", "WorkerFile")] {
        let out = gatehouse(root(), &["schema", kind]);
        assert!(out.status.success());
        let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(schema["title"], title);
    }
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

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_wrong_folder_is_an_error_not_an_empty_config() {
    let missing = root().join("tests/fixtures/no-such-folder");
    let out = gatehouse(&missing, &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no such folder"), "{}", stderr(&out));

    let empty = tempfile::tempdir().unwrap();
    for args in [
        &["validate"][..],
        &["keys", "create", "--plan", "demo"],
        &["serve"],
    ] {
        let out = gatehouse(empty.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("holds no gatehouse.yaml, routes/ or flows/"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // Nothing was created there.
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);

    let out = gatehouse(empty.path(), &["--allow-empty", "validate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok: 0 APIs, 0 routes, 0 upstreams, 0 flows\n"
    );
}

#[test]
fn validate_counts_in_words() {
    let out = gatehouse(&root().join("tests/fixtures/config_ok"), &["validate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.starts_with("ok: 1 API, 3 routes, "), "{said}");
}

#[test]
fn a_certificate_without_its_key_stops_serve() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = root().join("tests/fixtures/config_errors/cert_without_key");
    std::fs::copy(
        fixture.join("gatehouse.yaml"),
        dir.path().join("gatehouse.yaml"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    std::fs::copy(
        fixture.join("certs/site.test.crt"),
        dir.path().join("certs/site.test.crt"),
    )
    .unwrap();
    let out = gatehouse(dir.path(), &["serve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("certs/site.test.crt:1:1: certificate without its private key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn revoking_a_key_declared_in_config_says_where_it_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("gatehouse.yaml"),
        dir.path().join("gatehouse.yaml"),
    )
    .unwrap();
    let out = gatehouse(dir.path(), &["keys", "revoke", "demo"]);
    assert_eq!(out.status.code(), Some(1));
    let said = stderr(&out);
    assert!(
        said.contains("key `demo` is declared in gatehouse.yaml (api_keys[0])")
            && said.contains("remove it there and reload"),
        "{said}"
    );
}
