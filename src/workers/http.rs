//! The `http` target: the batch's event POSTed to a target of the worker's
//! upstream pool, as a Lambda handler behind a small HTTP shim would get it.
//! A 2xx answer's body is read (up to 1 MiB) for batch item failures.

use crate::gateway::upstream::Pool;
use std::time::Duration;

const MAX_ANSWER: usize = 1024 * 1024;

/// The 2xx answer's body, or why the batch failed.
pub async fn post(
    pool: &Pool,
    path: &str,
    timeout: Duration,
    event: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let index = pool.pick(None, &[]).ok_or("no healthy target")?;
    let client = pool.client()?;
    let sent = client
        .post(pool.target_url(index, path))
        .timeout(timeout)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(event)
        .send()
        .await;
    let mut response = match sent {
        Ok(r) => r,
        Err(e) => {
            pool.report_failure(index);
            return Err(if e.is_timeout() {
                format!("no answer within {timeout:?}")
            } else {
                format!("the request failed: {e}")
            });
        }
    };
    let status = response.status();
    if status.is_server_error() {
        pool.report_failure(index);
    } else {
        pool.report_success(index);
    }
    if !status.is_success() {
        return Err(format!("the endpoint answered {}", status.as_u16()));
    }
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(timeout, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                if body.len() + chunk.len() > MAX_ANSWER {
                    return Err(format!("the answer is larger than {MAX_ANSWER} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Ok(None)) => return Ok(body),
            Ok(Err(e)) => return Err(format!("reading the answer: {e}")),
            Err(_) => return Err(format!("the answer did not finish within {timeout:?}")),
        }
    }
}
