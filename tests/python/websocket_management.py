"""The @connections API through boto3's apigatewaymanagementapi client,
unmodified, with endpoint_url at Gatehouse's messaging listener. The test
passes the connection id in CONNECTION_ID and watches the client side."""
import os
import sys

import boto3
from botocore.exceptions import ClientError

endpoint, case = sys.argv[1], sys.argv[2]
client = boto3.client(
    "apigatewaymanagementapi",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=os.environ.get("KEY", "AKIDGATEHOUSETEST"),
    aws_secret_access_key=os.environ.get("SECRET", "test-secret-not-for-production"),
)
cid = os.environ["CONNECTION_ID"]


def expect_error(code, status, call):
    try:
        call()
    except ClientError as e:
        got = (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
        assert got == (code, status), got
        return
    raise AssertionError(f"expected {code}")


if case == "post":
    out = client.post_to_connection(ConnectionId=cid, Data=b'{"from":"boto3"}')
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200, out
elif case == "describe":
    out = client.get_connection(ConnectionId=cid)
    assert out["Identity"]["SourceIp"] == "127.0.0.1", out
    assert out["Identity"]["UserAgent"] == "ws-test/1", out
    assert out["ConnectedAt"] <= out["LastActiveAt"], out
    assert out["ConnectedAt"].year >= 2024, out
elif case == "delete":
    client.delete_connection(ConnectionId=cid)
elif case == "gone":
    expect_error("GoneException", 410, lambda: client.post_to_connection(ConnectionId=cid, Data=b"x"))
    expect_error("GoneException", 410, lambda: client.get_connection(ConnectionId=cid))
    expect_error("GoneException", 410, lambda: client.delete_connection(ConnectionId=cid))
elif case == "too_large":
    expect_error("PayloadTooLargeException", 413,
                 lambda: client.post_to_connection(ConnectionId=cid, Data=b"x" * (128 * 1024 + 1)))
elif case == "bad_secret":
    expect_error("ForbiddenException", 403, lambda: client.post_to_connection(ConnectionId=cid, Data=b"x"))
else:
    raise SystemExit(f"unknown case {case}")
print("ok")
