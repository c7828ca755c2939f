//! The console in a real browser (headless Chromium over WebDriver): log in
//! with the admin token, watch traffic reach the overview's numbers and
//! charts, create and revoke a key (its name, `<script>`, shown as text),
//! redrive a dead-letter queue and see the source queue refill, run a flow
//! and see the run with its counts, every number checked against the admin
//! or SQS API, no errors in the browser's console, a screenshot per page
//! under `target/console-screenshots/`.

mod common;

use common::browser::Browser;
use common::{aws, client, Gatehouse};
use fantoccini::Locator;
use serde_json::Value;

const TOKEN: &str = "console-test-token";

async fn admin(gh: &Gatehouse, path: &str) -> Value {
    client()
        .get(gh.admin_url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn visible(gh: &Gatehouse, queue: &str) -> String {
    let got = aws::sqs(gh)
        .get_queue_attributes()
        .queue_url(format!("{}/000000000000/{queue}", gh.messaging_url()))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    got.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_and_acts_in_a_real_browser() {
    gatehouse::tls::install_crypto();
    let gh = Gatehouse::start_with("console", Default::default(), |dir: &std::path::Path| {
        let config = dir.join("gatehouse.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        let log = dir.join("access.log");
        std::fs::write(&config, format!("{text}access_log: {}\n", log.display())).unwrap();
    });
    let b = Browser::start().await;
    let c = &b.client;
    let page = |p: &str| gh.admin_url(&format!("/console/{p}"));

    // Without a session every page leads to the login form; a wrong token
    // is refused there.
    c.goto(&page("overview")).await.unwrap();
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/login"));
    b.screenshot("login").await;
    let log_in = |token: &'static str| async move {
        c.find(Locator::Css("#token"))
            .await
            .unwrap()
            .send_keys(token)
            .await
            .unwrap();
        c.find(Locator::Css("form.login button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    };
    log_in("not-the-token").await;
    b.wait_for_text(".notice.error", "the refusal", |t| {
        t.contains("not the admin token")
    })
    .await;
    log_in(TOKEN).await;
    b.wait_for_path("/console/overview").await;

    // Traffic reaches the cards and the chart.
    let before = b.attr("svg.chart path.series.s1", "d").await;
    for _ in 0..40 {
        let resp = client().get(gh.url("/api/hello")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    b.wait_for_text("#card-requests-per-second .value", "requests/s", |t| {
        t.parse::<f64>().is_ok_and(|v| v > 0.0)
    })
    .await;
    b.wait_for_text("#card-p50 .value", "p50", |t| t.ends_with(" ms"))
        .await;
    let after = b.attr("svg.chart path.series.s1", "d").await;
    assert_ne!(before, after, "the requests chart did not change");
    b.screenshot("overview").await;

    // Routes: the table with each route's traffic; a route id with markup
    // is shown as text.
    c.goto(&page("routes")).await.unwrap();
    assert_eq!(b.text("tr[data-route='GET /hello'] .requests").await, "40");
    let odd = "<script>alert('route')</script>";
    let odd_row = c
        .find(Locator::Css(&format!(
            "tr[data-route=\"{odd}\"] td:nth-child(5)"
        )))
        .await
        .unwrap();
    assert_eq!(odd_row.text().await.unwrap(), odd);
    assert_eq!(c.find_all(Locator::Css("script")).await.unwrap().len(), 1);
    b.screenshot("routes").await;

    // Security: two of three requests over the route's limit are refused;
    // the page counts them by reason and client, and finds one request's
    // decisions in the access log by its id.
    for i in 0..3 {
        let resp = client()
            .get(gh.url("/api/limited"))
            .header("x-request-id", format!("console-limited-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), if i == 0 { 200 } else { 429 });
    }
    let attack = client()
        .get(gh.url("/api/guarded?q=%3Cscript%3Ealert(1)%3C/script%3E"))
        .send()
        .await
        .unwrap();
    assert_eq!(attack.status(), 403);
    c.goto(&page("security")).await.unwrap();
    b.wait_for_text("#card-rate-limited .value", "the refusals", |t| t == "2")
        .await;
    b.wait_for_text("#card-waf-blocks .value", "the WAF block", |t| t == "1")
        .await;
    assert_eq!(
        b.text("#waf tbody tr").await,
        "console xss managed:xss block 1"
    );
    let reasons = b.text("#reasons tbody").await;
    assert!(
        reasons.contains("rate_limit TooManyRequests 2"),
        "{reasons}"
    );
    assert!(reasons.contains("waf "), "{reasons}");
    assert_eq!(b.text("#clients tbody tr").await, "127.0.0.1 3");
    let find = page("security?request_id=console-limited-2");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        c.goto(&find).await.unwrap();
        if c.find(Locator::Css("table#request")).await.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the request was not found in the access log"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let found = b.text("table#request").await;
    assert!(
        found.contains("denied_by rate_limit") && found.contains("status 429"),
        "{found}"
    );
    b.screenshot("security").await;

    // Queues: three messages go to the dead-letter queue (one receive
    // allowed), the page shows what SQS says, and Redrive refills the
    // source queue.
    let sqs = aws::sqs(&gh);
    let work = format!("{}/000000000000/work", gh.messaging_url());
    for i in 0..3 {
        sqs.send_message()
            .queue_url(&work)
            .message_body(format!("job {i}"))
            .send()
            .await
            .unwrap();
    }
    for _ in 0..2 {
        sqs.receive_message()
            .queue_url(&work)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(visible(&gh, "work-dlq").await, "3");
    c.goto(&page("queues")).await.unwrap();
    assert_eq!(b.text("tr[data-queue='work-dlq'] .visible").await, "3");
    assert_eq!(b.text("tr[data-queue='work'] .visible").await, "0");
    // A filter policy with markup is shown as text.
    let filter = "tr[data-subscription='sqs:arn:aws:sqs:us-east-1:000000000000:filtered'] .filter";
    assert_eq!(
        b.text(filter).await,
        r#"{"kind":["<script>alert(1)</script>"]}"#
    );
    assert_eq!(c.find_all(Locator::Css("script")).await.unwrap().len(), 1);
    // The http subscription's confirmation waits for its next attempt.
    b.wait_for_text(
        "tr[data-subscription^='http'] .waiting",
        "a waiting delivery",
        |t| t == "1",
    )
    .await;
    b.screenshot("queues").await;
    c.find(Locator::Css(
        "tr[data-queue='work-dlq'] form[action$='/redrive'] button",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    b.wait_for_text(".notice", "the redrive notice", |t| {
        t.contains("Redrive of work-dlq started")
    })
    .await;
    b.wait_for_text(
        "tr[data-queue='work'] .visible",
        "the source queue refilled",
        |t| t == "3",
    )
    .await;
    assert_eq!(visible(&gh, "work").await, "3");

    // Keys: create one named with markup, shown once, listed as text, then
    // revoke it; the admin API agrees.
    c.goto(&page("keys")).await.unwrap();
    let name = "<script>alert('x')</script>";
    c.find(Locator::Css("#create-key input[name=name]"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    c.find(Locator::Css("#create-key button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let key = b
        .wait_for_text("#new-key-value", "the new key", |t| !t.is_empty())
        .await;
    assert!(key.len() > 20, "{key}");
    let listed = admin(&gh, "/keys").await;
    let made = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("{listed}"))
        .clone();
    let id = made["id"].as_str().unwrap().to_string();
    let row = format!("tr[data-key='{id}']");
    assert_eq!(b.text(&format!("{row} td:nth-child(2)")).await, name);
    let scripts = c.find_all(Locator::Css("script")).await.unwrap();
    assert_eq!(scripts.len(), 1, "only the console's own script");
    assert_eq!(b.text(&format!("{row} .usage")).await, "0 / 1000");
    b.screenshot("keys").await;
    c.find(Locator::Css(&format!(
        "{row} form[action$='/revoke'] button"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.accept_alert().await.unwrap();
    b.wait_for_text(&format!("{row} td:last-child"), "revoked", |t| {
        t == "revoked"
    })
    .await;
    let listed = admin(&gh, "/keys").await;
    let revoked = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert!(!revoked["revoked_at"].is_null(), "{revoked}");

    // Flows: two messages through the topic into the flow's queue; Run now
    // shows the run with its counts, as the admin API has it.
    let sns = aws::sns(&gh);
    for i in 0..2 {
        sns.publish()
            .topic_arn("arn:aws:sns:us-east-1:000000000000:events")
            .message(format!("{{\"n\":{i}}}"))
            .send()
            .await
            .unwrap();
    }
    c.goto(&page("flows")).await.unwrap();
    assert_eq!(b.text("tr[data-flow='drain'] .state").await, "active");
    b.screenshot("flows").await;
    c.find(Locator::Css(
        "tr[data-flow='drain'] form[action$='/run'] button",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    b.wait_for_path("/console/flows/drain").await;
    b.wait_for_text("#runs tbody tr .status", "the run to succeed", |t| {
        t == "Successful"
    })
    .await;
    assert_eq!(b.text("#runs tbody tr .read").await, "2");
    assert_eq!(b.text("#runs tbody tr .written").await, "2");
    let runs = admin(&gh, "/flows/drain/runs").await;
    assert_eq!(runs["runs"][0]["records_written"], 2, "{runs}");
    assert_eq!(
        b.text("#runs tbody tr td:first-child").await,
        runs["runs"][0]["id"].as_str().unwrap()
    );
    b.screenshot("flow").await;

    // A form posted without the page's CSRF token is refused.
    let forged = client()
        .post(page("queues/work/purge"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401, "no session: refused before the token");

    let errors: Vec<_> = b
        .console_log()
        .await
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
}

/// Without an admin token the console opens without a login (on the
/// loopback listener), and a POST still needs the page's CSRF token and a
/// same-origin browser.
#[tokio::test]
async fn without_a_token_forms_still_need_the_pages_csrf_token() {
    let gh = Gatehouse::start_with("console", Default::default(), |dir: &std::path::Path| {
        let config = dir.join("gatehouse.yaml");
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("  token: console-test-token\n", "");
        std::fs::write(&config, text).unwrap();
    });
    let page = client()
        .get(gh.admin_url("/console/queues"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["content-security-policy"],
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let purge = gh.admin_url("/console/queues/work/purge");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |fields: Vec<(&'static str, String)>, site: Option<&'static str>| {
        let mut req = no_redirects.post(&purge).form(&fields);
        if let Some(site) = site {
            req = req.header("sec-fetch-site", site);
        }
        req.send()
    };
    assert_eq!(post(vec![], None).await.unwrap().status(), 403);
    let forged = vec![("csrf", "0".repeat(64))];
    assert_eq!(post(forged, None).await.unwrap().status(), 403);
    let cross_site = post(vec![("csrf", csrf.clone())], Some("cross-site"));
    assert_eq!(cross_site.await.unwrap().status(), 403);
    let ok = post(vec![("csrf", csrf)], Some("same-origin"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(
        ok.headers()["location"],
        "/console/queues?ok=work+was+purged."
    );
}
