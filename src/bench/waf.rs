//! `gatehouse bench waf`: the CRS engine's cost per request, in process:
//! the rule set loaded once, then a clean GET, a JSON POST and an attack
//! evaluated many times each; prints microseconds per request (mean and
//! p99 over batches) and the load time. No network: this is the WAF's own
//! time, the number the proxy benchmark's throughput ratio comes from.

use crate::seclang::{eval, request::Request, RuleSet, Source};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct WafArgs {
    /// A CRS folder with rules/ (Debian's by default).
    #[arg(long, default_value = "/usr/share/modsecurity-crs")]
    pub crs: PathBuf,
    /// The setup file (default: Debian's).
    #[arg(long, default_value = "/etc/modsecurity/crs/crs-setup.conf")]
    pub setup: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub paranoia: u8,
    /// Evaluations per case.
    #[arg(long, default_value_t = 20_000)]
    pub iterations: usize,
    /// Run every operator on every value (what the literal prefilter saves).
    #[arg(long)]
    pub no_prefilter: bool,
    /// Only the cases whose name contains this (e.g. "clean").
    #[arg(long)]
    pub only: Option<String>,
}

/// A request as the gateway hands it over: built per evaluation, since
/// making its collections (decoding the URI, splitting arguments and
/// cookies) is part of the WAF's cost.
struct Case {
    method: &'static str,
    uri: &'static str,
    extra: &'static [(&'static str, &'static str)],
    body: &'static str,
}

impl Case {
    fn build(&self) -> Request {
        request(self.method, self.uri, self.extra, self.body)
    }
}

fn request(method: &str, uri: &str, extra: &[(&str, &str)], body: &str) -> Request {
    let mut headers: Vec<(String, Vec<u8>)> = [
        ("host", "api.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("accept-language", "en-US,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br"),
        ("connection", "keep-alive"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect();
    for (k, v) in extra {
        headers.push((k.to_string(), v.as_bytes().to_vec()));
    }
    Request::new(
        method,
        uri,
        "HTTP/1.1",
        headers,
        body.as_bytes().to_vec(),
        "127.0.0.1:40000".parse().ok(),
        "bench".into(),
    )
}

pub fn run(args: WafArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let settings = format!(
        "SecAction \"id:9000001,phase:1,pass,nolog,setvar:tx.paranoia_level={}\"",
        args.paranoia
    );
    let mut set = RuleSet::load(&[
        Source::File(args.setup.clone()),
        Source::Text {
            name: "settings".into(),
            text: settings,
        },
        Source::File(args.crs.join("rules/*.conf")),
    ])
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let load = started.elapsed();
    if args.no_prefilter {
        set.disable_prefilter();
    }
    println!(
        "CRS at PL{}{}: {} rules loaded in {:.0} ms",
        args.paranoia,
        if args.no_prefilter {
            ", no prefilter"
        } else {
            ""
        },
        set.rules,
        load.as_secs_f64() * 1000.0
    );
    let cases = [
        (
            "clean GET",
            Case {
                method: "GET",
                uri: "/api/v1/users/42?fields=name,email&page=2",
                extra: &[],
                body: "",
            },
        ),
        (
            // What `benches/proxy.sh` sends: an API key and a JWT besides
            // a browser's headers.
            "API GET",
            Case {
                method: "GET",
                uri: "/bench?q=hello&page=2",
                extra: &[
                    ("x-api-key", "gh_bench_key_0123456789abcdef"),
                    ("authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiZW5jaCIsImV4cCI6MTc5NjAwMDAwMH0.3q2-5mVqk1lB8b1q3Y3hW0xYt5cA7v7E6Xc2p0y8cQk"),
                ],
                body: "",
            },
        ),
        (
            "JSON POST",
            Case {
                method: "POST",
                uri: "/api/v1/orders",
                extra: &[("content-type", "application/json")],
                body: r#"{"item":"tea","quantity":2,"note":"Leave it at the door, please.","customer":{"name":"Ann O'Brien","email":"ann@example.com"}}"#,
            },
        ),
        (
            "SQLi GET",
            Case {
                method: "GET",
                uri: "/api/v1/users?id=1%27%20OR%20%271%27%3D%271",
                extra: &[],
                body: "",
            },
        ),
    ];
    println!(
        "rules on the backtracking regex engine: {:?}",
        set.backtracking_rules()
    );
    println!(
        "| case | decision | mean µs | p99 µs (batches of 100) | of which: request | phase 1 | phase 2 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, req) in &cases {
        if args
            .only
            .as_ref()
            .is_some_and(|only| !name.contains(only.as_str()))
        {
            continue;
        }
        let verdict = eval::run(&set, &req.build());
        let decision = match verdict.blocked {
            Some((id, _)) => format!("blocked by {id}, score {}", verdict.score),
            None => format!("pass, score {}", verdict.score),
        };
        // The whole: the request's collections made, then both phases.
        let (mean, p99) = super::latency::per_call(args.iterations, || {
            eval::run(&set, &req.build());
        });
        // Its parts: the collections alone, and phase 1 alone.
        let (build, _) = super::latency::per_call(args.iterations, || {
            std::hint::black_box(req.build());
        });
        let built = req.build();
        let (phase1, _) = super::latency::per_call(args.iterations, || {
            eval::run_phases(&set, &built, 1, &Default::default());
        });
        let (both, _) = super::latency::per_call(args.iterations, || {
            eval::run(&set, &built);
        });
        println!(
            "| {name} | {decision} | {mean:.1} | {p99:.1} | {build:.1} | {phase1:.1} | {:.1} |",
            (both - phase1).max(0.0)
        );
    }
    Ok(())
}
