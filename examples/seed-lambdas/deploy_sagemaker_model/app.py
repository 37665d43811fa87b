"""deploy_sagemaker_model: an approved model package is deployed to the endpoint: a model
of the package, an endpoint configuration of that model, then CreateEndpoint (the first
time) or UpdateEndpoint with a blue/green canary (50% of the capacity first, then all),
rolled back by SageMaker if the new fleet fails.

Event: EventBridge `SageMaker Model Package State Change` (source aws.sagemaker), detail
{"ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn", "ModelApprovalStatus",
"ModelDataUrl", ...}.
Configuration (environment): NAME, MODEL_GROUP, ENDPOINT, EXECUTION_ROLE_ARN,
INSTANCE_TYPE."""
import json
import os
import re
import time

import boto3
from botocore.exceptions import ClientError

sagemaker = boto3.client("sagemaker")

NAME = os.environ.get("NAME", "churn")
GROUP = os.environ.get("MODEL_GROUP", NAME)
ENDPOINT = os.environ.get("ENDPOINT", NAME)
ROLE = os.environ["EXECUTION_ROLE_ARN"]
INSTANCE_TYPE = os.environ.get("INSTANCE_TYPE", "ml.m5.large")
CANARY = {"BlueGreenUpdatePolicy": {
    "TrafficRoutingConfiguration": {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                                    "WaitIntervalInSeconds": 1},
    "TerminationWaitInSeconds": 0,
    "MaximumExecutionTimeoutInSeconds": 600}}


def exists(error):
    """A create refused because the resource is there already (a redelivered event)."""
    message = error.response["Error"].get("Message", "")
    return error.response["Error"]["Code"] in ("ValidationException", "ResourceInUse") and (
        "exist" in message.lower())


def endpoint():
    try:
        return sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    except ClientError as e:
        if e.response["Error"]["Code"] == "ValidationException":
            return None
        raise


def served_version(described):
    """The package version the endpoint's configuration serves (named `<name>-v<version>`)."""
    found = re.fullmatch(rf"{re.escape(NAME)}-v(\d+)", described.get("EndpointConfigName", ""))
    return int(found.group(1)) if found else None


def lambda_handler(event, context):
    detail = event["detail"]
    if detail.get("ModelApprovalStatus") != "Approved" or detail.get("ModelPackageGroupName") != GROUP:
        return {"ignored": detail.get("ModelPackageArn")}
    version = int(detail["ModelPackageVersion"])
    package = detail["ModelPackageArn"]
    name = f"{NAME}-v{version}"
    try:
        sagemaker.create_model(ModelName=name, PrimaryContainer={"ModelPackageName": package},
                               ExecutionRoleArn=ROLE)
    except ClientError as e:
        if not exists(e):
            raise
    try:
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1,
            "InstanceType": INSTANCE_TYPE, "InitialVariantWeight": 1.0}])
    except ClientError as e:
        if not exists(e):
            raise

    described = endpoint()
    if described is None:
        sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=name)
        print(json.dumps({"created": ENDPOINT, "serving": package}))
        return {"EndpointName": ENDPOINT, "EndpointConfigName": name, "Action": "create"}
    # Wait out a deployment in progress (an earlier version's), within the function's time.
    while described["EndpointStatus"] in ("Creating", "Updating", "SystemUpdating", "RollingBack"):
        if context.get_remaining_time_in_millis() < 10_000:
            raise RuntimeError(f"{ENDPOINT} is still {described['EndpointStatus']}; retry later")
        time.sleep(2)
        described = endpoint()
    current = served_version(described)
    if described.get("EndpointConfigName") == name or (current is not None and current > version):
        # Already deployed, or a newer version is: a late or duplicated approval changes nothing.
        return {"EndpointName": ENDPOINT, "Serving": described.get("EndpointConfigName"), "Duplicate": True}
    if described["EndpointStatus"] == "Failed":
        sagemaker.delete_endpoint(EndpointName=ENDPOINT)
        while endpoint() is not None:
            time.sleep(1)
        sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=name)
        return {"EndpointName": ENDPOINT, "EndpointConfigName": name, "Action": "recreate"}
    sagemaker.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=name, DeploymentConfig=CANARY)
    print(json.dumps({"updated": ENDPOINT, "from": described.get("EndpointConfigName"), "to": name}))
    return {"EndpointName": ENDPOINT, "EndpointConfigName": name, "Action": "update"}
