"""retrain_model_on_new_data: a new object under the training data prefix starts a training
job on all the data there, with the latest image pushed to the model's ECR repository
(the quickstart's retraining), or SageMaker's XGBoost image when none was pushed yet.

Event: EventBridge `Object Created` (source aws.s3), detail
{"bucket": {"name"}, "object": {"key", "size", "etag", "sequencer"}, "reason", ...}.
Configuration (environment): NAME, BUCKET, REPOSITORY, EXECUTION_ROLE_ARN,
FALLBACK_IMAGE, INSTANCE_TYPE."""
import json
import os

import boto3
from botocore.exceptions import ClientError

sagemaker = boto3.client("sagemaker")
ecr = boto3.client("ecr")

NAME = os.environ.get("NAME", "churn")
BUCKET = os.environ["BUCKET"]
REPOSITORY = os.environ.get("REPOSITORY", NAME)
ROLE = os.environ["EXECUTION_ROLE_ARN"]
INSTANCE_TYPE = os.environ.get("INSTANCE_TYPE", "ml.m5.large")
FALLBACK_IMAGE = os.environ.get(
    "FALLBACK_IMAGE", "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1")
HYPERPARAMETERS = {"objective": "binary:logistic", "num_round": "30", "max_depth": "3"}
METRICS = [{"Name": "validation:auc", "Regex": "validation:auc=([0-9.]+)"}]


def latest_image():
    """The newest image of the repository, by digest; the fallback when there is none."""
    try:
        uri = ecr.describe_repositories(repositoryNames=[REPOSITORY])["repositories"][0]["repositoryUri"]
        images = ecr.describe_images(repositoryName=REPOSITORY)["imageDetails"]
    except ClientError as e:
        if e.response["Error"]["Code"] != "RepositoryNotFoundException":
            raise
        return FALLBACK_IMAGE
    if not images:
        return FALLBACK_IMAGE
    newest = max(images, key=lambda i: i["imagePushedAt"])
    return f"{uri}@{newest['imageDigest']}"


def lambda_handler(event, context):
    detail = event["detail"]
    bucket, key = detail["bucket"]["name"], detail["object"]["key"]
    if bucket != BUCKET or not key.startswith(f"{NAME}/train/"):
        return {"ignored": f"s3://{bucket}/{key}"}
    # One job per version of an object: a redelivered event names the same one.
    version = detail["object"].get("sequencer") or detail["object"].get("etag") or event["id"]
    name = f"{NAME}-d{version.lower()[-16:]}"
    image = latest_image()
    channel = lambda channel: {
        "ChannelName": channel,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                        "S3Uri": f"s3://{BUCKET}/{NAME}/{channel}/"}},
        "ContentType": "text/csv",
    }
    try:
        arn = sagemaker.create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File",
                                    "MetricDefinitions": METRICS},
            HyperParameters=HYPERPARAMETERS,
            InputDataConfig=[channel("train"), channel("validation")],
            OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/{NAME}/models"},
            ResourceConfig={"InstanceType": INSTANCE_TYPE, "InstanceCount": 1, "VolumeSizeInGB": 10},
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
            RoleArn=ROLE,
        )["TrainingJobArn"]
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUse":
            raise
        return {"TrainingJobName": name, "Duplicate": True}
    print(json.dumps({"started": name, "image": image, "because": f"s3://{bucket}/{key}"}))
    return {"TrainingJobName": name, "TrainingJobArn": arn, "TrainingImage": image}
