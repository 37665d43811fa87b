"""What the boto3 checks share: AWS error codes, and the fidelity hook.

The fidelity hook checks every successful answer against botocore's own model of the
operation: after botocore has parsed a response, the parsed dict (minus ResponseMetadata)
is validated with `botocore.validate.ParamValidator` against `model.output_shape`, as
botocore validates a request against the input shape. What that catches: required output
members missing (the SDKs index them), values of the wrong type (a string where the model
says integer, a number where it says timestamp, ...), strings, lists and numbers under the
model's `min`. The parsers drop members the model does not know, so extra members pass.

What differs from validating input: the streaming payload (GetObject's and InvokeEndpoint's
`Body`, a StreamingBody) is only checked to be there, its bytes are the caller's; timestamps
arrive as datetimes, which the validator accepts; error answers (HTTP >= 300) are not checked
here, their codes are the scripts' business. The hook sees the answer as botocore's parser
made it, before the service's client-side customizations: it runs first among the
`after-call.SERVICE` handlers, so IAM's policy documents are still the strings IAM sends
(botocore's `json_decode_policies` turns them into dicts afterwards). Operation-level
customizations (S3's GetBucketLocation re-parse, ListObjects' URL decoding) have run.

Scripts make their clients with `client(...)` (a boto3 client with the hook) or call
`check_every_client()` once, which hooks every client any botocore session creates from
then on (the SageMaker SDK makes its own). A failure raises `FidelityError` naming the
service, the operation and the validator's report, unless `AWS_FIDELITY=report` is set:
then failures are collected in `FAILURES`, printed to stderr as they happen and summed up
at exit, and the script carries on (for surveys of a server). Scripts that count their own
checks call `collect_failures()` and report `fidelity_checks()`, one check per operation."""
import atexit
import os
import sys

import boto3
import botocore.session
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator


def code(call):
    """The AWS error code a call raises, or "ok"."""
    try:
        call()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


class FidelityError(AssertionError):
    """An answer that does not conform to botocore's model of the operation's output."""


FAILURES = []  # (service, operation, report), in the order they happened
CHECKED = {}  # (service, operation) -> how many answers were validated
_state = {"strict": os.environ.get("AWS_FIDELITY", "raise") != "report", "summary": True}


def collect_failures():
    """Failures are collected (and printed as they happen) instead of raised: for scripts
    that count their checks and report the fidelity per operation at the end."""
    _state["strict"] = False
    _state["summary"] = False


def fidelity_checks():
    """One (name, ok, report) per operation answered so far: ok if every answer conformed."""
    reports = {}
    for service, operation, report in FAILURES:
        reports.setdefault((service, operation), []).extend(report.splitlines())
    return [(f"fidelity {service}.{operation} ({count} answers)", (service, operation) not in reports,
             "\n".join(dict.fromkeys(reports.get((service, operation), []))))
            for (service, operation), count in sorted(CHECKED.items())]


def output_report(parsed, model):
    """The validator's report on a parsed answer against the operation's output shape, or ""."""
    shape = model.output_shape
    # A top-level None is an absent member as a customization leaves it (GetBucketLocation's
    # empty LocationConstraint, which AWS sends for us-east-1): absent, not a wrong type.
    body = {k: v for k, v in parsed.items() if k != "ResponseMetadata" and v is not None}
    if shape is None:
        return "" if not body else f"the operation has no output, the answer has {sorted(body)}"
    payload = shape.serialization.get("payload")
    if payload is not None and shape.members[payload].type_name == "blob" and payload in body:
        body[payload] = b""  # a streaming body: there, and its bytes are the caller's to check
    errors = ParamValidator().validate(body, shape)
    return errors.generate_report() if errors.has_errors() else ""


def _after_call(http_response, parsed, model, **_):
    if http_response.status_code >= 300:
        return
    service = model.service_model.service_name
    CHECKED[(service, model.name)] = CHECKED.get((service, model.name), 0) + 1
    report = output_report(parsed, model)
    if not report:
        return
    FAILURES.append((service, model.name, report))
    message = (f"fidelity: {service}.{model.name} answer does not match its output shape "
               f"{model.output_shape.name}:\n{report}")
    if _state["strict"]:
        raise FidelityError(message)
    print(message, file=sys.stderr)


def checked(aws_client):
    """Registers the fidelity hook on a client; returns the client."""
    if not getattr(aws_client.meta, "_fidelity_checked", False):
        service_id = aws_client.meta.service_model.service_id.hyphenize()
        aws_client.meta.events.register_first(
            f"after-call.{service_id}", _after_call, unique_id="trainyard-fidelity")
        aws_client.meta._fidelity_checked = True
    return aws_client


def client(service, **kwargs):
    """A boto3 client (the default session's, as `boto3.client`) whose answers are checked."""
    return checked(boto3.client(service, **kwargs))


_original_create_client = botocore.session.Session.create_client
_on_new_client = [checked]


def check_every_client(also=None):
    """Hooks every client every botocore session creates from now on (boto3's, the SDK's);
    `also(client)` is called on each new client too (a recorder, say)."""
    if also is not None:
        _on_new_client.append(also)
    if getattr(botocore.session.Session.create_client, "_fidelity", False):
        return

    def create_client(self, *args, **kwargs):
        new = _original_create_client(self, *args, **kwargs)
        for hook in _on_new_client:
            hook(new)
        return new

    create_client._fidelity = True
    botocore.session.Session.create_client = create_client


@atexit.register
def _summary():
    if _state["summary"] and not _state["strict"] and FAILURES:
        print(f"fidelity: {len(FAILURES)} answer(s) off their output shapes:", file=sys.stderr)
        for service, operation, report in FAILURES:
            print(f"  {service}.{operation}: {' | '.join(report.splitlines())}", file=sys.stderr)
