//! One file per page: what it shows (`show`) and what its buttons do
//! (`act`). Every action answers with a redirect back to its page (so a
//! reload does not repeat it) carrying what happened in the query string,
//! shown as a notice.

pub mod flows;
pub mod keys;
pub mod login;
pub mod overview;
pub mod queues;
pub mod routes;
pub mod security;

use super::layout;
use super::Visit;
use http::{Response, StatusCode};
use maud::{html, Markup};

type Form = [(String, String)];

pub async fn show(visit: &Visit<'_>, parts: &[&str]) -> Response<Vec<u8>> {
    match parts {
        [] => layout::redirect("/console/overview", None),
        ["overview"] => overview::show(visit).await,
        ["routes"] => routes::show(visit).await,
        ["security"] => security::show(visit).await,
        ["keys"] => keys::show(visit).await,
        ["queues"] => queues::show(visit).await,
        ["flows"] => flows::list(visit).await,
        ["flows", name] => flows::detail(visit, name).await,
        _ => not_found(visit),
    }
}

pub async fn act(visit: &Visit<'_>, parts: &[&str], form: &Form) -> Response<Vec<u8>> {
    match parts {
        ["keys"] => keys::create(visit, form).await,
        ["keys", id, "revoke"] => keys::revoke(visit, id).await,
        ["queues", name, "redrive"] => queues::redrive(visit, name).await,
        ["queues", name, "purge"] => queues::purge(visit, name).await,
        ["flows", name, "run"] => flows::run(visit, name).await,
        ["flows", name, "activate"] => flows::activate(visit, name).await,
        _ => not_found(visit),
    }
}

fn not_found(visit: &Visit<'_>) -> Response<Vec<u8>> {
    layout::page_response(
        StatusCode::NOT_FOUND,
        layout::message_page(visit, "Not found", "There is no such console page."),
    )
}

/// Back to `page` with a notice (`ok` or `error`) to show there.
fn done(page: &str, kind: &str, message: &str) -> Response<Vec<u8>> {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair(kind, message)
        .finish();
    layout::redirect(&format!("{page}?{query}"), None)
}

/// The notice an action left in the query string.
fn notice(visit: &Visit<'_>) -> Markup {
    html! {
        @if let Some(m) = visit.param("ok") { p.notice { (m) } }
        @if let Some(m) = visit.param("error") { p.notice.error { (m) } }
    }
}

/// A POST button with the CSRF token; `confirm` asks first.
fn button(
    visit: &Visit<'_>,
    action: &str,
    label: &str,
    danger: bool,
    confirm: Option<&str>,
) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=[confirm] {
            input type="hidden" name="csrf" value=(visit.csrf);
            button type="submit" class=[danger.then_some("danger")] { (label) }
        }
    }
}

/// A name as one URL path segment.
fn enc(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A path segment back to the name.
fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// A count with thousands separators.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds as "42 s", "5 min", "3 h".
fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}
