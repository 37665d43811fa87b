#!/usr/bin/env python3
"""Registry benchmark: trainyard's OCI registry against CNCF distribution (Debian's `docker-registry`).

Measures, for each registry and for layer sizes of 1, 10 and 100 MiB (--sizes), the blob push and
pull throughput over the OCI Distribution v2 API and the server process's peak memory:
  - push: `POST /v2/<repo>/blobs/uploads/` (202 + Location), then one monolithic
    `PUT <location>?digest=sha256:<hex>` whose body is streamed from a file in 1 MiB chunks (201);
  - pull: `GET /v2/<repo>/blobs/sha256:<hex>` (a 307 is followed), the body read in 1 MiB chunks
    and discarded.
The registries take turns size by size (distribution's 1 MiB, trainyard's 1 MiB, then 10 MiB…),
so a machine that slows down during the run slows both alike. Each size gets one untimed
warm-up push and pull (the pulled bytes checked for length and sha256)
and then --repeats timed pushes and pulls; the median MiB/s is reported. Every push uploads new
content: the layer file is random bytes and each repetition replaces its last 8 bytes (digests are
computed before timing). Timings are wall clock around the whole exchange, on one keep-alive
connection, client and server on the same machine (so the client's CPU competes with the server's).

Memory: a thread reads VmRSS from /proc/<pid>/status every 5 ms. Reported per registry: the RSS
before the first transfer (baseline) and, per size, the highest RSS seen during that size's
transfers (the 5 ms sampling can miss shorter spikes; the JSON also holds VmHWM, the kernel's
lifetime high-water mark, read after each size).

Servers, each in its own temporary directory, removed at the end:
  - distribution: `docker-registry serve CONFIG`, filesystem storage in the temporary directory,
    127.0.0.1 on a free port, log level error, no access log, no auth, in-memory blob descriptor
    cache (the upstream default), no upload purging;
  - trainyard (with --trainyard BIN): `BIN server --data-dir TMP --listen 127.0.0.1:0`; its URL
    is read from TMP/server.url and its registry (at /v2/) is called with HTTP Basic auth, user
    `trainyard`, password the admin token from TMP/admin.token.

usage: python3 bench/registry/compare.py [--trainyard target/release/trainyard] [--repeats 5]
           [--sizes 1,10,100] [--json results.json] [--distribution /usr/bin/docker-registry]
Needs Debian's registry: apt-get install -y docker-registry (its systemd service is not used).
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

MIB = 1 << 20
CHUNK = MIB

DISTRIBUTION_CONFIG = """version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: trainyard-bench
"""


class HttpError(Exception):
    pass


class Client:
    """A minimal HTTP/1.1 client on http.client, one keep-alive connection per host."""

    def __init__(self, base, authorization=None):
        self.base = base.rstrip("/")
        self.authorization = authorization
        self.connections = {}
        self.buffer = bytearray(CHUNK)

    def _connection(self, netloc):
        conn = self.connections.get(netloc)
        if conn is None:
            conn = self.connections[netloc] = http.client.HTTPConnection(netloc, timeout=300)
        if conn.sock is None:
            conn.connect()
            # As curl does: no Nagle delay between the request head and the body's first segment.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def close(self):
        for conn in self.connections.values():
            conn.close()
        self.connections.clear()

    def _send(self, method, url, headers, body=None):
        """Sends a request (body: None or a callable writing the body) and returns the response."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http":
            raise HttpError(f"only http:// is supported, got {url}")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(headers)
        # Credentials only go to the registry itself, never to a redirect target elsewhere.
        if self.authorization and parts.netloc == urllib.parse.urlsplit(self.base).netloc:
            headers["Authorization"] = self.authorization
        for attempt in (0, 1):
            conn = self._connection(parts.netloc)
            try:
                conn.putrequest(method, path, skip_accept_encoding=True)
                for name, value in headers.items():
                    conn.putheader(name, value)
                conn.endheaders()
                if body is not None:
                    body(conn)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed: retry once on a new one.
                conn.close()
                self.connections.pop(parts.netloc, None)
                if attempt:
                    raise

    @staticmethod
    def _expect(response, statuses, what):
        if response.status not in statuses:
            text = response.read(2000).decode(errors="replace")
            raise HttpError(f"{what}: HTTP {response.status} {response.reason} (expected {statuses}): {text}")

    def get_status(self, path):
        response = self._send("GET", self.base + path, {})
        response.read()
        return response.status

    def push(self, repo, layer, variant):
        """Uploads layer with its variant tail: POST, then one PUT streaming the whole body."""
        response = self._send("POST", f"{self.base}/v2/{repo}/blobs/uploads/", {"Content-Length": "0"})
        self._expect(response, (202,), f"POST /v2/{repo}/blobs/uploads/")
        location = response.getheader("Location")
        response.read()
        if not location:
            raise HttpError("POST blobs/uploads/: 202 without Location")
        location = urllib.parse.urljoin(self.base + "/", location)
        location += ("&" if "?" in location else "?") + "digest=" + layer.digests[variant]
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(layer.size)}
        response = self._send("PUT", location, headers, lambda conn: layer.stream(conn, variant, self.buffer))
        self._expect(response, (201,), f"PUT blob {layer.digests[variant]}")
        response.read()

    def pull(self, repo, digest, hasher=None):
        """Downloads a blob, following redirects, and returns its length (hasher, if any, sees the bytes)."""
        url = f"{self.base}/v2/{repo}/blobs/{digest}"
        for _ in range(5):
            response = self._send("GET", url, {})
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                response.read()
                url = urllib.parse.urljoin(url, location)
                continue
            self._expect(response, (200,), f"GET blob {digest}")
            view = memoryview(self.buffer)
            length = 0
            while True:
                n = response.readinto(view)
                if not n:
                    break
                length += n
                if hasher is not None:
                    hasher.update(view[:n])
            return length
        raise HttpError(f"GET blob {digest}: too many redirects")


class Layer:
    """A random file of `size` bytes; variant k is the file with its last 8 bytes replaced by k."""

    def __init__(self, path, size, variants):
        self.path, self.size = path, size
        with open(path, "wb") as f:
            left = size
            while left:
                f.write(os.urandom(min(CHUNK, left)))
                left -= min(CHUNK, left)
        head = hashlib.sha256()
        with open(path, "rb") as f:
            left = size - 8
            while left:
                data = f.read(min(CHUNK, left))
                head.update(data)
                left -= len(data)
        self.tails = [k.to_bytes(8, "big") for k in range(variants)]
        self.digests = []
        for tail in self.tails:
            h = head.copy()
            h.update(tail)
            self.digests.append("sha256:" + h.hexdigest())

    def stream(self, conn, variant, buffer):
        view, tail, tail_at = memoryview(buffer), self.tails[variant], self.size - 8
        offset = 0
        with open(self.path, "rb", buffering=0) as f:
            while offset < self.size:
                n = f.readinto(view[: min(CHUNK, self.size - offset)])
                if not n:
                    raise OSError(f"{self.path} shorter than {self.size} bytes")
                for i in range(max(offset, tail_at), offset + n):
                    view[i - offset] = tail[i - tail_at]
                conn.send(view[:n])
                offset += n


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} for pid {pid}")


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every `interval` seconds, keeping the peak since the last reset."""

    def __init__(self, pid, interval=0.005):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.peak = rss_kib(pid)

    def run(self):
        while not self.stopped.is_set():
            try:
                value = rss_kib(self.pid)
            except OSError:
                return
            with self.lock:
                if value > self.peak:
                    self.peak = value
            time.sleep(self.interval)

    def reset(self):
        with self.lock:
            self.peak = rss_kib(self.pid)

    def peak_kib(self):
        with self.lock:
            return max(self.peak, rss_kib(self.pid))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail_of(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def wait_ready(process, client, log, timeout=60):
    """Waits until GET /v2/ answers 200 (the registry's version check)."""
    deadline = time.time() + timeout
    status = None
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}:\n{tail_of(log)}")
        try:
            status = client.get_status("/v2/")
            if status == 200:
                return
            if status in (401, 403, 404):
                raise SystemExit(f"GET /v2/ answered {status}:\n{tail_of(log)}")
        except (OSError, http.client.HTTPException):
            client.close()
        time.sleep(0.1)
    raise SystemExit(f"GET /v2/ never answered 200 (last status {status}):\n{tail_of(log)}")


def start_distribution(binary, workdir):
    root = os.path.join(workdir, "storage")
    os.makedirs(root)
    port = free_port()
    config = os.path.join(workdir, "config.yml")
    with open(config, "w") as f:
        f.write(DISTRIBUTION_CONFIG.format(root=root, port=port))
    log = os.path.join(workdir, "server.log")
    with open(log, "wb") as out:
        process = subprocess.Popen([binary, "serve", config], stdout=out, stderr=subprocess.STDOUT)
    client = Client(f"http://127.0.0.1:{port}")
    return process, client, log


def start_trainyard(binary, workdir):
    data_dir = os.path.join(workdir, "data")
    log = os.path.join(workdir, "server.log")
    with open(log, "wb") as out:
        process = subprocess.Popen([binary, "server", "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--aws-listen", "127.0.0.1:0"],
                                   stdout=out, stderr=subprocess.STDOUT)
    url_file = os.path.join(data_dir, "server.url")
    deadline = time.time() + 120
    while not os.path.exists(url_file):
        if process.poll() is not None:
            raise SystemExit(f"trainyard server exited with {process.returncode}:\n{tail_of(log)}")
        if time.time() > deadline:
            raise SystemExit(f"trainyard never wrote {url_file}:\n{tail_of(log)}")
        time.sleep(0.1)
    base = open(url_file).read().strip()
    token = open(os.path.join(data_dir, "admin.token")).read().strip()
    authorization = "Basic " + base64.b64encode(f"trainyard:{token}".encode()).decode()
    return process, Client(base, authorization), log


def version_of(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def measure_size(name, process, client, sampler, layer, repeats):
    """One layer size on one registry: an untimed, checked warm-up, then the timed pushes and pulls."""
    size_mib = layer.size // MIB
    repo = f"bench/layer-{size_mib}mib"
    rss_before = rss_kib(process.pid) / 1024
    sampler.reset()
    # Warm-up, untimed: variant 0, and the pulled bytes checked.
    client.push(repo, layer, 0)
    hasher = hashlib.sha256()
    length = client.pull(repo, layer.digests[0], hasher)
    if length != layer.size or "sha256:" + hasher.hexdigest() != layer.digests[0]:
        raise SystemExit(f"{name}: pulled {length} bytes, sha256:{hasher.hexdigest()}, "
                         f"expected {layer.size} bytes, {layer.digests[0]}")
    push, pull = [], []
    for variant in range(1, repeats + 1):
        started = time.perf_counter()
        client.push(repo, layer, variant)
        push.append(size_mib / (time.perf_counter() - started))
    for variant in range(1, repeats + 1):
        started = time.perf_counter()
        length = client.pull(repo, layer.digests[variant])
        pull.append(size_mib / (time.perf_counter() - started))
        if length != layer.size:
            raise SystemExit(f"{name}: pulled {length} bytes of a {layer.size}-byte blob")
    print(f"{name} {size_mib} MiB: push {statistics.median(push):.0f} MiB/s, "
          f"pull {statistics.median(pull):.0f} MiB/s, peak RSS {sampler.peak_kib() / 1024:.1f} MiB",
          file=sys.stderr)
    return {
        "push_mib_s": push,
        "pull_mib_s": pull,
        "push_median_mib_s": statistics.median(push),
        "pull_median_mib_s": statistics.median(pull),
        "rss_before_mib": rss_before,
        "peak_rss_mib": sampler.peak_kib() / 1024,
        "vm_hwm_mib": rss_kib(process.pid, "VmHWM") / 1024,
    }


def measure(servers, layers, repeats, results):
    """Every size on every registry, size by size (the registries take turns at each size, so
    a machine that slows down during the run slows both alike)."""
    samplers = {}
    try:
        for name, process, client, log, version in servers:
            samplers[name] = RssSampler(process.pid)
            samplers[name].start()
            results[name] = {"baseline_rss_mib": rss_kib(process.pid) / 1024, "sizes": {}, "version": version}
        for layer in layers:
            for name, process, client, log, version in servers:
                try:
                    sized = measure_size(name, process, client, samplers[name], layer, repeats)
                except (HttpError, OSError, http.client.HTTPException) as e:
                    raise SystemExit(f"{name}: {e}\n{tail_of(log)}")
                results[name]["sizes"][str(layer.size // MIB)] = sized
    finally:
        for sampler in samplers.values():
            sampler.stopped.set()
            sampler.join()
        for name, process, client, log, version in servers:
            client.close()


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trainyard", help="trainyard binary; without it only distribution is measured")
    parser.add_argument("--distribution", default=shutil.which("docker-registry") or "/usr/bin/docker-registry")
    parser.add_argument("--sizes", default="1,10,100", help="layer sizes in MiB, comma-separated")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="write the raw results to this file")
    parser.add_argument("--tmpdir", help="where the layers and the servers' data go (default: the system's)")
    args = parser.parse_args()
    if not os.access(args.distribution, os.X_OK):
        raise SystemExit(f"{args.distribution} not found: apt-get install -y docker-registry")
    if args.repeats < 1:
        raise SystemExit("--repeats must be at least 1")
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(s < 1 for s in sizes):
        raise SystemExit("--sizes are whole MiB, at least 1")

    workdir = tempfile.mkdtemp(prefix="trainyard-registry-bench-", dir=args.tmpdir)
    processes = []
    results = {
        "sizes_mib": sizes,
        "repeats": args.repeats,
        "registries": {},
    }
    try:
        os.makedirs(os.path.join(workdir, "layers"))
        layers = [Layer(os.path.join(workdir, "layers", f"{s}mib"), s * MIB, args.repeats + 1) for s in sizes]

        servers = []
        os.makedirs(os.path.join(workdir, "distribution"))
        process, client, log = start_distribution(args.distribution, os.path.join(workdir, "distribution"))
        processes.append(process)
        servers.append(("distribution", process, client, log, version_of([args.distribution, "--version"])))
        if args.trainyard:
            binary = os.path.abspath(args.trainyard)
            os.makedirs(os.path.join(workdir, "trainyard"))
            process, client, log = start_trainyard(binary, os.path.join(workdir, "trainyard"))
            processes.append(process)
            servers.append(("trainyard", process, client, log, version_of([binary, "--version"])))
        for name, process, client, log, version in servers:
            wait_ready(process, client, log)
        measure(servers, layers, args.repeats, results["registries"])
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)

    registries = results["registries"]
    print("| registry | layer | push MiB/s (median) | pull MiB/s (median) | peak RSS MiB | RSS before first transfer MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, result in registries.items():
        for size in sizes:
            r = result["sizes"][str(size)]
            print(f"| {name} | {size} MiB | {r['push_median_mib_s']:.0f} | {r['pull_median_mib_s']:.0f} | "
                  f"{r['peak_rss_mib']:.1f} | {result['baseline_rss_mib']:.1f} |")
    if "trainyard" in registries and "distribution" in registries:
        ours, theirs = registries["trainyard"], registries["distribution"]
        for size in sizes:
            a, b = ours["sizes"][str(size)], theirs["sizes"][str(size)]
            print(f"| trainyard / distribution | {size} MiB | {a['push_median_mib_s'] / b['push_median_mib_s']:.2f} | "
                  f"{a['pull_median_mib_s'] / b['pull_median_mib_s']:.2f} | {a['peak_rss_mib'] / b['peak_rss_mib']:.2f} | "
                  f"{ours['baseline_rss_mib'] / theirs['baseline_rss_mib']:.2f} |")
    for name, result in registries.items():
        print(f"\n{name}: {result['version']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
