"""trainyard's Python runtime interface client: what AWS's awslambdaric does inside a Lambda
execution environment. It imports the handler named by _HANDLER (module.function) from
LAMBDA_TASK_ROOT once, then pulls invocations from the Runtime API
(AWS_LAMBDA_RUNTIME_API) forever: GET next, call handler(event, context), POST the result,
or the error as Lambda shapes it ({"errorMessage", "errorType", "stackTrace"})."""
import importlib
import json
import os
import sys
import time
import traceback
import urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"


def post(path, body, error_type=None):
    headers = {"Content-Type": "application/json"}
    if error_type:
        headers["Lambda-Runtime-Function-Error-Type"] = error_type
    request = urllib.request.Request(API + path, data=body, method="POST", headers=headers)
    urllib.request.urlopen(request).read()


def error_body(exc):
    frames = traceback.extract_tb(exc.__traceback__)
    return {"errorMessage": str(exc), "errorType": type(exc).__name__,
            "stackTrace": [f'  File "{f.filename}", line {f.lineno}, in {f.name}\n    {f.line}\n' for f in frames]}


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def load_handler():
    root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, root)
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    if not module_name or not function_name:
        raise ValueError(f"Bad handler '{os.environ['_HANDLER']}': expected module.function")
    module = importlib.import_module(module_name.replace("/", "."))
    handler = getattr(module, function_name, None)
    if handler is None:
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def main():
    try:
        handler = load_handler()
    except Exception as exc:  # the init error, as Lambda reports it
        body = error_body(exc)
        body["errorType"] = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else (
            "Runtime.HandlerNotFound" if isinstance(exc, AttributeError) else "Runtime.UserCodeSyntaxError"
            if isinstance(exc, SyntaxError) else body["errorType"])
        print(f"[ERROR] {body['errorType']}: {body['errorMessage']}", file=sys.stderr, flush=True)
        post("/init/error", json.dumps(body).encode(), body["errorType"])
        sys.exit(1)
    while True:
        with urllib.request.urlopen(API + "/invocation/next") as response:
            headers = response.headers  # case-insensitive, as HTTP header names are
            event = json.loads(response.read() or b"null")
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        try:
            result = handler(event, Context(headers))
            try:
                body = json.dumps(result).encode()
            except (TypeError, ValueError) as exc:
                raise TypeError(f"Unable to marshal response: {exc}") from exc
        except Exception as exc:
            body = error_body(exc)
            print(f"[ERROR] {body['errorType']}: {body['errorMessage']}", file=sys.stderr, flush=True)
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            post(f"/invocation/{request_id}/error", json.dumps(body).encode(), "Unhandled")
            continue
        sys.stdout.flush()
        post(f"/invocation/{request_id}/response", body)


if __name__ == "__main__":
    main()
