"""PyPI's amazon-sqs-extended-client against Gatehouse's offloaded bodies
(issue 16, item 14), with moto's S3 as the bucket. Run by
tests/large_payloads.rs.

Usage: extended_client.py ENDPOINT_URL CASE   (env: MOTO_URL, BIG_SIZE)
"""

import json
import os
import sys

import boto3
from sqs_extended_client import SQSExtendedClientSession

from aws_clients import ACCESS_KEY, SECRET, check

ENDPOINT = sys.argv[1]
BUCKET = "payloads"
s3 = boto3.client("s3", endpoint_url=os.environ["MOTO_URL"], region_name="us-east-1",
                  aws_access_key_id="moto", aws_secret_access_key="moto")


def extended():
    session = SQSExtendedClientSession(aws_access_key_id=ACCESS_KEY,
                                       aws_secret_access_key=SECRET, region_name="us-east-1")
    client = session.client("sqs", endpoint_url=ENDPOINT)
    client.s3_client = s3
    client.large_payload_support = BUCKET
    client.delete_payload_from_s3 = True
    return client


def pattern(size):
    """What tests/large_payloads.rs sends: a 16-character run, repeated."""
    return ("0123456789abcdef" * (size // 16 + 1))[:size]


def url(name):
    return f"{ENDPOINT}/000000000000/{name}"


def receive_offloaded():
    big = int(os.environ["BIG_SIZE"])
    ext = extended()
    for queue, sizes in [("inbox", [big, 1000]), ("fanout", [big])]:
        # (What is on the queue, the pointer, tests/large_payloads.rs checks
        # with the Rust SDK: importing the extended client makes every boto3
        # SQS client follow pointers.)
        # What the extended client reads: the whole body.
        got = ext.receive_message(QueueUrl=url(queue), MaxNumberOfMessages=10,
                                  WaitTimeSeconds=1)["Messages"]
        check(sorted(len(m["Body"]) for m in got) == sorted(sizes), [len(m["Body"]) for m in got])
        for m in got:
            check(m["Body"] == pattern(len(m["Body"])), "body differs")
            ext.delete_message(QueueUrl=url(queue), ReceiptHandle=m["ReceiptHandle"])
    # Deleting through the extended client deleted the objects too.
    left = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    check(left == [], left)


def send_for_flow():
    """A record the extended client offloads itself, for the flow to read."""
    record = {"id": "from-python", "blob": pattern(2 * 1024 * 1024)}
    ext = extended()
    ext.send_message(QueueUrl=url("records"), MessageBody=json.dumps(record))


CASES = {f.__name__: f for f in [receive_offloaded, send_for_flow]}

if __name__ == "__main__":
    CASES[sys.argv[2]]()
    print("ok")
