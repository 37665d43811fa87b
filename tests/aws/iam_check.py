"""IAM through the AWS endpoint with plain boto3 (query protocol): roles and users, inline
and managed policies, an access key that then signs, and AWS's errors. Prints one JSON object."""
import json

from common import client, code

iam = client("iam")
results = {}
trust = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
created = iam.create_role(RoleName="sm-boto", AssumeRolePolicyDocument=json.dumps(trust), Description="for jobs")
results["role_arn"] = created["Role"]["Arn"]
role = iam.get_role(RoleName="sm-boto")["Role"]
results["trust"] = role["AssumeRolePolicyDocument"]
results["roles"] = [r["RoleName"] for r in iam.list_roles()["Roles"]]
read = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
iam.put_role_policy(RoleName="sm-boto", PolicyName="read", PolicyDocument=json.dumps(read))
policy = iam.create_policy(PolicyName="boto-read", PolicyDocument=json.dumps(read))["Policy"]
iam.attach_role_policy(RoleName="sm-boto", PolicyArn=policy["Arn"])
iam.create_user(UserName="boto-user", Tags=[{"Key": "team", "Value": "a"}])
results["user_tags"] = iam.get_user(UserName="boto-user")["User"].get("Tags", [])
key = iam.create_access_key(UserName="boto-user")["AccessKey"]
results["keys"] = [k["AccessKeyId"] for k in iam.list_access_keys(UserName="boto-user")["AccessKeyMetadata"]]
results["key_id"] = key["AccessKeyId"]
signer = client("sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                      aws_session_token=None)
results["signed_as"] = signer.get_caller_identity()["Arn"]
results["missing"] = code(lambda: iam.get_role(RoleName="nope"))
results["malformed"] = code(lambda: iam.put_role_policy(RoleName="sm-boto", PolicyName="bad", PolicyDocument="{}"))
results["duplicate"] = code(lambda: iam.create_user(UserName="boto-user"))
user_iam = client("iam", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                        aws_session_token=None)
results["escalation"] = code(lambda: user_iam.attach_user_policy(
    UserName="boto-user", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"))
print(json.dumps(results))
