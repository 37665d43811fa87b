"""Lambda functions: warm and cold invocation latency, EventBridge → Lambda latency, and
invocations/s of a Lambda function against an equivalent command function.

Starts, on 127.0.0.1, in --workdir (removed first), one trainyard server:
`BIN server --listen 127.0.0.1:0 --aws-listen 127.0.0.1:0 --data-dir WORK/ty`, with
TRAINYARD_PYTHON set to the running Python (so `python3.X` is that Python and handlers see its
boto3). boto3 clients use root's session from `BIN aws env`; the native API the admin token.
Every Lambda function runs as the role `bench-fn` (a session of it per environment, as AWS).

1. Warm latency, one caller, one thread, --calls calls after 50 untimed ones, a trivial
   handler (`return {"ok": True}`):
     - boto3 `lambda.invoke` (RequestResponse) on one client (max_pool_connections=1): the
       whole call, and the HTTP exchange alone (botocore's http session `send`, timed by
       wrapping it);
     - the native route `POST /api/v1/functions/NAME/invoke` (bearer token, http.client, one
       keep-alive connection, TCP_NODELAY) on the same function.
2. EventBridge → Lambda, one event at a time (--events): a rule `{"source": ["bench"]}` with
   the function's ARN as target (and the `lambda:InvokeFunction` permission for
   events.amazonaws.com, as on AWS). The handler sends one UDP datagram, `SEQ TIME` with
   `time.time()` taken on its entry, to the harness's socket (address in its environment,
   BENCH_UDP). Per event: put→handler start (handler's clock minus the clock read before
   `put_events`; one machine, one clock), put→datagram received by the harness (the harness's
   clock only), and the `put_events` call alone.
3. Cold start: --cold fresh functions of each kind (created with boto3 from a zip, alternating
   kinds), the first `invoke` (LogType Tail) of each timed by the client, and the REPORT
   line's `Init Duration` and `Duration` (trainyard's Init Duration ends when the runtime
   process is started: the runtime client's and the handler's imports fall in the first
   invocation's Duration). Kinds: trivial; `import boto3` at module level; and, after
   `update_function_configuration` (which drains environments; waited for with the
   `function_updated` waiter, untimed), the boto3 handler's next invocation. One untimed
   cold start first (page cache). Beside them, in fresh interpreters (--cold runs each,
   time.perf_counter around the import): `import boto3` alone, the imports of trainyard's
   runtime client (bootstrap.py's urllib.request, json, importlib, traceback) and of
   `awslambdaric.bootstrap`; and the interpreter's start alone (`python -c pass`, wall).
4. Invocations/s with 1, 4 and 16 callers (threads, each with its own boto3 client or its own
   http.client connection), --duration s per point after 2 s untimed (a pool's environments
   start then): a Lambda function (the trivial handler) and command functions — the same
   Python as a command (`PYTHON -c 'json.load(stdin); print({"ok": true})'`, a new process
   per invocation) and `cat` (the floor of a command function) — each through boto3
   `invoke` (the Lambda API on a command function) and through the native route. CPU per
   invocation: the server's process tree (the server, its reaped children, and its live
   descendants: environments, command processes) from /proc/PID/stat, and the harness's own
   (getrusage: every caller thread is in this one Python process).
5. AWS's own runtime interface client (PyPI `awslambdaric`), if --ric-python names a Python
   that has it: a `provided` function whose `bootstrap` execs
   `RIC_PYTHON -m awslambdaric app.handler`, the same trivial handler; its warm latency (as 1)
   and cold start (as 3), against trainyard's Python runtime client on the same server
   (`python3 -m venv /tmp/ric && /tmp/ric/bin/pip install awslambdaric`: a manylinux wheel,
   nothing to compile). AWS's Runtime Interface Emulator is a Go binary from GitHub releases,
   which this machine cannot reach, so awslambdaric runs against trainyard's Runtime API
   instead of the emulator's.

usage: $VENV/bin/python bench/lambda/compare.py --trainyard target/release/trainyard --workdir /tmp/bl \
           [--calls 2000] [--events 500] [--cold 10] [--duration 5] [--ric-python /tmp/ric/bin/python]
"""

import argparse
import base64
import http.client
import io
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
import zipfile

import boto3
from botocore.config import Config

TRIVIAL = 'def handler(event, context):\n    return {"ok": True}\n'
WITH_BOTO3 = 'import boto3\n\n\ndef handler(event, context):\n    return {"ok": True}\n'
SIGNAL = '''import os
import socket
import time

HOST, PORT = os.environ["BENCH_UDP"].rsplit(":", 1)
SOCK = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def handler(event, context):
    now = time.time()
    SOCK.sendto(f"{event['detail']['seq']} {now!r}".encode(), (HOST, int(PORT)))
    return {"ok": True}
'''
COMMAND_PYTHON = "{python} -c 'import json, sys; json.load(sys.stdin); print(json.dumps({{\"ok\": True}}))'"


# ---------------------------------------------------------------------------------------- server

class Servers:
    """Processes started here, stopped by pid at the end."""

    def __init__(self):
        self.processes = []

    def add(self, process):
        self.processes.append(process)
        return process

    def stop_one(self, process):
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                self.stop_one(process)


def start_trainyard(servers, trainyard, data_dir, log, extra_env=None):
    """A trainyard server on free ports; returns (process, api_url, aws_url, token)."""
    env = dict(os.environ, TRAINYARD_LOG="warn", TRAINYARD_PYTHON=sys.executable, **(extra_env or {}))
    process = servers.add(subprocess.Popen(
        [trainyard, "server", "--listen", "127.0.0.1:0", "--aws-listen", "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, env=env))
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


def aws_env(trainyard, data_dir):
    out = subprocess.run([trainyard, "--data-dir", data_dir, "aws", "env"], check=True, capture_output=True,
                         text=True).stdout
    return dict(re.findall(r"export (\w+)=(\S+)", out))


def client(env, service, pool=1):
    return boto3.client(service, endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                        aws_session_token=env.get("AWS_SESSION_TOKEN"),
                        config=Config(max_pool_connections=pool, retries={"max_attempts": 1, "mode": "standard"},
                                      read_timeout=120))


def zipped(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o755 if name == "bootstrap" else 0o644) << 16
            z.writestr(info, text)
    return buffer.getvalue()


class Native:
    """POST /api/v1/functions/NAME/invoke over one keep-alive connection."""

    def __init__(self, base, token):
        self.netloc, self.token = base.split("://", 1)[1], token
        self.conn = None

    def invoke(self, name, body=b'{"n": 1}'):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.netloc, timeout=120)
            self.conn.connect()
            self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn.request("POST", f"/api/v1/functions/{name}/invoke", body=body,
                          headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        response = self.conn.getresponse()
        text = response.read()
        assert response.status == 200, (response.status, text[:300])
        answer = json.loads(text)
        assert answer.get("Payload") == {"ok": True}, answer
        return answer


def boto3_invoke(lam, name, **kw):
    response = lam.invoke(FunctionName=name, Payload=b'{"n": 1}', **kw)
    payload = response["Payload"].read()
    assert response["StatusCode"] == 200 and "FunctionError" not in response, (response, payload)
    assert json.loads(payload) == {"ok": True}, payload
    return response


def percentiles(samples):
    ordered = sorted(samples)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "mean_ms": statistics.fmean(ordered) * 1000,
            "n": len(ordered)}


def tree_cpu_seconds(root):
    """CPU of `root` and its reaped children (utime+stime+cutime+cstime) plus its live descendants'."""
    clk = os.sysconf("SC_CLK_TCK")
    parents, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = sum(int(f) for f in fields[11:15]) / clk
    total = 0.0
    for pid in cpu:
        p = pid
        while p and p != root and p in parents:
            p = parents[p]
        if p == root:
            total += cpu[pid]
    return total


# ---------------------------------------------------------------------------------------- parts

def warm_latency(env, native, name, calls):
    lam = client(env, "lambda")
    session = lam._endpoint.http_session
    original = session.send
    wire = []

    def timed_send(request):
        started = time.perf_counter()
        response = original(request)
        wire.append(time.perf_counter() - started)
        return response

    session.send = timed_send
    for _ in range(50):
        boto3_invoke(lam, name)
    wire.clear()
    total = []
    for _ in range(calls):
        started = time.perf_counter()
        boto3_invoke(lam, name)
        total.append(time.perf_counter() - started)
    assert len(wire) == calls, len(wire)
    session.send = original
    for _ in range(50):
        native.invoke(name)
    direct = []
    for _ in range(calls):
        started = time.perf_counter()
        native.invoke(name)
        direct.append(time.perf_counter() - started)
    result = {"boto3": percentiles(total), "wire": percentiles(wire), "native": percentiles(direct)}
    print(f"warm {name}: {result}", file=sys.stderr)
    return result


def eventbridge_latency(env, role, runtime, count):
    lam, events = client(env, "lambda"), client(env, "events")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    address = "%s:%d" % sock.getsockname()
    arn = lam.create_function(FunctionName="signal", Runtime=runtime, Role=role, Handler="app.handler",
                              Code={"ZipFile": zipped({"app.py": SIGNAL})}, Timeout=30,
                              Environment={"Variables": {"BENCH_UDP": address}})["FunctionArn"]
    rule = events.put_rule(Name="bench-signal", EventPattern=json.dumps({"source": ["bench"]}))["RuleArn"]
    lam.add_permission(FunctionName="signal", StatementId="bench-rule", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=rule)
    assert events.put_targets(Rule="bench-signal", Targets=[{"Id": "fn", "Arn": arn}])["FailedEntryCount"] == 0

    def one(seq):
        before = time.time()
        sent = events.put_events(Entries=[{"Source": "bench", "DetailType": "tick",
                                           "Detail": json.dumps({"seq": seq})}])
        put = time.time()
        assert sent["FailedEntryCount"] == 0, sent
        while True:
            data = sock.recv(256)
            got = time.time()
            s, at = data.decode().split()
            if int(s) == seq:
                return at and float(at) - before, got - before, put - before

    for seq in range(-20, 0):  # untimed: the first cold start and warm-up
        one(seq)
    start, seen, put = [], [], []
    for seq in range(count):
        a, b, c = one(seq)
        start.append(a)
        seen.append(b)
        put.append(c)
    sock.close()
    result = {"handler_start": percentiles(start), "received": percentiles(seen), "put_events": percentiles(put)}
    print(f"eventbridge: {result}", file=sys.stderr)
    return result


def first_invoke(lam, name):
    started = time.perf_counter()
    response = boto3_invoke(lam, name, LogType="Tail")
    elapsed = time.perf_counter() - started
    tail = base64.b64decode(response.get("LogResult", "")).decode(errors="replace")
    init = re.search(r"Init Duration: ([\d.]+) ms", tail)
    duration = re.search(r"\tDuration: ([\d.]+) ms", tail)
    return elapsed * 1000, float(init.group(1)) if init else None, float(duration.group(1))


def cold_starts(env, role, runtime, count, ric_code=None, spacing=0.5):
    """Cold starts `spacing` seconds apart (a spare runtime, when the server keeps one,
    has had time to import boto3 after the previous cold start)."""
    lam = client(env, "lambda")
    kinds = {"trivial": (runtime, {"app.py": TRIVIAL}), "boto3": (runtime, {"app.py": WITH_BOTO3})}
    if ric_code:
        kinds["awslambdaric"] = ("provided.al2023", ric_code)
    make = lambda name, kind: lam.create_function(
        FunctionName=name, Runtime=kinds[kind][0], Role=role, Handler="app.handler",
        Code={"ZipFile": zipped(kinds[kind][1])}, Timeout=60)
    make("cold-first", "boto3")
    first_invoke(lam, "cold-first")  # untimed: the page cache
    results = {kind: {"client_ms": [], "init_ms": [], "duration_ms": []} for kind in kinds}
    after_update = results["boto3 after update_function_configuration"] = {"client_ms": [], "init_ms": [],
                                                                           "duration_ms": []}
    for i in range(count):
        for kind in (list(kinds) if i % 2 == 0 else list(kinds)[::-1]):
            name = f"cold-{kind}-{i}"
            make(name, kind)
            time.sleep(spacing)
            for key, value in zip(("client_ms", "init_ms", "duration_ms"), first_invoke(lam, name)):
                results[kind][key].append(value)
    waiter = lam.get_waiter("function_updated")
    for i in range(count):
        lam.update_function_configuration(FunctionName="cold-first", Environment={"Variables": {"ROUND": str(i)}})
        waiter.wait(FunctionName="cold-first", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        time.sleep(spacing)
        for key, value in zip(("client_ms", "init_ms", "duration_ms"), first_invoke(lam, "cold-first")):
            after_update[key].append(value)
    # A warm invocation of the same kinds, for the difference.
    for kind in kinds:
        for _ in range(5):
            boto3_invoke(lam, f"cold-{kind}-0")
        samples = []
        for _ in range(50):
            started = time.perf_counter()
            boto3_invoke(lam, f"cold-{kind}-0")
            samples.append(time.perf_counter() - started)
        results[kind]["warm_p50_ms"] = percentiles(samples)["p50_ms"]
    print(f"cold: {results}", file=sys.stderr)
    return results


def import_times(python, count, ric_python=None):
    """Medians over fresh interpreters: `import boto3` alone (perf_counter around it), the
    imports of trainyard's Python runtime client (bootstrap.py: json, socket, traceback) and of awslambdaric's, and the interpreter's start alone (wall)."""
    timed = lambda module: f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = {"import_boto3_ms": (python, timed("boto3")),
            "import_runtime_client_ms": (python, timed("json, socket, traceback"))}
    if ric_python:
        runs["import_awslambdaric_ms"] = (ric_python, timed("awslambdaric.bootstrap"))
    samples = {key: [] for key in runs}
    starts = []
    for py, code in runs.values():
        subprocess.run([py, "-c", code], check=True, capture_output=True)  # page cache
    for _ in range(count):
        for key, (py, code) in runs.items():
            samples[key].append(float(subprocess.run([py, "-c", code], check=True, capture_output=True,
                                                     text=True).stdout) * 1000)
        started = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True)
        starts.append((time.perf_counter() - started) * 1000)
    result = {key: statistics.median(v) for key, v in samples.items()}
    result["python_start_ms"] = statistics.median(starts)
    print(f"imports: {result}", file=sys.stderr)
    return result


def throughput(env, base, token, server_pid, functions, callers_list, duration):
    """{function: {client: {callers: {"ips": …, "p50_ms": …, "server_cpu_ms": …, "client_cpu_ms": …}}}}"""
    results = {}
    for function in functions:
        for kind in ("boto3", "native"):
            for callers in callers_list:
                clients = [client(env, "lambda") if kind == "boto3" else Native(base, token) for _ in range(callers)]
                call = (lambda c: boto3_invoke(c, function)) if kind == "boto3" else (lambda c: c.invoke(function))
                stop, measuring = threading.Event(), threading.Event()
                counts, latencies, errors = [0] * callers, [[] for _ in range(callers)], []

                def worker(i):
                    try:
                        while not stop.is_set():
                            started = time.perf_counter()
                            call(clients[i])
                            if measuring.is_set():
                                counts[i] += 1
                                latencies[i].append(time.perf_counter() - started)
                    except Exception as e:  # reported, and the point is void
                        errors.append(repr(e))

                threads = [threading.Thread(target=worker, args=(i,)) for i in range(callers)]
                for t in threads:
                    t.start()
                time.sleep(2)
                cpu_before = tree_cpu_seconds(server_pid)
                usage = resource.getrusage(resource.RUSAGE_SELF)
                measuring.set()
                started = time.perf_counter()
                time.sleep(duration)
                measuring.clear()
                elapsed = time.perf_counter() - started
                after = resource.getrusage(resource.RUSAGE_SELF)
                cpu_after = tree_cpu_seconds(server_pid)
                stop.set()
                for t in threads:
                    t.join()
                n = sum(counts)
                point = {"ips": n / elapsed, "invocations": n, "errors": errors[:3],
                         **percentiles([x for l in latencies for x in l] or [0]),
                         "server_cpu_ms": (cpu_after - cpu_before) / max(1, n) * 1000,
                         "client_cpu_ms": (after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime)
                         / max(1, n) * 1000}
                results.setdefault(function, {}).setdefault(kind, {})[callers] = point
                print(f"throughput {function} {kind} x{callers}: {point}", file=sys.stderr)
    return results


# ---------------------------------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trainyard", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--cold", type=int, default=10)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--callers", default="1,4,16")
    parser.add_argument("--ric-python", default="", help="a Python with awslambdaric installed")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: warm,events,cold,throughput,ric")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    trainyard = os.path.abspath(args.trainyard)
    workdir = os.path.abspath(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    runtime = "python%d.%d" % sys.version_info[:2]
    servers = Servers()
    results = {"machine": {"cpus": os.cpu_count(), "cpu": next((l.split(":", 1)[1].strip() for l in open(
        "/proc/cpuinfo") if l.startswith("model name")), ""), "boto3": boto3.__version__,
        "python": sys.version.split()[0], "load_before": os.getloadavg()}}
    try:
        data_dir = os.path.join(workdir, "ty")
        server, base, aws, token = start_trainyard(servers, trainyard, data_dir, os.path.join(workdir, "ty.log"))
        env = aws_env(trainyard, data_dir)
        cli = lambda *a: subprocess.run([trainyard, "--data-dir", data_dir, *a], check=True, capture_output=True,
                                        text=True).stdout
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        role = client(env, "iam").create_role(RoleName="bench-fn", AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"]["Arn"]
        lam = client(env, "lambda")
        lam.create_function(FunctionName="trivial", Runtime=runtime, Role=role, Handler="app.handler",
                            Code={"ZipFile": zipped({"app.py": TRIVIAL})}, Timeout=30)
        cli("functions", "create", "cmd-python", "--command", COMMAND_PYTHON.format(python=sys.executable))
        cli("functions", "create", "cmd-cat", "--command", "cat >/dev/null; echo '{\"ok\": true}'")
        native = Native(base, token)
        ric_code = None
        if args.ric_python and "ric" not in skip:
            ric_code = {"app.py": TRIVIAL,
                        "bootstrap": f"#!/bin/sh\nexec {args.ric_python} -m awslambdaric app.handler\n"}
            lam.create_function(FunctionName="ric", Runtime="provided.al2023", Role=role, Handler="app.handler",
                                Code={"ZipFile": zipped(ric_code)}, Timeout=30)
            version = subprocess.run([args.ric_python, "-m", "pip", "show", "awslambdaric"], capture_output=True,
                                     text=True).stdout
            results["machine"]["awslambdaric"] = re.search(r"Version: (\S+)", version).group(1)
        if "warm" not in skip:
            results["warm"] = {"trivial": warm_latency(env, native, "trivial", args.calls)}
            if ric_code:
                results["warm"]["awslambdaric"] = warm_latency(env, native, "ric", args.calls)
        if "events" not in skip:
            results["eventbridge"] = eventbridge_latency(env, role, runtime, args.events)
        if "cold" not in skip:
            results["cold"] = cold_starts(env, role, runtime, args.cold, ric_code)
            results["imports"] = import_times(sys.executable, args.cold, args.ric_python or None)
            # The same on a server that keeps no spare runtime: every cold start starts
            # its interpreter and imports boto3.
            bare_dir = os.path.join(workdir, "ty-bare")
            bare = start_trainyard(servers, trainyard, bare_dir, os.path.join(workdir, "ty-bare.log"),
                                   {"TRAINYARD_LAMBDA_PRELOAD": ""})
            bare_env = aws_env(trainyard, bare_dir)
            bare_role = client(bare_env, "iam").create_role(RoleName="bench-fn",
                                                            AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
            results["cold_without_spare"] = cold_starts(bare_env, bare_role, runtime, args.cold)
            servers.stop_one(bare[0])
        if "throughput" not in skip:
            callers = [int(c) for c in args.callers.split(",")]
            results["throughput"] = throughput(env, base, token, server.pid, ["trivial", "cmd-python", "cmd-cat"],
                                               callers, args.duration)
        results["machine"]["load_after"] = os.getloadavg()
    finally:
        servers.stop()
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    report(results)


def report(results):
    m = results["machine"]
    print(f"machine: {m['cpus']} cpus, {m['cpu']}; Python {m['python']}; boto3 {m['boto3']}"
          + (f"; awslambdaric {m['awslambdaric']}" if "awslambdaric" in m else "")
          + f"; load average before {m['load_before'][0]:.1f}, after {m.get('load_after', [0])[0]:.1f}")
    if "warm" in results:
        print("\n| warm invoke, 1 caller | boto3 invoke p50 / p99 ms | HTTP exchange p50 / p99 ms "
              "| native POST p50 / p99 ms |")
        print("|---|---:|---:|---:|")
        for name, r in results["warm"].items():
            cell = lambda k: f"{r[k]['p50_ms']:.2f} / {r[k]['p99_ms']:.2f}"
            print(f"| {name} (n = {r['boto3']['n']}) | {cell('boto3')} | {cell('wire')} | {cell('native')} |")
        p50 = results["warm"]["trivial"]["boto3"]["p50_ms"]
        print(f"warm p50 through boto3 {p50:.2f} ms (target < 2 ms: {'met' if p50 < 2 else 'NOT met'})")
    if "eventbridge" in results:
        r = results["eventbridge"]
        print(f"\n| EventBridge → Lambda, one at a time (n = {r['put_events']['n']}) | p50 ms | p99 ms |")
        print("|---|---:|---:|")
        for key, label in [("put_events", "put_events call"), ("handler_start", "put → handler entry"),
                           ("received", "put → harness receives the handler's datagram")]:
            print(f"| {label} | {r[key]['p50_ms']:.2f} | {r[key]['p99_ms']:.2f} |")
    for part, title in (("cold", "cold start"), ("cold_without_spare", "cold start, no spare runtime")):
        if part not in results:
            continue
        print(f"\n| {title} | n | first invoke p50 ms (client) | min–max | REPORT Init Duration p50 ms "
              "| REPORT Duration p50 ms | warm invoke p50 ms |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for kind, r in results[part].items():
            inits = [x for x in r["init_ms"] if x is not None]
            warm = f"{r['warm_p50_ms']:.2f}" if "warm_p50_ms" in r else ""
            print(f"| {kind} | {len(r['client_ms'])} | {statistics.median(r['client_ms']):.1f} "
                  f"| {min(r['client_ms']):.1f}–{max(r['client_ms']):.1f} "
                  f"| {statistics.median(inits) if inits else float('nan'):.1f} "
                  f"| {statistics.median(r['duration_ms']):.1f} | {warm} |")
    if "cold" in results:
        i = results["imports"]
        print("imports, medians in fresh interpreters: " + ", ".join(f"{k} {v:.1f}" for k, v in i.items()))
        cold = statistics.median(results["cold"]["boto3"]["client_ms"])
        print(f"cold start with boto3 {cold:.1f} ms (target < 150 ms: {'met' if cold < 150 else 'NOT met'})")
    if "throughput" in results:
        print("\n| function | client | callers | invocations/s | p50 / p99 ms | server CPU ms/inv | client CPU ms/inv |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for function, by in results["throughput"].items():
            for kind, points in by.items():
                for callers, p in points.items():
                    err = f" ({len(p['errors'])} errors)" if p["errors"] else ""
                    print(f"| {function} | {kind} | {callers} | {p['ips']:.0f}{err} | {p['p50_ms']:.2f} / "
                          f"{p['p99_ms']:.2f} | {p['server_cpu_ms']:.2f} | {p['client_cpu_ms']:.2f} |")


if __name__ == "__main__":
    main()
