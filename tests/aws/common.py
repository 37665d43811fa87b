"""What the boto3 checks share."""
from botocore.exceptions import ClientError


def code(call):
    """The AWS error code a call raises, or "ok"."""
    try:
        call()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]
