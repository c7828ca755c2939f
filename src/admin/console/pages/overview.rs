//! Overview: traffic, errors and latency over the last hour, connections,
//! upstream health, messages in and out, flow runs in the last day.

use super::{count, Visit};
use crate::admin::console::chart::{self, Series};
use crate::admin::console::history::Sample;
use http::Response;
use maud::{html, Markup, PreEscaped};

/// Chart resolution: ten-second steps over the last hour.
const STEP: usize = 10;
const SLOTS: usize = 3600 / STEP;

pub async fn show(visit: &Visit<'_>) -> Response<Vec<u8>> {
    let (minute, steps, day) = {
        let history = visit.console.history.lock();
        let day: Vec<Sample> = history.last_day().cloned().collect();
        (
            history.window(60).unwrap_or_default(),
            history.steps(STEP),
            day,
        )
    };
    let mut per_minute = vec![None; 1440usize.saturating_sub(day.len())];
    per_minute.extend(day.iter().map(|s| Some(s.requests as f64)));
    let content = html! {
        (super::notice(visit))
        div.cards {
            (card("Requests/s", &format!("{:.1}", minute.rate(minute.requests)), "requests-per-second"))
            (card("Error rate (5xx)", &error_rate(&minute), "error-rate"))
            (card("p50 latency", &ms(minute.p50_ms), "p50"))
            (card("p99 latency", &ms(minute.p99_ms), "p99"))
            (card("Connections", &visit.state.metrics.active_connections.get().to_string(), "connections"))
            (card("Messages in/s", &format!("{:.1}", minute.rate(minute.messages_in)), "messages-in"))
            (card("Messages out/s", &format!("{:.1}", minute.rate(minute.messages_out)), "messages-out"))
            (card("Flow runs (24 h)", &flow_runs_today(visit).await, "flow-runs"))
        }
        div.charts {
            (chart_box("Requests per second, last hour", &chart::line(
                "requests per second", "/s", "last hour",
                &[
                    Series { name: "requests", class: "s1", points: per_second(&steps, |s| s.requests) },
                    Series { name: "5xx", class: "s2", points: per_second(&steps, |s| s.server_errors) },
                ],
            )))
            (chart_box("Latency, last hour", &chart::line(
                "latency", " ms", "last hour",
                &[
                    Series { name: "p50", class: "s1", points: slots(&steps, |s| s.p50_ms) },
                    Series { name: "p99", class: "s2", points: slots(&steps, |s| s.p99_ms) },
                ],
            )))
            (chart_box("Requests per minute, last day", &chart::line(
                "requests per minute", "", "last 24 hours",
                &[Series { name: "requests", class: "s1", points: per_minute }],
            )))
            (chart_box("Messages per second, last hour", &chart::line(
                "messages per second", "/s", "last hour",
                &[
                    Series { name: "in", class: "s1", points: per_second(&steps, |s| s.messages_in) },
                    Series { name: "out", class: "s3", points: per_second(&steps, |s| s.messages_out) },
                ],
            )))
        }
        h2 { "Upstreams" }
        (upstreams(visit))
    };
    crate::admin::console::layout::page(visit, "overview", "Overview", Some(2), content)
}

fn card(label: &str, value: &str, id: &str) -> Markup {
    html! {
        div.card #(format!("card-{id}")) {
            div.label { (label) }
            div.value { (value) }
        }
    }
}

fn chart_box(title: &str, svg: &str) -> Markup {
    html! {
        div.chart-box {
            h3 { (title) }
            // Built from numbers by chart::line, which escapes its text.
            (PreEscaped(svg))
        }
    }
}

/// A point per slot of the hour, the samples at the right end (the
/// hour before the process started is a gap).
fn slots(steps: &[Sample], pick: impl Fn(&Sample) -> Option<f64>) -> Vec<Option<f64>> {
    let mut points = vec![None; SLOTS.saturating_sub(steps.len())];
    points.extend(steps.iter().rev().take(SLOTS).rev().map(pick));
    points
}

fn per_second(steps: &[Sample], pick: impl Fn(&Sample) -> u64) -> Vec<Option<f64>> {
    slots(steps, |s| Some(s.rate(pick(s))))
}

fn error_rate(s: &Sample) -> String {
    if s.requests == 0 {
        return "-".into();
    }
    format!("{:.2}%", 100.0 * s.server_errors as f64 / s.requests as f64)
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1} ms"))
}

async fn flow_runs_today(visit: &Visit<'_>) -> String {
    let since = chrono::Utc::now() - chrono::Duration::hours(24);
    let Ok(runs) = visit.state.flows.store().runs(None, 10_000).await else {
        return "-".into();
    };
    let n = runs
        .iter()
        .filter(|r| {
            chrono::DateTime::parse_from_rfc3339(&r.started_at)
                .is_ok_and(|t| t.with_timezone(&chrono::Utc) >= since)
        })
        .count();
    count(n as u64)
}

fn upstreams(visit: &Visit<'_>) -> Markup {
    let runtime = visit.state.runtime.load();
    let now = crate::gateway::upstream::now_ms();
    let mut pools: Vec<_> = runtime.pools.iter().collect();
    pools.sort_by(|a, b| a.0.cmp(b.0));
    html! {
        @if pools.is_empty() {
            p.muted { "No upstream pools are configured." }
        } @else {
            table #upstreams {
                thead { tr { th { "Pool" } th { "Target" } th { "State" } } }
                tbody {
                    @for (name, pool) in &pools {
                        @for (i, target) in pool.targets.iter().enumerate() {
                            tr {
                                td { (name) }
                                td.mono { (target.spec.address) }
                                td {
                                    @if pool.is_available(i, now) { span.ok { "up" } }
                                    @else { span.bad { "down" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
