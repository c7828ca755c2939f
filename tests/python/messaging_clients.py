"""boto3 and the AWS CLI against a running Gatehouse (started by
tests/python_clients.rs). botocore checks MD5OfBody and
MD5OfMessageAttributes itself, so every receive here verifies them.

Usage: messaging_clients.py ENDPOINT_URL
"""

import json
import os
import subprocess
import sys

from aws_clients import ACCESS_KEY, SECRET, check, clients, error_code

ENDPOINT = sys.argv[1]
sqs, sns = clients(ENDPOINT)


# SQS: send with attributes, receive (botocore verifies both digests), delete.
url = sqs.create_queue(QueueName="py-jobs", Attributes={"VisibilityTimeout": "20"})["QueueUrl"]
check(url.endswith("/000000000000/py-jobs"), url)
sent = sqs.send_message(
    QueueUrl=url,
    MessageBody="héllo from boto3",
    MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "greeting"},
        "n": {"DataType": "Number", "StringValue": "7"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
    },
)
check("MD5OfMessageAttributes" in sent, sent)
got = sqs.receive_message(
    QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"], WaitTimeSeconds=1
)["Messages"]
check(got[0]["Body"] == "héllo from boto3", got)
check(got[0]["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\xff", got)
check(got[0]["Attributes"]["ApproximateReceiveCount"] == "1", got)
sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])

batch = sqs.send_message_batch(
    QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)]
)
check(len(batch["Successful"]) == 10, batch)
attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
check(attrs["Attributes"]["ApproximateNumberOfMessages"] == "10", attrs)
sqs.purge_queue(QueueUrl=url)

check(error_code(lambda: sqs.get_queue_url(QueueName="nope")) == "AWS.SimpleQueueService.NonExistentQueue", "missing queue")
check(error_code(lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)) == "InvalidParameterValue", "max 10")

# FIFO order.
fifo = sqs.create_queue(
    QueueName="py.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
)["QueueUrl"]
for i in range(3):
    sqs.send_message(QueueUrl=fifo, MessageBody=f"f{i}", MessageGroupId="g")
got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]
check([m["Body"] for m in got] == ["f0", "f1", "f2"], got)

# SNS fan-out to a queue with a filter policy.
topic = sns.create_topic(Name="py-events")["TopicArn"]
target = sqs.create_queue(QueueName="py-target")["QueueUrl"]
sns.subscribe(
    TopicArn=topic,
    Protocol="sqs",
    Endpoint="arn:aws:sqs:us-east-1:000000000000:py-target",
    Attributes={"FilterPolicy": json.dumps({"kind": ["keep"]}), "RawMessageDelivery": "true"},
)
for kind in ["keep", "drop"]:
    sns.publish(
        TopicArn=topic,
        Message=f"{kind} me",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
    )
got = sqs.receive_message(QueueUrl=target, MaxNumberOfMessages=10)["Messages"]
check([m["Body"] for m in got] == ["keep me"], got)
check(len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1, "subscriptions")
check(error_code(lambda: sns.get_topic_attributes(TopicArn=topic + "-missing")) == "NotFound", "missing topic")

# The AWS CLI, as a user would run it.
env = dict(
    os.environ,
    AWS_ACCESS_KEY_ID=ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY=SECRET,
    AWS_DEFAULT_REGION="us-east-1",
)


def aws(*args):
    out = subprocess.run(
        # `python -m awscli` works wherever pip put the `aws` script.
        [sys.executable, "-m", "awscli", "--endpoint-url", ENDPOINT, "--output", "json", *args],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out) if out.strip() else {}


cli_url = aws("sqs", "create-queue", "--queue-name", "cli-queue")["QueueUrl"]
aws("sqs", "send-message", "--queue-url", cli_url, "--message-body", "from the cli")
got = aws("sqs", "receive-message", "--queue-url", cli_url, "--wait-time-seconds", "1")
check(got["Messages"][0]["Body"] == "from the cli", got)
listed = aws("sqs", "list-queues")["QueueUrls"]
check(cli_url in listed, listed)
arn = aws("sns", "create-topic", "--name", "cli-topic")["TopicArn"]
published = aws("sns", "publish", "--topic-arn", arn, "--message", "hi")
check("MessageId" in published, published)
print("ok")
