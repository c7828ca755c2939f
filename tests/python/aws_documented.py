"""Documented AWS behaviour that boto3 code relies on (issue 16), one case
per function, run against a Gatehouse started by tests/messaging_documented.rs.

Usage: aws_documented.py ENDPOINT_URL CASE
"""

import hashlib
import json
import sys

from aws_clients import check, clients, error

ENDPOINT = sys.argv[1]
sqs, sns = clients(ENDPOINT)


def sns_tags():
    arn = sns.create_topic(Name="tagged")["TopicArn"]
    # botocore reads <TagResourceResult/>: without it these raise KeyError.
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "core"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    sns.tag_resource(
        ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    )
    code, message = error(
        lambda: sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "one-more", "Value": "v"}])
    )
    check(code == "TagLimitExceeded", (code, message))
    # The refused change kept nothing.
    tags = sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
    check(len(tags) == 50 and all(t["Key"] != "one-more" for t in tags), tags)


def filter_policies():
    topic = sns.create_topic(Name="filtered")["TopicArn"]
    url = sqs.create_queue(QueueName="filtered-q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"flag": [True], "price": [301.5], "tags": ["red", None]}
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps(policy), "RawMessageDelivery": "true"},
    )

    def publish(body, flag, price, tags):
        sns.publish(
            TopicArn=topic,
            Message=body,
            MessageAttributes={
                "flag": {"DataType": "String.Array", "StringValue": json.dumps([flag])},
                "price": {"DataType": "Number", "StringValue": price},
                "tags": {"DataType": "String.Array", "StringValue": json.dumps(tags)},
            },
        )

    publish("no: flag false", False, "301.5", ["red"])
    publish("no: price differs in the fourth decimal", True, "301.5001", ["red"])
    publish("no: no tag matches", True, "301.5", ["blue"])
    publish("yes: to five decimals", True, "301.500001", ["blue", "red"])
    publish("yes: null in the array", True, "301.5", [None])
    got = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            break
        got += [m["Body"] for m in batch]
    check(sorted(got) == ["yes: null in the array", "yes: to five decimals"], got)


def system_attributes():
    url = sqs.create_queue(
        QueueName="sys.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="two", MessageGroupId="g", MessageDeduplicationId="d2")
    first = sqs.receive_message(
        QueueUrl=url, MessageSystemAttributeNames=["MessageDeduplicationId", "MessageGroupId"]
    )["Messages"][0]
    check(
        first["Attributes"]
        == {"MessageDeduplicationId": hashlib.sha256(b"one").hexdigest(), "MessageGroupId": "g"},
        first,
    )
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    # The legacy parameter names them too.
    second = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"][0]
    attrs = second["Attributes"]
    check(attrs["MessageDeduplicationId"] == "d2", attrs)
    for name in ["SenderId", "SentTimestamp", "ApproximateReceiveCount",
                 "ApproximateFirstReceiveTimestamp", "SequenceNumber", "MessageGroupId"]:
        check(name in attrs, (name, attrs))
    check(len(attrs["SequenceNumber"]) == 20 and attrs["SequenceNumber"].isdigit(), attrs)
    # A message a redrive policy moved says where it came from.
    dlq = sqs.create_queue(QueueName="sys-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(
        QueueName="sys-src",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})},
    )["QueueUrl"]
    src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=src, MessageBody="poison")
    check(len(sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)["Messages"]) == 1, "first receive")
    check("Messages" not in sqs.receive_message(QueueUrl=src), "moved on the second receive")
    moved = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["DeadLetterQueueSourceArn"])["Messages"]
    check(moved[0]["Attributes"] == {"DeadLetterQueueSourceArn": src_arn}, moved)


def queue_url_forms():
    url = sqs.create_queue(QueueName="by-name")["QueueUrl"]
    sqs.send_message(QueueUrl="by-name", MessageBody="bare name")
    got = sqs.receive_message(QueueUrl=url)["Messages"]
    check(got[0]["Body"] == "bare name", got)
    for bad in ["http://[bad", "http://localhost/", "not/a/queue/url"]:
        code, _ = error(lambda: sqs.get_queue_attributes(QueueUrl=bad))
        check(code == "AWS.SimpleQueueService.NonExistentQueue", (bad, code))


def fifo_batches():
    url = sqs.create_queue(QueueName="strict.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    code, message = error(
        lambda: sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": "a", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
                {"Id": "b", "MessageBody": "y", "MessageDeduplicationId": "2"},
            ],
        )
    )
    check(code == "MissingParameter", (code, message))
    code, message = error(
        lambda: sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": "a", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
                {"Id": "b", "MessageBody": "y", "MessageGroupId": "g"},
            ],
        )
    )
    check(code == "InvalidParameterValue" and "ContentBasedDeduplication" in message, (code, message))
    # Nothing of a refused batch was sent.
    check("Messages" not in sqs.receive_message(QueueUrl=url), "refused batch sent a message")
    topic = sns.create_topic(Name="strict.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    code, message = error(
        lambda: sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[
                {"Id": "a", "Message": "x", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
                {"Id": "b", "Message": "y", "MessageDeduplicationId": "2"},
            ],
        )
    )
    check(code == "InvalidParameter" and "MessageGroupId" in message, (code, message))


def group_ids_on_standard_topics():
    topic = sns.create_topic(Name="fair")["TopicArn"]
    url = sqs.create_queue(QueueName="fair-q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message="tenant 7", MessageGroupId="tenant-7")
    got = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["MessageGroupId"])["Messages"]
    check(got[0]["Attributes"].get("MessageGroupId") == "tenant-7", got)


def subscriptions():
    standard = sns.create_topic(Name="plain")["TopicArn"]
    fifo = sns.create_topic(Name="ordered.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    # A queue elsewhere (another account) is accepted, as AWS does.
    remote = "arn:aws:sqs:eu-west-1:111122223333:elsewhere"
    arn = sns.subscribe(TopicArn=standard, Protocol="sqs", Endpoint=remote, ReturnSubscriptionArn=True)["SubscriptionArn"]
    check(arn.startswith(standard + ":"), arn)
    # A FIFO topic may deliver to a standard queue.
    url = sqs.create_queue(QueueName="std-from-fifo")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=fifo, Protocol="sqs", Endpoint=qarn)
    sns.publish(TopicArn=fifo, Message="ordered", MessageGroupId="g", MessageDeduplicationId="1")
    got = sqs.receive_message(QueueUrl=url)["Messages"]
    check(json.loads(got[0]["Body"])["Message"] == "ordered", got)
    # The refused combinations, with AWS's texts.
    fq = sqs.create_queue(QueueName="only.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    fqarn = sqs.get_queue_attributes(QueueUrl=fq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    code, message = error(lambda: sns.subscribe(TopicArn=standard, Protocol="sqs", Endpoint=fqarn))
    check(
        (code, message)
        == ("InvalidParameter", "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics"),
        (code, message),
    )
    code, message = error(lambda: sns.subscribe(TopicArn=standard, Protocol="sqs", Endpoint="not-an-arn"))
    check((code, message) == ("InvalidParameter", "Invalid parameter: SQS endpoint ARN"), (code, message))
    code, message = error(lambda: sns.subscribe(TopicArn=fifo, Protocol="https", Endpoint="https://127.0.0.1:1/"))
    check((code, message) == ("InvalidParameter", "Invalid parameter: Invalid protocol type: https"), (code, message))


def attributes():
    arn = sns.create_topic(Name="True.fifo", Attributes={"FifoTopic": "True"})["TopicArn"]
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    check(attrs["FifoTopic"] == "true", attrs)
    policy = json.loads(attrs["Policy"])
    check(policy["Version"] == "2008-10-17", policy)
    check(policy["Statement"][0]["Resource"] == arn, policy)
    dlq = sqs.create_queue(QueueName="attr-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="attr-src",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})},
    )["QueueUrl"]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )
    check(redrive == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}, redrive)
    fifo = sqs.create_queue(QueueName="seq.fifo", Attributes={"FifoQueue": "TRUE", "ContentBasedDeduplication": "True"})["QueueUrl"]
    seqs = [
        int(sqs.send_message(QueueUrl=fifo, MessageBody=f"m{i}", MessageGroupId="g")["SequenceNumber"])
        for i in range(3)
    ]
    check(seqs == sorted(seqs) and len(set(seqs)) == 3, seqs)


def error_texts():
    url = sqs.create_queue(QueueName="texts")["QueueUrl"]
    code, message = error(lambda: sqs.send_message_batch(QueueUrl=url, Entries=[]))
    check(code == "AWS.SimpleQueueService.EmptyBatchRequest", code)
    check(message == "There should be at least one SendMessageBatchRequestEntry in the request.", message)
    code, message = error(lambda: sqs.delete_message_batch(QueueUrl=url, Entries=[]))
    check(message == "There should be at least one DeleteMessageBatchRequestEntry in the request.", message)
    code, message = error(
        lambda: sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": i, "MessageBody": "x"} for i in ["z", "b", "z", "b"]],
        )
    )
    check((code, message) == ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id z repeated."), (code, message))
    topic = sns.create_topic(Name="texts")["TopicArn"]
    code, message = error(lambda: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[]))
    check((code, message) == ("EmptyBatchRequest", "The batch request doesn't contain any entries."), (code, message))
    code, message = error(
        lambda: sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[{"Id": "a", "Message": "x"}, {"Id": "a", "Message": "y"}],
        )
    )
    check(
        (code, message)
        == ("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id."),
        (code, message),
    )


def stale_receipts():
    def two_receives(url, **send):
        sqs.send_message(QueueUrl=url, MessageBody="m", **send)
        first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]
        second = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)["Messages"][0]
        check(first["ReceiptHandle"] != second["ReceiptHandle"], "handles differ")
        return first["ReceiptHandle"], second["ReceiptHandle"]

    def in_flight(url):
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessagesNotVisible"])

    # Standard: an earlier receive's handle still deletes the message.
    url = sqs.create_queue(QueueName="stale")["QueueUrl"]
    old, _ = two_receives(url)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=old, VisibilityTimeout=60)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=old)
    check(in_flight(url) == 0, "standard: the old handle deleted nothing")
    # FIFO: only the latest receive's handle acts.
    url = sqs.create_queue(
        QueueName="stale.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    old, latest = two_receives(url, MessageGroupId="g")
    code, _ = error(lambda: sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=old, VisibilityTimeout=60))
    check(code == "InvalidParameterValue", code)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=old)
    check(in_flight(url) == 1, "fifo: the old handle deleted the message")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=latest)
    check(in_flight(url) == 0, "fifo: the latest handle did not delete")


def tls():
    # Run with an https:// endpoint and AWS_CA_BUNDLE naming the test CA:
    # botocore verifies the certificate.
    check(ENDPOINT.startswith("https://"), ENDPOINT)
    url = sqs.create_queue(QueueName="over-tls")["QueueUrl"]
    check(url.startswith("https://"), url)
    sqs.send_message(QueueUrl=url, MessageBody="sealed")
    got = sqs.receive_message(QueueUrl=url)["Messages"]
    check(got[0]["Body"] == "sealed", got)
    topic = sns.create_topic(Name="over-tls")["TopicArn"]
    check(sns.list_topics()["Topics"] == [{"TopicArn": topic}], "topics")


def signatures():
    """Signed notifications (http and the SQS envelope, SignatureVersion 1
    and 2) and confirmations pass npm's sns-validator; a tampered one fails;
    the UnsubscribeURL works. Run over TLS: AWS_CA_BUNDLE is the test CA."""
    import http.server
    import os
    import queue
    import ssl
    import subprocess
    import threading
    import urllib.request

    posts = queue.Queue()

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            posts.put(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_port}/hook"
    tls = ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"])
    messages = []
    for name, version in [("signed", "1"), ("signed-v2", "2")]:
        attributes = {"SignatureVersion": version} if version == "2" else {}
        topic = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook)
        confirmation = posts.get(timeout=10)
        check(confirmation["Type"] == "SubscriptionConfirmation", confirmation)
        check(confirmation["SignatureVersion"] == version, confirmation)
        urllib.request.urlopen(confirmation["SubscribeURL"], context=tls).read()
        sns.publish(TopicArn=topic, Message=f"hello from {name}", Subject="greeting")
        notification = posts.get(timeout=10)
        check(notification["Message"] == f"hello from {name}", notification)
        messages += [confirmation, notification]
    # The envelope an SQS subscription receives is signed too.
    url = sqs.create_queue(QueueName="signed-envelopes")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = messages[1]["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message="to a queue")
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    messages.append(json.loads(got[0]["Body"]))
    tampered = dict(messages[1], Message="hello from someone else")
    validator = os.path.join(os.path.dirname(__file__), "..", "js", "validate_sns.js")
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=os.environ["AWS_CA_BUNDLE"])
    out = subprocess.run(
        ["node", validator], input=json.dumps(messages + [tampered]),
        capture_output=True, text=True, env=env, timeout=60,
    )
    verdicts = out.stdout.split()
    check(verdicts == ["valid"] * len(messages) + ["invalid"], (verdicts, out.stderr))
    # The UnsubscribeURL works, unsigned, as AWS's does.
    urllib.request.urlopen(messages[1]["UnsubscribeURL"], context=tls).read()
    left = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    check([s["Protocol"] for s in left] == ["sqs"], left)
    server.shutdown()


CASES = {f.__name__: f for f in [
    sns_tags, filter_policies, system_attributes, queue_url_forms, fifo_batches,
    group_ids_on_standard_topics, subscriptions, attributes, error_texts, stale_receipts, tls,
    signatures,
]}

if __name__ == "__main__":
    CASES[sys.argv[2]]()
    print("ok")
