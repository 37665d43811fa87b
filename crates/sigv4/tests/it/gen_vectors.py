#!/usr/bin/env python3
"""Generates vectors.json: requests signed by real botocore, for the SigV4 verifier's tests.

A dev script, run by hand (`python gen_vectors.py > vectors.json`) with boto3/botocore installed
(`python -m venv /tmp/v && /tmp/v/bin/pip install boto3`). It signs each request with botocore's
SigV4Auth (json, query, rest-json services), S3SigV4Auth (S3 with the payload hash header) and
S3SigV4QueryAuth (presigned S3 URLs) at a frozen time, then records what a server receives: method,
path and query exactly as sent, headers, body, and what the facade passes as the payload hash, with
botocore's own canonical request and signature.
"""

import datetime
import hashlib
import json
import sys
from urllib.parse import quote, urlsplit

import botocore
import botocore.auth
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

NOW = datetime.datetime(2026, 12, 6, 12, 0, 0)
botocore.auth.get_current_datetime = lambda *args, **kwargs: NOW

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE/session+token=="
REGION = "us-east-1"
BASE = "http://127.0.0.1:7420"
HOST = "127.0.0.1:7420"

recorded = []
for cls in (SigV4Auth, S3SigV4Auth, S3SigV4QueryAuth):
    original = cls.canonical_request

    def canonical_request(self, request, _original=original):
        text = _original(self, request)
        recorded.append(text)
        return text

    cls.canonical_request = canonical_request


def key_path(bucket, key):
    # What botocore's rest-xml serializer sends for a {Key+} label.
    return f"/{bucket}/" + quote(key, safe="/~")


def sign(name, service, method, path_and_query, *, headers=(), body=b"", s3=False, presigned=None, token=None):
    credentials = Credentials(ACCESS_KEY, SECRET, token)
    request = AWSRequest(method=method, url=BASE + path_and_query, data=body)
    for header, value in headers:
        request.headers[header] = value  # HTTPHeaders: setting twice adds a second value
    if presigned is not None:
        signer = S3SigV4QueryAuth(credentials, service, REGION, expires=presigned)
    elif s3:
        signer = S3SigV4Auth(credentials, service, REGION)
    else:
        signer = SigV4Auth(credentials, service, REGION)
    recorded.clear()
    signer.add_auth(request)
    canonical = recorded[-1]
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    # request.headers keeps every value of a repeated header; prepared.headers keeps one.
    wire_headers = [[k, v] for k, v in request.headers.items()]
    if not any(k.lower() == "host" for k, _ in wire_headers):
        wire_headers.insert(0, ["Host", HOST])
    body_bytes = body if isinstance(body, bytes) else body.encode()
    if presigned is not None:
        payload_hash = "UNSIGNED-PAYLOAD"
        signature = dict(p.split("=", 1) for p in parts.query.split("&"))["X-Amz-Signature"]
    else:
        authorization = prepared.headers["Authorization"]
        signature = authorization.rsplit("Signature=", 1)[1]
        if s3:
            payload_hash = prepared.headers["X-Amz-Content-SHA256"]
        else:
            payload_hash = hashlib.sha256(body_bytes).hexdigest()
    return {
        "name": name,
        "service": service,
        "method": method,
        "path": parts.path,
        "query": parts.query,
        "headers": wire_headers,
        "body": body_bytes.decode("utf-8"),
        "payload_hash": payload_hash,
        "canonical_request": canonical,
        "signature": signature,
    }


JSON11 = "application/x-amz-json-1.1"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
S3_BODY = b"x,y\n1,2\n"

vectors = [
    # The four of the research note, section 5.2.
    sign("note-sagemaker-json", "sagemaker", "POST", "/",
         headers=[("X-Amz-Target", "SageMaker.DescribeTrainingJob"), ("Content-Type", JSON11)],
         body=b'{"TrainingJobName": "churn-xgb-1"}'),
    sign("note-lambda-invoke", "lambda", "POST",
         "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Anotify/invocations",
         body=b"{}"),
    sign("note-s3-put", "s3", "PUT", "/churn-data/train/a%20b.csv", body=S3_BODY, s3=True),
    sign("note-s3-list", "s3", "GET", "/churn-data?list-type=2&prefix=train%2F&encoding-type=url", s3=True),
    # More.
    sign("events-put-events", "events", "POST", "/",
         headers=[("X-Amz-Target", "AWSEvents.PutEvents"), ("Content-Type", JSON11)],
         body=json.dumps({"Entries": [{"Source": "app", "DetailType": "t", "Detail": "{\"k\": \"é\"}"}]})),
    sign("sts-get-caller-identity", "sts", "POST", "/",
         headers=[("Content-Type", FORM)], body=b"Action=GetCallerIdentity&Version=2011-06-15"),
    sign("iam-query-in-url", "iam", "GET", "/?Action=ListRoles&PathPrefix=%2Fservice%2F&Version=2010-05-08"),
    sign("lambda-get-function", "lambda", "GET",
         "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Anotify?Qualifier=%24LATEST"),
    sign("lambda-dot-segments", "lambda", "GET", "/2015-03-31/functions/./x/../notify//configuration/"),
    sign("s3-put-odd-key", "s3", "PUT", key_path("churn-data", "dir one/a b+c~d=e&f(1)!é.csv"), body=S3_BODY, s3=True,
         headers=[("Content-Type", "text/csv"), ("X-Amz-Meta-Note", "  spaced   out \t value  ")]),
    sign("s3-put-unicode-key", "s3", "PUT", key_path("churn-data", "данные/数据 ✓.txt"), body="héllo".encode(), s3=True),
    sign("s3-get-many-params", "s3", "GET",
         "/churn-data?prefix=&list-type=2&delimiter=%2F&start-after=a%2Bb%20c&max-keys=10&tag=b&tag=a&versions",
         s3=True),
    sign("s3-session-token-header", "s3", "GET", "/churn-data/train/a.csv", s3=True, token=TOKEN),
    sign("sagemaker-session-token-header", "sagemaker", "POST", "/",
         headers=[("X-Amz-Target", "SageMaker.ListTrainingJobs"), ("Content-Type", JSON11)], body=b"{}", token=TOKEN),
    sign("s3-multi-valued-header", "s3", "PUT", "/churn-data/k", body=b"", s3=True,
         headers=[("X-Amz-Meta-Tags", "b  c"), ("X-Amz-Meta-Tags", " a ")]),
    sign("s3-presigned-get", "s3", "GET", key_path("churn-data", "train/a b.csv"), presigned=3600),
    sign("s3-presigned-get-params", "s3", "GET",
         key_path("churn-data", "train/x.csv") + "?response-content-type=text%2Fplain&versionId=", presigned=3600),
    sign("s3-presigned-get-token", "s3", "GET", key_path("churn-data", "train/a.csv"), presigned=900, token=TOKEN),
]

json.dump({
    "generator": f"botocore {botocore.__version__}, crates/sigv4/tests/it/gen_vectors.py",
    "now": "2026-12-06T12:00:00Z",
    "access_key_id": ACCESS_KEY,
    "secret": SECRET,
    "vectors": vectors,
}, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
