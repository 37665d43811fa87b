"""A Lambda handler that raises, and one that runs past its timeout, as EventBridge rule
targets with a retry policy of one retry: each is retried by the bus and then dead-lettered.
argv[1]: the Python runtime. Prints one JSON object."""
import io
import json
import sys
import zipfile

from common import client

runtime = sys.argv[1]
lam, events, iam = client("lambda"), client("events"), client("iam")
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}
role = iam.create_role(RoleName="retries-exec", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
handlers = {
    "raises": "def handler(event, context):\n    raise KeyError('no such order')\n",
    "sleeps": "import time\ndef handler(event, context):\n    time.sleep(10)\n",
}
results = {}
for name, source in handlers.items():
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("app.py", source)
    arn = lam.create_function(FunctionName=name, Runtime=runtime, Role=role, Handler="app.handler", Timeout=1,
                              Code={"ZipFile": code.getvalue()})["FunctionArn"]
    events.put_rule(Name=f"to-{name}", EventPattern=json.dumps({"source": ["orders"]}))
    events.put_targets(Rule=f"to-{name}", Targets=[{"Id": name, "Arn": arn, "RetryPolicy": {
        "MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 60}}])
results["put"] = events.put_events(Entries=[{"Source": "orders", "DetailType": "Order", "Detail": "{}"}])["FailedEntryCount"]
print(json.dumps(results))
