"""Authorization benchmark: the same calls as root (no policy evaluation) and as a user whose
20 attached policies are evaluated on every call, alternating in one run.

Deploys the LogisticRegression endpoint of bench/endpoints/compare.py, creates user `bench`
(as root, over the HTTP API) with 20 customer-managed policies attached: 19 allowing other
things (sagemaker, s3, events, ecr, logs actions on other resources, some with conditions, two
Denies with conditions that do not hold), and a last one allowing `sagemaker:InvokeEndpoint`
on the endpoint and `events:PutEvents` on the default bus. Then, with wrk (-t1 -c16, POST Lua
script), alternates root and user (root, user, user, root, root, user: PutEvents slows as the
event table grows, so neither side always goes second) for `--rounds` rounds each on:
  - endpoint invocations (CSV, one row);
  - PutEvents (10 small entries a call; each call is a SQLite write).

usage: python bench/iam/compare.py --trainyard target/release/trainyard --workdir /tmp/bi \
           [--rounds 3] [--duration 10]
Run it with the Python that has scikit-learn and skl2onnx (TRAINYARD_PYTHON).
"""

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request

# MAKE_MODELS, start() and wrk() of the serving benchmark.
_spec = importlib.util.spec_from_file_location(
    "endpoints_compare", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "endpoints", "compare.py"))
endpoints = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(endpoints)
MAKE_MODELS, start, wrk = endpoints.MAKE_MODELS, endpoints.start, endpoints.wrk

SM = "arn:aws:sagemaker:local:000000000000"
EV = "arn:aws:events:local:000000000000"


def other_policies():
    """19 policies that allow (or deny) other things, as a team's user might carry."""
    near = {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}
    office = {"StringEquals": {"aws:username": "someone-else"}}
    later = {"DateGreaterThan": {"aws:CurrentTime": "2099-01-01T00:00:00Z"}}
    allow = lambda actions, resources, cond=None: dict(
        {"Effect": "Allow", "Action": actions, "Resource": resources}, **({"Condition": cond} if cond else {}))
    documents = []
    for i in range(19):
        team = f"team-{i}"
        kind = i % 5
        if kind == 0:
            s = [allow(["s3:Get*", "s3:List*", "s3:PutObject"], [f"arn:aws:s3:::{team}", f"arn:aws:s3:::{team}/*"])]
        elif kind == 1:
            s = [allow(["sagemaker:CreateTrainingJob", "sagemaker:Describe*"], f"{SM}:training-job/{team}-*", near)]
        elif kind == 2:
            s = [allow(["events:PutRule", "events:PutTargets", "events:PutEvents"], [f"{EV}:rule/{team}-*",
                                                                                    f"{EV}:event-bus/{team}"])]
        elif kind == 3:
            s = [allow(["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"], f"{SM}:endpoint/{team}-*", office)]
        else:
            s = [allow(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:Put*"],
                       f"arn:aws:ecr:local:000000000000:repository/{team}/*"),
                 allow("logs:*", f"arn:aws:logs:local:000000000000:log-group:/{team}/*", later)]
        if i in (6, 13):
            s.append({"Effect": "Deny", "Action": "sagemaker:*", "Resource": "*", "Condition": later})
        documents.append({"Version": "2012-10-17", "Statement": s})
    return documents


def cpu_seconds(pid):
    """User + system CPU time of a process so far (for the server's CPU time per request)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trainyard", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    args = parser.parse_args()
    trainyard = os.path.abspath(args.trainyard)
    workdir = os.path.abspath(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    row = subprocess.run([sys.executable, "-c", MAKE_MODELS, workdir, "onnx"], capture_output=True, text=True,
                         check=True).stdout.strip()
    data_dir = os.path.join(workdir, "data")
    server, base = start([trainyard, "server", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
                         r"trainyard listening on (\S+)")
    results = {}
    try:
        base = base.rstrip("/")
        root = open(os.path.join(data_dir, "admin.token")).read().strip()
        cli = lambda *a: subprocess.run([trainyard, "--data-dir", data_dir, *a], check=True, capture_output=True, text=True)
        cli("data", "mb", "s3://bench")
        archive = os.path.join(workdir, "lr.tar.gz")
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(os.path.join(workdir, "lr.onnx"), arcname="model.onnx")
        cli("data", "put", archive, "s3://bench/lr/model.tar.gz")
        cli("endpoints", "deploy", "lr", "--model-data", "s3://bench/lr/model.tar.gz", "--wait")

        def call(method, path, body, token, content_type="application/json"):
            data = body if isinstance(body, (bytes, type(None))) else (
                body.encode() if isinstance(body, str) else json.dumps(body).encode())
            request = urllib.request.Request(base + path, data=data, method=method, headers={
                "Authorization": f"Bearer {token}", "Content-Type": content_type})
            try:
                with urllib.request.urlopen(request) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()

        def secret_of(user):
            assert call("POST", "/api/v1/iam/users", {"Name": user}, root)[0] < 300
            status, key = call("POST", f"/api/v1/iam/users/{user}/access-keys", None, root)
            assert status < 300, key
            return key["AccessKey"]["SecretAccessKey"]

        user, other = secret_of("bench"), secret_of("nobody")
        documents = other_policies() + [{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": f"{SM}:endpoint/lr"},
            {"Effect": "Allow", "Action": "events:PutEvents", "Resource": f"{EV}:event-bus/default"}]}]
        for i, document in enumerate(documents):
            name = f"bench-{i:02}"
            status, body = call("POST", "/api/v1/iam/policies", {"PolicyName": name, "PolicyDocument": document}, root)
            assert status < 300, body
            status, body = call("PUT", f"/api/v1/iam/users/bench/attached-policies/{name}", None, root)
            assert status < 300, body
            if i < len(documents) - 1:  # `nobody` gets the 19 others only
                assert call("PUT", f"/api/v1/iam/users/nobody/attached-policies/{name}", None, root)[0] < 300

        csv_row = row + "\n"
        events = json.dumps({"Entries": [{"Source": "bench", "DetailType": "t", "Detail": json.dumps({"i": i})}
                                         for i in range(10)]})
        targets = [("invocations", "/endpoints/lr/invocations", csv_row, "text/csv"),
                   ("PutEvents", "/api/v1/events", events, "application/json")]
        for label, path, body, content_type in targets:
            checks = {who: call("POST", path, body, token, content_type)[0]
                      for who, token in [("root", root), ("user", user), ("nobody", other)]}
            print(f"{label}: {checks}", file=sys.stderr)
            assert checks == {"root": 200, "user": 200, "nobody": 403}, checks
        for label, path, body, content_type in targets:
            for n in range(args.rounds):
                pair = [("root", root), ("user", user)]
                for who, token in pair if n % 2 == 0 else pair[::-1]:  # root, user, user, root, …
                    before = cpu_seconds(server.pid)
                    r = wrk(base + path, body, content_type, token, args.duration, workdir)
                    r["cpu_us"] = (cpu_seconds(server.pid) - before) / (r["rps"] * args.duration) * 1e6
                    print(f"{label} round {n + 1} {who}: {r}", file=sys.stderr)
                    results.setdefault(label, {}).setdefault(who, []).append(r)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print("| call | round | root req/s | user req/s | root p50 / p99 ms | user p50 / p99 ms "
          "| server CPU µs/req root / user | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, by in results.items():
        for n, (r, u) in enumerate(zip(by["root"], by["user"])):
            print(f"| {label} | {n + 1} | {r['rps']:.0f} | {u['rps']:.0f} | {r['p50_ms']:.3f} / {r['p99_ms']:.2f} "
                  f"| {u['p50_ms']:.3f} / {u['p99_ms']:.2f} | {r['cpu_us']:.1f} / {u['cpu_us']:.1f} "
                  f"| {r['errors'] + u['errors']} |")
        median = lambda who, key: statistics.median(r[key] for r in by[who])
        root_rps, user_rps = median("root", "rps"), median("user", "rps")
        print(f"| {label} | median | {root_rps:.0f} | {user_rps:.0f} | | | {median('root', 'cpu_us'):.1f} / "
              f"{median('user', 'cpu_us'):.1f} | |")
        print(f"{label}: user/root {user_rps / root_rps:.1%} (target ≥ 95 %: "
              f"{'met' if user_rps >= 0.95 * root_rps else 'NOT met'})", file=sys.stderr)


if __name__ == "__main__":
    main()
