"""Every json and query operation of the code's dispatch table reaches its handler: each is
sent, signed, with an empty input, and must answer anything but the protocol's
unknown-operation error (an empty input is mostly a ValidationException: that is a handler's
answer). argv[1]: JSON [[client, operation], ...]. Prints one JSON object."""
import json
import os
import sys
import urllib.error
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TARGETS = {"sagemaker": "SageMaker", "events": "AWSEvents", "logs": "Logs_20140328",
           "ecr": "AmazonEC2ContainerRegistry_V20150921"}
VERSIONS = {"sts": "2011-06-15", "iam": "2010-05-08"}
endpoint = os.environ["AWS_ENDPOINT_URL"]
credentials = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                          os.environ.get("AWS_SESSION_TOKEN"))
unreached = []
for client, operation in json.loads(sys.argv[1]):
    if client in TARGETS:
        headers = {"X-Amz-Target": f"{TARGETS[client]}.{operation}", "Content-Type": "application/x-amz-json-1.1"}
        body = b"{}"
    else:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        body = f"Action={operation}&Version={VERSIONS[client]}".encode()
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
    SigV4Auth(credentials, client, "us-east-1").add_auth(request)
    try:
        with urllib.request.urlopen(urllib.request.Request(endpoint + "/", data=body, method="POST",
                                                           headers=dict(request.headers))) as response:
            answer = response.read().decode()
    except urllib.error.HTTPError as e:
        answer = e.read().decode()
    if "UnknownOperation" in answer or "InvalidAction" in answer or "does not implement" in answer:
        unreached.append(f"{client}.{operation}: {answer[:200]}")
print(json.dumps({"unreached": unreached}))
