"""trigger_model_training: an image pushed to the model's ECR repository starts a training
job with that image (pinned by digest), on the data prefix's current objects.

Event: EventBridge `ECR Image Action` (source aws.ecr), detail
{"action-type": "PUSH", "result": "SUCCESS", "repository-name", "image-digest", "image-tag"}.
Configuration (environment): NAME, BUCKET, EXECUTION_ROLE_ARN, INSTANCE_TYPE."""
import json
import os

import boto3
from botocore.exceptions import ClientError

sagemaker = boto3.client("sagemaker")
ecr = boto3.client("ecr")

NAME = os.environ.get("NAME", "churn")
BUCKET = os.environ["BUCKET"]
ROLE = os.environ["EXECUTION_ROLE_ARN"]
INSTANCE_TYPE = os.environ.get("INSTANCE_TYPE", "ml.m5.large")

# What the quickstart's training runs: gradient-boosted trees on CSVs `label,x1,x2,x3`
# (label first, no header), with the validation AUC as the job's metric.
HYPERPARAMETERS = {"objective": "binary:logistic", "num_round": "30", "max_depth": "3"}
METRICS = [{"Name": "validation:auc", "Regex": "validation:auc=([0-9.]+)"}]


def training_job(name, image):
    """The training job's request: the same for a push and for new data."""
    channel = lambda channel: {
        "ChannelName": channel,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                        "S3Uri": f"s3://{BUCKET}/{NAME}/{channel}/"}},
        "ContentType": "text/csv",
    }
    return dict(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File",
                                "MetricDefinitions": METRICS},
        HyperParameters=HYPERPARAMETERS,
        InputDataConfig=[channel("train"), channel("validation")],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/{NAME}/models"},
        ResourceConfig={"InstanceType": INSTANCE_TYPE, "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        RoleArn=ROLE,
    )


def lambda_handler(event, context):
    detail = event["detail"]
    if detail.get("action-type") != "PUSH" or detail.get("result", "SUCCESS") != "SUCCESS":
        return {"ignored": detail}
    repository, digest = detail["repository-name"], detail["image-digest"]
    uri = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]["repositoryUri"]
    image = f"{uri}@{digest}"
    # Named after the image: a redelivered event finds its job already there.
    name = f"{NAME}-{digest.split(':')[-1][:12]}"
    try:
        arn = sagemaker.create_training_job(**training_job(name, image))["TrainingJobArn"]
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUse":
            raise
        print(f"{name} exists already (a duplicate event)")
        return {"TrainingJobName": name, "Duplicate": True}
    print(json.dumps({"started": name, "image": image, "tag": detail.get("image-tag")}))
    return {"TrainingJobName": name, "TrainingJobArn": arn, "TrainingImage": image}
