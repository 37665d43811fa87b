"""Drives the loop the functions make, with plain boto3, and follows it to a prediction:
synthetic data as the quickstart's (CSV rows `label,x1,x2,x3`, label = x1 + x2 > 1 with 5%
flipped, x3 noise) is uploaded, validation and test first; the training data's arrival under
NAME/train/ starts the run (retrain_model_on_new_data). Then: the training job, its
evaluation, the registered version and its approval, the endpoint InService on it, and an
invoke_endpoint prediction. `--follow` only follows (after an image push, say);
`--part N` uploads another training file (new data: a retraining run).

    eval "$(trainyard aws env)"; python run_loop.py"""
import argparse
import random
import time
from datetime import datetime, timezone

import boto3
from botocore.exceptions import ClientError

parser = argparse.ArgumentParser()
parser.add_argument("--name", default="churn")
parser.add_argument("--bucket", default="seed-data")
parser.add_argument("--follow", action="store_true", help="upload nothing; follow the next run")
parser.add_argument("--part", type=int, default=0, help="the training file's number (part-N.csv)")
parser.add_argument("--timeout", type=int, default=300)
args = parser.parse_args()
NAME = args.name
s3 = boto3.client("s3")
sm = boto3.client("sagemaker")
runtime = boto3.client("sagemaker-runtime")
started = datetime.now(timezone.utc)
deadline = time.time() + args.timeout
clock = time.time()


def step(text):
    global clock
    print(f"  ✓ {text:<90} {time.time() - clock:6.2f}s", flush=True)
    clock = time.time()


def rows(count, seed):
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        x1, x2, x3 = rng.random(), rng.random(), rng.random()
        label = int(x1 + x2 > 1)
        if rng.random() < 0.05:
            label = 1 - label
        lines.append(f"{label},{x1:.4f},{x2:.4f},{x3:.4f}")
    return ("\n".join(lines) + "\n").encode()


def wait(what, probe, interval=0.5):
    """Polls `probe` until it answers something; fails past the deadline."""
    while time.time() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


if not args.follow:
    if args.part == 0:
        for prefix, count, seed in [("validation", 500, 2), ("test", 500, 3)]:
            s3.put_object(Bucket=args.bucket, Key=f"{NAME}/{prefix}/part-0.csv", Body=rows(count, seed))
    key = f"{NAME}/train/part-{args.part}.csv"
    s3.put_object(Bucket=args.bucket, Key=key, Body=rows(2000, 1 + 3 * args.part))
    step(f"data uploaded: s3://{args.bucket}/{key}")


def new_training_job():
    jobs = sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]
    ours = [j for j in jobs if j["TrainingJobName"].startswith(f"{NAME}-") and j["CreationTime"] >= started]
    return max(ours, key=lambda j: j["CreationTime"])["TrainingJobName"] if ours else None


job = wait("a training job", new_training_job)
step(f"training job {job} started (by the function)")


def finished_training():
    described = sm.describe_training_job(TrainingJobName=job)
    return described if described["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") else None


trained = wait(f"{job} to finish", finished_training)
metrics = {m["MetricName"]: round(m["Value"], 4) for m in trained.get("FinalMetricDataList", [])}
step(f"training {trained['TrainingJobStatus'].lower()} {metrics} on {trained['AlgorithmSpecification']['TrainingImage']}")
if trained["TrainingJobStatus"] != "Completed":
    raise SystemExit(trained.get("FailureReason"))


def evaluation():
    try:
        described = sm.describe_processing_job(ProcessingJobName=f"{job}-eval")
    except ClientError:
        return None
    return described if described["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped") else None


evaluated = wait("the evaluation", evaluation)
step(f"evaluation {job}-eval {evaluated['ProcessingJobStatus'].lower()}"
     + (f" ({evaluated.get('FailureReason') or evaluated.get('ExitMessage')})"
        if evaluated["ProcessingJobStatus"] != "Completed" else ""))
if evaluated["ProcessingJobStatus"] != "Completed":
    raise SystemExit(1)


def registered():
    for summary in sm.list_model_packages(ModelPackageGroupName=NAME)["ModelPackageSummaryList"]:
        package = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if package.get("CustomerMetadataProperties", {}).get("evaluation-job") == f"{job}-eval":
            return package
    return None


package = wait("the registration", registered)
properties = package["CustomerMetadataProperties"]
step(f"registered {NAME}/{package['ModelPackageVersion']} {package['ModelApprovalStatus']}: auc {properties['auc']}"
     + (f", champion {properties['champion-auc']}" if "champion-auc" in properties else "")
     + f", gate {properties['gate']}")
if package["ModelApprovalStatus"] != "Approved":
    raise SystemExit(0)
config = f"{NAME}-v{package['ModelPackageVersion']}"


def in_service():
    try:
        described = sm.describe_endpoint(EndpointName=NAME)
    except ClientError:
        return None
    if described["EndpointStatus"] == "Failed":
        raise SystemExit(f"endpoint failed: {described.get('FailureReason')}")
    ok = described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == config
    return described if ok else None


wait(f"endpoint {NAME} InService on {config}", in_service)
step(f"endpoint {NAME} InService on {config}")
answer = runtime.invoke_endpoint(EndpointName=NAME, ContentType="text/csv", Body=b"0.9,0.8,0.1\n0.1,0.2,0.3\n")
step(f"prediction for [0.9,0.8,0.1] and [0.1,0.2,0.3]: {answer['Body'].read().decode().strip()!r}")
