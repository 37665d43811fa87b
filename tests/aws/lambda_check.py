"""AWS Lambda's API with plain boto3: functions created from an in-memory zip, invoked
(RequestResponse, Event, DryRun, LogType Tail), warm between invocations, updated (code and
configuration), failing with Lambda's error document, permissions, and refused bad code.
argv[1]: the Python runtime (python3.X). Prints one JSON object."""
import base64
import io
import json
import sys
import time
import zipfile

from common import client, code

runtime = sys.argv[1]
lam = client("lambda")
iam = client("iam")
results = {}


def zipped(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buffer.getvalue()


trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}
role = iam.create_role(RoleName="lambda-exec", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
v1 = """
import os
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    print("seen", COUNT)
    if event.get("boom"):
        raise RuntimeError("boom requested")
    return {"count": COUNT, "version": 1, "stage": os.environ.get("STAGE"), "event": event}
"""
made = lam.create_function(FunctionName="counter", Runtime=runtime, Role=role, Handler="app.handler",
                           Code={"ZipFile": zipped({"app.py": v1})}, Timeout=10, MemorySize=256,
                           Environment={"Variables": {"STAGE": "dev"}})
results["created"] = [made["FunctionName"], made["Runtime"], made["Handler"], made["MemorySize"], made["State"]]
invoke = lambda **kw: lam.invoke(FunctionName="counter", **kw)
first = invoke(Payload=json.dumps({"n": 1}))
results["first"] = json.loads(first["Payload"].read())
results["status"] = first["StatusCode"]
second = invoke(Payload=b"{}", LogType="Tail")
results["second"] = json.loads(second["Payload"].read())["count"]
results["tail"] = base64.b64decode(second["LogResult"]).decode()
failed = invoke(Payload=json.dumps({"boom": True}))
results["function_error"] = failed.get("FunctionError")
results["error"] = json.loads(failed["Payload"].read())
results["event"] = invoke(InvocationType="Event", Payload=b'{"async": true}')["StatusCode"]
results["dry_run"] = invoke(InvocationType="DryRun")["StatusCode"]
lam.update_function_configuration(FunctionName="counter", Environment={"Variables": {"STAGE": "prod"}})
results["reconfigured"] = json.loads(invoke(Payload=b"{}")["Payload"].read())["stage"]
lam.update_function_code(FunctionName="counter", ZipFile=zipped({"app.py": v1.replace('"version": 1', '"version": 2')}))
results["updated"] = json.loads(invoke(Payload=b"{}")["Payload"].read())["version"]
results["described"] = lam.get_function(FunctionName="counter")["Configuration"]["CodeSha256"] != made["CodeSha256"]
results["listed"] = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
permission = lam.add_permission(FunctionName="counter", StatementId="events-rule_1", Action="lambda:InvokeFunction",
                                Principal="events.amazonaws.com",
                                SourceArn="arn:aws:events:us-east-1:000000000000:rule/r")
results["permission"] = json.loads(permission["Statement"])["Principal"]
results["policy"] = json.loads(lam.get_policy(FunctionName="counter")["Policy"])["Statement"][0]["Sid"]
results["duplicate"] = code(lambda: lam.create_function(FunctionName="counter", Runtime=runtime, Role=role,
                                                        Handler="app.handler", Code={"ZipFile": zipped({"app.py": v1})}))
results["escape"] = code(lambda: lam.create_function(FunctionName="escape", Runtime=runtime, Role=role,
                                                     Handler="app.handler",
                                                     Code={"ZipFile": zipped({"../evil.py": "x", "app.py": v1})}))
results["no_handler"] = code(lambda: lam.create_function(FunctionName="nohandler", Runtime=runtime, Role=role,
                                                         Handler="other.handler", Code={"ZipFile": zipped({"app.py": v1})}))
# A function's own copy of a module the runtime preloads (boto3 here), and a PYTHON* variable,
# are what a fresh interpreter would see: the pre-initialised runtime steps aside.
vendored = lam.create_function(FunctionName="vendored", Runtime=runtime, Role=role, Handler="app.handler",
                               Code={"ZipFile": zipped({"boto3/__init__.py": "__version__ = 'vendored'\n",
                                                        "app.py": "import boto3\ndef handler(e, c):\n"
                                                                  "    return boto3.__version__\n"})})
results["vendored"] = json.loads(lam.invoke(FunctionName="vendored", Payload=b"{}")["Payload"].read())
lam.create_function(FunctionName="flagged", Runtime=runtime, Role=role, Handler="app.handler",
                    Environment={"Variables": {"PYTHONDONTWRITEBYTECODE": "1"}},
                    Code={"ZipFile": zipped({"app.py": "import sys\ndef handler(e, c):\n"
                                                       "    return sys.flags.dont_write_bytecode\n"})})
results["flagged"] = json.loads(lam.invoke(FunctionName="flagged", Payload=b"{}")["Payload"].read())
results["syntax"] = None
lam.create_function(FunctionName="broken", Runtime=runtime, Role=role, Handler="app.handler",
                    Code={"ZipFile": zipped({"app.py": "def handler(e, c)\n  return 1\n"})})
broken = lam.invoke(FunctionName="broken", Payload=b"{}")
results["syntax"] = [broken.get("FunctionError"), json.loads(broken["Payload"].read()).get("errorType")]
logs = client("logs")
results["log_groups"] = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]]
stream = logs.describe_log_streams(logGroupName="/aws/lambda/counter")["logStreams"][0]["logStreamName"]
lines = [e["message"] for e in logs.get_log_events(logGroupName="/aws/lambda/counter", logStreamName=stream,
                                                      startFromHead=True)["events"]]
results["log_reports"] = sum(1 for line in lines if line.startswith("REPORT RequestId"))
results["log_filtered"] = len(logs.filter_log_events(logGroupName="/aws/lambda/counter",
                                                     filterPattern="boom requested")["events"]) > 0
results["concurrency"] = lam.put_function_concurrency(FunctionName="counter",
                                                      ReservedConcurrentExecutions=2)["ReservedConcurrentExecutions"]
results["concurrency_back"] = lam.get_function_concurrency(FunctionName="counter").get("ReservedConcurrentExecutions")
lam.delete_function_concurrency(FunctionName="counter")
results["concurrency_gone"] = lam.get_function_concurrency(FunctionName="counter").get("ReservedConcurrentExecutions")
lam.delete_function(FunctionName="counter")
results["deleted"] = code(lambda: lam.get_function(FunctionName="counter"))
print(json.dumps(results))
