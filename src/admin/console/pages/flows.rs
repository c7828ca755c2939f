//! Flows: each flow's source, schedule, next run, state (with an activate
//! button when failures deactivated it), last run and a run-now button;
//! per flow, its run history and a preview of the first records as the
//! tasks map them. Reads and acts through the admin API's handlers.

use super::{button, count, decode, done, enc, Visit};
use crate::admin::flows::{handle, Request};
use http::Response;
use maud::{html, Markup};
use serde_json::Value;

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn list(visit: &Visit<'_>) -> Response<Vec<u8>> {
    let (_, answer) = handle(&visit.state.flows, Request::List).await;
    let flows = answer["flows"].as_array().cloned().unwrap_or_default();
    let mut next = Vec::new();
    for f in &flows {
        let id = f["flow"].as_str().unwrap_or_default();
        next.push(visit.state.scheduler.next_run(id).await);
    }
    let content = html! {
        (super::notice(visit))
        @if flows.is_empty() {
            p.muted { "No flows: add one as flows/NAME.yaml." }
        } @else {
            table #flows {
                thead { tr {
                    th { "Flow" } th { "Source" } th { "Schedule" } th { "Next run" }
                    th { "State" } th { "Last run" } th { "" }
                } }
                tbody {
                    @for (f, next) in flows.iter().zip(&next) {
                        @let id = text(&f["flow"]);
                        tr data-flow=(id) {
                            td { a href={ "/console/flows/" (enc(&id)) } { (id) } }
                            td { (text(&f["source"])) }
                            td.mono { (text(&f["schedule"])) }
                            td { (next.map_or("-".to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())) }
                            td.state {
                                @if f["deactivated"] == true {
                                    span.bad { "deactivated" } " "
                                    (button(visit, &format!("/console/flows/{}/activate", enc(&id)), "Activate", false, None))
                                } @else if f["enabled"] == false {
                                    span.muted { "disabled in its file" }
                                } @else {
                                    span.ok { "active" }
                                }
                            }
                            td { (text(&f["last_status"])) }
                            td { (button(visit, &format!("/console/flows/{}/run", enc(&id)), "Run now", false, None)) }
                        }
                    }
                }
            }
        }
    };
    crate::admin::console::layout::page(visit, "flows", "Flows", Some(3), content)
}

pub async fn detail(visit: &Visit<'_>, name: &str) -> Response<Vec<u8>> {
    let name = decode(name);
    let (status, runs) = handle(&visit.state.flows, Request::Runs(name.clone(), 50)).await;
    if !status.is_success() {
        return done(
            "/console/flows",
            "error",
            runs["message"].as_str().unwrap_or("no such flow"),
        );
    }
    let runs = runs["runs"].as_array().cloned().unwrap_or_default();
    // Under the live part: the refresh reloads the history only.
    let preview = if visit.fragment {
        None
    } else {
        Some(html! {
            h2 { "Preview (the first records as the tasks map them; nothing is written)" }
            (preview(visit, &name).await)
        })
    };
    let content = html! {
        (super::notice(visit))
        p { (button(visit, &format!("/console/flows/{}/run", enc(&name)), "Run now", false, None)) }
        h2 { "Runs" }
        @if runs.is_empty() {
            p.muted { "No runs yet." }
        } @else {
            table #runs {
                thead { tr {
                    th { "Run" } th { "Trigger" } th { "Status" } th.num { "Read" } th.num { "Written" }
                    th.num { "Filtered" } th.num { "Invalid" } th.num { "Bytes" } th { "Duration" }
                    th { "Watermark before → after" } th { "Error" }
                } }
                tbody {
                    @for r in &runs {
                        tr data-run=(text(&r["id"])) {
                            td.mono { (text(&r["id"])) }
                            td { (text(&r["trigger"])) }
                            td.status { (text(&r["status"])) }
                            td.num.read { (count(r["records_read"].as_u64().unwrap_or(0))) }
                            td.num.written { (count(r["records_written"].as_u64().unwrap_or(0))) }
                            td.num { (count(r["records_filtered"].as_u64().unwrap_or(0))) }
                            td.num { (count(r["records_invalid"].as_u64().unwrap_or(0))) }
                            td.num { (count(r["bytes_written"].as_u64().unwrap_or(0))) }
                            td { (duration(r)) }
                            td.mono { (text(&r["watermark_before"])) " → " (text(&r["watermark_after"])) }
                            td.bad { (text(&r["error"])) }
                        }
                    }
                }
            }
        }
    };
    let title = format!("Flow {name}");
    crate::admin::console::layout::page_with(visit, "flows", &title, Some(3), content, preview)
}

async fn preview(visit: &Visit<'_>, name: &str) -> Markup {
    let engine = &visit.state.flows;
    if engine.spec(name).is_ok_and(|s| s.source.kind() == "queue") {
        return html! { p.muted { "A queue source is not previewed: receiving would hide its messages." } };
    }
    if engine.needs_payload(name).unwrap_or(false) {
        return html! { p.muted { "This flow reads the body of its webhook: nothing to preview here." } };
    }
    let previewed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        engine.preview(name, 10, None),
    )
    .await;
    let records = match previewed {
        Ok(Ok(records)) => records,
        Ok(Err(e)) => return html! { p.notice.error { "Preview failed: " (e.to_string()) } },
        Err(_) => return html! { p.notice.error { "Preview took over 10 s: the source is slow." } },
    };
    let mut columns: Vec<String> = Vec::new();
    for r in &records {
        if let Value::Object(o) = &r.record {
            for k in o.keys() {
                if !columns.contains(k) && columns.len() < 12 {
                    columns.push(k.clone());
                }
            }
        }
    }
    html! {
        @if records.is_empty() {
            p.muted { "The source has no records now." }
        } @else {
            table #preview {
                thead { tr { th { "Outcome" } @for c in &columns { th { (c) } } th { "Why" } } }
                tbody {
                    @for r in &records {
                        tr {
                            td { (r.outcome) }
                            @for c in &columns { td.mono { (text(&r.record[c.as_str()])) } }
                            td { (r.reason.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

fn duration(run: &Value) -> String {
    let parse = |v: &Value| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    match (parse(&run["started_at"]), parse(&run["ended_at"])) {
        (Some(a), Some(b)) => format!("{:.1} s", (b - a).num_milliseconds() as f64 / 1000.0),
        _ => "running".into(),
    }
}

pub async fn run(visit: &Visit<'_>, name: &str) -> Response<Vec<u8>> {
    let name = decode(name);
    let (status, answer) = handle(
        &visit.state.flows,
        Request::Start(name.clone(), bytes::Bytes::new()),
    )
    .await;
    let page = format!("/console/flows/{}", enc(&name));
    if status.is_success() {
        done(
            &page,
            "ok",
            &format!("Run {} started.", text(&answer["run_id"])),
        )
    } else {
        done(
            &page,
            "error",
            answer["message"]
                .as_str()
                .unwrap_or("the run did not start"),
        )
    }
}

pub async fn activate(visit: &Visit<'_>, name: &str) -> Response<Vec<u8>> {
    let name = decode(name);
    let (status, answer) = handle(&visit.state.flows, Request::Activate(name.clone())).await;
    if status.is_success() {
        done("/console/flows", "ok", &format!("{name} is active again."))
    } else {
        done(
            "/console/flows",
            "error",
            answer["message"].as_str().unwrap_or("not activated"),
        )
    }
}
