//! The login form: the admin token, once, for a session cookie.

use maud::{html, Markup, DOCTYPE};

/// The console refused as a whole (no token on a public listener).
pub fn refused(why: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Gatehouse console" }
                link rel="stylesheet" href="/console/assets/console.css";
                link rel="icon" href="data:,";
            }
            body { div.login { h1 { "Gatehouse console" } p.notice.error { (why) } } }
        }
    }
}

pub fn page(error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Log in · Gatehouse console" }
                link rel="stylesheet" href="/console/assets/console.css";
                // No favicon request (the admin listener has none to give).
                link rel="icon" href="data:,";
            }
            body {
                form.login method="post" action="/console/login" {
                    h1 { "Gatehouse console" }
                    @if let Some(e) = error { p.notice.error { (e) } }
                    label for="token" { "Admin token" }
                    input #token type="password" name="token" autocomplete="current-password" required;
                    button type="submit" { "Log in" }
                }
            }
        }
    }
}
