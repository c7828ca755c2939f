//! The login form (the admin token, once, for a session cookie) and the
//! page that says the console is closed.

use maud::{html, Markup, DOCTYPE};

/// A page outside the console's navigation: the box in the middle.
fn alone(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                link rel="stylesheet" href="/console/assets/console.css";
                // No favicon request (the admin listener has none to give).
                link rel="icon" href="data:,";
            }
            body { (body) }
        }
    }
}

/// The console refused as a whole (no token on a public listener).
pub fn refused(why: &str) -> Markup {
    alone(
        "Gatehouse console",
        html! { div.login { h1 { "Gatehouse console" } p.notice.error { (why) } } },
    )
}

pub fn page(error: Option<&str>) -> Markup {
    alone(
        "Log in · Gatehouse console",
        html! {
            form.login method="post" action="/console/login" {
                h1 { "Gatehouse console" }
                @if let Some(e) = error { p.notice.error { (e) } }
                label for="token" { "Admin token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
        },
    )
}
