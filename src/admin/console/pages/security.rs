//! Security: WAF blocks, rate-limit refusals and authentication failures
//! over the last hour; WAF matches by rule set, group and rule; the client
//! addresses refused most; refusals by policy and reason; and a search of
//! the access log (when it is a file) for one request's decisions.

use super::{count, Visit};
use crate::admin::console::chart::{self, Series};
use crate::admin::console::traffic;
use http::Response;
use maud::{html, Markup, PreEscaped};
use std::io::{BufRead, Seek};

/// How much of the access log's end the request search reads.
const SEARCH_BYTES: u64 = 64 * 1024 * 1024;

pub async fn show(visit: &Visit<'_>) -> Response<Vec<u8>> {
    let (hour, steps) = {
        let h = visit.console.history.lock();
        (h.window(3600).unwrap_or_default(), h.steps(60))
    };
    let per_minute =
        |pick: fn(&crate::admin::console::history::Sample) -> u64| -> Vec<Option<f64>> {
            let mut points = vec![None; 60usize.saturating_sub(steps.len())];
            points.extend(
                steps
                    .iter()
                    .rev()
                    .take(60)
                    .rev()
                    .map(|s| Some(pick(s) as f64)),
            );
            points
        };
    let groups = visit.console.history.lock().waf_minutes();
    let group_names: Vec<String> = {
        let mut names: Vec<String> = groups.iter().flat_map(|(_, m)| m.keys().cloned()).collect();
        names.sort();
        names.dedup();
        names
    };
    let group_series: Vec<(String, Vec<Option<f64>>)> = group_names
        .iter()
        .map(|g| {
            let mut points = vec![None; 60usize.saturating_sub(groups.len())];
            points.extend(
                groups
                    .iter()
                    .map(|(_, m)| Some(m.get(g).copied().unwrap_or(0) as f64)),
            );
            (g.clone(), points)
        })
        .collect();
    let waf = traffic::series(
        &visit.state.metrics.waf_matches,
        &["rule_set", "rule", "action"],
    );
    let mut waf: Vec<_> = waf.into_iter().filter(|(_, n)| *n > 0).collect();
    waf.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let clients = visit.state.denials.top_clients(20);
    let reasons = visit.state.denials.reasons();
    let search = visit
        .param("request_id")
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let content = html! {
        div.cards {
            div.card #card-waf-blocks { div.label { "WAF blocks (1 h)" } div.value { (count(hour.waf_blocks)) } }
            div.card #card-rate-limited { div.label { "Rate limited (1 h)" } div.value { (count(hour.rate_limited)) } }
            div.card #card-auth-denied { div.label { "Auth failures (1 h)" } div.value { (count(hour.auth_denied)) } }
        }
        div.charts {
            div.chart-box {
                h3 { "Refusals per minute, last hour" }
                (PreEscaped(chart::line("refusals per minute", "", "last hour", &[
                    Series { name: "WAF", class: "s2", points: per_minute(|s| s.waf_blocks) },
                    Series { name: "rate limited", class: "s1", points: per_minute(|s| s.rate_limited) },
                    Series { name: "auth", class: "s3", points: per_minute(|s| s.auth_denied) },
                ])))
            }
        }
        @if !group_series.is_empty() {
            div.charts {
                div.chart-box #waf-groups {
                    h3 { "WAF blocks per minute by group, last hour" }
                    @let series: Vec<Series> = group_series.iter().enumerate().map(|(i, (name, points))| Series {
                        name, class: ["s2", "s1", "s3", "s4", "s5"][i % 5], points: points.clone(),
                    }).collect();
                    (PreEscaped(chart::line("WAF blocks per minute by group", "", "last hour", &series)))
                    p.legend { @for (i, (name, _)) in group_series.iter().enumerate() {
                        span class={ "key " (["s2", "s1", "s3", "s4", "s5"][i % 5]) } { (name) } " "
                    } }
                }
            }
        }
        h2 { "WAF matches" }
        @if waf.is_empty() { p.muted { "No WAF rule has matched since this node started." } }
        @else {
            table #waf {
                thead { tr { th { "Rule set" } th { "Group" } th { "Rule" } th { "Action" } th.num { "Matches" } } }
                tbody {
                    @for (l, n) in &waf {
                        tr { td { (l[0]) } td { (traffic::waf_group(&l[0], &l[1])) } td.mono { (l[1]) } td { (l[2]) } td.num { (count(*n)) } }
                    }
                }
            }
        }
        h2 { "Clients refused most" }
        @if clients.is_empty() { p.muted { "No refusals." } }
        @else {
            table #clients {
                thead { tr { th { "Client" } th.num { "Refused" } } }
                tbody { @for (ip, n) in &clients { tr { td.mono { (ip) } td.num { (count(*n)) } } } }
            }
        }
        h2 { "Refusals by policy and reason" }
        @if reasons.is_empty() { p.muted { "No refusals." } }
        @else {
            table #reasons {
                thead { tr { th { "Policy" } th { "Reason or rule" } th.num { "Count" } } }
                tbody { @for (p, r, n) in &reasons { tr { td { (p) } td.mono { (r) } td.num { (count(*n)) } } } }
            }
        }
        p.muted { "Counts since this node started." }
    };
    let finder = html! {
        h2 { "Find a request" }
        form #find method="get" action="/console/security" {
            input type="search" name="request_id" placeholder="X-Request-Id" value=[search] maxlength="200";
            " " button type="submit" { "Find" }
        }
        @if let Some(id) = search { (find(visit, id)) }
    };
    crate::admin::console::layout::page_with(
        visit,
        "security",
        "Security",
        Some(5),
        content,
        Some(finder),
    )
}

/// The access log's line for a request id, read from the end of the file.
fn find(visit: &Visit<'_>, id: &str) -> Markup {
    let runtime = visit.state.runtime.load();
    let crate::config::model::AccessLogTarget::File(path) = &runtime.config.access_log else {
        return html! { p.muted { "The access log is not a file (access_log: PATH), so requests cannot be looked up here." } };
    };
    let found = std::fs::File::open(path).and_then(|mut f| {
        let len = f.metadata()?.len();
        f.seek(std::io::SeekFrom::Start(len.saturating_sub(SEARCH_BYTES)))?;
        let needle = format!("\"request_id\":\"{id}\"");
        Ok(std::io::BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.contains(&needle))
            .last())
    });
    match found {
        Ok(Some(line)) => {
            let fields: Vec<(String, String)> =
                match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(serde_json::Value::Object(o)) => o
                        .into_iter()
                        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                        .collect(),
                    _ => vec![("line".into(), line)],
                };
            html! {
                table #request {
                    tbody { @for (k, v) in &fields { tr { th { (k) } td.mono { (v) } } } }
                }
            }
        }
        Ok(None) => {
            html! { p #request.muted { "No request " code { (id) } " in the access log's last 64 MiB." } }
        }
        Err(e) => html! { p.notice.error { "The access log cannot be read: " (e.to_string()) } },
    }
}
