//! AWS Signature Version 4 verification: the request is rebuilt in canonical
//! form, signed with the secret of the access key it names, and compared.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>

use super::error::{ApiError, ApiResult, ErrorKind};
use crate::hex::encode as hex;
use http::HeaderMap;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use ring::{digest, hmac};
use std::collections::HashMap;

/// Requests signed more than this far from now are refused.
const MAX_SKEW_SECS: i64 = 15 * 60;

/// Everything but A-Z a-z 0-9 - _ . ~ is percent-encoded.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const PATH: &AsciiSet = &STRICT.remove(b'/');

pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent, still percent-encoded.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Who signed a request, and for which service (`sqs` or `sns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub access_key: String,
    pub region: String,
    pub service: String,
}

struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn incomplete(why: &str) -> ApiError {
    ApiError::new(ErrorKind::IncompleteSignature, why.to_string())
}

fn parse_authorization(value: &str) -> ApiResult<Authorization<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        incomplete("Unsupported authorization type; only AWS4-HMAC-SHA256 is accepted.")
    })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(incomplete(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'.",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" {
        return Err(incomplete(
            "Credential must be ACCESS_KEY/DATE/REGION/SERVICE/aws4_request.",
        ));
    }
    Ok(Authorization {
        access_key: scope[0],
        date: scope[1],
        region: scope[2],
        service: scope[3],
        signed_headers,
        signature,
    })
}

/// Verifies the request's signature against `secrets` (access key -> secret).
pub fn verify(
    req: &Request<'_>,
    secrets: &HashMap<String, String>,
    now_secs: i64,
) -> ApiResult<Signer> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let Some(value) = header("authorization") else {
        return Err(ApiError::new(
            ErrorKind::MissingAuthenticationToken,
            "Request is missing Authentication Token",
        ));
    };
    let auth = parse_authorization(value)?;
    let Some(secret) = secrets.get(auth.access_key) else {
        return Err(ApiError::new(
            ErrorKind::InvalidClientTokenId,
            "The security token included in the request is invalid.",
        ));
    };
    let amz_date = header("x-amz-date")
        .ok_or_else(|| incomplete("Authorization requires the X-Amz-Date header."))?;
    let signed_at = crate::messaging::clock::parse_amz_date(amz_date)
        .ok_or_else(|| incomplete("X-Amz-Date must look like 20240101T000000Z."))?;
    if (now_secs - signed_at).abs() > MAX_SKEW_SECS {
        return Err(ApiError::new(
            ErrorKind::RequestExpired,
            format!("Request has expired: signed at {amz_date}, more than 15 minutes from the server's time."),
        ));
    }
    if !amz_date.starts_with(auth.date) {
        return Err(incomplete("The credential date does not match X-Amz-Date."));
    }
    let canonical = canonical_request(req, auth.signed_headers)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let key = signing_key(secret, auth.date, auth.region, auth.service);
    let expected = hex(hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
    if !crate::secret::equal(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(ApiError::new(
            ErrorKind::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(Signer {
        access_key: auth.access_key.to_string(),
        region: auth.region.to_string(),
        service: auth.service.to_string(),
    })
}

/// Verifies a request received as `parts` and its whole `body`, now.
pub fn verify_received(
    parts: &http::request::Parts,
    body: &[u8],
    secrets: &HashMap<String, String>,
) -> ApiResult<Signer> {
    let signed = Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
    };
    verify(&signed, secrets, super::clock::now_ms() / 1000)
}

/// The secret half of an access key, for signing outgoing requests (the
/// load generator and tests sign like any AWS SDK).
pub struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// Signs a request: sets `x-amz-date` and `authorization` in `headers`,
/// signing every header already present (which must include `host`).
pub fn sign(
    method: &str,
    path: &str,
    headers: &mut HeaderMap,
    body: &[u8],
    credentials: &Credentials<'_>,
    now_secs: i64,
) {
    let amz_date = super::clock::amz_date(now_secs);
    let date = &amz_date[..8];
    if let Ok(value) = http::HeaderValue::from_str(&amz_date) {
        headers.insert("x-amz-date", value);
    }
    let mut names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let signed_headers = names.join(";");
    let req = Request {
        method,
        path,
        query: None,
        headers,
        body,
    };
    // Every signed header was just read from `headers`, so it is present.
    let Ok(canonical) = canonical_request(&req, &signed_headers) else {
        return;
    };
    let scope = format!(
        "{date}/{}/{}/aws4_request",
        credentials.region, credentials.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let key = signing_key(
        credentials.secret,
        date,
        credentials.region,
        credentials.service,
    );
    let signature = hex(hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key
    );
    if let Ok(value) = http::HeaderValue::from_str(&authorization) {
        headers.insert("authorization", value);
    }
}

fn canonical_request(req: &Request<'_>, signed_headers: &str) -> ApiResult<String> {
    let path = if req.path.is_empty() { "/" } else { req.path };
    let mut out = String::with_capacity(256);
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&utf8_percent_encode(path, PATH).to_string());
    out.push('\n');
    out.push_str(&canonical_query(req.query.unwrap_or("")));
    out.push('\n');
    for name in signed_headers.split(';') {
        let values: Vec<String> = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        if values.is_empty() {
            return Err(incomplete(&format!(
                "Signed header {name} is missing from the request."
            )));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    let payload_hash = match req
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(h) => h.to_string(),
        None => hex(digest::digest(&digest::SHA256, req.body).as_ref()),
    };
    out.push_str(&payload_hash);
    Ok(out)
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let enc = |s: &str| {
                let decoded = percent_decode_str(s).decode_utf8_lossy();
                utf8_percent_encode(&decoded, STRICT).to_string()
            };
            (enc(k), enc(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k_date = step(format!("AWS4{secret}").as_bytes(), date);
    let k_region = step(k_date.as_ref(), region);
    let k_service = step(k_region.as_ref(), service);
    let k_signing = step(k_service.as_ref(), "aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from AWS's SigV4 test suite ("get-vanilla"), with the
    /// documented secret and expected signature.
    #[test]
    fn aws_test_suite_get_vanilla() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
                .parse()
                .unwrap(),
        );
        let req = Request {
            method: "GET",
            path: "/",
            query: None,
            headers: &headers,
            body: b"",
        };
        let secrets: HashMap<String, String> = [(
            "AKIDEXAMPLE".to_string(),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string(),
        )]
        .into();
        let now = crate::messaging::clock::parse_amz_date("20150830T123600Z").unwrap();
        let signer = verify(&req, &secrets, now).unwrap();
        assert_eq!(signer.service, "service");
        assert_eq!(
            verify(&req, &secrets, now + 16 * 60).unwrap_err().kind,
            ErrorKind::RequestExpired
        );
        let wrong: HashMap<String, String> =
            [("AKIDEXAMPLE".to_string(), "other".to_string())].into();
        assert_eq!(
            verify(&req, &wrong, now).unwrap_err().kind,
            ErrorKind::SignatureDoesNotMatch
        );
        let unknown: HashMap<String, String> = HashMap::new();
        assert_eq!(
            verify(&req, &unknown, now).unwrap_err().kind,
            ErrorKind::InvalidClientTokenId
        );
    }

    /// What `sign` writes, `verify` accepts; a changed body does not pass.
    #[test]
    fn sign_then_verify() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:9324".parse().unwrap());
        headers.insert("x-amz-target", "AmazonSQS.ListQueues".parse().unwrap());
        let credentials = Credentials {
            access_key: "AKIDEXAMPLE",
            secret: "secret",
            region: "us-east-1",
            service: "sqs",
        };
        let now = 1_700_000_000;
        sign("POST", "/", &mut headers, b"{}", &credentials, now);
        let secrets: HashMap<String, String> =
            [("AKIDEXAMPLE".to_string(), "secret".to_string())].into();
        let signed = |body: &'static [u8]| Request {
            method: "POST",
            path: "/",
            query: None,
            headers: &headers,
            body,
        };
        let signer = verify(&signed(b"{}"), &secrets, now).unwrap();
        assert_eq!(signer.service, "sqs");
        assert_eq!(
            verify(&signed(b"{ }"), &secrets, now).unwrap_err().kind,
            ErrorKind::SignatureDoesNotMatch
        );
    }

    #[test]
    fn dates() {
        assert_eq!(
            crate::messaging::clock::parse_amz_date("19700101T000000Z"),
            Some(0)
        );
        assert_eq!(
            crate::messaging::clock::parse_amz_date("20000301T000000Z"),
            Some(951_868_800)
        );
        assert_eq!(crate::messaging::clock::parse_amz_date("2000-03-01"), None);
    }

    #[test]
    fn query_is_sorted_and_reencoded() {
        assert_eq!(canonical_query("b=2&a=1&c=x%20y"), "a=1&b=2&c=x%20y");
        assert_eq!(canonical_query(""), "");
    }
}
