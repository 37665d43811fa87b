"""evaluate_model_function: a training job that completed is evaluated by a processing job
on the held-out test data, with the group's champion (its latest Approved version) on the
same data, so the registration can compare the two.

Event: EventBridge `SageMaker Training Job State Change` (source aws.sagemaker); the detail
is DescribeTrainingJob's answer: TrainingJobName, TrainingJobStatus,
ModelArtifacts.S3ModelArtifacts, FinalMetricDataList, ...

The evaluator's contract (a SageMaker processing container): the candidate model in
/opt/ml/processing/model/, the test CSVs in /opt/ml/processing/test/, the champion in
/opt/ml/processing/champion/; it writes SageMaker's model-quality report to
/opt/ml/processing/evaluation/evaluation.json (and champion-evaluation.json), uploaded next
to the model under evaluations/<job>/. On trainyard the image `trainyard/evaluator` is that
container, built in; on AWS, set EVALUATOR_IMAGE to an image of yours that does the same.
Configuration (environment): NAME, BUCKET, MODEL_GROUP, EXECUTION_ROLE_ARN, EVALUATOR_IMAGE,
INSTANCE_TYPE."""
import json
import os

import boto3
from botocore.exceptions import ClientError

sagemaker = boto3.client("sagemaker")

NAME = os.environ.get("NAME", "churn")
BUCKET = os.environ["BUCKET"]
GROUP = os.environ.get("MODEL_GROUP", NAME)
ROLE = os.environ["EXECUTION_ROLE_ARN"]
EVALUATOR_IMAGE = os.environ.get("EVALUATOR_IMAGE", "trainyard/evaluator:latest")
INSTANCE_TYPE = os.environ.get("INSTANCE_TYPE", "ml.m5.large")


def champion():
    """The group's latest Approved version: (version, its model's S3 URI), or None."""
    listed = sagemaker.list_model_packages(ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
                                           SortBy="CreationTime", SortOrder="Descending")
    for summary in listed["ModelPackageSummaryList"]:
        package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if package["ModelApprovalStatus"] == "Approved":
            model = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
            return package["ModelPackageVersion"], model
    return None


def s3_input(name, uri):
    return {"InputName": name,
            "S3Input": {"S3Uri": uri, "LocalPath": f"/opt/ml/processing/{name}",
                        "S3DataType": "S3Prefix", "S3InputMode": "File"}}


def lambda_handler(event, context):
    detail = event["detail"]
    job, status = detail["TrainingJobName"], detail["TrainingJobStatus"]
    if status != "Completed" or not job.startswith(f"{NAME}-"):
        return {"ignored": job, "status": status}
    model = detail["ModelArtifacts"]["S3ModelArtifacts"]
    evaluation = f"{job}-eval"
    inputs = [s3_input("model", model), s3_input("test", f"s3://{BUCKET}/{NAME}/test/")]
    arguments = []
    found = champion()
    if found:
        version, champion_model = found
        inputs.append(s3_input("champion", champion_model))
        arguments += ["--champion-version", str(version)]
    # What the registration needs to know besides the report (DescribeProcessingJob has it).
    environment = {"TRAINING_JOB_NAME": job}
    if found:
        environment["CHAMPION_MODEL_PACKAGE_VERSION"] = str(found[0])
    # The report goes next to the model: s3://.../<job>/output/evaluations/<evaluation>/
    output = f"{model.rsplit('/', 1)[0]}/evaluations/{evaluation}/"
    application = {"ImageUri": EVALUATOR_IMAGE}
    if arguments:  # SageMaker takes no empty list
        application["ContainerArguments"] = arguments
    try:
        sagemaker.create_processing_job(
            ProcessingJobName=evaluation,
            AppSpecification=application,
            ProcessingInputs=inputs,
            ProcessingOutputConfig={"Outputs": [{"OutputName": "evaluation", "S3Output": {
                "S3Uri": output, "LocalPath": "/opt/ml/processing/evaluation", "S3UploadMode": "EndOfJob"}}]},
            ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": INSTANCE_TYPE,
                                                   "VolumeSizeInGB": 10}},
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
            Environment=environment,
            RoleArn=ROLE,
        )
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUse":
            raise
        return {"ProcessingJobName": evaluation, "Duplicate": True}
    print(json.dumps({"evaluating": model, "job": evaluation, "champion": found[0] if found else None}))
    return {"ProcessingJobName": evaluation, "Report": f"{output}evaluation.json"}
