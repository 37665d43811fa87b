"""The boto3 acceptance: the SageMaker loop as code written for AWS runs it, against whatever
AWS_ENDPOINT_URL names. Nothing here is trainyard's; the environment gives the endpoint, the
keys and the region (`eval "$(trainyard aws env)"` prints them for trainyard).

    ACCEPTANCE_BUCKET    the bucket (default acceptance-data); made if missing
    ACCEPTANCE_ROLE_ARN  the execution role (default: the role acceptance-exec, made if missing)
    ACCEPTANCE_FUNCTION  the Lambda function the rule targets (it must exist, as on AWS, where
                         EventBridge would fail to invoke a missing one)

What runs, each step one or more counted checks:
* S3: the bucket; a small training CSV (put_object); a larger CSV (~6 MiB) through
  upload_file with a 5 MiB multipart_threshold, so in parts, read back whole and by a range.
* A training job on SageMaker's XGBoost image in algorithm mode (no script: objective,
  num_round, max_depth; CSV with the label first and no header), waited for with the
  `training_job_completed_or_stopped` waiter; its log through CloudWatch Logs.
* The model registry: a model package group, a package of the artifact, approved.
* Serving: create_model (the XGBoost image and the job's artifact), an endpoint config, an
  endpoint (`endpoint_in_service` waiter), invoke_endpoint with text/csv rows whose scores
  (the XGBoost container's answer: one score per line, P(class 1)) fall on the right side of
  0.5 for two clearly separated classes; a canary update (BlueGreenUpdatePolicy, CANARY) to
  a second endpoint config, waited for until InService on it; delete (`endpoint_deleted`).
* EventBridge: a rule with a Lambda-ARN target, put_events with no failed entry.
* A request signed with a wrong secret refused with SignatureDoesNotMatch (STS, S3).
* Fidelity: every answer of every client is checked against botocore's output shape for
  the operation (common.py); each operation called is one check.

Prints a line per check, then `N passed, N failed`; exits 1 if any failed."""
import hashlib
import json
import os
import sys
import tempfile
import time
import traceback
import uuid

import boto3
import numpy as np
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError, WaiterError

from common import check_every_client, collect_failures, fidelity_checks

check_every_client()
collect_failures()

REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
BUCKET = os.environ.get("ACCEPTANCE_BUCKET", "acceptance-data")
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
RUN = uuid.uuid4().hex[:8]  # names unique per run: the script can run twice on one server
FUNCTION = os.environ.get("ACCEPTANCE_FUNCTION", f"acceptance-{RUN}")
MiB = 1024 * 1024

RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append((name, bool(ok), detail))
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + str(detail) if detail and not ok else ''}", flush=True)
    return bool(ok)


def attempt(name, action):
    """Runs a step; an exception is a failed check named `name`, and the step returns None."""
    try:
        return action()
    except Exception as e:  # noqa: BLE001 - every failure is a reported check
        check(name, False, f"{type(e).__name__}: {e}")
        traceback.print_exc(file=sys.stderr)
        return None


def not_reached(*names):
    for name in names:
        check(name, False, "not reached (an earlier step failed)")


def error_code(call):
    try:
        call()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


# ---- the data: two clearly separated classes, label first, no header
def dataset(rows, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    features = rng.normal(scale=0.7, size=(rows, 3))
    features[:, 0] += np.where(labels == 1, 2.5, -2.5)
    features[:, 1] += np.where(labels == 1, -2.5, 2.5)
    return labels, features


def to_csv(labels, features):
    return "".join(f"{y},{a:.5f},{b:.5f},{c:.5f}\n" for y, (a, b, c) in zip(labels, features)).encode()


def main():
    s3 = boto3.client("s3")
    sm = boto3.client("sagemaker")
    runtime = boto3.client("sagemaker-runtime")
    logs = boto3.client("logs")
    events = boto3.client("events")
    sts = boto3.client("sts")
    iam = boto3.client("iam")
    work = tempfile.mkdtemp(prefix="acceptance-")

    # ---- identity and the execution role
    account = attempt("sts get_caller_identity", lambda: sts.get_caller_identity()["Account"])
    if account is not None:
        check("sts get_caller_identity", len(account) == 12 and account.isdigit(), account)

    def role():
        if os.environ.get("ACCEPTANCE_ROLE_ARN"):
            return os.environ["ACCEPTANCE_ROLE_ARN"]
        try:
            return iam.get_role(RoleName="acceptance-exec")["Role"]["Arn"]
        except ClientError as e:
            if e.response["Error"]["Code"] != "NoSuchEntity":
                raise
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                          "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
        return iam.create_role(RoleName="acceptance-exec", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]

    role_arn = attempt("execution role", role)

    # ---- S3
    def bucket():
        if error_code(lambda: s3.head_bucket(Bucket=BUCKET)) != "ok":
            s3.create_bucket(Bucket=BUCKET)
        s3.head_bucket(Bucket=BUCKET)
        return BUCKET in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    has_bucket = attempt("bucket", bucket)
    if has_bucket is not None:
        check("bucket", has_bucket, "created and listed")
    train_labels, train_features = dataset(600, seed=1)
    train_csv = to_csv(train_labels, train_features)
    train_prefix = f"acceptance/{RUN}/train/"
    if has_bucket:
        put = attempt("put_object train CSV", lambda: s3.put_object(
            Bucket=BUCKET, Key=train_prefix + "part-0.csv", Body=train_csv, ContentType="text/csv"))
        if put is not None:
            check("put_object train CSV", put["ETag"].strip('"') == hashlib.md5(train_csv).hexdigest(), put["ETag"])

        # A ~6 MiB CSV through the transfer manager: a multipart upload in two parts.
        big_labels, big_features = dataset(230_000, seed=2)
        big = to_csv(big_labels, big_features)
        with open(os.path.join(work, "history.csv"), "wb") as f:
            f.write(big)
        parts = []
        s3.meta.events.register("before-call.s3.UploadPart", lambda params, **_: parts.append(1))
        key = f"acceptance/{RUN}/history/all.csv"
        config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
        uploaded = attempt("multipart upload_file", lambda: s3.upload_file(
            os.path.join(work, "history.csv"), BUCKET, key, Config=config) or True)
        if uploaded:
            head = s3.head_object(Bucket=BUCKET, Key=key)
            check("multipart upload_file", len(parts) >= 2 and head["ContentLength"] == len(big),
                  f"{len(parts)} parts, {head['ContentLength']} of {len(big)} bytes")
            check("multipart ETag is S3's (md5 of part md5s, -N)", head["ETag"].strip('"').endswith(f"-{len(parts)}"),
                  head["ETag"])
            whole = attempt("get_object whole", lambda: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
            if whole is not None:
                check("get_object whole", whole == big, f"{len(whole)} bytes")
            ranged = attempt("get_object range", lambda: s3.get_object(Bucket=BUCKET, Key=key, Range="bytes=5242870-5242889"))
            if ranged is not None:
                body = ranged["Body"].read()
                check("get_object range", body == big[5242870:5242890]
                      and ranged["ContentRange"] == f"bytes 5242870-5242889/{len(big)}"
                      and ranged["ResponseMetadata"]["HTTPStatusCode"] == 206,
                      f"{body!r} {ranged.get('ContentRange')} {ranged['ResponseMetadata']['HTTPStatusCode']}")
        else:
            not_reached("get_object whole", "get_object range")
    else:
        put = None
        not_reached("put_object train CSV", "multipart upload_file", "get_object whole", "get_object range")

    # ---- training on the XGBoost image, algorithm mode
    job_name = f"acceptance-xgb-{RUN}"
    artifact = None
    if put is not None and role_arn is not None:
        created = attempt("create_training_job", lambda: sm.create_training_job(
            TrainingJobName=job_name,
            AlgorithmSpecification={"TrainingImage": XGBOOST, "TrainingInputMode": "File"},
            RoleArn=role_arn,
            HyperParameters={"objective": "binary:logistic", "num_round": "30", "max_depth": "3"},
            InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{train_prefix}",
                "S3DataDistributionType": "FullyReplicated"}}}],
            OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/acceptance/{RUN}/models"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            StoppingCondition={"MaxRuntimeInSeconds": 900},
        ))
        if created is not None:
            check("create_training_job", created["TrainingJobArn"].endswith(f":training-job/{job_name}"),
                  created["TrainingJobArn"])
            def wait():
                try:
                    sm.get_waiter("training_job_completed_or_stopped").wait(
                        TrainingJobName=job_name, WaiterConfig={"Delay": 1, "MaxAttempts": 900})
                except WaiterError as e:  # Failed is a terminal state: the check says why
                    print(f"waiter: {e}", file=sys.stderr)
                return sm.describe_training_job(TrainingJobName=job_name)

            described = attempt("training_job_completed_or_stopped waiter", wait)
            if described is not None:
                check("training_job_completed_or_stopped waiter", described["TrainingJobStatus"] == "Completed",
                      f"{described['TrainingJobStatus']}: {described.get('FailureReason', '')}")
            if described is not None and described["TrainingJobStatus"] == "Completed":
                artifact = described.get("ModelArtifacts", {}).get("S3ModelArtifacts")
                def artifact_exists():
                    b, k = artifact[len("s3://"):].split("/", 1)
                    return s3.head_object(Bucket=b, Key=k)["ContentLength"]
                size = attempt("model artifact in S3", artifact_exists) if artifact else None
                check("model artifact in S3", bool(size) and artifact.endswith("model.tar.gz"), f"{artifact} {size}")
    else:
        not_reached("create_training_job")

    # ---- the job's log through CloudWatch Logs
    if artifact is not None:
        def log_lines():
            streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                                logStreamNamePrefix=f"{job_name}/", orderBy="LogStreamName")
            names = [s["logStreamName"] for s in streams["logStreams"]]
            check("describe_log_streams", names and all(n.startswith(f"{job_name}/") for n in names), names)
            lines, token = [], None
            while names:
                kwargs = {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": names[0], "startFromHead": True}
                if token:
                    kwargs["nextToken"] = token
                page = logs.get_log_events(**kwargs)
                lines += [e["message"] for e in page["events"]]
                if not page["events"] or page["nextForwardToken"] == token:
                    break
                token = page["nextForwardToken"]
            return lines

        lines = attempt("get_log_events", log_lines)
        if lines is not None:
            check("get_log_events", len(lines) > 0, f"{len(lines)} lines")
    else:
        not_reached("describe_log_streams", "get_log_events")

    # ---- the model registry
    group = f"acceptance-{RUN}"
    if artifact is not None:
        def register():
            made = sm.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription="acceptance")
            check("create_model_package_group", made["ModelPackageGroupArn"].endswith(f":model-package-group/{group}"),
                  made["ModelPackageGroupArn"])
            package = sm.create_model_package(
                ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
                InferenceSpecification={"Containers": [{"Image": XGBOOST, "ModelDataUrl": artifact}],
                                        "SupportedContentTypes": ["text/csv"],
                                        "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
            listed = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
            check("create_model_package", [p["ModelPackageArn"] for p in listed] == [package], listed)
            sm.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
            return sm.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"]

        approval = attempt("model package approved", register)
        if approval is not None:
            check("model package approved", approval == "Approved", approval)
    else:
        not_reached("create_model_package_group", "create_model_package", "model package approved")

    # ---- serving
    model_name, config_1, config_2 = f"acceptance-model-{RUN}", f"acceptance-config-{RUN}", f"acceptance-canary-{RUN}"
    endpoint = f"acceptance-ep-{RUN}"
    in_service = None
    if artifact is not None and role_arn is not None:
        model = attempt("create_model", lambda: sm.create_model(
            ModelName=model_name, ExecutionRoleArn=role_arn,
            PrimaryContainer={"Image": XGBOOST, "ModelDataUrl": artifact}))
        if model is not None:
            check("create_model", model["ModelArn"].endswith(f":model/{model_name}"), model["ModelArn"])
            variant = {"VariantName": "AllTraffic", "ModelName": model_name, "InitialInstanceCount": 1,
                       "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}
            config = attempt("create_endpoint_config", lambda: sm.create_endpoint_config(
                EndpointConfigName=config_1, ProductionVariants=[variant]))
            if config is not None:
                check("create_endpoint_config", config["EndpointConfigArn"].endswith(f":endpoint-config/{config_1}"),
                      config["EndpointConfigArn"])
                made = attempt("create_endpoint", lambda: sm.create_endpoint(EndpointName=endpoint,
                                                                             EndpointConfigName=config_1))
                if made is not None:
                    check("create_endpoint", made["EndpointArn"].endswith(f":endpoint/{endpoint}"), made["EndpointArn"])
                    in_service = attempt("endpoint_in_service waiter", lambda: sm.get_waiter("endpoint_in_service").wait(
                        EndpointName=endpoint, WaiterConfig={"Delay": 2, "MaxAttempts": 150}) or True)
                    if in_service:
                        status = sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
                        check("endpoint_in_service waiter", status == "InService", status)
                else:
                    not_reached("endpoint_in_service waiter")
            else:
                not_reached("create_endpoint", "endpoint_in_service waiter")
        else:
            not_reached("create_endpoint_config", "create_endpoint", "endpoint_in_service waiter")
    else:
        not_reached("create_model", "create_endpoint_config", "create_endpoint", "endpoint_in_service waiter")
    if not in_service:
        not_reached("invoke_endpoint text/csv", "canary update_endpoint", "invoke after the update",
                    "delete_endpoint / endpoint_deleted waiter")

    test_labels, test_features = dataset(40, seed=3)

    def invoke(name):
        body = "".join(f"{a:.5f},{b:.5f},{c:.5f}\n" for a, b, c in test_features)
        answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
        text = answer["Body"].read().decode()
        lines = [line for line in text.strip().split("\n")]
        if len(lines) != len(test_labels):
            return check(name, False, f"{len(lines)} lines for {len(test_labels)} rows "
                                      f"({answer['ContentType']}): {text[:300]!r}")
        try:
            scores = [float(line) for line in lines]
        except ValueError:
            return check(name, False, f"not one score per line ({answer['ContentType']}): {text[:300]!r}")
        wrong = [(int(y), s) for y, s in zip(test_labels, scores) if (s > 0.5) != (y == 1)]
        return check(name, not wrong and all(0.0 <= s <= 1.0 for s in scores),
                     f"{len(wrong)} of {len(scores)} scores on the wrong side of 0.5: {wrong[:5]}")

    if in_service:
        attempt("invoke_endpoint text/csv", lambda: invoke("invoke_endpoint text/csv"))

        # ---- a canary update to a second endpoint config
        def canary():
            sm.create_endpoint_config(EndpointConfigName=config_2, ProductionVariants=[
                {"VariantName": "AllTraffic", "ModelName": model_name, "InitialInstanceCount": 1,
                 "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}])
            sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config_2, DeploymentConfig={
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "CANARY",
                                                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                                                    "WaitIntervalInSeconds": 2},
                    "TerminationWaitInSeconds": 0,
                    "MaximumExecutionTimeoutInSeconds": 600}})
            seen, deadline = [], time.time() + 300
            while time.time() < deadline:
                described = sm.describe_endpoint(EndpointName=endpoint)
                state = (described["EndpointStatus"], described.get("EndpointConfigName"))
                if not seen or seen[-1] != state:
                    seen.append(state)
                if state == ("InService", config_2) or state[0] == "Failed":
                    break
                time.sleep(1)
            return seen

        seen = attempt("canary update_endpoint", canary)
        if seen is not None:
            check("canary update_endpoint", seen[-1] == ("InService", config_2), f"states seen: {seen}")
            attempt("invoke after the update", lambda: invoke("invoke after the update"))

        def delete():
            sm.delete_endpoint(EndpointName=endpoint)
            sm.get_waiter("endpoint_deleted").wait(EndpointName=endpoint, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
            return error_code(lambda: sm.describe_endpoint(EndpointName=endpoint))

        gone = attempt("delete_endpoint / endpoint_deleted waiter", delete)
        if gone is not None:
            check("delete_endpoint / endpoint_deleted waiter", gone == "ValidationException", gone)
        for name, call in [("delete_endpoint_config", lambda: [sm.delete_endpoint_config(EndpointConfigName=c)
                                                               for c in (config_1, config_2)]),
                           ("delete_model", lambda: sm.delete_model(ModelName=model_name))]:
            if attempt(name, lambda: call() or True):
                check(name, True)

    # ---- EventBridge: a rule, a Lambda-ARN target, an event
    rule = f"acceptance-{RUN}"
    source = f"acceptance.{RUN}"

    def eventbridge():
        made = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}), State="ENABLED")
        check("put_rule", made["RuleArn"].endswith(f":rule/{rule}"), made["RuleArn"])
        function = f"arn:aws:lambda:{REGION}:{account or '000000000000'}:function:{FUNCTION}"
        targets = events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": function}])
        check("put_targets", targets["FailedEntryCount"] == 0, targets.get("FailedEntries"))
        listed = [t["Arn"] for t in events.list_targets_by_rule(Rule=rule)["Targets"]]
        check("list_targets_by_rule", listed == [function], listed)
        sent = events.put_events(Entries=[{"Source": source, "DetailType": "Acceptance",
                                           "Detail": json.dumps({"run": RUN})}])
        check("put_events", sent["FailedEntryCount"] == 0 and sent["Entries"][0].get("EventId"), sent["Entries"])
        events.remove_targets(Rule=rule, Ids=["fn"])
        events.delete_rule(Name=rule)
        return error_code(lambda: events.describe_rule(Name=rule))

    gone = attempt("delete_rule", eventbridge)
    if gone is not None:
        check("delete_rule", gone == "ResourceNotFoundException", gone)

    # ---- a request signed with a wrong secret
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    token = os.environ.get("AWS_SESSION_TOKEN")
    if key and secret:
        wrong = dict(aws_access_key_id=key, aws_secret_access_key=secret[:-1] + ("x" if secret[-1] != "x" else "y"),
                     aws_session_token=token)
        got = error_code(lambda: boto3.client("sts", **wrong).get_caller_identity())
        check("wrong secret refused (STS)", got == "SignatureDoesNotMatch", got)
        got = error_code(lambda: boto3.client("s3", **wrong).list_buckets())
        check("wrong secret refused (S3)", got == "SignatureDoesNotMatch", got)
    else:
        check("wrong secret refused", False, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not in the environment")


if __name__ == "__main__":
    started = time.time()
    try:
        main()
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        check("the run", False, f"{type(e).__name__}: {e}")
    for name, ok, report in fidelity_checks():
        check(name, ok, report)
    passed = sum(ok for _, ok, _ in RESULTS)
    print(f"{passed} passed, {len(RESULTS) - passed} failed ({time.time() - started:.0f} s)")
    sys.exit(0 if passed == len(RESULTS) else 1)
