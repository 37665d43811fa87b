"""What a user installing trainyard gets: the binary's size, the server image's size, the
time from `trainyard server` on an empty data directory to a healthy /api/v1/health, and
the idle server's memory.

    python3 bench/distribution/startup.py --trainyard target/release/trainyard [--runs 20] [--image ./image]

Each run: a fresh temporary data directory, the server started on 127.0.0.1 port 0, its
address read from its first line, then GET /api/v1/health polled (1 ms apart) until 200;
the time is from just before spawn to the first 200. Then 3 s idle and VmRSS / VmHWM from
/proc. Every server is stopped by pid."""
import argparse
import gzip
import http.client
import json
import os
import re
import statistics
import subprocess
import tempfile
import time


def one_start(trainyard):
    with tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        process = subprocess.Popen(
            [trainyard, "server", "--listen", "127.0.0.1:0", "--aws-listen", "127.0.0.1:0", "--data-dir", data_dir],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("TRAINYARD_")})
        try:
            host = port = None
            for line in process.stdout:
                match = re.search(r"listening on http://([\d.]+):(\d+)", line)
                if match:
                    host, port = match.group(1), int(match.group(2))
                    break
            while True:
                try:
                    connection = http.client.HTTPConnection(host, port, timeout=1)
                    connection.request("GET", "/api/v1/health")
                    if connection.getresponse().status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.001)
            healthy = (time.perf_counter() - started) * 1000
            time.sleep(3)
            status = open(f"/proc/{process.pid}/status").read()
            kb = lambda key: int(re.search(rf"{key}:\s+(\d+) kB", status).group(1))
            return healthy, kb("VmRSS") / 1024, kb("VmHWM") / 1024
        finally:
            process.terminate()
            process.wait(timeout=15)


def image_size(layout):
    index = json.load(open(os.path.join(layout, "index.json")))
    blob = lambda digest: os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])
    manifest = json.load(open(blob(index["manifests"][0]["digest"])))
    compressed = sum(layer["size"] for layer in manifest["layers"])
    uncompressed = sum(len(gzip.open(blob(layer["digest"])).read()) for layer in manifest["layers"])
    return compressed / 1e6, uncompressed / 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trainyard", required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--image", help="an OCI image layout made by scripts/server-image.sh")
    args = parser.parse_args()
    trainyard = os.path.abspath(args.trainyard)
    print(f"binary: {os.path.getsize(trainyard) / 1e6:.1f} MB ({subprocess.run([trainyard, '--version'], capture_output=True, text=True).stdout.strip()})")
    if args.image:
        compressed, uncompressed = image_size(args.image)
        print(f"image: {compressed:.1f} MB compressed, {uncompressed:.1f} MB unpacked")
    one_start(trainyard)  # untimed: the page cache
    runs = [one_start(trainyard) for _ in range(args.runs)]
    healthy = [r[0] for r in runs]
    print(f"start to healthy /api/v1/health, empty data dir, n = {len(runs)}: p50 {statistics.median(healthy):.1f} ms "
          f"(min {min(healthy):.1f}, max {max(healthy):.1f}); target < 100 ms: "
          f"{'met' if statistics.median(healthy) < 100 else 'NOT met'}")
    print(f"idle after 3 s: RSS p50 {statistics.median(r[1] for r in runs):.1f} MB, "
          f"peak RSS (VmHWM) p50 {statistics.median(r[2] for r in runs):.1f} MB, max {max(r[2] for r in runs):.1f} MB")


if __name__ == "__main__":
    main()
