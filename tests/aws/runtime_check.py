"""InvokeEndpoint through the AWS endpoint with plain boto3 (sagemaker-runtime): CSV rows in,
predictions out, and AWS's error for an unknown endpoint. Prints one JSON object."""
import json
import sys

from common import client, code

endpoint = sys.argv[1]
runtime = client("sagemaker-runtime")
results = {}
answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body="1.9,-1.2,0.5\n0.1,0.3,0.5\n")
results["content_type"] = answer["ContentType"]
results["body"] = answer["Body"].read().decode()
results["variant"] = answer.get("InvokedProductionVariant", "")
results["missing"] = code(
    lambda: runtime.invoke_endpoint(EndpointName="no-such-endpoint", ContentType="text/csv", Body="1,2,3\n"))
print(json.dumps(results))
