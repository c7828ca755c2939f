//! Gatehouse's CRS engine against the reference: nginx with ModSecurity v3
//! and the same Debian CRS, side by side, on a corpus of attacks and
//! benign requests (tests/common/waf_corpus.rs), at paranoia levels 1 and
//! 2. The block/pass decisions must agree on at least 99% of the corpus;
//! every disagreement is printed.
//!
//! In CI a deterministic sample runs (every `WAF_CORPUS_STEP`-th request,
//! default 8); `WAF_CORPUS_STEP=1 cargo test --release --test
//! waf_reference -- --nocapture` runs all of it. Skipped, with a message,
//! where nginx's ModSecurity module or the CRS is not installed (`.ci/setup`
//! installs both).

mod common;

use common::waf_corpus::{corpus, Case};
use common::{upstream, Gatehouse};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const MODULE: &str = "/usr/share/nginx/modules/ngx_http_modsecurity_module.so";
const CRS: &str = "/usr/share/modsecurity-crs";
const SETUP: &str = "/etc/modsecurity/crs/crs-setup.conf";

struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx + ModSecurity + CRS at `paranoia`, proxying to `upstream`.
async fn nginx(paranoia: u8, upstream: &str) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // ModSecurity's recommended body processors (its rules 200000 and
    // 200001), the CRS setup, the paranoia level, the rules.
    std::fs::write(
        dir.path().join("modsec.conf"),
        format!(
            r#"SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:'200000',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:'200001',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecAuditEngine Off
Include {SETUP}
SecAction "id:9000001,phase:1,pass,nolog,t:none,setvar:tx.paranoia_level={paranoia}"
Include {CRS}/rules/*.conf
"#
        ),
    )
    .unwrap();
    for sub in ["body", "proxy", "fcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let port = free_port();
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "load_module {MODULE};
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    modsecurity on;
    modsecurity_rules_file {d}/modsec.conf;
    location / {{ proxy_pass http://{upstream}; }}
  }}
}}
"
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx");
    let nginx = Nginx {
        child,
        port,
        _dir: dir,
    };
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return nginx;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(nginx._dir.path().join("error.log")).unwrap_or_default();
    panic!("nginx did not start:\n{log}");
}

fn gatehouse(paranoia: u8) -> Gatehouse {
    Gatehouse::start_with("waf_crs", Default::default(), |dir| {
        std::fs::write(
            dir.join("gatehouse.yaml"),
            format!(
                "listeners:\n  - name: http\n    address: 127.0.0.1:0\nadmin:\n  address: 127.0.0.1:0\nmessaging:\n  address: 127.0.0.1:0\nserver:\n  threads: 2\nwaf_rule_sets:\n  crs:\n    crs:\n      path: {CRS}\n      paranoia_level: {paranoia}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("routes/site.yaml"),
            "base_path: /r\npolicies:\n  waf:\n    rule_set: crs\nroutes:\n  - path: /{proxy+}\n    methods: [GET, POST]\n    integration:\n      mock:\n        body: '{\"ok\":true}'\n",
        )
        .unwrap();
    })
}

async fn status(client: &reqwest::Client, base: &str, case: &Case, n: usize) -> u16 {
    let mut req = client
        .request(
            case.method.parse().unwrap(),
            format!("{base}{}", case.target),
        )
        // Names the case in ModSecurity's log (its `hostname`).
        .header("host", format!("case-{n}.test"))
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        )
        .header("accept", "text/html,application/json;q=0.9,*/*;q=0.8");
    for (k, v) in &case.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if !case.body.is_empty() {
        req = req.body(case.body.clone());
    }
    match req.send().await {
        Ok(r) => r.status().as_u16(),
        Err(e) => panic!("{} {}: {e}", case.method, case.target),
    }
}

async fn compare(paranoia: u8) {
    let backend = upstream::start("backend").await;
    let reference = nginx(paranoia, &backend.address()).await;
    let gh = gatehouse(paranoia);
    let step: usize = std::env::var("WAF_CORPUS_STEP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8)
        .max(1);
    let cases: Vec<Case> = corpus().into_iter().step_by(step).collect();
    let client = reqwest::Client::new();
    let ours = format!("http://{}", gh.addr("http"));
    let theirs = format!("http://127.0.0.1:{}", reference.port);
    let mut agree = 0;
    let mut disagreements = Vec::new();
    let (mut blocked_ours, mut blocked_theirs, mut attacks) = (0, 0, 0);
    for (n, case) in cases.iter().enumerate() {
        // Refused is anything but the backend's 200 (a 403 from the WAF, a
        // 400 for a request the server will not take at all).
        let (sa, sb) = (
            status(&client, &ours, case, n).await,
            status(&client, &theirs, case, n).await,
        );
        let (a, b) = (sa != 200, sb != 200);
        attacks += usize::from(case.attack);
        blocked_ours += usize::from(a && case.attack);
        blocked_theirs += usize::from(b && case.attack);
        if a == b {
            agree += 1;
        } else {
            disagreements.push(format!(
                "  #{n} {} {} {} {:?} {:?}: gatehouse {} ({sa}), modsecurity {} ({sb}) {}",
                case.family,
                case.method,
                case.target,
                case.headers,
                case.body.chars().take(120).collect::<String>(),
                if a { "blocks" } else { "passes" },
                if b { "blocks" } else { "passes" },
                modsecurity_rules(&reference, n),
            ));
        }
    }
    let rate = agree as f64 / cases.len() as f64;
    eprintln!(
        "PL{paranoia}: {agree} of {} agree ({:.2}%); attacks blocked: gatehouse {blocked_ours}, modsecurity {blocked_theirs} of {attacks}",
        cases.len(),
        rate * 100.0
    );
    for d in &disagreements {
        eprintln!("{d}");
    }
    assert!(
        rate >= 0.99,
        "PL{paranoia}: agreement {:.2}% < 99%",
        rate * 100.0
    );
}

/// The rules ModSecurity logged for case `n`.
fn modsecurity_rules(nginx: &Nginx, n: usize) -> String {
    let log = std::fs::read_to_string(nginx._dir.path().join("error.log")).unwrap_or_default();
    let host = format!("[hostname \"case-{n}.test\"]");
    let ids: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&host) || l.contains(&format!("case-{n}.test")))
        .filter_map(|l| l.split("[id \"").nth(1)?.split('"').next())
        .collect();
    format!("[modsecurity rules: {}]", ids.join(" "))
}

fn reference_installed() -> bool {
    let ok = Path::new(MODULE).is_file()
        && Path::new(SETUP).is_file()
        && Path::new(CRS).join("rules").is_dir()
        && Command::new("nginx").arg("-v").output().is_ok();
    if !ok {
        eprintln!("skipped: nginx's ModSecurity module or the CRS is not installed (.ci/setup installs them)");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_agree_with_modsecurity_at_paranoia_1() {
    if reference_installed() {
        compare(1).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_agree_with_modsecurity_at_paranoia_2() {
    if reference_installed() {
        compare(2).await;
    }
}
