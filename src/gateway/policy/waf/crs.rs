//! The OWASP Core Rule Set on a request: the request as `seclang` sees it,
//! and its verdict as the WAF's outcome. The block names the rules and the
//! score for the log; the client only ever sees the usual 403.

use crate::config::crs::{Crs, Mode};
use crate::seclang::eval::{self, Tuning};
use crate::seclang::request::Request;
use pingora::http::RequestHeader;
use std::net::IpAddr;

/// None: pass. Some((blocked, label)): what matched, for the log and the
/// metrics (blocked false in `detect` mode).
pub fn check(
    crs: &Crs,
    tuning: &Tuning,
    req: &RequestHeader,
    body: Option<&[u8]>,
    peer: Option<IpAddr>,
) -> Option<(bool, String)> {
    let headers = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    let target = req
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri.path().to_string());
    let protocol = format!("{:?}", req.version);
    let request = Request::new(
        req.method.as_str(),
        &target,
        &protocol,
        headers,
        body.map(<[u8]>::to_vec).unwrap_or_default(),
        peer.map(|ip| std::net::SocketAddr::new(ip, 0)),
        String::new(),
    );
    let verdict = eval::run_tuned(&crs.rules, &request, tuning);
    let (rule, _status) = verdict.blocked?;
    let scored: Vec<String> = verdict.scored.iter().map(u64::to_string).collect();
    let label = format!("crs:{rule} score {} [{}]", verdict.score, scored.join(" "));
    Some((crs.mode == Mode::Block, label))
}
