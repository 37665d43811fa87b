"""CloudWatch Logs beyond the SDK's streaming, with plain boto3: DescribeLogGroups and
FilterLogEvents over a finished training job's log (terms, phrases, streams, time ranges,
pages), the not-found and unsupported-pattern codes, and a user without logs permissions
refused. Prints one JSON object."""
import json
import sys
import time

import boto3
from common import code

role_arn, reader_key, reader_secret = sys.argv[1:4]
TRAINING = "/aws/sagemaker/TrainingJobs"
results = {}
sm = boto3.client("sagemaker")
logs = boto3.client("logs")

before = int(time.time() * 1000) - 1000
sm.create_training_job(
    TrainingJobName="logs-gbdt",
    AlgorithmSpecification={"AlgorithmName": "gbdt", "TrainingInputMode": "File"},
    RoleArn=role_arn,
    HyperParameters={"objective": "binary:logistic", "num_round": "5", "max_depth": "2"},
    InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": "s3://ml-data/train/", "S3DataDistributionType": "FullyReplicated"}}}],
    OutputDataConfig={"S3OutputPath": "s3://ml-data/models"},
    ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
    StoppingCondition={"MaxRuntimeInSeconds": 600},
)
sm.get_waiter("training_job_completed_or_stopped").wait(
    TrainingJobName="logs-gbdt", WaiterConfig={"Delay": 1, "MaxAttempts": 300})
results["status"] = sm.describe_training_job(TrainingJobName="logs-gbdt")["TrainingJobStatus"]
after = int(time.time() * 1000) + 1000

results["groups"] = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
results["training_groups"] = [g["logGroupName"] for g in
                              logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/Tr")["logGroups"]]
results["lambda_groups"] = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]

found = logs.filter_log_events(logGroupName=TRAINING, filterPattern="algorithm=gbdt train_rows=300",
                               startTime=before, endTime=after)
results["found"] = [e["message"] for e in found["events"]]
results["found_streams"] = sorted({e["logStreamName"] for e in found["events"]})
results["found_in_range"] = all(before <= e["timestamp"] <= after for e in found["events"])
results["searched"] = [s["logStreamName"] for s in found["searchedLogStreams"]]
results["phrase"] = len(logs.filter_log_events(
    logGroupName=TRAINING, logStreamNames=["logs-gbdt/algo-1"], filterPattern='"#data algorithm=gbdt"')["events"])
results["other_stream"] = len(logs.filter_log_events(
    logGroupName=TRAINING, logStreamNames=["no-such-job/algo-1"], filterPattern="algorithm")["events"])
results["not_in_log"] = len(logs.filter_log_events(logGroupName=TRAINING, filterPattern="no-such-term-here")["events"])
results["later"] = len(logs.filter_log_events(logGroupName=TRAINING, startTime=after + 3_600_000)["events"])
results["earlier"] = len(logs.filter_log_events(logGroupName=TRAINING, endTime=before - 3_600_000)["events"])

# Every line, two at a time, is the log GetLogEvents reads.
paged, token = [], None
while True:
    kwargs = {"logGroupName": TRAINING, "limit": 2}
    if token:
        kwargs["nextToken"] = token
    page = logs.filter_log_events(**kwargs)
    paged += [e["message"] for e in page["events"]]
    token = page.get("nextToken")
    if not token:
        break
streamed = logs.get_log_events(logGroupName=TRAINING, logStreamName="logs-gbdt/algo-1", startFromHead=True)
results["paged_equals_log"] = paged == [e["message"] for e in streamed["events"]]
results["paged_lines"] = len(paged)

results["missing_group"] = code(lambda: logs.filter_log_events(logGroupName="/aws/sagemaker/Nope"))
results["json_pattern"] = code(lambda: logs.filter_log_events(logGroupName=TRAINING, filterPattern='{ $.x = 1 }'))
reader = boto3.client("logs", aws_access_key_id=reader_key, aws_secret_access_key=reader_secret,
                      aws_session_token=None)
results["reader_filter"] = code(lambda: reader.filter_log_events(logGroupName=TRAINING))
results["reader_groups"] = code(lambda: reader.describe_log_groups())
print(json.dumps(results))
