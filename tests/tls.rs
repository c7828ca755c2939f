//! TLS: certificates chosen by SNI, HTTP/2 through ALPN, mTLS, and the
//! HTTP -> HTTPS redirect.

mod common;

use common::pki::{Ca, Leaf};
use common::{json, upstream, Gatehouse};
use std::net::SocketAddr;
use std::path::Path;

struct Setup {
    gh: Gatehouse,
    ca: Ca,
    clients: Ca,
    _a: upstream::Upstream,
}

async fn setup() -> Setup {
    let a = upstream::start("a").await;
    let ca = Ca::new("Test Server CA");
    let clients = Ca::new("Test Client CA");
    let alpha = ca.server(&["alpha.test"]);
    let beta = ca.server(&["beta.test", "*.beta.test"]);
    let clients_pem = clients.pem();
    let gh = Gatehouse::start_with(
        "tls",
        common::Options {
            env: vec![("A", a.address())],
            ..Default::default()
        },
        |dir: &Path| {
            let certs = dir.join("certs");
            std::fs::create_dir_all(&certs).unwrap();
            for (name, leaf) in [("alpha", &alpha), ("beta", &beta)] {
                std::fs::write(certs.join(format!("{name}.crt")), &leaf.cert_pem).unwrap();
                std::fs::write(certs.join(format!("{name}.key")), &leaf.key_pem).unwrap();
            }
            std::fs::write(certs.join("clients-ca.pem"), clients_pem).unwrap();
        },
    );
    Setup {
        gh,
        ca,
        clients,
        _a: a,
    }
}

/// A client that trusts only `ca` and resolves the test names to `addr`.
fn tls_client(ca: &Ca, addr: SocketAddr, identity: Option<&Leaf>) -> reqwest::ClientBuilder {
    gatehouse::tls::install_crypto();
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap()])
        .resolve("alpha.test", addr)
        .resolve("beta.test", addr)
        .resolve("www.beta.test", addr)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.cert_pem, leaf.key_pem);
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b
}

#[tokio::test]
async fn certificates_are_chosen_by_sni_and_h2_is_negotiated() {
    let s = setup().await;
    let addr = s.gh.addr("https");
    let port = addr.port();
    let c = tls_client(&s.ca, addr, None).build().unwrap();
    // Hostname verification passes only if the certificate for that name was served.
    for host in ["alpha.test", "beta.test", "www.beta.test"] {
        let resp = c
            .get(format!("https://{host}:{port}/hello"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{host}");
        assert_eq!(resp.version(), reqwest::Version::HTTP_2, "{host}");
        assert_eq!(json(resp).await["hello"], "tls");
    }
    // HTTP/1.1 clients are served too.
    let h1 = tls_client(&s.ca, addr, None).http1_only().build().unwrap();
    let resp = h1
        .get(format!("https://alpha.test:{port}/echo/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    let v = json(resp).await;
    assert_eq!(v["headers"]["x-forwarded-proto"], "https");
    // h2 to the client, proxied to an HTTP/1.1 upstream.
    let resp = c
        .get(format!("https://beta.test:{port}/echo/y?q=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let v = json(resp).await;
    assert_eq!(v["path"], "/y");
    assert_eq!(v["query"], "q=1");
}

#[tokio::test]
async fn mtls_listener_requires_a_client_certificate_from_its_ca() {
    let s = setup().await;
    let addr = s.gh.addr("mtls");
    let url = format!("https://alpha.test:{}/hello", addr.port());

    let anonymous = tls_client(&s.ca, addr, None).build().unwrap();
    assert!(
        anonymous.get(&url).send().await.is_err(),
        "no client cert must fail"
    );

    let stranger = Ca::new("Someone Else").client("mallory");
    let wrong = tls_client(&s.ca, addr, Some(&stranger)).build().unwrap();
    assert!(
        wrong.get(&url).send().await.is_err(),
        "cert from another CA must fail"
    );

    let good = s.clients.client("service-a");
    let ok = tls_client(&s.ca, addr, Some(&good)).build().unwrap();
    let resp = ok.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    // The verified identity goes upstream; a claimed one does not.
    let echo = format!("https://alpha.test:{}/echo/who", addr.port());
    let resp = ok
        .get(&echo)
        .header("x-client-cert-subject", "CN=admin")
        .send()
        .await
        .unwrap();
    let h = &json(resp).await["headers"];
    assert_eq!(h["x-client-cert-subject"], "CN=service-a");
    assert_eq!(h["x-client-cert-san"], "service-a");
    let plain_echo = format!("https://alpha.test:{}/echo/who", s.gh.addr("https").port());
    let resp = anonymous
        .get(plain_echo)
        .header("x-client-cert-subject", "CN=admin")
        .send()
        .await
        .unwrap();
    assert!(json(resp).await["headers"]
        .get("x-client-cert-subject")
        .is_none());

    // The plain TLS listener does not ask for certificates.
    let plain = format!("https://alpha.test:{}/hello", s.gh.addr("https").port());
    assert_eq!(anonymous.get(plain).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn plain_http_redirects_to_https() {
    let s = setup().await;
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = c
        .get(format!("{}?x=1", s.gh.url("/hello")))
        .header("host", "alpha.test")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 308);
    assert_eq!(
        resp.headers()["location"],
        format!("https://alpha.test:{}/hello?x=1", s.gh.addr("https").port()).as_str()
    );
}

#[tokio::test]
async fn upstream_tls_sends_sni_and_verifies_the_certificate() {
    // The TLS upstream is a second gatehouse serving alpha.test and beta.test.
    let s = setup().await;
    let ca_pem = s.ca.pem();
    let front = Gatehouse::start_with(
        "upstream_tls",
        common::Options {
            env: vec![("TLS_UPSTREAM", s.gh.addr("https").to_string())],
            ..Default::default()
        },
        |dir: &Path| std::fs::write(dir.join("ca.pem"), ca_pem).unwrap(),
    );
    let c = common::client();
    let resp = c.get(front.url("/secure/hello")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["hello"], "tls");

    // The name does not match the certificate: refused.
    let resp = c.get(front.url("/wrong-name/hello")).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    // Verification off: accepted despite the mismatch.
    let resp = c.get(front.url("/unverified/hello")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // The system roots do not trust the test CA.
    let resp = c.get(front.url("/untrusted/hello")).send().await.unwrap();
    assert_eq!(resp.status(), 502);

    // The health check also speaks TLS with the pool's SNI and CA: once the
    // backend has answered more probes than the unhealthy threshold (3),
    // the target must still be up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s
        .gh
        .stdout
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("\"path\":\"/hello\""))
        .count()
        < 8
    {
        assert!(
            std::time::Instant::now() < deadline,
            "health checks never reached the TLS upstream"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let metrics = c
        .get(front.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(&format!(
        "gatehouse_upstream_target_up{{target=\"{}\",upstream=\"secure\"}} 1",
        s.gh.addr("https")
    )));
}
