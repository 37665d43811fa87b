"""Deploys the seed's five Lambda functions with plain boto3: their least-privilege IAM
roles, the functions (each directory zipped in memory), and the EventBridge rules that
drive them. Against trainyard: `eval "$(trainyard aws env)"; python deploy.py`; against AWS,
with your usual credentials (and --evaluator-image, see README.md). Idempotent: running it
again updates the code, configuration and policies in place.

What it makes (NAME is --name, churn by default):
  the data bucket, the model package group and the ECR repository, if missing;
  role NAME-sagemaker-execution (the training and evaluation jobs run as it);
  for each function F: role NAME-F (trusting Lambda, policy F/policy.json) and function NAME-F;
  rules NAME-on-image-push, -on-training, -on-evaluation, -on-approval, -on-new-data."""
import argparse
import io
import json
import os
import string
import time
import zipfile

import boto3
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
POLICY_NAME = "least-privilege"

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--name", default="churn", help="the model: prefix of jobs, functions, roles and rules")
parser.add_argument("--bucket", default="seed-data", help="the data bucket (NAME/train/, validation/, test/)")
parser.add_argument("--repository", help="the ECR repository of the training image (default: NAME)")
parser.add_argument("--group", help="the model package group (default: NAME)")
parser.add_argument("--endpoint", help="the endpoint (default: NAME)")
parser.add_argument("--evaluator-image", default="trainyard/evaluator:latest",
                    help="the evaluation processing image (trainyard's built-in evaluator by default)")
parser.add_argument("--min-auc", default="0.8")
parser.add_argument("--max-auc-drop", default="0.02")
parser.add_argument("--runtime", default="python3.11")
args = parser.parse_args()
NAME = args.name
REPOSITORY = args.repository or NAME
GROUP = args.group or NAME
ENDPOINT = args.endpoint or NAME

iam = boto3.client("iam")
lam = boto3.client("lambda")
events = boto3.client("events")
s3 = boto3.client("s3")
sagemaker = boto3.client("sagemaker")
ecr = boto3.client("ecr")


def code_of(error):
    return error.response["Error"]["Code"]


def load(path, **values):
    """A JSON file of this directory with ${NAME}-style placeholders filled in."""
    with open(os.path.join(HERE, path)) as f:
        text = string.Template(f.read()).substitute(
            NAME=NAME, BUCKET=args.bucket, REPOSITORY=REPOSITORY, GROUP=GROUP, ENDPOINT=ENDPOINT,
            EXECUTION_ROLE=f"{NAME}-sagemaker-execution", **values)
    return json.loads(text)


def role(name, directory, **values):
    """Creates (or refreshes) a role with the directory's trust and inline policy: its ARN."""
    trust = json.dumps(load(f"{directory}/role.json", **values))
    try:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust,
                              Description=f"{NAME}: {directory}")["Role"]["Arn"]
        print(f"role      {name}: created")
    except ClientError as e:
        if code_of(e) != "EntityAlreadyExists":
            raise
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
        print(f"role      {name}: exists")
    iam.put_role_policy(RoleName=name, PolicyName=POLICY_NAME,
                        PolicyDocument=json.dumps(load(f"{directory}/policy.json", **values)))
    return arn


def zipped(directory):
    """The function's code: the directory's Python files, zipped in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(os.listdir(os.path.join(HERE, directory))):
            if file.endswith(".py"):
                archive.write(os.path.join(HERE, directory, file), file)
    return buffer.getvalue()


def function(name, role_arn, directory, environment):
    """Creates or updates the function: its ARN."""
    settings = dict(Runtime=args.runtime, Role=role_arn, Handler="app.lambda_handler", Timeout=120,
                    MemorySize=256, Description=f"{NAME}: {directory}",
                    Environment={"Variables": environment})
    code = zipped(directory)
    for attempt in range(15):
        try:
            arn = lam.create_function(FunctionName=name, Code={"ZipFile": code}, **settings)["FunctionArn"]
            print(f"function  {name}: created")
            return arn
        except ClientError as e:
            if code_of(e) == "ResourceConflictException":
                break
            # On AWS a new role takes a few seconds before Lambda may assume it.
            if code_of(e) == "InvalidParameterValueException" and "assume" in str(e) and attempt < 14:
                time.sleep(2)
                continue
            raise
    lam.update_function_code(FunctionName=name, ZipFile=code)
    for attempt in range(30):
        try:
            arn = lam.update_function_configuration(FunctionName=name, **settings)["FunctionArn"]
            break
        except ClientError as e:
            # AWS refuses a configuration change while the code update is in progress.
            if code_of(e) != "ResourceConflictException" or attempt == 29:
                raise
            time.sleep(1)
    print(f"function  {name}: updated")
    return arn


def rule(name, pattern, function_name, function_arn, description):
    """The rule, its one target (the function), and the function's permission for it."""
    rule_arn = events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED",
                               Description=description)["RuleArn"]
    # Lambda allows `-` and `_` in statement ids; trainyard's policy check takes alphanumerics only.
    statement = "EventBridge" + "".join(c for c in name.title() if c.isalnum())
    try:
        lam.add_permission(FunctionName=function_name, StatementId=statement,
                           Action="lambda:InvokeFunction", Principal="events.amazonaws.com", SourceArn=rule_arn)
    except ClientError as e:
        if code_of(e) != "ResourceConflictException":
            raise
    events.put_targets(Rule=name, Targets=[{"Id": "function", "Arn": function_arn}])
    print(f"rule      {name} -> {function_name}")


# What the loop works on: made if missing.
try:
    s3.head_bucket(Bucket=args.bucket)
except ClientError:
    s3.create_bucket(Bucket=args.bucket)
    print(f"bucket    {args.bucket}: created")
try:
    # AWS sends a bucket's object events to EventBridge only when asked to; trainyard always does.
    s3.put_bucket_notification_configuration(Bucket=args.bucket,
                                             NotificationConfiguration={"EventBridgeConfiguration": {}})
except ClientError as e:
    print(f"bucket    {args.bucket}: EventBridge notifications not configurable here ({code_of(e)})")
try:
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP,
                                         ModelPackageGroupDescription=f"{NAME}, registered by its pipeline")
    print(f"group     {GROUP}: created")
except ClientError as e:
    if "exist" not in str(e).lower():
        raise
try:
    ecr.create_repository(repositoryName=REPOSITORY)
    print(f"ecr       {REPOSITORY}: created")
except ClientError as e:
    if code_of(e) != "RepositoryAlreadyExistsException":
        raise

execution = role(f"{NAME}-sagemaker-execution", "execution_role")
environment = {"NAME": NAME, "BUCKET": args.bucket, "REPOSITORY": REPOSITORY, "MODEL_GROUP": GROUP,
               "ENDPOINT": ENDPOINT, "EXECUTION_ROLE_ARN": execution, "EVALUATOR_IMAGE": args.evaluator_image,
               "MIN_AUC": args.min_auc, "MAX_AUC_DROP": args.max_auc_drop}
sagemaker_event = lambda kind, detail: {"source": ["aws.sagemaker"], "detail-type": [kind], "detail": detail}
RULES = {
    "trigger_model_training": ("on-image-push", {
        "source": ["aws.ecr"], "detail-type": ["ECR Image Action"],
        "detail": {"action-type": ["PUSH"], "result": ["SUCCESS"], "repository-name": [REPOSITORY]}}),
    "evaluate_model_function": ("on-training", sagemaker_event(
        "SageMaker Training Job State Change",
        {"TrainingJobStatus": ["Completed"], "TrainingJobName": [{"prefix": f"{NAME}-"}]})),
    "register_model_in_registry": ("on-evaluation", sagemaker_event(
        "SageMaker Processing Job State Change",
        {"ProcessingJobStatus": ["Completed"], "ProcessingJobName": [{"prefix": f"{NAME}-"}]})),
    "deploy_sagemaker_model": ("on-approval", sagemaker_event(
        "SageMaker Model Package State Change",
        {"ModelPackageGroupName": [GROUP], "ModelApprovalStatus": ["Approved"]})),
    "retrain_model_on_new_data": ("on-new-data", {
        "source": ["aws.s3"], "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [args.bucket]}, "object": {"key": [{"prefix": f"{NAME}/train/"}]}}}),
}
for directory, (suffix, pattern) in RULES.items():
    name = f"{NAME}-{directory.replace('_', '-')}"
    arn = function(name, role(name, directory, FUNCTION=name), directory, environment)
    rule(f"{NAME}-{suffix}", pattern, name, arn, f"{NAME}: {directory}")
print(f"done: push an image to {REPOSITORY}, or put training data under s3://{args.bucket}/{NAME}/train/")
