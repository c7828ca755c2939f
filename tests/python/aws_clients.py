"""What the Python client tests share: boto3 clients for a Gatehouse
signing with the test fixtures' access key, and their small checks."""

import boto3
from botocore.exceptions import ClientError

ACCESS_KEY = "AKIDGATEHOUSETEST"
SECRET = "test-secret-not-for-production"


def clients(endpoint, key=ACCESS_KEY, secret=SECRET):
    """(sqs, sns) clients for the messaging API at `endpoint`, signing with
    the fixtures' administrator key unless told another."""
    kw = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )
    return boto3.client("sqs", **kw), boto3.client("sns", **kw)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def error(call):
    """The (code, message) of the AWS error `call` raises."""
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError("no error")


def error_code(call):
    return error(call)[0]
