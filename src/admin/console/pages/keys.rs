//! Keys: every API key (declared in config or created here), its usage
//! against its plan's quota, a form to create one (shown once, with a copy
//! button) and a revoke button. Reads and writes through the admin API's
//! own handlers.

use super::{button, done, Visit};
use crate::admin::keys::{handle, Request};
use http::Response;
use maud::html;
use serde_json::{json, Value};

pub async fn show(visit: &Visit<'_>) -> Response<Vec<u8>> {
    render(visit, None).await
}

/// The page; `created` is a key just made, shown this once (in the answer
/// to the POST, never in a URL, so it stays out of history and logs).
async fn render(visit: &Visit<'_>, created: Option<&str>) -> Response<Vec<u8>> {
    let (_, listed) = handle(visit.state, Request::List).await;
    let keys = listed["keys"].as_array().cloned().unwrap_or_default();
    let mut usage = Vec::new();
    for k in &keys {
        let id = k["id"].as_str().unwrap_or_default();
        usage.push(handle(visit.state, Request::Usage(id)).await.1);
    }
    let plans: Vec<String> = visit
        .state
        .runtime
        .load()
        .config
        .usage_plans
        .keys()
        .cloned()
        .collect();
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let content = html! {
        (super::notice(visit))
        @if let Some(key) = created {
            div.notice #new-key {
                "The new key, shown once: "
                code #new-key-value { (key) }
                " "
                button type="button" data-copy=(key) { "Copy" }
            }
        }
        @if plans.is_empty() {
            p.muted { "No usage plans are configured (api_keys.plans), so no key can be created here." }
        } @else {
            form #create-key method="post" action="/console/keys" {
                input type="hidden" name="csrf" value=(visit.csrf);
                input type="text" name="name" placeholder="Key name" maxlength="100";
                " "
                select name="plan" { @for p in &plans { option value=(p) { (p) } } }
                " "
                button type="submit" { "Create key" }
            }
        }
        h2 { "Keys" }
        table #keys {
            thead { tr { th { "Id" } th { "Name" } th { "Plan" } th { "From" } th { "Usage" } th { "" } } }
            tbody {
                @for (k, u) in keys.iter().zip(&usage) {
                    @let revoked = !k["revoked_at"].is_null();
                    tr data-key=(text(&k["id"])) {
                        td.mono { (text(&k["id"])) }
                        td { (text(&k["name"])) }
                        td { (text(&k["plan"])) }
                        td { (text(&k["source"])) }
                        td {
                            @match (u["used"].as_u64(), u["limit"].as_u64()) {
                                (Some(used), Some(limit)) if limit > 0 => {
                                    meter.quota min="0" max=(limit) value=(used.min(limit)) title={ (used) " of " (limit) } {}
                                    " "
                                    span.muted.usage { (used) " / " (limit) }
                                }
                                _ => span.muted { "no quota" }
                            }
                        }
                        td {
                            @if revoked { span.muted { "revoked" } }
                            @else if k["source"] == "store" {
                                (button(visit, &format!("/console/keys/{}/revoke", text(&k["id"])), "Revoke", true,
                                    Some(&format!("Revoke {}? Requests with it are refused at once.", text(&k["name"])))))
                            }
                        }
                    }
                }
            }
        }
    };
    crate::admin::console::layout::page(visit, "keys", "Keys", None, content)
}

pub async fn create(visit: &Visit<'_>, form: &super::Form) -> Response<Vec<u8>> {
    let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = json!({ "plan": field("plan").unwrap_or_default() });
    if let Some(name) = field("name").filter(|n| !n.trim().is_empty()) {
        body["name"] = Value::String(name);
    }
    let (status, answer) = handle(visit.state, Request::Create(body)).await;
    match answer["key"].as_str() {
        Some(key) if status.is_success() => render(visit, Some(key)).await,
        _ => done(
            "/console/keys",
            "error",
            answer["message"]
                .as_str()
                .unwrap_or("the key was not created"),
        ),
    }
}

pub async fn revoke(visit: &Visit<'_>, id: &str) -> Response<Vec<u8>> {
    let (status, answer) = handle(visit.state, Request::Revoke(id)).await;
    if status.is_success() {
        done("/console/keys", "ok", &format!("Key {id} was revoked."))
    } else {
        done(
            "/console/keys",
            "error",
            answer["message"]
                .as_str()
                .unwrap_or("the key was not revoked"),
        )
    }
}
