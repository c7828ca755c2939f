//! APIs and routes: the loaded route table (as `gatehouse routes` prints
//! it) with each route's traffic, errors and latency since the process
//! started, and the last config reload's outcome with its errors.

use super::{count, Visit};
use crate::admin::console::traffic;
use http::Response;
use maud::html;

pub async fn show(visit: &Visit<'_>) -> Response<Vec<u8>> {
    let runtime = visit.state.runtime.load();
    let rows = crate::config::route_table::rows(&runtime.config);
    let traffic = traffic::per_route(&visit.state.metrics);
    let reload = visit.state.last_reload.lock().clone();
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
    let content = html! {
        p {
            "Config generation " strong #generation { (runtime.generation) } ". "
            @match &reload {
                None => span.muted { "Not reloaded since start." },
                Some(r) if r.errors.is_empty() => {
                    span #reload.ok { "Last reload applied at " (r.at.format("%Y-%m-%d %H:%M:%S UTC")) "." }
                }
                Some(r) => {
                    span #reload.bad { "Last reload at " (r.at.format("%Y-%m-%d %H:%M:%S UTC"))
                        " was rejected; the previous config still serves:" }
                }
            }
        }
        @if let Some(r) = &reload {
            @if !r.errors.is_empty() {
                ul #reload-errors { @for e in &r.errors { li.mono { (e) } } }
            }
        }
        table #routes {
            thead { tr {
                @for h in crate::config::route_table::HEADER { th { (h) } }
                th.num { "Requests" } th.num { "4xx" } th.num { "5xx" } th.num { "p50" } th.num { "p99" }
            } }
            tbody {
                @for r in &rows {
                    @let t = traffic.get(&(r[0].clone(), r[4].clone())).cloned().unwrap_or_default();
                    tr data-route=(r[4]) {
                        @for cell in r { td.mono { (cell) } }
                        td.num.requests { (count(t.requests)) }
                        td.num { (count(t.client_errors)) }
                        td.num { (count(t.server_errors)) }
                        td.num { (ms(t.p50_ms)) }
                        td.num { (ms(t.p99_ms)) }
                    }
                }
            }
        }
        p.muted { "Counts and latencies since this node started." }
    };
    crate::admin::console::layout::page(visit, "routes", "APIs and routes", Some(5), content)
}
