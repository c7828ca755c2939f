//! http(s) and `flow` subscriptions: each delivery is a stored record,
//! posted (or handed to the flows engine) by a background worker and retried per the subscription's delivery policy;
//! one that finally fails goes to the subscription's dead-letter queue.
//! Records are durable, so a restart resumes pending deliveries.

use crate::messaging::broker::Broker;
use crate::messaging::clock::now_ms;
use crate::messaging::error::ApiResult;
use crate::messaging::journal::{DeliveryRecord, Op};
use crate::messaging::pubsub::{Outbox, Topics};
use crate::messaging::queue::NewMessage;
use crate::messaging::queues::Queues;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// Deliveries in flight at once.
const CONCURRENCY: usize = 64;
const TIMEOUT: Duration = Duration::from_secs(15);
/// Deliveries a worker claims at once, and how long its claim holds (past
/// the longest attempt) before another worker may take them.
const CLAIM_BATCH: usize = 256;
const CLAIM_LEASE_MS: i64 = 60_000;

/// SNS's healthyRetryPolicy, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub num_retries: u32,
    pub num_no_delay_retries: u32,
    pub min_delay: u32,
    pub max_delay: u32,
    pub exponential: bool,
}

impl Default for RetryPolicy {
    /// AWS's default for http(s): 3 retries, 20 s apart.
    fn default() -> Self {
        RetryPolicy {
            num_retries: 3,
            num_no_delay_retries: 0,
            min_delay: 20,
            max_delay: 20,
            exponential: false,
        }
    }
}

impl RetryPolicy {
    /// A subscription's `{"healthyRetryPolicy": {...}}` or a topic's
    /// `{"http": {"defaultHealthyRetryPolicy": {...}}}`.
    pub fn parse(text: &str) -> Result<RetryPolicy, String> {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|_| "not valid JSON".to_string())?;
        let policy = json
            .get("healthyRetryPolicy")
            .or_else(|| json.pointer("/http/defaultHealthyRetryPolicy"))
            .ok_or("needs healthyRetryPolicy")?;
        let d = RetryPolicy::default();
        let num = |k: &str, default: u32| -> Result<u32, String> {
            match policy.get(k) {
                None => Ok(default),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("{k} must be a whole number")),
            }
        };
        let p = RetryPolicy {
            num_retries: num("numRetries", d.num_retries)?,
            num_no_delay_retries: num("numNoDelayRetries", d.num_no_delay_retries)?,
            min_delay: num("minDelayTarget", d.min_delay)?,
            max_delay: num("maxDelayTarget", d.max_delay)?,
            exponential: matches!(
                policy.get("backoffFunction").and_then(|v| v.as_str()),
                Some("exponential" | "geometric")
            ),
        };
        if p.num_retries > 100
            || p.max_delay > 3600
            || p.min_delay > p.max_delay
            || p.min_delay == 0
        {
            return Err(
                "numRetries at most 100; 1 <= minDelayTarget <= maxDelayTarget <= 3600".into(),
            );
        }
        Ok(p)
    }

    pub fn to_json(&self) -> String {
        serde_json::json!({"http": {"defaultHealthyRetryPolicy": {
            "numRetries": self.num_retries,
            "numNoDelayRetries": self.num_no_delay_retries,
            "minDelayTarget": self.min_delay,
            "maxDelayTarget": self.max_delay,
            "backoffFunction": if self.exponential { "exponential" } else { "linear" },
        }}})
        .to_string()
    }

    /// The wait before retry number `retry` (1-based), or None when spent.
    pub fn delay(&self, retry: u32) -> Option<Duration> {
        if retry > self.num_retries {
            return None;
        }
        if retry <= self.num_no_delay_retries {
            return Some(Duration::ZERO);
        }
        let i = retry - self.num_no_delay_retries - 1;
        let span = self
            .num_retries
            .saturating_sub(self.num_no_delay_retries)
            .max(1);
        let secs = if self.exponential {
            (self.min_delay as u64)
                .saturating_mul(1u64 << i.min(20))
                .min(self.max_delay as u64)
        } else if span <= 1 {
            self.min_delay as u64
        } else {
            self.min_delay as u64
                + (self.max_delay - self.min_delay) as u64 * i as u64 / (span - 1) as u64
        };
        Some(Duration::from_secs(secs))
    }
}

/// Refuses endpoints that are not http(s) URLs of the protocol's scheme,
/// and (unless allowed) loopback, private and link-local addresses.
pub fn check_endpoint(endpoint: &str, protocol: &str, allow_private: bool) -> Result<(), String> {
    let url = reqwest::Url::parse(endpoint).map_err(|_| format!("{endpoint} is not a URL"))?;
    if url.scheme() != protocol {
        return Err(format!("the endpoint must be an {protocol}:// URL"));
    }
    let Some(host) = url.host_str() else {
        return Err("the endpoint has no host".into());
    };
    if allow_private {
        return Ok(());
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(is_private) {
        return Err(format!(
            "{host} is a loopback, private or link-local address; set messaging.allow_private_endpoints to allow it"
        ));
    }
    Ok(())
}

/// One definition of "internal" for every outbound request (shared with flows).
fn is_private(ip: IpAddr) -> bool {
    crate::outbound::guard::is_internal(ip)
}

/// Pending deliveries by (due, id).
#[derive(Default)]
pub struct Deliveries {
    pending: Mutex<BTreeMap<(i64, u64), DeliveryRecord>>,
    notify: Notify,
}

impl Deliveries {
    /// Schedules a record; returns the op that stores it.
    pub fn add(&self, record: DeliveryRecord) -> Op {
        self.pending
            .lock()
            .insert((record.due_at, record.id), record.clone());
        Op::PutDelivery(record)
    }

    pub fn restore(&self, records: Vec<DeliveryRecord>) {
        let mut pending = self.pending.lock();
        for r in records {
            pending.insert((r.due_at, r.id), r);
        }
    }

    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Takes up to `max` records due by `now`; when the next one is due.
    pub fn take_due(&self, now: i64, max: usize) -> (Vec<DeliveryRecord>, Option<i64>) {
        let mut pending = self.pending.lock();
        let mut due = Vec::new();
        while let Some((&(at, id), _)) = pending.first_key_value() {
            if at > now || due.len() >= max {
                return (due, Some(at));
            }
            if let Some(r) = pending.remove(&(at, id)) {
                due.push(r);
            }
        }
        (due, None)
    }

    /// Waiting deliveries by subscription ARN (those claimed by the worker
    /// are out of the map until settled).
    pub fn by_subscription(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for r in self.pending.lock().values() {
            *out.entry(r.subscription_arn.clone()).or_insert(0) += 1;
        }
        out
    }

    /// Resolves after `wake` (a permit is kept if nobody waits).
    pub async fn changed(&self) {
        self.notify.notified().await
    }
}

/// What the delivery worker works with: the outbox it claims from, the
/// topics and subscriptions it reads, the queues dead letters go to.
#[derive(Clone)]
pub struct Deliverer {
    pub topics: Arc<dyn Topics>,
    pub outbox: Arc<dyn Outbox>,
    pub queues: Arc<dyn Queues>,
    pub allow_private: bool,
    pub flows: Option<super::flow_target::FlowDoor>,
}

impl Deliverer {
    /// The embedded broker's own.
    pub fn of_broker(broker: &Broker) -> Deliverer {
        Deliverer {
            topics: Arc::new(broker.clone()),
            outbox: Arc::new(broker.clone()),
            queues: Arc::new(broker.clone()),
            allow_private: broker.allow_private_endpoints(),
            flows: broker.flows().cloned(),
        }
    }
}

/// Runs the delivery worker until the process ends.
pub fn spawn_worker(deliverer: Deliverer, handle: &tokio::runtime::Handle) {
    // Receivers written for AWS look for SNS's own user agent.
    let client = crate::outbound::Client::build(
        crate::outbound::client(TIMEOUT).user_agent("Amazon Simple Notification Service Agent"),
        "SNS deliveries",
    );
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    handle.spawn(async move {
        let outbox = deliverer.outbox.clone();
        loop {
            let (due, next) = match outbox
                .claim_due(now_ms(), CLAIM_LEASE_MS, CLAIM_BATCH)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim sns deliveries");
                    (Vec::new(), Some(now_ms() + 1000))
                }
            };
            for record in due {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (deliverer, client) = (deliverer.clone(), client.clone());
                tokio::spawn(async move {
                    attempt(&deliverer, &client, record).await;
                    drop(permit);
                });
            }
            let wait = next.map_or(Duration::from_secs(60), |at| {
                Duration::from_millis((at - now_ms()).max(1) as u64)
            });
            tokio::select! {
                _ = outbox.changed() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
}

async fn attempt(d: &Deliverer, client: &crate::outbound::Client, mut record: DeliveryRecord) {
    let outbox = d.outbox.as_ref();
    let Ok(sub) = d.topics.subscription(&record.subscription_arn).await else {
        settle(outbox.complete(record.id).await);
        return; // unsubscribed meanwhile
    };
    let r = &sub.record;
    let ok = post(d, client, &record, &sub).await;
    let topic_policy = match d.topics.topic(&r.topic_arn).await {
        Ok(t) => t.record.attributes.get("DeliveryPolicy").cloned(),
        Err(_) => None,
    };
    let policy = r
        .attributes
        .get("DeliveryPolicy")
        .and_then(|p| RetryPolicy::parse(p).ok())
        .or_else(|| topic_policy.and_then(|p| RetryPolicy::parse(&p).ok()))
        .unwrap_or_default();
    let count = |outcome| crate::messaging::metrics::delivery(&r.topic_arn, &r.protocol, outcome);
    if ok.is_ok() {
        count("delivered");
    }
    if let Err(why) = &ok {
        record.attempts += 1;
        if let Some(delay) = policy.delay(record.attempts) {
            count("retried");
            tracing::info!(subscription = %r.arn, attempt = record.attempts, error = %why, "sns delivery failed, will retry");
            record.due_at = now_ms() + delay.as_millis() as i64;
            settle(outbox.retry(record).await);
            return;
        }
        tracing::warn!(subscription = %r.arn, attempts = record.attempts, error = %why, "sns delivery given up");
        count("failed");
        dead_letter(d, &sub, &record).await;
    }
    settle(outbox.complete(record.id).await);
}

/// An outbox that cannot record a settlement leaves the delivery claimed;
/// it is tried again once the claim lapses.
fn settle(result: ApiResult<()>) {
    if let Err(e) = result {
        tracing::error!(error = %e, "cannot settle an sns delivery; it will be tried again");
    }
}

async fn post(
    d: &Deliverer,
    client: &crate::outbound::Client,
    record: &DeliveryRecord,
    sub: &super::topics::Subscription,
) -> Result<(), String> {
    let r = &sub.record;
    if r.protocol == "flow" {
        let door = d
            .flows
            .as_ref()
            .ok_or("flows are not running in this process")?;
        return door.deliver(&r.endpoint, record.body.clone()).await;
    }
    let url = reqwest::Url::parse(&r.endpoint).map_err(|e| e.to_string())?;
    if !d.allow_private {
        // Names are resolved now, so a name pointing inside is refused too.
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("resolving {host}: {e}"))?;
        for addr in addrs {
            if is_private(addr.ip()) {
                return Err(format!("{host} resolves to a private address"));
            }
        }
    }
    let mut req = client
        .get()?
        .post(url)
        .header("content-type", "text/plain; charset=UTF-8")
        .header("x-amz-sns-message-type", &record.kind)
        .header("x-amz-sns-message-id", &record.message_id)
        .header("x-amz-sns-topic-arn", &r.topic_arn)
        .body(record.body.clone());
    if record.kind == "Notification" {
        req = req.header("x-amz-sns-subscription-arn", &r.arn);
        if sub.raw {
            req = req.header("x-amz-sns-rawdelivery", "true");
        }
    }
    match req.send().await {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => Err(format!("the endpoint answered {}", resp.status())),
        Err(e) => Err(e.to_string()),
    }
}

/// A delivery that will not be retried goes to the subscription's
/// dead-letter queue, if it has one.
async fn dead_letter(d: &Deliverer, sub: &super::topics::Subscription, record: &DeliveryRecord) {
    if record.kind != "Notification" {
        return;
    }
    let Some(arn) = sub
        .record
        .attributes
        .get("RedrivePolicy")
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .and_then(|j| j.get("deadLetterTargetArn")?.as_str().map(str::to_string))
    else {
        return;
    };
    let Some(queue) = d
        .queues
        .naming()
        .name_from_arn(&arn, "sqs")
        .map(str::to_string)
    else {
        tracing::warn!(queue = %arn, "sns dead-letter queue is not a queue here; delivery dropped");
        return;
    };
    let new = NewMessage {
        body: record.body.clone(),
        ..Default::default()
    };
    match d.queues.send(&queue, vec![new]).await {
        Err(e) if e.kind == crate::messaging::error::ErrorKind::QueueDoesNotExist => {
            tracing::warn!(queue = %arn, "sns dead-letter queue does not exist; delivery dropped");
        }
        Err(e) => tracing::error!(error = %e, "sns dead-letter send failed"),
        Ok(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays() {
        let p = RetryPolicy::parse(
            r#"{"healthyRetryPolicy":{"numRetries":4,"minDelayTarget":1,"maxDelayTarget":7,"backoffFunction":"linear"}}"#,
        )
        .unwrap();
        let delays: Vec<_> = (1..=5).map(|i| p.delay(i).map(|d| d.as_secs())).collect();
        assert_eq!(delays, vec![Some(1), Some(3), Some(5), Some(7), None]);
        let e = RetryPolicy::parse(
            r#"{"healthyRetryPolicy":{"numRetries":5,"minDelayTarget":1,"maxDelayTarget":10,"backoffFunction":"exponential"}}"#,
        )
        .unwrap();
        let delays: Vec<_> = (1..=5).map(|i| e.delay(i).unwrap().as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 10]);
        assert!(RetryPolicy::parse("{}").is_err());
    }

    #[test]
    fn private_endpoints_are_refused_by_default() {
        for bad in [
            "http://127.0.0.1/x",
            "http://localhost:8080/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
        ] {
            assert!(check_endpoint(bad, "http", false).is_err(), "{bad}");
            assert!(check_endpoint(bad, "http", true).is_ok(), "{bad}");
        }
        assert!(check_endpoint("https://example.com/hook", "https", false).is_ok());
        assert!(check_endpoint("http://example.com/hook", "https", false).is_err());
        assert!(check_endpoint("not a url", "http", true).is_err());
    }
}
