#!/usr/bin/env python3
"""What open dashboard tabs cost the data plane: the endpoint invocation benchmark (wrk
-t1 -c16, one CSV row to the quickstart's endpoint) with no tab open and with 100 open
live streams (a third each on the loop overview, the event tail and the endpoint's page),
alternating A B B A A B, optionally while events are put at a steady rate (each wakes
every stream).

    python bench/dashboard/sse_cost.py --trainyard target/release/trainyard [--events-per-second 10]
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import json
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "endpoints"))
from compare import wrk  # noqa: E402


def open_stream(host, port, path, cookie, stop):
    s = socket.create_connection((host, port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n".encode())
    s.settimeout(1)
    received = 0
    while not stop.is_set():
        try:
            chunk = s.recv(65536)
            if not chunk:
                break
            received += len(chunk)
        except socket.timeout:
            pass
    s.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trainyard", required=True)
    parser.add_argument("--tabs", type=int, default=100)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--events-per-second", type=float, default=0)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="ty-sse-")
    data = os.path.join(work, "data")
    log = open(os.path.join(work, "quickstart.log"), "w+")
    process = subprocess.Popen([os.path.abspath(args.trainyard), "--data-dir", data, "quickstart"],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 180
        while "serving until Ctrl-C" not in open(log.name).read():
            if time.time() > deadline:
                raise SystemExit("the quickstart did not finish")
            time.sleep(0.2)
        url = open(os.path.join(data, "server.url")).read().strip()
        token = open(os.path.join(data, "admin.token")).read().strip()
        host, port = url.split("//")[1].split(":")
        request = urllib.request.Request(f"{url}/ui/login", data=f"token={token}&next=/ui/".encode(), method="POST")

        class Keep(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        try:
            urllib.request.build_opener(Keep).open(request)
        except urllib.error.HTTPError as e:
            cookie = e.headers["Set-Cookie"].split(";")[0]
        pages = ["/ui/live/overview", "/ui/events/live", "/ui/endpoints/churn/live"]
        putting = threading.Event()

        def put_events():
            n = 0
            while not putting.is_set():
                body = json.dumps({"Entries": [{"Source": "bench", "DetailType": "tick", "Detail": json.dumps({"n": n})}]}).encode()
                r = urllib.request.Request(f"{url}/api/v1/events", data=body, method="POST",
                                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                urllib.request.urlopen(r).read()
                n += 1
                time.sleep(1 / args.events_per_second)
        if args.events_per_second:
            threading.Thread(target=put_events, daemon=True).start()
        results = {"without tabs": [], f"with {args.tabs} live tabs": []}
        for round_, tabs in enumerate([False, True, True, False, False, True]):
            stop = threading.Event()
            threads = []
            if tabs:
                for i in range(args.tabs):
                    t = threading.Thread(target=open_stream, args=(host, int(port), pages[i % 3], cookie, stop), daemon=True)
                    t.start()
                    threads.append(t)
                time.sleep(2)
            r = wrk(f"{url}/endpoints/churn/invocations", "0.9,0.8,0.1", "text/csv", token, args.duration, work)
            stop.set()
            for t in threads:
                t.join()
            key = f"with {args.tabs} live tabs" if tabs else "without tabs"
            results[key].append(r["rps"])
            print(f"round {round_ + 1}: {key}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, errors {r['errors']}")
        putting.set()
        a, b = (statistics.median(v) for v in results.values())
        print(f"median without tabs {a:.0f} req/s, with {args.tabs} tabs {b:.0f} req/s: {100 * (a - b) / a:+.1f}% cost"
              f" (events put: {args.events_per_second}/s)")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
