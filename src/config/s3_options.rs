//! A destination's `s3:` options, checked when the config loads with
//! object_store's own option names (`AmazonS3ConfigKey`), so an unknown or
//! misspelt option is an error rather than silently dropped, and the store
//! is built once up front: what would fail at the first upload fails in
//! `gatehouse validate`.

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use std::collections::BTreeMap;
use std::str::FromStr;

/// The options as text (booleans and numbers included), or the first
/// problem as (option, message); the option is empty when the problem is
/// the whole set.
pub fn check(
    bucket: &str,
    raw: BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>, (String, String)> {
    let mut options = BTreeMap::new();
    let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
    for (key, value) in raw {
        let text = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return Err((key, "expected text, a number or true/false".into())),
        };
        let Ok(parsed) = AmazonS3ConfigKey::from_str(&key) else {
            return Err((
                key.clone(),
                format!("unknown S3 option `{key}`: endpoint, region, access_key_id, secret_access_key, session_token, allow_http, virtual_hosted_style_request, skip_signature, or another of object_store's AmazonS3ConfigKey names"),
            ));
        };
        builder = builder.with_config(parsed, &text);
        options.insert(key, text);
    }
    let value = |names: &[&str]| names.iter().find_map(|n| options.get(*n));
    let allow_http = value(&["allow_http", "aws_allow_http"]).map(|v| v.to_ascii_lowercase());
    if let Some(endpoint) = value(&[
        "endpoint",
        "endpoint_url",
        "aws_endpoint",
        "aws_endpoint_url",
    ]) {
        match url::Url::parse(endpoint) {
            Ok(u) if u.scheme() == "http" && allow_http.as_deref() != Some("true") => {
                return Err((
                    "endpoint".into(),
                    format!("`{endpoint}` is plain http: set `allow_http: true` to send to it unencrypted, or use https"),
                ));
            }
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err((
                    "endpoint".into(),
                    format!("`{endpoint}` is not an http(s) URL"),
                ))
            }
        }
    }
    let key_id = value(&["access_key_id", "aws_access_key_id"]);
    let secret = value(&["secret_access_key", "aws_secret_access_key"]);
    if key_id.is_some() != secret.is_some() {
        return Err((
            String::new(),
            "`access_key_id` and `secret_access_key` go together".into(),
        ));
    }
    crate::tls::install_crypto();
    builder.build().map_err(|e| {
        (
            String::new(),
            format!("cannot configure s3://{bucket}: {e}"),
        )
    })?;
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(v: serde_json::Value) -> BTreeMap<String, serde_json::Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn options_are_object_stores_own() {
        let ok = check(
            "lake",
            options(json!({"endpoint": "http://127.0.0.1:9000", "allow_http": true, "region": "us-east-1",
                "access_key_id": "a", "secret_access_key": "b", "virtual_hosted_style_request": false})),
        )
        .unwrap();
        assert_eq!(ok["allow_http"], "true");
        let (key, why) = check("lake", options(json!({"endpiont": "https://x"}))).unwrap_err();
        assert_eq!(key, "endpiont");
        assert!(why.contains("unknown S3 option `endpiont`"), "{why}");
        let (key, why) = check(
            "lake",
            options(json!({"endpoint": "http://127.0.0.1:9000"})),
        )
        .unwrap_err();
        assert_eq!(key, "endpoint");
        assert!(why.contains("allow_http: true"), "{why}");
        let (_, why) = check("lake", options(json!({"access_key_id": "a"}))).unwrap_err();
        assert!(why.contains("go together"), "{why}");
        let (_, why) = check("lake", options(json!({"endpoint": "minio:9000"}))).unwrap_err();
        assert!(why.contains("not an http(s) URL"), "{why}");
    }
}
