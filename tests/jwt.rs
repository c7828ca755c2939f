//! JWT authentication through the real server: good tokens, every kind of bad
//! one, algorithm confusion, scopes, forwarded claims, and JWKS rotation,
//! outage and slowness.

mod common;

use base64::Engine;
use common::{client, json, upstream, Gatehouse, Options};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn hs(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct EcKey {
    pair: rcgen::KeyPair,
}

impl EcKey {
    fn new() -> EcKey {
        EcKey {
            pair: rcgen::KeyPair::generate().unwrap(),
        }
    }

    fn public_pem(&self) -> String {
        self.pair.public_key_pem()
    }

    fn jwk(&self, kid: &str) -> Value {
        let raw = self.pair.public_key_raw();
        json!({"kty": "EC", "crv": "P-256", "x": b64(&raw[1..33]), "y": b64(&raw[33..65]), "kid": kid, "alg": "ES256", "use": "sig"})
    }

    fn sign(&self, kid: Option<&str>, claims: Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_string);
        let key = EncodingKey::from_ec_pem(self.pair.serialize_pem().as_bytes()).unwrap();
        encode(&header, &claims, &key).unwrap()
    }
}

/// A JWKS endpoint whose key set the test can change, counting fetches.
#[derive(Clone)]
struct KeyServer {
    url: String,
    slow_url: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    /// How long /jwks takes to answer, in ms.
    delay_ms: Arc<AtomicU64>,
}

async fn key_server() -> KeyServer {
    use axum::routing::get;
    let keys = Arc::new(Mutex::new(json!({"keys": []})));
    let fetches = Arc::new(AtomicUsize::new(0));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let (k, f, d) = (keys.clone(), fetches.clone(), delay_ms.clone());
    let app = axum::Router::new()
        .route(
            "/jwks",
            get(move || {
                let (k, f, d) = (k.clone(), f.clone(), d.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let delay = d.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    axum::Json(k.lock().unwrap().clone())
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "too late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    KeyServer {
        url: format!("http://{addr}/jwks"),
        slow_url: format!("http://{addr}/slow"),
        keys,
        fetches,
        delay_ms,
    }
}

struct Setup {
    gh: Gatehouse,
    es: EcKey,
    keys: KeyServer,
}

async fn setup() -> Setup {
    let a = upstream::start("a").await;
    let keys = key_server().await;
    let es = EcKey::new();
    let pem = es.public_pem();
    let gh = Gatehouse::start_with(
        "jwt",
        Options {
            env: vec![
                ("A", a.address()),
                ("JWT_SECRET", SECRET.to_string()),
                ("JWKS_URL", keys.url.clone()),
                (
                    "JWKS_DOWN_URL",
                    format!("http://{}/jwks", upstream::closed_port()),
                ),
                ("JWKS_SLOW_URL", keys.slow_url.clone()),
            ],
            ..Default::default()
        },
        |dir| {
            std::fs::write(dir.join("es-public.pem"), pem).unwrap();
            std::fs::copy(
                common::fixture("jwt-keys/rsa-public.pem"),
                dir.join("rsa-public.pem"),
            )
            .unwrap();
        },
    );
    Setup { gh, es, keys }
}

fn good_claims() -> Value {
    json!({"sub": "user-7", "email": "u7@example.test", "iss": "https://issuer.test", "aud": "gatehouse-tests", "exp": now() + 300, "iat": now()})
}

async fn get(gh: &Gatehouse, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = client().get(gh.url(path));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.send().await.unwrap()
}

async fn expect_401(gh: &Gatehouse, path: &str, token: Option<&str>, why: &str) {
    let resp = get(gh, path, token).await;
    assert_eq!(resp.status(), 401, "{why}");
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.starts_with("Bearer realm=\"gatehouse\""),
        "{challenge}"
    );
    let body = json(resp).await;
    assert_eq!(body["code"], "Unauthorized");
    assert!(
        body["message"].as_str().unwrap().contains(why),
        "{why}: {body}"
    );
}

#[tokio::test]
async fn valid_tokens_pass_and_chosen_claims_go_upstream() {
    let s = setup().await;
    let resp = client()
        .get(s.gh.url("/j/hs"))
        .header("authorization", format!("Bearer {}", hs(good_claims())))
        .header("x-user-id", "spoofed-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v = json(resp).await;
    assert_eq!(v["headers"]["x-user-id"], "user-7");
    assert_eq!(v["headers"]["x-user-email"], "u7@example.test");
    assert_eq!(
        v["headers"]["authorization"]
            .as_str()
            .map(|a| a.starts_with("Bearer ")),
        Some(true)
    );

    // A claim that is absent clears a header the client sent.
    let mut claims = good_claims();
    claims.as_object_mut().unwrap().remove("email");
    let resp = client()
        .get(s.gh.url("/j/hs"))
        .header("authorization", format!("Bearer {}", hs(claims)))
        .header("x-user-email", "spoofed@example.test")
        .send()
        .await
        .unwrap();
    assert!(json(resp).await["headers"].get("x-user-email").is_none());
}

#[tokio::test]
async fn bad_tokens_are_401_with_a_reason() {
    let s = setup().await;
    let gh = &s.gh;
    expect_401(gh, "/j/hs", None, "missing bearer token").await;
    expect_401(gh, "/j/hs", Some("not.a.jwt"), "malformed").await;
    expect_401(gh, "/j/hs", Some("@@@"), "malformed").await;
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = good_claims();
        f(c.as_object_mut().unwrap());
        hs(c)
    };
    expect_401(
        gh,
        "/j/hs",
        Some(&with(&|c| {
            c.insert("exp".into(), json!(now() - 60));
        })),
        "expired",
    )
    .await;
    expect_401(
        gh,
        "/j/hs",
        Some(&with(&|c| {
            c.insert("nbf".into(), json!(now() + 600));
        })),
        "not yet valid",
    )
    .await;
    expect_401(
        gh,
        "/j/hs",
        Some(&with(&|c| {
            c.insert("iat".into(), json!(now() + 600));
        })),
        "issued in the future",
    )
    .await;
    expect_401(
        gh,
        "/j/hs",
        Some(&with(&|c| {
            c.insert("iss".into(), json!("https://evil.test"));
        })),
        "wrong issuer",
    )
    .await;
    expect_401(
        gh,
        "/j/hs",
        Some(&with(&|c| {
            c.insert("aud".into(), json!("someone-else"));
        })),
        "wrong audience",
    )
    .await;
    expect_401(
        gh,
        "/j/hs",
        Some(&with(&|c| {
            c.remove("sub");
        })),
        "missing claim `sub`",
    )
    .await;
    expect_401(
        gh,
        "/j/hs",
        Some(&with(&|c| {
            c.remove("exp");
        })),
        "missing required claim",
    )
    .await;
    // Within the 5 s leeway, an expiry just passed is still accepted.
    let fresh = with(&|c| {
        c.insert("exp".into(), json!(now() - 2));
    });
    assert_eq!(get(gh, "/j/hs", Some(&fresh)).await.status(), 200);

    let forged = encode(
        &Header::new(Algorithm::HS256),
        &good_claims(),
        &EncodingKey::from_secret(b"another-secret-another-secret-another!"),
    )
    .unwrap();
    expect_401(gh, "/j/hs", Some(&forged), "bad signature").await;

    // alg: none, unsigned.
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(good_claims().to_string().as_bytes())
    );
    expect_401(gh, "/j/hs", Some(&none), "malformed").await;
    // An HS512 token where only HS256 is accepted.
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &good_claims(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    expect_401(gh, "/j/hs", Some(&hs512), "algorithm not accepted").await;
}

#[tokio::test]
async fn algorithm_confusion_is_refused() {
    let s = setup().await;
    let gh = &s.gh;
    let claims = json!({"sub": "x", "exp": now() + 300});
    assert_eq!(
        get(gh, "/j/es", Some(&s.es.sign(None, claims.clone())))
            .await
            .status(),
        200
    );
    // The classic attack: HS256 "signed" with the server's public key as secret.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(s.es.public_pem().as_bytes()),
    )
    .unwrap();
    expect_401(gh, "/j/es", Some(&confused), "algorithm not accepted").await;
    // A token signed by another EC key.
    let other = EcKey::new().sign(None, claims);
    expect_401(gh, "/j/es", Some(&other), "bad signature").await;
}

#[tokio::test]
async fn scopes_are_enforced_with_403() {
    let s = setup().await;
    let token = hs(json!({"sub": "x", "exp": now() + 300, "scope": "orders:read"}));
    let resp = get(&s.gh, "/j/scoped", Some(&token)).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"gatehouse\", error=\"insufficient_scope\", scope=\"orders:write\""
    );
    assert_eq!(json(resp).await["code"], "Forbidden");
    for claims in [
        json!({"sub": "x", "exp": now() + 300, "scope": "orders:read orders:write"}),
        json!({"sub": "x", "exp": now() + 300, "scp": ["orders:write"]}),
    ] {
        assert_eq!(
            get(&s.gh, "/j/scoped", Some(&hs(claims))).await.status(),
            200
        );
    }
}

#[tokio::test]
async fn jwks_keys_rotate_and_unknown_kids_cannot_hammer_the_endpoint() {
    let s = setup().await;
    let k2 = EcKey::new();
    *s.keys.keys.lock().unwrap() = json!({"keys": [s.es.jwk("k1"), {"kty": "oct", "k": b64(SECRET.as_bytes()), "kid": "sym"}]});
    let claims = json!({"sub": "x", "exp": now() + 300});
    assert_eq!(
        get(
            &s.gh,
            "/j/jwks",
            Some(&s.es.sign(Some("k1"), claims.clone()))
        )
        .await
        .status(),
        200
    );
    assert_eq!(s.keys.fetches.load(Ordering::SeqCst), 1);

    // A symmetric key in the set is never used.
    let sym = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("sym".into());
        encode(&h, &claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
    };
    expect_401(&s.gh, "/j/jwks", Some(&sym), "algorithm not accepted").await;

    // Random kids: at most one refetch per 500ms, however many tokens.
    let started = Instant::now();
    for i in 0..40 {
        let t = s.es.sign(Some(&format!("random-{i}")), claims.clone());
        expect_401(&s.gh, "/j/jwks", Some(&t), "unknown key id").await;
    }
    let fetches = s.keys.fetches.load(Ordering::SeqCst);
    let allowed = 2 + (started.elapsed().as_millis() / 500) as usize;
    assert!(
        fetches <= allowed,
        "{fetches} fetches in {:?}",
        started.elapsed()
    );

    // Rotation: a new key appears in the set and is picked up on its kid.
    *s.keys.keys.lock().unwrap() = json!({"keys": [s.es.jwk("k1"), k2.jwk("k2")]});
    let token = k2.sign(Some("k2"), claims.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = get(&s.gh, "/j/jwks", Some(&token)).await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 401);
        assert!(Instant::now() < deadline, "rotated key never accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_slow_refetch_for_an_unknown_kid_does_not_stall_known_keys() {
    let s = setup().await;
    *s.keys.keys.lock().unwrap() = json!({"keys": [s.es.jwk("k1")]});
    let claims = json!({"sub": "x", "exp": now() + 300});
    let valid = s.es.sign(Some("k1"), claims.clone());
    assert_eq!(get(&s.gh, "/j/jwks", Some(&valid)).await.status(), 200);
    assert_eq!(s.keys.fetches.load(Ordering::SeqCst), 1);

    // The endpoint turns slow; a token naming an unknown kid makes the
    // gateway refetch (once min_refresh allows).
    s.keys.delay_ms.store(1500, Ordering::SeqCst);
    let unknown = s.es.sign(Some("not-yet"), claims.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    // Until min_refresh allows it, such a token is refused without a fetch;
    // then one starts a fetch and waits for it.
    let refetch = 'started: loop {
        let (url, token) = (s.gh.url("/j/jwks"), unknown.clone());
        let attempt = tokio::spawn(async move {
            let auth = format!("Bearer {token}");
            let resp = client().get(url).header("authorization", auth).send().await;
            resp.unwrap().status()
        });
        while !attempt.is_finished() {
            if s.keys.fetches.load(Ordering::SeqCst) >= 2 {
                break 'started attempt;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(attempt.await.unwrap(), 401);
        assert!(Instant::now() < deadline, "no refetch");
    };
    // While that fetch is in flight, known keys verify at once.
    // (Each token is new: a verified token is cached and would not ask.)
    for i in 0..5 {
        let fresh = s.es.sign(
            Some("k1"),
            json!({"sub": format!("u{i}"), "exp": now() + 300}),
        );
        let started = Instant::now();
        assert_eq!(get(&s.gh, "/j/jwks", Some(&fresh)).await.status(), 200);
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(500),
            "a valid token waited {took:?}"
        );
    }
    assert_eq!(refetch.await.unwrap(), 401);
}

#[tokio::test]
async fn an_unreachable_or_slow_jwks_endpoint_fails_closed_in_bounded_time() {
    let s = setup().await;
    let token =
        s.es.sign(Some("k1"), json!({"sub": "x", "exp": now() + 300}));
    let resp = get(&s.gh, "/j/jwks-down", Some(&token)).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(json(resp).await["code"], "AuthUnavailable");

    let started = Instant::now();
    let resp = get(&s.gh, "/j/jwks-slow", Some(&token)).await;
    assert_eq!(resp.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rate_limits_can_be_keyed_by_jwt_subject() {
    let s = setup().await;
    let token = |sub: &str| hs(json!({"sub": sub, "exp": now() + 300}));
    let (alice, bob) = (token("alice"), token("bob"));
    assert_eq!(
        get(&s.gh, "/j/per-subject", Some(&alice)).await.status(),
        200
    );
    assert_eq!(
        get(&s.gh, "/j/per-subject", Some(&alice)).await.status(),
        200
    );
    assert_eq!(
        get(&s.gh, "/j/per-subject", Some(&alice)).await.status(),
        429
    );
    assert_eq!(get(&s.gh, "/j/per-subject", Some(&bob)).await.status(), 200);
}

#[tokio::test]
async fn rsa_tokens_verify_and_hs_rs_confusion_is_refused() {
    let s = setup().await;
    let private = std::fs::read(common::fixture("jwt-keys/rsa-private.pem")).unwrap();
    let public = std::fs::read(common::fixture("jwt-keys/rsa-public.pem")).unwrap();
    let claims = json!({"sub": "x", "exp": now() + 300});
    let key = EncodingKey::from_rsa_pem(&private).unwrap();
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let token = encode(&Header::new(alg), &claims, &key).unwrap();
        assert_eq!(
            get(&s.gh, "/j/rs", Some(&token)).await.status(),
            200,
            "{alg:?}"
        );
    }
    // RS512 is not in the route's list.
    let rs512 = encode(&Header::new(Algorithm::RS512), &claims, &key).unwrap();
    expect_401(&s.gh, "/j/rs", Some(&rs512), "algorithm not accepted").await;
    // HS256 "signed" with the RSA public key as the HMAC secret.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    expect_401(&s.gh, "/j/rs", Some(&confused), "algorithm not accepted").await;
}
