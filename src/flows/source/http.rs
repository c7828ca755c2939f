//! The generic REST connector: builds each page's request (query, headers,
//! body, credentials, the incremental watermark, the pagination position),
//! sends it under the rate limit with retries, and finds the records.

use super::auth::Authenticator;
use super::pagination::{Paginator, Position, Seen};
use crate::config::flow_spec::{HttpSource, Inject, WATERMARK_PLACEHOLDER};
use crate::flows::error::{causes, FlowError};
use crate::flows::record;
use crate::flows::watermark::Mark;
use crate::outbound::guard;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::Value;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// A response larger than this fails the run rather than the process.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// The longest Retry-After honoured; a longer one fails the request.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// A pagination parameter named `body:PATH` goes into the JSON body.
const BODY_PARAM: &str = "body:";

pub struct HttpReader {
    spec: Arc<HttpSource>,
    client: reqwest::Client,
    auth: Authenticator,
    limiter: Option<DefaultDirectRateLimiter>,
    paginator: Paginator,
    base: reqwest::Url,
    /// Where the current query starts, and the watermark to send for it,
    /// already formatted.
    from: Option<Mark>,
    since: Option<String>,
    /// `max_results`: records the current query has served, and the
    /// highest watermark among them (where the next query starts).
    served: u64,
    highest: Option<Mark>,
    /// The total the source reports (`total`), for progress.
    pub total: Option<u64>,
    allow_private: bool,
    pages: u64,
    done: bool,
}

struct Fetched {
    url: reqwest::Url,
    link: Option<String>,
    bytes: bytes::Bytes,
}

impl HttpReader {
    /// `start`: where an incremental flow reads from (None: everything).
    pub fn new(
        spec: Arc<HttpSource>,
        allow_private: bool,
        start: Option<Mark>,
    ) -> Result<HttpReader, FlowError> {
        let base = reqwest::Url::parse(&spec.url)
            .map_err(|_| FlowError::Source(format!("{} is not a URL", spec.url)))?;
        guard::check_url(&base, allow_private).map_err(FlowError::Source)?;
        crate::tls::install_crypto();
        // Literal addresses never reach the resolver: each redirect hop is checked too.
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("more than 5 redirects")
            } else if let Err(why) = guard::check_url(attempt.url(), allow_private) {
                attempt.error(why)
            } else {
                attempt.follow()
            }
        });
        let mut builder = crate::outbound::client(spec.timeout)
            .redirect(redirects)
            .user_agent(concat!("gatehouse-flows/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(guard::PublicOnly));
        }
        let client = builder
            .build()
            .map_err(|e| FlowError::Source(format!("cannot build the HTTP client: {e}")))?;
        let limiter = spec.rate_limit.and_then(|(count, per)| {
            let count = NonZeroU32::new(count)?;
            let quota = Quota::with_period(per / count.get())?.allow_burst(NonZeroU32::MIN);
            Some(RateLimiter::direct(quota))
        });
        let mut reader = HttpReader {
            auth: Authenticator::new(spec.auth.clone(), allow_private),
            paginator: Paginator::new(spec.pagination.clone()),
            spec,
            client,
            limiter,
            base,
            from: None,
            since: None,
            served: 0,
            highest: None,
            total: None,
            allow_private,
            pages: 0,
            done: false,
        };
        reader.start_query(start);
        Ok(reader)
    }

    /// A query from `from`. A template has a place for the watermark
    /// whether or not there is one: reading everything, it gets the floor.
    fn start_query(&mut self, from: Option<Mark>) {
        self.since = self.spec.incremental.as_ref().and_then(|inc| {
            let mark = match (&from, &inc.inject) {
                (Some(mark), _) => mark.clone(),
                (None, Inject::Template) => Mark::floor(inc.kind),
                (None, _) => return None,
            };
            Some(mark.formatted(&inc.format))
        });
        self.from = from;
        self.served = 0;
        self.highest = None;
        self.paginator = Paginator::new(self.spec.pagination.clone());
    }

    /// `max_results`: the query has served all it will; the next starts
    /// from the highest watermark it served. True when one was started.
    fn requery(&mut self, records: &[Value]) -> Result<bool, FlowError> {
        let (Some(max), Some(inc)) = (self.spec.max_results, self.spec.incremental.as_ref()) else {
            return Ok(false);
        };
        self.served += records.len() as u64;
        for r in records {
            if let Some(mark) = Mark::of(inc, r) {
                if self.highest.as_ref().is_none_or(|h| &mark > h) {
                    self.highest = Some(mark);
                }
            }
        }
        if self.served < max {
            return Ok(false);
        }
        match self.highest.take() {
            Some(high) if self.from.as_ref().is_none_or(|f| &high > f) => {
                tracing::debug!(from = %high.stored(), "the query served its maximum; querying again from the highest watermark");
                self.start_query(Some(high));
                Ok(true)
            }
            high => Err(FlowError::Pagination(format!(
                "the source serves {max} results per query and more than that many records have the watermark {}: the query cannot go past them",
                high.or(self.from.clone()).map(|m| m.stored()).unwrap_or_default()
            ))),
        }
    }

    /// The next page's records; None when the source is exhausted.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Value>>, FlowError> {
        if self.done {
            return Ok(None);
        }
        if self.pages >= self.spec.max_pages {
            return Err(FlowError::Pagination(format!(
                "more than {} pages (max_pages); stopping",
                self.spec.max_pages
            )));
        }
        let fetched = self.fetch().await?;
        self.pages += 1;
        let mut body: Value = serde_json::from_slice(&fetched.bytes).map_err(|_| {
            FlowError::Source(format!(
                "{} did not answer JSON",
                guard::redact(&fetched.url)
            ))
        })?;
        // Moved out, not copied: the paginator reads the rest of the body.
        let path = self.spec.records.as_deref().unwrap_or(".");
        let records: Vec<Value> = match record::take(&mut body, path) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(FlowError::Source(format!(
                    "the response's `{}` is not an array",
                    self.spec.records.as_deref().unwrap_or(".")
                )))
            }
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, &fetched.bytes);
        let mut sha = [0u8; 32];
        sha.copy_from_slice(digest.as_ref());
        if let Some(total) = self.spec.total.as_deref() {
            if let Some(n) = record::get(&body, total).and_then(Value::as_u64) {
                self.total = Some(n);
            }
        }
        let more = self.paginator.advance(&Seen {
            url: &fetched.url,
            body: &body,
            records: &records,
            link_header: fetched.link.as_deref(),
            digest: sha,
        })?;
        self.done = !more;
        if more && self.requery(&records)? {
            self.done = false;
        }
        Ok(Some(records))
    }

    fn url(&self) -> reqwest::Url {
        if let Position::Url(url) = self.paginator.position() {
            return url.clone();
        }
        let mut url = self.base.clone();
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in &self.spec.query {
                query.append_pair(k, &self.filled(v));
            }
            for (k, v) in self.paginator.params() {
                if !k.starts_with(BODY_PARAM) {
                    query.append_pair(&k, &v);
                }
            }
            if let (Some(inc), Some(since)) = (&self.spec.incremental, &self.since) {
                if let Inject::Query(name) = &inc.inject {
                    query.append_pair(name, since);
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    /// `text` with the watermark in place of `{watermark}` (`inject:
    /// template`).
    fn filled(&self, text: &str) -> String {
        match (&self.since, &self.spec.incremental) {
            (Some(since), Some(inc)) if inc.inject == Inject::Template => {
                text.replace(WATERMARK_PLACEHOLDER, since)
            }
            _ => text.to_string(),
        }
    }

    fn fill_json(&self, value: &mut Value) {
        match value {
            Value::String(s) if s.contains(WATERMARK_PLACEHOLDER) => *s = self.filled(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.fill_json(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.fill_json(v)),
            _ => {}
        }
    }

    fn body(&self) -> Option<Value> {
        let mut body = self.spec.body.clone();
        if let Some(body) = body.as_mut() {
            self.fill_json(body);
        }
        // Search APIs (HubSpot's) take the page position in the body.
        for (k, v) in self.paginator.params() {
            if let Some(path) = k.strip_prefix(BODY_PARAM) {
                let target = body.get_or_insert_with(|| Value::Object(Default::default()));
                record::set(target, path, Value::String(v));
            }
        }
        if let (Some(inc), Some(since)) = (&self.spec.incremental, &self.since) {
            if let Inject::Body(path) = &inc.inject {
                let target = body.get_or_insert_with(|| Value::Object(Default::default()));
                record::set(target, path, Value::String(since.clone()));
            }
        }
        body
    }

    async fn fetch(&self) -> Result<Fetched, FlowError> {
        let url = self.url();
        guard::check_url(&url, self.allow_private).map_err(FlowError::Source)?;
        let shown = format!("{} {}", self.spec.method, guard::redact(&url));
        let body = self.body();
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            if let Some(limiter) = &self.limiter {
                limiter.until_ready().await;
            }
            let mut request = self.client.request(self.spec.method.clone(), url.clone());
            for (name, value) in &self.spec.headers {
                request = request.header(name.as_str(), self.filled(value));
            }
            if let (Some(inc), Some(since)) = (&self.spec.incremental, &self.since) {
                if let Inject::Header(name) = &inc.inject {
                    request = request.header(name.as_str(), since.as_str());
                }
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let request = self.auth.apply(&self.client, request).await?;
            let retry_in = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    if status == reqwest::StatusCode::UNAUTHORIZED
                        && self.auth.is_oauth2()
                        && !refreshed
                    {
                        // An expired or revoked token: fetch a new one, once.
                        self.auth.invalidate().await;
                        refreshed = true;
                        continue;
                    }
                    if status.is_success() {
                        let final_url = response.url().clone();
                        let link = response
                            .headers()
                            .get(http::header::LINK)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let bytes = read_limited(response, &shown).await?;
                        return Ok(Fetched {
                            url: final_url,
                            link,
                            bytes,
                        });
                    }
                    if status != reqwest::StatusCode::TOO_MANY_REQUESTS && !status.is_server_error()
                    {
                        let text = response.text().await.unwrap_or_default();
                        return Err(FlowError::Source(format!(
                            "{shown} answered {status}: {}",
                            snippet(&text)
                        )));
                    }
                    if attempt >= self.spec.max_retries {
                        return Err(FlowError::Source(format!(
                            "{shown} answered {status} after {attempt} retries"
                        )));
                    }
                    match retry_after(response.headers()) {
                        Some(d) if d > MAX_RETRY_AFTER => {
                            return Err(FlowError::Source(format!(
                                "{shown} answered {status} with Retry-After {}s, longer than the {}s allowed",
                                d.as_secs(),
                                MAX_RETRY_AFTER.as_secs()
                            )))
                        }
                        Some(d) => d,
                        None => self.backoff(attempt),
                    }
                }
                Err(e) if (e.is_timeout() || e.is_connect()) && attempt < self.spec.max_retries => {
                    let delay = self.backoff(attempt);
                    tracing::debug!(request = %shown, attempt = attempt + 1, cause = %causes(e), "request failed; retrying");
                    delay
                }
                Err(e) => {
                    let retried = if attempt > 0 {
                        format!(" (after {attempt} retries)")
                    } else {
                        String::new()
                    };
                    return Err(FlowError::Source(format!(
                        "{shown}: {}{retried}",
                        causes(e)
                    )));
                }
            };
            attempt += 1;
            tracing::debug!(request = %shown, attempt, delay_ms = retry_in.as_millis() as u64, "retrying");
            tokio::time::sleep(retry_in).await;
        }
    }

    /// Exponential backoff with jitter: half the step plus a random half.
    fn backoff(&self, attempt: u32) -> Duration {
        let step = self
            .spec
            .retry_base_delay
            .saturating_mul(1 << attempt.min(16))
            .min(self.spec.retry_max_delay);
        step / 2 + step.mul_f64(fastrand::f64() / 2.0)
    }
}

async fn read_limited(
    mut response: reqwest::Response,
    shown: &str,
) -> Result<bytes::Bytes, FlowError> {
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FlowError::Source(format!("{shown}: {}", causes(e))))?
    {
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(FlowError::Source(format!(
                "{shown}: the response is larger than {} MiB",
                MAX_RESPONSE_BYTES >> 20
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(wait.max(0) as u64))
}

fn snippet(text: &str) -> String {
    let t: String = text.chars().take(200).collect();
    if t.len() < text.len() {
        format!("{t}...")
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = http::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
