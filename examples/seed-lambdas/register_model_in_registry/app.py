"""register_model_in_registry: a finished evaluation registers its model in the model
package group, with the evaluation report as the package's model-quality metrics and an
approval decided by the gate:

    auc >= MIN_AUC                        (an absolute floor, 0.8 by default)
    auc >= champion's auc - MAX_AUC_DROP  (no worse than the serving model, 0.02 by default,
                                           both measured by the same job on the same data)

Passing registers it `Approved` (which starts the deployment); failing, `Rejected`, with
the reason in its metadata.

Event: EventBridge `SageMaker Processing Job State Change` (source aws.sagemaker); the
detail is DescribeProcessingJob's answer: ProcessingJobName, ProcessingJobStatus,
ProcessingInputs, ProcessingOutputConfig, Environment, ...
Configuration (environment): NAME, MODEL_GROUP, MIN_AUC, MAX_AUC_DROP."""
import json
import os

import boto3
from botocore.exceptions import ClientError

sagemaker = boto3.client("sagemaker")
s3 = boto3.client("s3")

NAME = os.environ.get("NAME", "churn")
GROUP = os.environ.get("MODEL_GROUP", NAME)
MIN_AUC = float(os.environ.get("MIN_AUC", "0.8"))
MAX_AUC_DROP = float(os.environ.get("MAX_AUC_DROP", "0.02"))


def read_json(uri):
    """An S3 JSON document, or None when there is no such object."""
    bucket, key = uri[len("s3://"):].split("/", 1)
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as e:
        if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise


def metric(report, name):
    """A metric's value in SageMaker's model-quality layout."""
    for section in ("binary_classification_metrics", "multiclass_classification_metrics", "regression_metrics"):
        if section in report and name in report[section]:
            return float(report[section][name]["value"])
    return None


def registered(evaluation):
    """The version this evaluation registered already (a redelivered event), if any."""
    listed = sagemaker.list_model_packages(ModelPackageGroupName=GROUP, SortBy="CreationTime",
                                           SortOrder="Descending")
    for summary in listed["ModelPackageSummaryList"]:
        package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if package.get("CustomerMetadataProperties", {}).get("evaluation-job") == evaluation:
            return package
    return None


def lambda_handler(event, context):
    detail = event["detail"]
    job, status = detail["ProcessingJobName"], detail["ProcessingJobStatus"]
    if status != "Completed" or not (job.startswith(f"{NAME}-") and job.endswith("-eval")):
        return {"ignored": job, "status": status}
    if "ProcessingOutputConfig" not in detail:
        detail = sagemaker.describe_processing_job(ProcessingJobName=job)
    existing = registered(job)
    if existing:
        return {"ModelPackageArn": existing["ModelPackageArn"], "Duplicate": True}

    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in detail["ProcessingInputs"]}
    outputs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in detail["ProcessingOutputConfig"]["Outputs"]}
    base = outputs["evaluation"].rstrip("/")
    report = read_json(f"{base}/evaluation.json")
    if report is None:
        raise RuntimeError(f"{job} wrote no {base}/evaluation.json")
    champion_report = read_json(f"{base}/champion-evaluation.json") if "champion" in inputs else None

    auc = metric(report, "auc")
    reasons = []
    if auc is None or auc < MIN_AUC:
        reasons.append(f"auc {auc} < {MIN_AUC}")
    champion_auc = metric(champion_report, "auc") if champion_report else None
    if champion_auc is not None and auc is not None and auc < champion_auc - MAX_AUC_DROP:
        reasons.append(f"auc {auc:.4f} < champion's {champion_auc:.4f} - {MAX_AUC_DROP}")
    approval = "Rejected" if reasons else "Approved"

    training_job = detail.get("Environment", {}).get("TRAINING_JOB_NAME", job[: -len("-eval")])
    trained = sagemaker.describe_training_job(TrainingJobName=training_job)
    model = inputs["model"]
    metadata = {"training-job": training_job, "evaluation-job": job, "auc": f"{auc:.4f}" if auc else "none",
                "gate": "passed" if not reasons else "; ".join(reasons)[:256]}
    if champion_auc is not None:
        metadata["champion-auc"] = f"{champion_auc:.4f}"
        metadata["champion-version"] = detail.get("Environment", {}).get("CHAMPION_MODEL_PACKAGE_VERSION", "")
    created = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelPackageDescription=f"trained by {training_job}, evaluated by {job}",
        InferenceSpecification={
            "Containers": [{"Image": trained["AlgorithmSpecification"]["TrainingImage"], "ModelDataUrl": model}],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["text/csv", "application/json"],
        },
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                      "S3Uri": f"{base}/evaluation.json"}}},
        ModelApprovalStatus=approval,
        CustomerMetadataProperties=metadata,
    )
    print(json.dumps({"registered": created["ModelPackageArn"], "approval": approval, "auc": auc,
                      "champion_auc": champion_auc, "reasons": reasons}))
    return {"ModelPackageArn": created["ModelPackageArn"], "ModelApprovalStatus": approval, "Reasons": reasons}
