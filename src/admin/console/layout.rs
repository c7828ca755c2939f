//! The page shell (header, navigation, the live `<main>`), the assets, and
//! the headers every console answer carries: a strict
//! Content-Security-Policy (only this origin's script and stylesheet; no
//! inline script, no frames), no caching, no MIME sniffing.

use super::Visit;
use http::{Response, StatusCode};
use maud::{html, Markup, DOCTYPE};

const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub const PAGES: &[(&str, &str)] = &[
    ("overview", "Overview"),
    ("routes", "APIs and routes"),
    ("security", "Security"),
    ("keys", "Keys"),
    ("queues", "Queues and topics"),
    ("flows", "Flows"),
];

/// A page: the whole document, or only its live part for `?fragment=1`.
/// `refresh`: seconds between the script's reloads of the live part.
pub fn page(
    visit: &Visit<'_>,
    here: &str,
    title: &str,
    refresh: Option<u32>,
    content: Markup,
) -> Response<Vec<u8>> {
    page_with(visit, here, title, refresh, content, None)
}

/// A page with a part under the live one that the refresh leaves alone
/// (costly to make, or not changing).
pub fn page_with(
    visit: &Visit<'_>,
    here: &str,
    title: &str,
    refresh: Option<u32>,
    content: Markup,
    fixed: Option<Markup>,
) -> Response<Vec<u8>> {
    if visit.fragment {
        return respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            content.into_string().into_bytes(),
            None,
        );
    }
    page_response(
        StatusCode::OK,
        document(visit, here, title, refresh, content, fixed),
    )
}

fn document(
    visit: &Visit<'_>,
    here: &str,
    title: &str,
    refresh: Option<u32>,
    content: Markup,
    fixed: Option<Markup>,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Gatehouse console" }
                link rel="stylesheet" href="/console/assets/console.css";
                // No favicon request (the admin listener has none to give).
                link rel="icon" href="data:,";
                script src="/console/assets/console.js" defer {}
            }
            body data-refresh=[refresh] data-page=(here) {
                header {
                    span.brand { "Gatehouse" }
                    nav {
                        @for (id, name) in PAGES {
                            a href={ "/console/" (id) } class=[(*id == here).then_some("here")] { (name) }
                        }
                    }
                    form method="post" action="/console/logout" {
                        input type="hidden" name="csrf" value=(visit.csrf);
                        button type="submit" { "Log out" }
                    }
                }
                main {
                    h1 { (title) }
                    div #live { (content) }
                    @if let Some(f) = fixed { (f) }
                }
            }
        }
    }
}

/// A page with one message (a refused action, a missing thing).
pub fn message_page(visit: &Visit<'_>, title: &str, message: &str) -> Markup {
    document(
        visit,
        "",
        title,
        None,
        html! { p.notice.error { (message) } },
        None,
    )
}

pub fn page_response(status: StatusCode, markup: Markup) -> Response<Vec<u8>> {
    respond(
        status,
        "text/html; charset=utf-8",
        markup.into_string().into_bytes(),
        None,
    )
}

/// 303 See Other (after a form, or to the login page), optionally setting
/// a cookie.
pub fn redirect(to: &str, cookie: Option<&str>) -> Response<Vec<u8>> {
    let mut resp = respond(
        StatusCode::SEE_OTHER,
        "text/plain; charset=utf-8",
        Vec::new(),
        cookie,
    );
    if let Ok(v) = http::HeaderValue::from_str(to) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    resp
}

pub fn asset(file: &str) -> Response<Vec<u8>> {
    match file {
        "console.js" => respond(
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            SCRIPT.as_bytes().to_vec(),
            None,
        ),
        "console.css" => respond(
            StatusCode::OK,
            "text/css; charset=utf-8",
            STYLE.as_bytes().to_vec(),
            None,
        ),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            b"no such asset".to_vec(),
            None,
        ),
    }
}

fn respond(
    status: StatusCode,
    content_type: &str,
    body: Vec<u8>,
    cookie: Option<&str>,
) -> Response<Vec<u8>> {
    let mut builder = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .header("content-security-policy", CSP)
        .header("x-content-type-options", "nosniff")
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "same-origin")
        .header(http::header::CACHE_CONTROL, "no-store");
    if let Some(c) = cookie {
        builder = builder.header(http::header::SET_COOKIE, c);
    }
    builder.body(body).unwrap_or_default()
}
