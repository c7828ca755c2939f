//! Queue URLs and ARNs in AWS form, and finding the queue a client means.

use super::error::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    pub region: String,
    pub account_id: String,
    /// Scheme, host and port that queue URLs start with.
    pub base_url: String,
    /// Signs SNS envelopes (None: unsigned, as in-process tests run).
    pub signer: Option<std::sync::Arc<super::sns::signing::Signer>>,
}

impl Naming {
    pub fn queue_arn(&self, name: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{name}", self.region, self.account_id)
    }

    pub fn queue_url(&self, name: &str) -> String {
        format!(
            "{}/{}/{name}",
            self.base_url.trim_end_matches('/'),
            self.account_id
        )
    }

    pub fn topic_arn(&self, name: &str) -> String {
        format!("arn:aws:sns:{}:{}:{name}", self.region, self.account_id)
    }

    /// The queue name in a queue URL. Any host is accepted (clients reach
    /// Gatehouse by many names); the path must be `/ACCOUNT/NAME`. A bare
    /// queue name is accepted too, as SQS does; anything else names no
    /// queue (`NonExistentQueue`, as SQS answers).
    pub fn queue_name_from_url<'a>(&self, url: &'a str) -> ApiResult<&'a str> {
        if !url.is_empty() && !url.contains('/') && !url.contains(':') {
            return Ok(url);
        }
        let path = match url.find("://") {
            Some(i) => {
                let rest = &url[i + 3..];
                rest.find('/').map_or("", |p| &rest[p..])
            }
            None => url,
        };
        let mut parts = path.trim_matches('/').split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(account), Some(name), None) if !name.is_empty() => {
                if account != self.account_id {
                    return Err(ApiError::no_queue());
                }
                Ok(name)
            }
            _ => Err(ApiError::no_queue()),
        }
    }

    /// The resource name in an ARN of this region and account, if it is one
    /// of `service`'s.
    pub fn name_from_arn<'a>(&self, arn: &'a str, service: &str) -> Option<&'a str> {
        let mut parts = arn.splitn(6, ':');
        let ok = parts.next() == Some("arn")
            && parts.next() == Some("aws")
            && parts.next() == Some(service)
            && parts.next() == Some(self.region.as_str())
            && parts.next() == Some(self.account_id.as_str());
        parts.next().filter(|name| ok && !name.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naming() -> Naming {
        Naming {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            base_url: "http://127.0.0.1:9324".into(),
            signer: None,
        }
    }

    #[test]
    fn urls_and_arns() {
        let n = naming();
        assert_eq!(
            n.queue_url("orders"),
            "http://127.0.0.1:9324/000000000000/orders"
        );
        assert_eq!(
            n.queue_name_from_url("https://sqs.us-east-1.amazonaws.com/000000000000/orders"),
            Ok("orders")
        );
        assert_eq!(n.queue_name_from_url("/000000000000/orders"), Ok("orders"));
        assert!(n
            .queue_name_from_url("http://h/111111111111/orders")
            .is_err());
        assert_eq!(
            n.queue_name_from_url("http://h/"),
            Err(ApiError::no_queue())
        );
        assert_eq!(
            n.queue_name_from_url("http://[bad"),
            Err(ApiError::no_queue())
        );
        assert_eq!(n.queue_name_from_url("orders.fifo"), Ok("orders.fifo"));
        assert_eq!(
            n.name_from_arn("arn:aws:sqs:us-east-1:000000000000:dlq", "sqs"),
            Some("dlq")
        );
        assert_eq!(
            n.name_from_arn("arn:aws:sqs:eu-west-1:000000000000:dlq", "sqs"),
            None
        );
        assert_eq!(
            n.name_from_arn("arn:aws:sns:us-east-1:000000000000:t", "sqs"),
            None
        );
    }
}
