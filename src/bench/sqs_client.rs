//! The smallest SQS client the load generator needs: the AWS JSON 1.0
//! protocol over keep-alive HTTP/1.1, signed with SigV4 when keys are given.
//! The AWS SDK would do, but its per-call overhead would be measured too, on
//! the same two cores as the server under test.

use crate::messaging::clock::now_ms;
use crate::messaging::sigv4::{self, Credentials};
use anyhow::{anyhow, Context};
use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use std::time::Duration;

#[derive(Clone)]
pub struct Keys {
    pub access_key: String,
    pub secret: String,
}

pub struct SqsClient {
    http: reqwest::Client,
    endpoint: String,
    host: HeaderValue,
    region: String,
    keys: Option<Keys>,
}

impl SqsClient {
    pub fn new(endpoint: &str, region: &str, keys: Option<Keys>) -> anyhow::Result<SqsClient> {
        let url = reqwest::Url::parse(endpoint).context("--endpoint is not a URL")?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(anyhow!("--endpoint has no host")),
        };
        crate::tls::install_crypto();
        let http = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1024)
            // Long polls last up to 20 s; anything slower is a hang.
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(SqsClient {
            http,
            endpoint: url.as_str().to_string(),
            host: HeaderValue::from_str(&host)?,
            region: region.to_string(),
            keys,
        })
    }

    /// Calls `action` (e.g. `SendMessageBatch`) with a JSON body; an AWS
    /// error comes back as `Err` with its `__type` and message.
    pub async fn call(&self, action: &str, body: &Value) -> anyhow::Result<Value> {
        let body = serde_json::to_vec(body)?;
        let mut headers = HeaderMap::new();
        headers.insert("host", self.host.clone());
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        headers.insert(
            "x-amz-target",
            HeaderValue::from_str(&format!("AmazonSQS.{action}"))?,
        );
        if let Some(keys) = &self.keys {
            let credentials = Credentials {
                access_key: &keys.access_key,
                secret: &keys.secret,
                region: &self.region,
                service: "sqs",
            };
            sigv4::sign(
                "POST",
                "/",
                &mut headers,
                &body,
                &credentials,
                now_ms() / 1000,
            );
        }
        let response = self
            .http
            .post(&self.endpoint)
            .headers(headers)
            .body(body)
            .send()
            .await
            .with_context(|| format!("{action}: request failed"))?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let value: Value = if bytes.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{action}: response is not JSON ({status})"))?
        };
        if !status.is_success() {
            let kind = value["__type"].as_str().unwrap_or("unknown error");
            let message = value["message"]
                .as_str()
                .or(value["Message"].as_str())
                .unwrap_or("");
            return Err(anyhow!("{action}: {status} {kind}: {message}"));
        }
        Ok(value)
    }
}
