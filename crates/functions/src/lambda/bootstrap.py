"""trainyard's Python runtime interface client: what AWS's awslambdaric does inside a Lambda
execution environment. It imports the handler named by _HANDLER (module.function) from
LAMBDA_TASK_ROOT once, then pulls invocations from the Runtime API
(AWS_LAMBDA_RUNTIME_API) forever: GET next, call handler(event, context), POST the result,
or the error as Lambda shapes it ({"errorMessage", "errorType", "stackTrace"}).

It speaks HTTP/1.1 over one kept-alive socket (urllib would import the email package and
open a connection per request). With `--spare MODULE…` it is a pre-initialised runtime:
it imports those modules, waits for its function on stdin (one JSON line: the environment
and the working directory), and then runs as above; a function whose code or variables
would see a different module than the preloaded one gets a fresh interpreter (exec)."""
import json
import os
import socket
import sys
import time
import traceback


class RuntimeApi:
    """An HTTP/1.1 client of the Runtime API on one persistent connection."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self.connection = self.reader = None

    def close(self):
        if self.connection is not None:
            self.connection.close()
        self.connection = self.reader = None

    def request(self, method, path, body=b"", error_type=None):
        head = f"{method} /2018-06-01/runtime{path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if method == "POST":
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        if error_type:
            head += f"Lambda-Runtime-Function-Error-Type: {error_type}\r\n"
        message = (head + "\r\n").encode("latin-1") + body
        for attempt in (1, 2):
            try:
                if self.connection is None:
                    self.connection = socket.create_connection((self.host, self.port))
                    self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.reader = self.connection.makefile("rb")
                self.connection.sendall(message)
                return self.read_response()
            except (OSError, ValueError):
                # A connection the server closed: once more on a new one.
                self.close()
                if attempt == 2:
                    raise

    def read_response(self):
        status = self.reader.readline()
        if not status:
            raise ConnectionError("the Runtime API closed the connection")
        headers = {}
        while True:
            line = self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.reader.readline().split(b";")[0], 16)
                chunk = self.reader.read(size + 2)[:size]
                if size == 0:
                    break
                body += chunk
        else:
            body = self.reader.read(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(status.split()[1]), headers, body


def error_body(exc):
    frames = traceback.extract_tb(exc.__traceback__)
    return {"errorMessage": str(exc), "errorType": type(exc).__name__,
            "stackTrace": [f'  File "{f.filename}", line {f.lineno}, in {f.name}\n    {f.line}\n' for f in frames]}


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers.get("lambda-runtime-aws-request-id")
        self.invoked_function_arn = headers.get("lambda-runtime-invoked-function-arn")
        self._deadline_ms = int(headers.get("lambda-runtime-deadline-ms", "0"))
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
    import importlib

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


def await_function(preload):
    """A spare: imports `preload`, then takes on the function written to stdin."""
    before = set(sys.modules)
    for name in preload:
        try:
            __import__(name)
        except Exception:  # not installed here: the handler imports it (or fails) itself
            pass
    preloaded = {name.partition(".")[0] for name in set(sys.modules) - before}
    line = sys.stdin.buffer.readline()
    if not line:
        sys.exit(0)  # the server let the spare go
    assignment = json.loads(line)
    os.environ.update(assignment["environment"])
    os.chdir(assignment["cwd"])
    time.tzset()
    root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    shadowed = any(os.path.splitext(entry)[0].partition(".")[0] in preloaded for entry in os.listdir(root))
    if shadowed or any(name.startswith("PYTHON") for name in assignment["environment"]):
        # Invariant: the function sees exactly what a fresh interpreter would.
        os.execv(sys.executable, [sys.executable, "-u", os.path.abspath(__file__)])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--spare":
        await_function(sys.argv[2:])
    api = RuntimeApi(os.environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        handler = load_handler()
    except Exception as exc:  # the init error, as Lambda reports it
        body = error_body(exc)
        body["errorType"] = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else (
            "Runtime.HandlerNotFound" if isinstance(exc, AttributeError) else "Runtime.UserCodeSyntaxError"
            if isinstance(exc, SyntaxError) else body["errorType"])
        print(f"[ERROR] {body['errorType']}: {body['errorMessage']}", file=sys.stderr, flush=True)
        api.request("POST", "/init/error", json.dumps(body).encode(), body["errorType"])
        sys.exit(1)
    while True:
        _, headers, event = api.request("GET", "/invocation/next")
        request_id = headers.get("lambda-runtime-aws-request-id")
        try:
            result = handler(json.loads(event or b"null"), Context(headers))
            try:
                body = json.dumps(result).encode()
            except (TypeError, ValueError) as exc:
                raise TypeError(f"Unable to marshal response: {exc}") from exc
        except Exception as exc:
            body = error_body(exc)
            print(f"[ERROR] {body['errorType']}: {body['errorMessage']}", file=sys.stderr, flush=True)
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            api.request("POST", f"/invocation/{request_id}/error", json.dumps(body).encode(), "Unhandled")
            continue
        sys.stdout.flush()
        api.request("POST", f"/invocation/{request_id}/response", body)


if __name__ == "__main__":
    main()
