//! `messaging.large_payloads`: where the gateway's queue and topic
//! integrations put bodies too large for a message, and the bucket name
//! their pointers carry.

use super::diagnostics::Reporter;
use super::model::LargePayloads;
use super::raw::LargePayloadsRaw;

pub const DEFAULT_THRESHOLD: u64 = 256 * 1024;
const DEFAULT_BUCKET: &str = "gatehouse-payloads";
/// SQS's limit: a pointer and its attributes must fit in a message.
const MAX_THRESHOLD: u64 = 1024 * 1024;

pub fn large_payloads(raw: Option<&LargePayloadsRaw>, r: &mut Reporter) -> Option<LargePayloads> {
    let empty = LargePayloadsRaw::default();
    let raw = raw.unwrap_or(&empty);
    if raw.enabled == Some(false) {
        return None;
    }
    let p = "messaging.large_payloads";
    let threshold = raw.threshold.map_or(DEFAULT_THRESHOLD, |b| b.0);
    if !(1..=MAX_THRESHOLD).contains(&threshold) {
        r.error(&format!("{p}.threshold"), "must be between 1B and 1MiB");
    }
    let url = raw.url.clone().unwrap_or_else(|| "file://".into());
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            r.error(&format!("{p}.url"), "name the bucket: s3://bucket/prefix");
        }
        if raw.bucket.is_some() {
            r.error(
                &format!("{p}.bucket"),
                "an s3:// URL names its bucket; `bucket` is for file:// stores",
            );
        }
        let s3 = match super::s3_options::check(bucket, raw.s3.clone().unwrap_or_default()) {
            Ok(options) => options,
            Err((key, message)) => {
                r.error(format!("{p}.s3.{key}").trim_end_matches('.'), message);
                Default::default()
            }
        };
        let prefix = prefix.trim_matches('/');
        return Some(LargePayloads {
            url: format!("s3://{bucket}"),
            bucket: bucket.to_string(),
            key_prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            threshold,
            s3,
        });
    }
    if !url.starts_with("file://") {
        r.error(
            &format!("{p}.url"),
            format!("unsupported URL {url}: use s3://bucket/prefix or file://"),
        );
    }
    if raw.s3.is_some() {
        r.error(&format!("{p}.s3"), "only for an s3:// URL");
    }
    Some(LargePayloads {
        url,
        bucket: raw.bucket.clone().unwrap_or_else(|| DEFAULT_BUCKET.into()),
        key_prefix: "payloads/".into(),
        threshold,
        s3: Default::default(),
    })
}
