//! The literal prefilter skips a rule's operator when a value lacks every
//! literal a match needs; it must never change a decision. Every request
//! of the WAF corpus (attacks and benign traffic in every request part)
//! goes through Debian's CRS at paranoia levels 1 and 4 with the
//! prefilter and without it: the rules that matched, the anomaly score and
//! the decision must be identical.

mod common;

use common::waf_corpus::{corpus, Case};
use gatehouse::seclang::{eval, request::Request, RuleSet, Source};
use std::path::{Path, PathBuf};

fn crs(paranoia: u8) -> Option<RuleSet> {
    let rules = Path::new("/usr/share/modsecurity-crs/rules");
    if !rules.is_dir() {
        eprintln!("skipped: Debian's modsecurity-crs is not installed (.ci/setup installs it)");
        return None;
    }
    let set = RuleSet::load(&[
        Source::File(PathBuf::from("/etc/modsecurity/crs/crs-setup.conf")),
        Source::Text {
            name: "settings".into(),
            text: format!(
                "SecAction \"id:9000001,phase:1,pass,nolog,setvar:tx.paranoia_level={paranoia}\""
            ),
        },
        Source::File(rules.join("*.conf")),
    ]);
    Some(set.unwrap_or_else(|e| panic!("{e}")))
}

fn request(case: &Case) -> Request {
    let mut headers = vec![
        ("host".to_string(), b"corpus.test".to_vec()),
        (
            "user-agent".to_string(),
            b"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0".to_vec(),
        ),
        (
            "accept".to_string(),
            b"text/html,application/json;q=0.9,*/*;q=0.8".to_vec(),
        ),
    ];
    for (k, v) in &case.headers {
        headers.push((k.to_ascii_lowercase(), v.as_bytes().to_vec()));
    }
    if !case.body.is_empty() {
        headers.push((
            "content-length".into(),
            case.body.len().to_string().into_bytes(),
        ));
    }
    Request::new(
        case.method,
        &case.target,
        "HTTP/1.1",
        headers,
        case.body.as_bytes().to_vec(),
        "127.0.0.1:40000".parse().ok(),
        "corpus".into(),
    )
}

fn same_decisions(paranoia: u8) {
    let Some(fast) = crs(paranoia) else { return };
    let Some(mut every) = crs(paranoia) else {
        return;
    };
    every.disable_prefilter();
    let cases = corpus();
    let mut blocked = 0;
    for (n, case) in cases.iter().enumerate() {
        let req = request(case);
        let a = eval::run(&fast, &req);
        let b = eval::run(&every, &req);
        let what = format!(
            "case {n} ({} {} {:?})",
            case.family, case.method, case.target
        );
        assert_eq!(a.matched, b.matched, "{what}");
        assert_eq!(a.score, b.score, "{what}");
        assert_eq!(a.blocked, b.blocked, "{what}");
        blocked += usize::from(a.blocked.is_some());
    }
    // The corpus exercises the rules: most attacks are blocked.
    assert!(blocked > cases.len() / 3, "{blocked} of {}", cases.len());
}

#[test]
fn the_prefilter_never_changes_a_decision_at_paranoia_1() {
    same_decisions(1);
}

#[test]
fn the_prefilter_never_changes_a_decision_at_paranoia_4() {
    same_decisions(4);
}
