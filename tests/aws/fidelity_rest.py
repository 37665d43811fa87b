"""The operations the other scripts do not call with success, each called once so that its
answer is checked against botocore's output shape (common.py's hook raises on a mismatch):
a stopped training job, registry groups, SageMaker models, endpoint configs, endpoints,
weights and tags, a rule enabled, a function's configuration, IAM users and policies
removed, a bucket's location. Prints one JSON object: every operation called."""
import io
import json
import sys
import tarfile
import time

import numpy as np
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

from common import client

s3, sm, events, iam, lam = (client(n) for n in ("s3", "sagemaker", "events", "iam", "lambda"))
called = []


def call(name, thunk):
    result = thunk()
    called.append(name)
    return result


def tarball(files, mode=0o755):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


s3.create_bucket(Bucket="fidelity")
call("s3.GetBucketLocation", lambda: s3.get_bucket_location(Bucket="fidelity"))

# A training job that runs long enough to be stopped.
s3.put_object(Bucket="fidelity", Key="code/src.tar.gz", Body=tarball({"train.sh": b"#!/bin/sh\nsleep 60\n"}))
s3.put_object(Bucket="fidelity", Key="data/train/a.csv", Body=b"1,0\n0,1\n")
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": [
    "sagemaker.amazonaws.com", "lambda.amazonaws.com"]}, "Action": "sts:AssumeRole"}]}
role = iam.create_role(RoleName="fidelity-exec", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
sm.create_training_job(
    TrainingJobName="fidelity-stop", RoleArn=role,
    AlgorithmSpecification={"TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                            "TrainingInputMode": "File"},
    HyperParameters={"sagemaker_program": '"train.sh"', "sagemaker_submit_directory": '"s3://fidelity/code/src.tar.gz"'},
    InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": "s3://fidelity/data/train/"}}}],
    OutputDataConfig={"S3OutputPath": "s3://fidelity/out"},
    ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
    StoppingCondition={"MaxRuntimeInSeconds": 600})
deadline = time.time() + 30
while sm.describe_training_job(TrainingJobName="fidelity-stop")["TrainingJobStatus"] != "InProgress" and time.time() < deadline:
    time.sleep(0.1)
call("sagemaker.StopTrainingJob", lambda: sm.stop_training_job(TrainingJobName="fidelity-stop"))
call("sagemaker.ListProcessingJobs", lambda: sm.list_processing_jobs())

# The registry's groups.
sm.create_model_package_group(ModelPackageGroupName="fidelity-empty")
call("sagemaker.ListModelPackageGroups", lambda: sm.list_model_package_groups())
call("sagemaker.DeleteModelPackageGroup", lambda: sm.delete_model_package_group(ModelPackageGroupName="fidelity-empty"))

# A model (scikit-learn, as ONNX) behind an endpoint with two variants.
x = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]] * 10, dtype=np.float32)
y = np.array([0, 1, 0, 1] * 10)
onnx = to_onnx(LogisticRegression().fit(x, y), x[:1], options={"zipmap": False}).SerializeToString()
s3.put_object(Bucket="fidelity", Key="model/model.tar.gz", Body=tarball({"model.onnx": onnx}, mode=0o644))
image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
sm.create_model(ModelName="fidelity-model", ExecutionRoleArn=role,
                PrimaryContainer={"Image": image, "ModelDataUrl": "s3://fidelity/model/model.tar.gz"})
call("sagemaker.ListModels", lambda: sm.list_models())
variants = [{"VariantName": v, "ModelName": "fidelity-model", "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0} for v in ("a", "b")]
sm.create_endpoint_config(EndpointConfigName="fidelity-config", ProductionVariants=variants)
call("sagemaker.DescribeEndpointConfig", lambda: sm.describe_endpoint_config(EndpointConfigName="fidelity-config"))
call("sagemaker.ListEndpointConfigs", lambda: sm.list_endpoint_configs())
endpoint = sm.create_endpoint(EndpointName="fidelity-ep", EndpointConfigName="fidelity-config")["EndpointArn"]
sm.get_waiter("endpoint_in_service").wait(EndpointName="fidelity-ep", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
call("sagemaker.ListEndpoints", lambda: sm.list_endpoints())
call("sagemaker.UpdateEndpointWeightsAndCapacities", lambda: sm.update_endpoint_weights_and_capacities(
    EndpointName="fidelity-ep", DesiredWeightsAndCapacities=[{"VariantName": "b", "DesiredWeight": 0.0}]))
call("sagemaker.AddTags", lambda: sm.add_tags(ResourceArn=endpoint, Tags=[{"Key": "team", "Value": "ml"}]))
tags = call("sagemaker.ListTags", lambda: sm.list_tags(ResourceArn=endpoint))["Tags"]
call("sagemaker.DeleteTags", lambda: sm.delete_tags(ResourceArn=endpoint, TagKeys=["team"]))
weights = {v["VariantName"]: v["CurrentWeight"] for v in sm.describe_endpoint(EndpointName="fidelity-ep")["ProductionVariants"]}

# EventBridge, Lambda, IAM.
events.put_rule(Name="fidelity-rule", EventPattern=json.dumps({"source": ["x"]}), State="DISABLED")
call("events.EnableRule", lambda: events.enable_rule(Name="fidelity-rule"))
code = io.BytesIO()
import zipfile
with zipfile.ZipFile(code, "w") as z:
    z.writestr("app.py", "def handler(e, c):\n    return e\n")
runtime = sys.argv[1]
lam.create_function(FunctionName="fidelity-fn", Runtime=runtime, Role=role, Handler="app.handler",
                    Code={"ZipFile": code.getvalue()})
call("lambda.GetFunctionConfiguration", lambda: lam.get_function_configuration(FunctionName="fidelity-fn"))
iam.create_user(UserName="fidelity-user")
call("iam.PutUserPolicy", lambda: iam.put_user_policy(UserName="fidelity-user", PolicyName="p", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]})))
call("iam.ListUsers", lambda: iam.list_users())
policy = iam.create_policy(PolicyName="fidelity-policy", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}))["Policy"]["Arn"]
iam.attach_user_policy(UserName="fidelity-user", PolicyArn=policy)
call("iam.DetachUserPolicy", lambda: iam.detach_user_policy(UserName="fidelity-user", PolicyArn=policy))
iam.attach_role_policy(RoleName="fidelity-exec", PolicyArn=policy)
call("iam.DetachRolePolicy", lambda: iam.detach_role_policy(RoleName="fidelity-exec", PolicyArn=policy))
iam.create_role(RoleName="fidelity-spare", AssumeRolePolicyDocument=json.dumps(trust))
call("iam.DeleteRole", lambda: iam.delete_role(RoleName="fidelity-spare"))
iam.create_user(UserName="fidelity-spare")
call("iam.DeleteUser", lambda: iam.delete_user(UserName="fidelity-spare"))
stopped = sm.describe_training_job(TrainingJobName="fidelity-stop")["TrainingJobStatus"]
print(json.dumps({"called": called, "weights": weights, "tags": tags, "stopped": stopped}))
