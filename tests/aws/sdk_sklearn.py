"""The SageMaker Python SDK (v2) acceptance: a user's scikit-learn script trained with the
`SKLearn` estimator, deployed, invoked and deleted, against whatever AWS_ENDPOINT_URL names.

Nothing here is trainyard's: the environment `trainyard aws env` prints (AWS_ENDPOINT_URL,
keys, AWS_REGION) and plain SDK code, with what the SDK needs to stay off AWS: an explicit
`default_bucket` and `role` (the SDK asks STS at its regional AWS endpoint otherwise) and
telemetry opted out (TelemetryOptOut in the SDK config).

    SDK_BUCKET       the bucket for data, code and models (default sdk-sklearn)
    SDK_ROLE_ARN     the execution role (default: the role sdk-sklearn-exec, made if missing)
    SDK_CALL_LOG     a file to write every AWS call the SDK made to, one JSON line each

The data (tests/aws/sklearn_code/train.py reads it): CSV without a header, the label in the
first column, four features; two clearly separated classes. The script writes model.onnx
(and model.joblib for AWS's container); predictions through the endpoint, with the default
SKLearnPredictor (application/x-npy both ways), must equal the same pipeline fitted here.

Every call of every client (the SDK's own S3, SageMaker, runtime, logs clients included) is
recorded and checked against botocore's output shapes (common.py's fidelity hook); each
operation is one more check. Prints the calls, then `N passed, N failed`; exits 1 on a
failure."""
import importlib.util
import io
import json
import os
import sys
import tarfile
import tempfile
import traceback

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

import boto3
import numpy as np
from botocore.exceptions import ClientError

from common import check_every_client, collect_failures, fidelity_checks

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
BUCKET = os.environ.get("SDK_BUCKET", "sdk-sklearn")
ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "")

# ---- every call recorded: operation, the parameters as the SDK passed them, the outcome
CALLS = []


def _brief(value, depth=0):
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if hasattr(value, "read"):
        return "<stream>"
    if isinstance(value, dict):
        return {k: _brief(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_brief(v, depth + 1) for v in value]
    if isinstance(value, str) and len(value) > 300:
        return value[:300] + "…"
    return value


def _record(aws_client):
    endpoint = aws_client.meta.endpoint_url

    def before(params, model, context, **_):
        context["_recorded"] = len(CALLS)
        CALLS.append({"service": model.service_model.service_name, "operation": model.name,
                      "endpoint": endpoint, "params": _brief(dict(params)), "outcome": None})

    def after(http_response, parsed, model, context, **_):
        if "_recorded" in context:
            status = http_response.status_code
            error = parsed.get("Error", {}).get("Code") if status >= 300 else None
            CALLS[context["_recorded"]]["outcome"] = f"{status} {error}" if error else str(status)

    def failed(exception, context, **_):
        if "_recorded" in context:
            CALLS[context["_recorded"]]["outcome"] = f"{type(exception).__name__}: {exception}"

    aws_client.meta.events.register("before-parameter-build", before)
    aws_client.meta.events.register("after-call", after)
    aws_client.meta.events.register("after-call-error", failed)


check_every_client(also=_record)
collect_failures()

import sagemaker  # noqa: E402  (after the hooks: the SDK's clients are made at Session())
from sagemaker.sklearn import SKLearn  # noqa: E402

# ---- the checks
RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append((name, bool(ok), detail))
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + str(detail) if detail and not ok else ''}", flush=True)
    return ok


def step(name, action):
    """Runs one step; an exception fails it (with the traceback's last line) and returns None."""
    try:
        return action()
    except Exception as e:  # noqa: BLE001 - every failure is a reported check
        detail = f"{type(e).__name__}: {e}"
        check(name, False, detail)
        traceback.print_exc(file=sys.stderr)
        return None


def not_reached(*names):
    for name in names:
        check(name, False, "not reached")


def load_train_module():
    spec = importlib.util.spec_from_file_location("user_train", os.path.join(HERE, "sklearn_code", "train.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_data(directory):
    rng = np.random.default_rng(7)
    n = 300
    labels = rng.integers(0, 2, n)
    features = rng.normal(size=(n, 4))
    features[:, 0] += np.where(labels == 1, 3.0, -3.0)
    features[:, 1] += np.where(labels == 1, -2.0, 2.0)
    os.makedirs(directory, exist_ok=True)
    np.savetxt(os.path.join(directory, "part-0.csv"), np.column_stack([labels, features]),
               delimiter=",", fmt=["%d"] + ["%.5f"] * 4)
    return features


def execution_role():
    if os.environ.get("SDK_ROLE_ARN"):
        return os.environ["SDK_ROLE_ARN"]
    iam = boto3.client("iam", region_name=REGION)
    try:
        return iam.get_role(RoleName="sdk-sklearn-exec")["Role"]["Arn"]
    except ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchEntity":
            raise
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
    return iam.create_role(RoleName="sdk-sklearn-exec", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def main():
    work = tempfile.mkdtemp(prefix="sdk-sklearn-")
    rows = write_data(os.path.join(work, "train"))
    user = load_train_module()
    hyperparameters = {"C": 0.5, "max-iter": 300}
    features, labels = user.read_channel(os.path.join(work, "train"))
    local = user.fit_model(features, labels, C=0.5, max_iter=300)

    role = step("execution role", execution_role)
    if role is not None:
        check("execution role", role.startswith("arn:aws:iam::"), role)
    boto_session = boto3.Session(region_name=REGION)
    session = sagemaker.Session(
        boto_session=boto_session,
        default_bucket=BUCKET,
        sagemaker_client=boto_session.client("sagemaker"),
        sagemaker_runtime_client=boto_session.client("sagemaker-runtime"),
        sagemaker_config={"SchemaVersion": "1.0",
                          "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}},
    )
    train_uri = step("upload the training data", lambda: session.upload_data(
        os.path.join(work, "train"), bucket=session.default_bucket(), key_prefix="sdk-sklearn/train"))
    if train_uri is not None:
        check("upload the training data", train_uri == f"s3://{BUCKET}/sdk-sklearn/train", train_uri)
    if role is None or train_uri is None:
        not_reached("fit", "model.tar.gz holds model.onnx", "deploy", "predict", "delete_endpoint")
        return

    estimator = SKLearn(
        entry_point="train.py",
        source_dir=os.path.join(HERE, "sklearn_code"),
        framework_version="1.2-1",
        py_version="py3",
        instance_type="ml.m5.large",
        instance_count=1,
        role=role,
        hyperparameters=hyperparameters,
        sagemaker_session=session,
    )
    fitted = step("fit", lambda: estimator.fit({"train": train_uri}, logs=True) or True)
    if fitted is None:
        not_reached("model.tar.gz holds model.onnx", "deploy", "predict", "delete_endpoint")
        return
    description = estimator.latest_training_job.describe()
    check("fit", description["TrainingJobStatus"] == "Completed", description["TrainingJobStatus"])

    def model_archive():
        bucket, key = estimator.model_data[len("s3://"):].split("/", 1)
        body = boto_session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as archive:
            return [m.name.lstrip("./") for m in archive.getmembers()]

    members = step("model.tar.gz holds model.onnx", model_archive)
    if members is not None:
        check("model.tar.gz holds model.onnx", "model.onnx" in members, f"{estimator.model_data}: {members}")

    predictor = step("deploy", lambda: estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large"))
    if predictor is None:
        not_reached("predict", "delete_endpoint")
        return
    status = session.sagemaker_client.describe_endpoint(EndpointName=predictor.endpoint_name)["EndpointStatus"]
    check("deploy", status == "InService", f"{predictor.endpoint_name}: {status}")

    sample = rows[[0, 1, 2, 3, 50, 100, 150, 299]]
    expected = local.predict(sample.astype(np.float32))
    got = step("predict", lambda: predictor.predict(sample))
    if got is not None:
        got = np.asarray(got)
        check("predict", got.shape == expected.shape and np.array_equal(got.astype(np.int64), expected),
              f"endpoint {got.tolist()!r}, local {expected.tolist()!r}")

    deleted = step("delete_endpoint", lambda: predictor.delete_endpoint() or True)
    if deleted:
        try:
            session.sagemaker_client.describe_endpoint(EndpointName=predictor.endpoint_name)
            check("delete_endpoint", False, "the endpoint is still described")
        except ClientError as e:
            check("delete_endpoint", e.response["Error"]["Code"] == "ValidationException", e.response["Error"])


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        check("the run", False, f"{type(e).__name__}: {e}")
    off_endpoint = [c for c in CALLS if ENDPOINT_URL and not (c["endpoint"] or "").startswith(ENDPOINT_URL)]
    check("every call went to AWS_ENDPOINT_URL", ENDPOINT_URL and not off_endpoint,
          [f"{c['service']}.{c['operation']} -> {c['endpoint']}" for c in off_endpoint])
    for name, ok, report in fidelity_checks():
        check(name, ok, report)
    print(f"\n{len(CALLS)} AWS calls:")
    for c in CALLS:
        print(f"  {c['service']}.{c['operation']} -> {c['outcome']}  {json.dumps(c['params'], default=str)[:400]}")
    if os.environ.get("SDK_CALL_LOG"):
        with open(os.environ["SDK_CALL_LOG"], "w") as f:
            for c in CALLS:
                f.write(json.dumps(c, default=str) + "\n")
    passed = sum(ok for _, ok, _ in RESULTS)
    print(f"{passed} passed, {len(RESULTS) - passed} failed")
    sys.exit(0 if passed == len(RESULTS) else 1)
