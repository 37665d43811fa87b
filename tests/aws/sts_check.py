"""STS through the AWS endpoint with plain boto3: who each credential is, a role assumed,
and the errors AWS gives for a wrong secret or an unknown key. Prints one JSON object."""
import json
import os
import sys

from common import client, code

endpoint, key_id, secret, role_arn = sys.argv[1:5]
results = {}


def sts(**credentials):
    return client("sts", endpoint_url=endpoint, region_name="us-east-1", **credentials)



user = sts(aws_access_key_id=key_id, aws_secret_access_key=secret)
results["user"] = user.get_caller_identity()["Arn"]
assumed = user.assume_role(RoleArn=role_arn, RoleSessionName="boto-1", DurationSeconds=900)
c = assumed["Credentials"]
session = sts(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
              aws_session_token=c["SessionToken"])
results["session"] = session.get_caller_identity()["Arn"]
results["session_without_token"] = code(
    lambda: sts(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"]).get_caller_identity())
results["wrong_secret"] = code(lambda: sts(aws_access_key_id=key_id, aws_secret_access_key=secret + "x").get_caller_identity())
results["unknown_key"] = code(
    lambda: sts(aws_access_key_id="AKIAUNKNOWNUNKNOWN00", aws_secret_access_key=secret).get_caller_identity())
results["unknown_action"] = code(lambda: user.get_session_token())
# The environment `trainyard aws env` printed (root's session), if given.
if os.environ.get("AWS_SESSION_TOKEN"):
    results["root"] = client("sts").get_caller_identity()["Arn"]
print(json.dumps(results))
