//! Webhook signatures: the sender's HMAC-SHA256 of the body, checked before
//! a `flow` integration starts a run. GitHub and Stripe have their own
//! header formats; `hmac` covers the rest (Shopify, Slack-style prefixes).
//! Comparisons are constant-time (`ring::hmac::verify`).

use base64::Engine as _;
use http::HeaderMap;
use std::time::Duration;

#[derive(Clone)]
pub struct Signature {
    pub kind: SignatureKind,
    secret: ring::hmac::Key,
}

#[derive(Debug, Clone)]
pub enum SignatureKind {
    /// `X-Hub-Signature-256: sha256=<hex>`.
    Github,
    /// `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]` over `<t>.<body>`;
    /// timestamps older than the tolerance are refused (replays).
    Stripe { tolerance: Duration },
    Hmac {
        header: http::HeaderName,
        prefix: String,
        base64: bool,
    },
}

/// Never shows the secret.
impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signature")
            .field("kind", &self.kind)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Signature {
    pub fn new(kind: SignatureKind, secret: &str) -> Signature {
        Signature {
            kind,
            secret: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
        }
    }

    /// Ok, or why the request is refused (said to the client: it names
    /// the header, never the expected value).
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now_unix: i64) -> Result<(), String> {
        match &self.kind {
            SignatureKind::Github => {
                let value = header(headers, "x-hub-signature-256")?;
                let digest = value
                    .strip_prefix("sha256=")
                    .and_then(crate::hex::decode)
                    .ok_or("X-Hub-Signature-256 is not sha256=<hex>")?;
                self.check(body, &digest, "X-Hub-Signature-256")
            }
            SignatureKind::Stripe { tolerance } => {
                let value = header(headers, "stripe-signature")?;
                let mut timestamp = None;
                let mut candidates = Vec::new();
                for part in value.split(',') {
                    match part.trim().split_once('=') {
                        Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
                        Some(("v1", v)) => candidates.extend(crate::hex::decode(v)),
                        _ => {}
                    }
                }
                let t = timestamp.ok_or("Stripe-Signature has no t=<timestamp>")?;
                // abs_diff: a hostile `t=-9223372036854775808` must not overflow.
                if now_unix.abs_diff(t) > tolerance.as_secs() {
                    return Err("Stripe-Signature timestamp is outside the tolerance".into());
                }
                let mut signed = Vec::with_capacity(body.len() + 12);
                signed.extend_from_slice(t.to_string().as_bytes());
                signed.push(b'.');
                signed.extend_from_slice(body);
                if candidates
                    .iter()
                    .any(|c| ring::hmac::verify(&self.secret, &signed, c).is_ok())
                {
                    Ok(())
                } else {
                    Err("Stripe-Signature does not match the body".into())
                }
            }
            SignatureKind::Hmac {
                header: name,
                prefix,
                base64,
            } => {
                let value = header(headers, name.as_str())?;
                let encoded = value
                    .strip_prefix(prefix.as_str())
                    .ok_or_else(|| format!("{name} does not start with `{prefix}`"))?;
                let digest = if *base64 {
                    base64::engine::general_purpose::STANDARD
                        .decode(encoded.trim())
                        .ok()
                } else {
                    crate::hex::decode(encoded.trim())
                }
                .ok_or_else(|| format!("{name} is not a valid digest"))?;
                self.check(body, &digest, name.as_str())
            }
        }
    }

    fn check(&self, body: &[u8], digest: &[u8], header: &str) -> Result<(), String> {
        ring::hmac::verify(&self.secret, body, digest)
            .map_err(|_| format!("{header} does not match the body"))
    }

    /// The header value a sender would compute (tests, `gatehouse` docs).
    pub fn sign_hex(secret: &str, message: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        crate::hex::encode(ring::hmac::sign(&key, message).as_ref())
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, String> {
    headers
        .get(name)
        .ok_or_else(|| format!("missing signature header {name}"))?
        .to_str()
        .map_err(|_| format!("{name} is not text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h
    }

    #[test]
    fn github_signatures() {
        let sig = Signature::new(SignatureKind::Github, "It's a Secret to Everybody");
        // GitHub's documented example.
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(sig
            .verify(&headers("x-hub-signature-256", good), b"Hello, World!", 0)
            .is_ok());
        let err = sig
            .verify(&headers("x-hub-signature-256", good), b"Hello, World?", 0)
            .unwrap_err();
        assert_eq!(err, "X-Hub-Signature-256 does not match the body");
        assert_eq!(
            sig.verify(&HeaderMap::new(), b"x", 0).unwrap_err(),
            "missing signature header x-hub-signature-256"
        );
        assert!(sig
            .verify(&headers("x-hub-signature-256", "sha256=zz"), b"x", 0)
            .is_err());
    }

    #[test]
    fn stripe_signatures_and_replays() {
        let tolerance = Duration::from_secs(300);
        let sig = Signature::new(SignatureKind::Stripe { tolerance }, "whsec_test");
        let body = br#"{"id":"evt_1"}"#;
        let t = 1_700_000_000i64;
        let v1 = Signature::sign_hex(
            "whsec_test",
            format!("{t}.{}", "{\"id\":\"evt_1\"}").as_bytes(),
        );
        let value = format!("t={t},v1=deadbeef,v1={v1}");
        assert!(sig
            .verify(&headers("stripe-signature", &value), body, t + 10)
            .is_ok());
        assert!(sig
            .verify(&headers("stripe-signature", &value), body, t + 301)
            .unwrap_err()
            .contains("tolerance"));
        assert!(sig
            .verify(&headers("stripe-signature", &value), b"{}", t)
            .is_err());
        assert!(sig
            .verify(&headers("stripe-signature", &format!("v1={v1}")), body, t)
            .is_err());
        let extreme = format!("t={},v1={v1}", i64::MIN);
        assert!(sig
            .verify(&headers("stripe-signature", &extreme), body, t)
            .is_err());
    }

    #[test]
    fn generic_hmac_with_prefix_and_base64() {
        let hex = Signature::new(
            SignatureKind::Hmac {
                header: http::HeaderName::from_static("x-signature"),
                prefix: "v0=".into(),
                base64: false,
            },
            "k",
        );
        let good = format!("v0={}", Signature::sign_hex("k", b"body"));
        assert!(hex
            .verify(&headers("x-signature", &good), b"body", 0)
            .is_ok());
        assert!(hex
            .verify(&headers("x-signature", &good[3..]), b"body", 0)
            .is_err());

        let b64 = Signature::new(
            SignatureKind::Hmac {
                header: http::HeaderName::from_static("x-shopify-hmac-sha256"),
                prefix: String::new(),
                base64: true,
            },
            "k",
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"k");
        let value =
            base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, b"body"));
        assert!(b64
            .verify(&headers("x-shopify-hmac-sha256", &value), b"body", 0)
            .is_ok());
        assert!(b64
            .verify(&headers("x-shopify-hmac-sha256", &value), b"bodY", 0)
            .is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let sig = Signature::new(SignatureKind::Github, "hunter2");
        assert!(!format!("{sig:?}").contains("hunter2"));
    }
}
