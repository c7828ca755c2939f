//! Who may do what on which queue or topic, when access keys are
//! configured: each key acts for a principal (an account and a user), each
//! request names an IAM action on a resource, and the key's identity policy
//! and the resource's `Policy` attribute decide (`crate::iam::decide`).
//! Open mode (no keys, loopback only) checks nothing: there is no caller.
//!
//! Resource policies are read through the backends and kept parsed for a
//! second, so a change made on another node of a fleet holds within one
//! second; one made through this node holds at once.

use super::error::{ApiError, ApiResult, ErrorKind};
use super::names::Naming;
use super::pubsub::Topics;
use super::queues::Queues;
use crate::config::model::AccessKey;
use crate::iam::{Caller, Policy, RequestContext};
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

const POLICY_TTL: Duration = Duration::from_secs(1);
const MAX_CACHED: usize = 10_000;

/// The service an action belongs to: its IAM prefix and how its refusals
/// are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Sqs,
    Sns,
}

struct Principal {
    caller: Caller,
    /// None: anything the key's account may do.
    policy: Option<Policy>,
}

/// A resource's parsed policy (None: it has none) and when it was read.
type CachedPolicy = (Instant, Option<Arc<Policy>>);

pub struct Access {
    principals: HashMap<String, Principal>,
    owner_account: String,
    /// By resource ARN.
    policies: Mutex<HashMap<String, CachedPolicy>>,
}

/// What a request asks, as IAM names it.
pub struct Asked {
    /// `sqs:SendMessage`.
    pub action: String,
    pub resource: Resource,
}

pub enum Resource {
    Queue {
        name: String,
        arn: String,
    },
    Topic {
        arn: String,
    },
    /// An action on no one resource (ListQueues, ListTopics).
    Account,
}

impl Resource {
    pub fn arn(&self) -> &str {
        match self {
            Resource::Queue { arn, .. } | Resource::Topic { arn } => arn,
            Resource::Account => "*",
        }
    }
}

/// The connection a request came on, for `aws:SecureTransport` and
/// `aws:SourceIp`.
pub struct Transport {
    pub secure: bool,
    pub peer: Option<std::net::IpAddr>,
}

impl Access {
    /// None when no access keys are configured (open mode).
    pub fn new(keys: &BTreeMap<String, AccessKey>, owner_account: &str) -> Option<Access> {
        if keys.is_empty() {
            return None;
        }
        let principals = keys
            .iter()
            .map(|(id, key)| {
                let principal = Principal {
                    caller: Caller::user(&key.account_id, &key.user),
                    // Checked when the config loaded.
                    policy: key.policy.as_deref().and_then(|p| Policy::parse(p).ok()),
                };
                (id.clone(), principal)
            })
            .collect();
        Some(Access {
            principals,
            owner_account: owner_account.to_string(),
            policies: Mutex::default(),
        })
    }

    /// Refuses the request unless the key's principal may do what it asks.
    pub async fn check(
        &self,
        access_key: &str,
        service: Service,
        asked: &Asked,
        transport: &Transport,
        queues: &dyn Queues,
        topics: &dyn Topics,
    ) -> ApiResult<()> {
        let Some(principal) = self.principals.get(access_key) else {
            // verify() already refused unknown keys.
            return Err(ApiError::internal("a verified access key has no principal"));
        };
        let resource_policy = self
            .resource_policy(&asked.resource, queues, topics)
            .await?;
        let ctx = RequestContext {
            caller: &principal.caller,
            action: &asked.action,
            resource: asked.resource.arn(),
            secure_transport: transport.secure,
            source_ip: transport.peer,
        };
        crate::iam::decide(
            &self.owner_account,
            principal.policy.as_ref(),
            resource_policy.as_deref(),
            &ctx,
        )
        .map_err(|refusal| {
            let message = refusal.message(&ctx);
            match service {
                Service::Sqs => ApiError::new(ErrorKind::AccessDenied, message),
                Service::Sns => ApiError::new(ErrorKind::AuthorizationError, message),
            }
        })
    }

    /// Forgets a resource's cached policy after this node changed or
    /// deleted it.
    pub fn forget(&self, resource: &Resource) {
        self.policies.lock().remove(resource.arn());
    }

    async fn resource_policy(
        &self,
        resource: &Resource,
        queues: &dyn Queues,
        topics: &dyn Topics,
    ) -> ApiResult<Option<Arc<Policy>>> {
        if let Resource::Account = resource {
            return Ok(None);
        }
        if let Some((at, policy)) = self.policies.lock().get(resource.arn()) {
            if at.elapsed() < POLICY_TTL {
                return Ok(policy.clone());
            }
        }
        // A missing queue or topic has no policy; the action reports it.
        let text = match resource {
            Resource::Queue { name, .. } => queues.policy(name).await.unwrap_or(None),
            Resource::Topic { arn } => topics
                .topic(arn)
                .await
                .ok()
                .and_then(|t| t.record.attributes.get("Policy").cloned()),
            Resource::Account => None,
        };
        let policy = text.filter(|t| !t.is_empty()).and_then(|t| match Policy::parse(&t) {
            Ok(p) => Some(Arc::new(p)),
            Err(why) => {
                // Policies are checked when set; one stored before that
                // grants nothing rather than everything.
                tracing::warn!(resource = %resource.arn(), error = %why, "unreadable access policy ignored");
                None
            }
        });
        let mut cache = self.policies.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(resource.arn().to_string(), (Instant::now(), policy.clone()));
        Ok(policy)
    }
}

/// The IAM action and resource of an API request. Batch actions are
/// authorized as their single forms, as AWS does.
pub fn asked(service: Service, action: &str, input: &Value, naming: &Naming) -> Asked {
    let field = |name: &str| input.get(name).and_then(Value::as_str);
    match service {
        Service::Sqs => {
            let single = match action {
                "SendMessageBatch" => "SendMessage",
                "DeleteMessageBatch" => "DeleteMessage",
                "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
                other => other,
            };
            let name = field("QueueUrl")
                .and_then(|url| naming.queue_name_from_url(url).ok())
                .or_else(|| field("QueueName"))
                .or_else(|| field("SourceArn").and_then(|arn| naming.name_from_arn(arn, "sqs")));
            Asked {
                action: format!("sqs:{single}"),
                resource: match name {
                    Some(name) => Resource::Queue {
                        name: name.to_string(),
                        arn: naming.queue_arn(name),
                    },
                    None => Resource::Account,
                },
            }
        }
        Service::Sns => {
            let single = if action == "PublishBatch" {
                "Publish"
            } else {
                action
            };
            let arn = field("TopicArn")
                .or_else(|| field("TargetArn"))
                .or_else(|| field("ResourceArn"))
                .map(str::to_string)
                .or_else(|| {
                    // A subscription is its topic's ARN and an id.
                    field("SubscriptionArn")
                        .and_then(|s| s.rsplit_once(':'))
                        .map(|(topic, _)| topic.to_string())
                })
                .or_else(|| field("Name").map(|name| naming.topic_arn(name)));
            Asked {
                action: format!("sns:{single}"),
                resource: match arn {
                    Some(arn) => Resource::Topic { arn },
                    None => Resource::Account,
                },
            }
        }
    }
}

/// Whether a topic may send to a queue, by the queue's policy: a queue
/// without one takes its own account's topics (Gatehouse has one account);
/// a queue with one takes a topic only if it allows `sqs:SendMessage` to
/// `sns.amazonaws.com` (or anyone) for that topic and denies nothing.
pub async fn topic_may_send(queues: &dyn Queues, queue: &str, topic_arn: &str) -> bool {
    let Ok(Some(text)) = queues.policy(queue).await else {
        return true;
    };
    let Ok(policy) = Policy::parse(&text) else {
        return false;
    };
    let naming = queues.naming();
    let caller = Caller::Service {
        name: "sns.amazonaws.com".into(),
        source_arn: topic_arn.to_string(),
        source_account: naming.account_id.clone(),
    };
    let arn = naming.queue_arn(queue);
    let ctx = RequestContext {
        caller: &caller,
        action: "sqs:SendMessage",
        resource: &arn,
        secure_transport: true,
        source_ip: None,
    };
    policy.evaluate(&ctx) == crate::iam::Decision::Allow
}
