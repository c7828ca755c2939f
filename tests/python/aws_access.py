"""Access policies through boto3 (issue 16, item 12): AddPermission and
RemovePermission, resource policies with principals and conditions, identity
policies on access keys, and a queue's policy on topic deliveries. Run
against the `messaging_access` fixture by tests/messaging_access.rs.

Usage: aws_access.py ENDPOINT_URL CASE
"""

import json
import sys

from aws_clients import check, clients, error

ENDPOINT = sys.argv[1]
OWNER = "000000000000"
PARTNER = "111122223333"
sqs, sns = clients(ENDPOINT)
partner_sqs, partner_sns = clients(
    ENDPOINT, "AKIDPARTNER", "partner-secret-not-for-production")
reader_sqs, reader_sns = clients(
    ENDPOINT, "AKIDREADER", "reader-secret-not-for-production")


def queue(name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def policy_of(url):
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
    return json.loads(attrs["Policy"]) if "Policy" in attrs else None


def denied(call, action, resource, why="because no resource-based policy allows the {a} action",
           user=f"arn:aws:iam::{PARTNER}:user/partner", code="AccessDenied"):
    got = error(call)
    want = (code, f"User: {user} is not authorized to perform: {action} on resource: "
            f"{resource} {why.format(a=action)}")
    check(got == want, (got, want))


def cross_account_queue():
    url, arn = queue("shared")
    send = lambda: partner_sqs.send_message(QueueUrl=url, MessageBody="from partner")
    denied(send, "sqs:SendMessage", arn)
    sqs.add_permission(QueueUrl=url, Label="partner-send",
                       AWSAccountIds=[PARTNER], Actions=["SendMessage"])
    check(policy_of(url) == {
        "Version": "2012-10-17",
        "Id": f"{arn}/SQSDefaultPolicy",
        "Statement": [{
            "Sid": "partner-send", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
            "Action": "SQS:SendMessage", "Resource": arn,
        }],
    }, policy_of(url))
    send()
    # Granted SendMessage only; the batch form is SendMessage too.
    partner_sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "b"}])
    denied(lambda: partner_sqs.receive_message(QueueUrl=url),
           "sqs:ReceiveMessage", arn)
    check(len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 2, "sent")
    # AWS's refusals of bad grants.
    check(error(lambda: sqs.add_permission(
        QueueUrl=url, Label="partner-send", AWSAccountIds=[PARTNER], Actions=["SendMessage"])) ==
        ("InvalidParameterValue",
         "Value partner-send for parameter Label is invalid. Reason: Already exists."), "dup")
    check(error(lambda: sqs.add_permission(
        QueueUrl=url, Label="x", AWSAccountIds=[PARTNER], Actions=["CreateQueue"])) ==
        ("InvalidParameterValue", "Value SQS:CreateQueue for parameter ActionName is invalid. "
         "Reason: Only the queue owner is allowed to invoke this action."), "owner only")
    check(error(lambda: sqs.add_permission(
        QueueUrl=url, Label="x", AWSAccountIds=[PARTNER], Actions=["SendMessage"] * 8)) ==
        ("OverLimit", "8 Actions were found, maximum allowed is 7."), "over limit")
    # Removing the grant takes effect at once.
    sqs.remove_permission(QueueUrl=url, Label="partner-send")
    check(policy_of(url) is None, policy_of(url))
    denied(send, "sqs:SendMessage", arn)
    check(error(lambda: sqs.remove_permission(QueueUrl=url, Label="partner-send")) ==
          ("InvalidParameterValue", "Value partner-send for parameter Label is invalid. "
           "Reason: can't find label on existing policy."), "gone")
    # The other account has no queues of its own here to list.
    denied(lambda: partner_sqs.list_queues(), "sqs:ListQueues", "*")


def identity_policies():
    url, arn = queue("limited")
    sqs.send_message(QueueUrl=url, MessageBody="one")
    reader = "arn:aws:iam::000000000000:user/reader"
    check(len(reader_sqs.receive_message(QueueUrl=url)["Messages"]) == 1, "reader receives")
    check(reader_sqs.get_queue_url(QueueName="limited")["QueueUrl"] == url, "reader url")
    send = lambda: reader_sqs.send_message(QueueUrl=url, MessageBody="two")
    denied(send, "sqs:SendMessage", arn,
           why="because no identity-based policy allows the {a} action", user=reader)
    # In the owning account, a resource policy's grant is enough.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": reader},
                       "Action": "sqs:SendMessage", "Resource": arn}],
    })})
    send()
    # An explicit deny wins over every allow, also the administrator's.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sqs:Purge*",
                       "Resource": arn}],
    })})
    denied(lambda: sqs.purge_queue(QueueUrl=url), "sqs:PurgeQueue", arn,
           why="with an explicit deny in a resource-based policy",
           user="arn:aws:iam::000000000000:user/admin")
    # A malformed policy is refused when set, with the reason.
    code, message = error(lambda: sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": '{"Statement": [{"Effect": "Maybe", "Action": "*"}]}'}))
    check(code == "InvalidAttributeValue" and "statement 1: `Effect`" in message, message)


def conditions():
    url, arn = queue("conditional")
    def allow_partner(condition):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": PARTNER},
                           "Action": "sqs:SendMessage", "Resource": arn,
                           "Condition": condition}],
        })})
    send = lambda: partner_sqs.send_message(QueueUrl=url, MessageBody="x")
    allow_partner({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    denied(send, "sqs:SendMessage", arn)
    allow_partner({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "127.0.0.1/32"]}})
    send()
    # This endpoint is plain HTTP.
    allow_partner({"Bool": {"aws:SecureTransport": "true"}})
    denied(send, "sqs:SendMessage", arn)
    allow_partner({"StringEquals": {"aws:PrincipalAccount": PARTNER},
                   "StringLike": {"aws:username": "part*"}})
    send()


def secure_transport():
    # Run over TLS: AWS_CA_BUNDLE is the test CA.
    check(ENDPOINT.startswith("https://"), ENDPOINT)
    url, arn = queue("tls-only")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": PARTNER}, "Action": "sqs:*",
             "Resource": arn},
            {"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": arn,
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ],
    })})
    partner_sqs.send_message(QueueUrl=url, MessageBody="over tls")
    check(partner_sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "over tls", "tls")


def topics():
    topic = sns.create_topic(Name="announcements")["TopicArn"]
    publish = lambda: partner_sns.publish(TopicArn=topic, Message="hi")
    # The default policy grants the owning account only.
    denied(publish, "sns:Publish", topic, code="AuthorizationError")
    sns.add_permission(TopicArn=topic, Label="partner-publish",
                       AWSAccountId=[PARTNER], ActionName=["Publish"])
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    check([s.get("Sid") for s in policy["Statement"]] ==
          ["__default_statement_ID", "partner-publish"], policy)
    check(policy["Statement"][1]["Principal"] == {"AWS": f"arn:aws:iam::{PARTNER}:root"}, policy)
    publish()
    partner_sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "1", "Message": "batch"}])
    denied(lambda: partner_sns.subscribe(TopicArn=topic, Protocol="sqs",
                                         Endpoint=f"arn:aws:sqs:us-east-1:{PARTNER}:mine"),
           "sns:Subscribe", topic, code="AuthorizationError")
    check(error(lambda: sns.add_permission(
        TopicArn=topic, Label="partner-publish", AWSAccountId=[PARTNER], ActionName=["Publish"])) ==
        ("InvalidParameter", "Invalid parameter: Statement already exists"), "dup")
    check(error(lambda: sns.add_permission(
        TopicArn=topic, Label="x", AWSAccountId=[PARTNER], ActionName=["CreateTopic"])) ==
        ("InvalidParameter", "Invalid parameter: Policy statement action out of service scope!"),
        "scope")
    sns.remove_permission(TopicArn=topic, Label="partner-publish")
    denied(publish, "sns:Publish", topic, code="AuthorizationError")
    sns.remove_permission(TopicArn=topic, Label="partner-publish")  # absent: no error
    # A malformed policy is refused when set.
    code, message = error(lambda: sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue='{"Statement": 3}'))
    check((code, message) == ("InvalidParameter",
          "Invalid parameter: Policy Error: `Statement` must be an object or a list"), message)


def topic_to_queue():
    """A queue with a policy takes only the topics it allows (aws:SourceArn);
    a queue without one takes its own account's topics."""
    allowed = sns.create_topic(Name="allowed")["TopicArn"]
    other = sns.create_topic(Name="other")["TopicArn"]
    url, arn = queue("inbox")
    open_url, open_arn = queue("open-inbox")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                       "Action": "sqs:SendMessage", "Resource": arn,
                       "Condition": {"ArnEquals": {"aws:SourceArn": allowed},
                                     "StringEquals": {"aws:SourceAccount": OWNER}}}],
    })})
    for topic in (allowed, other):
        for endpoint in (arn, open_arn):
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=endpoint,
                          Attributes={"RawMessageDelivery": "true"})
    # Fan-out to queues completes before Publish answers.
    sns.publish(TopicArn=other, Message="from other")
    sns.publish(TopicArn=allowed, Message="from allowed")
    def bodies(u):
        got = sqs.receive_message(QueueUrl=u, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return sorted(m["Body"] for m in got.get("Messages", []))
    inbox, open_inbox = bodies(url), bodies(open_url)
    check(inbox == ["from allowed"], inbox)
    check(open_inbox == ["from allowed", "from other"], open_inbox)


CASES = {f.__name__: f for f in [
    cross_account_queue, identity_policies, conditions, secure_transport, topics,
    topic_to_queue,
]}

if __name__ == "__main__":
    CASES[sys.argv[2]]()
    print("ok")
