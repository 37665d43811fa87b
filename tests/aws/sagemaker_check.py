"""SageMaker training jobs through the AWS endpoint with plain boto3 (credentials and
endpoint from the environment `trainyard aws env` printed): create, the SDK's waiter,
describe, list, not-found as ValidationException, and a key allowed only Describe*
refused the create. Prints one JSON object."""
import json
import sys

from common import client, code

role_arn, reader_key, reader_secret = sys.argv[1:4]
results = {}
sm = client("sagemaker")



job = dict(
    TrainingJobName="boto-gbdt",
    AlgorithmSpecification={"AlgorithmName": "gbdt", "TrainingInputMode": "File"},
    RoleArn=role_arn,
    HyperParameters={"objective": "binary:logistic", "num_round": "20", "max_depth": "3"},
    InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": "s3://ml-data/blobs/train/", "S3DataDistributionType": "FullyReplicated"}}}],
    OutputDataConfig={"S3OutputPath": "s3://ml-data/models"},
    ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
    StoppingCondition={"MaxRuntimeInSeconds": 600},
)
reader = client("sagemaker", aws_access_key_id=reader_key, aws_secret_access_key=reader_secret,
                      aws_session_token=None)
results["reader_create"] = code(lambda: reader.create_training_job(**job))
created = sm.create_training_job(**job)
results["arn"] = created["TrainingJobArn"]
sm.get_waiter("training_job_completed_or_stopped").wait(
    TrainingJobName="boto-gbdt", WaiterConfig={"Delay": 1, "MaxAttempts": 300})
described = sm.describe_training_job(TrainingJobName="boto-gbdt")
results["status"] = described["TrainingJobStatus"]
results["model"] = described.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
results["reader_describe"] = reader.describe_training_job(TrainingJobName="boto-gbdt")["TrainingJobStatus"]
results["listed"] = [s["TrainingJobName"] for s in sm.list_training_jobs()["TrainingJobSummaries"]]
results["missing"] = code(lambda: sm.describe_training_job(TrainingJobName="no-such-job"))
# The model registry: a group, a package of the trained model, its approval.
group = sm.create_model_package_group(ModelPackageGroupName="boto-group", ModelPackageGroupDescription="churn")
results["group_arn"] = group["ModelPackageGroupArn"]
package = sm.create_model_package(
    ModelPackageGroupName="boto-group", ModelApprovalStatus="PendingManualApproval",
    InferenceSpecification={"Containers": [{"Image": "gbdt", "ModelDataUrl": results["model"]}],
                            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})
results["package_arn"] = package["ModelPackageArn"]
results["packages"] = len(sm.list_model_packages(ModelPackageGroupName="boto-group")["ModelPackageSummaryList"])
sm.update_model_package(ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus="Approved")
results["approval"] = sm.describe_model_package(ModelPackageName=package["ModelPackageArn"])["ModelApprovalStatus"]
results["missing_group"] = code(lambda: sm.describe_model_package_group(ModelPackageGroupName="nope"))
# The job's log through CloudWatch Logs, as the SageMaker SDK's logs= reads it.
logs = client("logs")
streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="boto-gbdt/")
results["streams"] = [s["logStreamName"] for s in streams["logStreams"]]
lines, token = [], None
while True:
    kwargs = {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": results["streams"][0], "startFromHead": True}
    if token:
        kwargs["nextToken"] = token
    page = logs.get_log_events(**kwargs)
    lines += [e["message"] for e in page["events"]]
    if page["nextForwardToken"] == token:
        break
    token = page["nextForwardToken"]
results["log_lines"] = len(lines)
results["log_text"] = "\n".join(lines)[:2000]
results["duplicate"] = code(lambda: sm.create_training_job(**job))
found = sm.search(Resource="TrainingJob", SearchExpression={"Filters": [
    {"Name": "ModelArtifacts.S3ModelArtifacts", "Operator": "Equals", "Value": results["model"]}]})["Results"]
results["searched"] = [r["TrainingJob"]["TrainingJobName"] for r in found]
results["model_cards"] = sm.search(Resource="ModelCard", SearchExpression={"Filters": [
    {"Name": "ModelId", "Operator": "Equals", "Value": results["model"]}]})["Results"]
print(json.dumps(results))
