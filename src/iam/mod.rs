//! IAM's access rules, as far as SQS and SNS resource policies use them:
//! who is calling (`Caller`), what they ask (`RequestContext`), what one
//! policy says about it (`policy`), and how an identity's policy and a
//! resource's policy combine (`decide`).

pub mod condition;
pub mod permission;
pub mod policy;

pub use policy::{Decision, Policy};

/// Who a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An access key's principal: `arn:aws:iam::ACCOUNT:user/USER`.
    User {
        account: String,
        user: String,
        arn: String,
    },
    /// A service acting for a resource: a topic delivering to a queue
    /// (`sns.amazonaws.com`, with the topic as `aws:SourceArn`).
    Service {
        name: String,
        source_arn: String,
        source_account: String,
    },
}

impl Caller {
    pub fn user(account: &str, user: &str) -> Caller {
        Caller::User {
            account: account.to_string(),
            user: user.to_string(),
            arn: format!("arn:aws:iam::{account}:user/{user}"),
        }
    }

    /// The ARN AWS names in its AccessDenied messages.
    pub fn arn(&self) -> &str {
        match self {
            Caller::User { arn, .. } => arn,
            Caller::Service { name, .. } => name,
        }
    }
}

/// One request as a policy sees it.
pub struct RequestContext<'a> {
    pub caller: &'a Caller,
    /// `service:Action`, e.g. `sqs:SendMessage`.
    pub action: &'a str,
    /// The resource's ARN (`*` for actions on no one resource).
    pub resource: &'a str,
    pub secure_transport: bool,
    pub source_ip: Option<std::net::IpAddr>,
}

/// Why a request was refused, in AWS's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    ExplicitIdentityDeny,
    ExplicitResourceDeny,
    NoIdentityAllow,
    NoResourceAllow,
}

impl Refusal {
    /// AWS's AccessDenied text.
    pub fn message(&self, ctx: &RequestContext<'_>) -> String {
        let why = match self {
            Refusal::ExplicitIdentityDeny => {
                "with an explicit deny in an identity-based policy".to_string()
            }
            Refusal::ExplicitResourceDeny => {
                "with an explicit deny in a resource-based policy".to_string()
            }
            Refusal::NoIdentityAllow => {
                format!(
                    "because no identity-based policy allows the {} action",
                    ctx.action
                )
            }
            Refusal::NoResourceAllow => {
                format!(
                    "because no resource-based policy allows the {} action",
                    ctx.action
                )
            }
        };
        format!(
            "User: {} is not authorized to perform: {} on resource: {} {why}",
            ctx.caller.arn(),
            ctx.action,
            ctx.resource
        )
    }
}

/// IAM's evaluation for one account owning every resource: an explicit
/// deny in either policy refuses; a caller of the owning account needs an
/// allow from its identity policy *or* the resource's policy; a caller of
/// another account needs both (its own account's grant and the owner's).
/// `identity` None: the key's principal may do anything its account may
/// (an administrator's key), so only resource policies restrict it.
pub fn decide(
    owner_account: &str,
    identity: Option<&Policy>,
    resource: Option<&Policy>,
    ctx: &RequestContext<'_>,
) -> Result<(), Refusal> {
    let by_identity = identity.map_or(Decision::Allow, |p| p.evaluate(ctx));
    let by_resource = resource.map_or(Decision::NotApplicable, |p| p.evaluate(ctx));
    if by_identity == Decision::Deny {
        return Err(Refusal::ExplicitIdentityDeny);
    }
    if by_resource == Decision::Deny {
        return Err(Refusal::ExplicitResourceDeny);
    }
    let same_account =
        matches!(ctx.caller, Caller::User { account, .. } if account == owner_account);
    match (by_identity, by_resource) {
        (Decision::Allow, _) if same_account => Ok(()),
        (_, Decision::Allow) if same_account => Ok(()),
        (Decision::Allow, Decision::Allow) => Ok(()),
        (Decision::Allow, _) => Err(Refusal::NoResourceAllow),
        _ => Err(Refusal::NoIdentityAllow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(caller: &'a Caller, action: &'a str) -> RequestContext<'a> {
        RequestContext {
            caller,
            action,
            resource: "arn:aws:sqs:us-east-1:000000000000:q",
            secure_transport: false,
            source_ip: None,
        }
    }

    fn policy(statement: serde_json::Value) -> Policy {
        Policy::from_json(&serde_json::json!({ "Statement": [statement] })).unwrap()
    }

    #[test]
    fn owners_need_one_allow_others_need_both() {
        let owner = Caller::user("000000000000", "admin");
        let partner = Caller::user("111122223333", "partner");
        let grant = policy(serde_json::json!({
            "Effect": "Allow", "Principal": {"AWS": "111122223333"},
            "Action": "sqs:Send*", "Resource": "*"
        }));
        let only_receive = policy(serde_json::json!({
            "Effect": "Allow", "Action": "sqs:ReceiveMessage"
        }));
        let send = "sqs:SendMessage";
        // The owning account's administrator: anything, no resource policy.
        assert_eq!(
            decide("000000000000", None, None, &ctx(&owner, send)),
            Ok(())
        );
        // Another account: the resource policy must grant it.
        assert_eq!(
            decide("000000000000", None, None, &ctx(&partner, send)),
            Err(Refusal::NoResourceAllow)
        );
        assert_eq!(
            decide("000000000000", None, Some(&grant), &ctx(&partner, send)),
            Ok(())
        );
        // ... and its own identity policy too.
        assert_eq!(
            decide(
                "000000000000",
                Some(&only_receive),
                Some(&grant),
                &ctx(&partner, send)
            ),
            Err(Refusal::NoIdentityAllow)
        );
        // An owner limited by its identity policy, granted by the resource.
        let grant_owner = policy(serde_json::json!({
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/admin"},
            "Action": "sqs:SendMessage"
        }));
        assert_eq!(
            decide(
                "000000000000",
                Some(&only_receive),
                None,
                &ctx(&owner, send)
            ),
            Err(Refusal::NoIdentityAllow)
        );
        assert_eq!(
            decide(
                "000000000000",
                Some(&only_receive),
                Some(&grant_owner),
                &ctx(&owner, send)
            ),
            Ok(())
        );
        // A deny anywhere wins.
        let deny = policy(serde_json::json!({
            "Effect": "Deny", "Principal": "*", "NotAction": "sqs:Get*"
        }));
        assert_eq!(
            decide("000000000000", None, Some(&deny), &ctx(&owner, send)),
            Err(Refusal::ExplicitResourceDeny)
        );
        assert_eq!(
            decide(
                "000000000000",
                None,
                Some(&deny),
                &ctx(&owner, "sqs:GetQueueUrl")
            ),
            Ok(())
        );
    }

    #[test]
    fn conditions_on_missing_keys_follow_iam() {
        let user = Caller::user("000000000000", "admin");
        let topic = Caller::Service {
            name: "sns.amazonaws.com".into(),
            source_arn: "arn:aws:sns:us-east-1:000000000000:t".into(),
            source_account: "000000000000".into(),
        };
        let with = |condition: serde_json::Value| {
            policy(serde_json::json!({
                "Effect": "Allow", "Principal": "*", "Action": "*", "Condition": condition
            }))
        };
        let cases = [
            // A positive operator on a missing key fails; a negated one holds.
            (
                serde_json::json!({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*"}}),
                false,
                true,
            ),
            (
                serde_json::json!({"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:other"}}),
                true,
                true,
            ),
            (
                serde_json::json!({"StringEqualsIfExists": {"aws:SourceAccount": "000000000000"}}),
                true,
                true,
            ),
            (
                serde_json::json!({"Null": {"aws:SourceArn": "true"}}),
                true,
                false,
            ),
            (
                serde_json::json!({"StringEquals": {"AWS:SourceOwner": "000000000000"}}),
                false,
                true,
            ),
            (
                serde_json::json!({"Bool": {"aws:SecureTransport": "false"}}),
                true,
                true,
            ),
        ];
        for (condition, for_user, for_topic) in cases {
            let p = with(condition.clone());
            let holds = |c: &Caller| p.evaluate(&ctx(c, "sqs:SendMessage")) == Decision::Allow;
            assert_eq!(
                (holds(&user), holds(&topic)),
                (for_user, for_topic),
                "{condition}"
            );
        }
    }
}
