"""What ``reusecheck observe`` costs a client: requests per second through it, measured
by h2load (nghttp2-client), next to the same load sent to nginx directly.

    python benchmarks/observe.py [--requests 20000]

Rows: nginx alone; observe answering itself (``--body-size 3``, the size of nginx's
``ok\\n``); observe forwarding to nginx (``--upstream``).  Each with one HTTP/1.1
connection sending requests one after another (``h2load --h1 -c 1``) and one h2c
connection with 10 streams at once (``h2load -c 1 -m 10``; nginx's plain port speaks
no h2c, so that row has no nginx figure).  Peak RSS is observe's own (``os.wait4``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from targets import start_nginx

LISTENING = re.compile(r"listening on (http://\S+)")


def h2load(url: str, requests: int, h1: bool) -> float:
    """Requests per second h2load reports; every request must have succeeded."""
    args = ["h2load", "-n", str(requests), "-c", "1"]
    args += ["--h1"] if h1 else ["-m", "10"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=600).stdout
    done = re.search(r"(\d+) succeeded", out)
    if done is None or int(done[1]) != requests:
        raise SystemExit(f"h2load {url}: not every request succeeded:\n{out}")
    rate = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
    assert rate is not None, out
    return float(rate[1])


def through_observe(args: list[str], requests: int) -> tuple[float, float, float]:
    """(HTTP/1.1 req/s, h2c req/s, observe's peak RSS in MB)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "reusecheck", "observe", "--listen", "127.0.0.1:0", "--json", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    found = LISTENING.search(proc.stderr.readline())
    if found is None:
        proc.kill()
        raise SystemExit("observe did not start")
    url = found[1]
    h1 = h2load(url, requests, h1=True)
    h2 = h2load(url, requests, h1=False)
    proc.send_signal(signal.SIGINT)
    _, _, usage = os.wait4(proc.pid, 0)
    return h1, h2, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    n = parser.parse_args().requests
    if shutil.which("h2load") is None:
        raise SystemExit("h2load not found: apt-get install -y nghttp2-client")
    nginx = start_nginx(Path(tempfile.mkdtemp(prefix="bench-observe-")), tls=False)
    try:
        time.sleep(0.2)
        direct = h2load(nginx.url, n, h1=True)
        alone = through_observe(["--body-size", "3"], n)
        forward = through_observe(["--upstream", nginx.url], n)
    finally:
        nginx.stop()
    print(f"{n:,} requests, one connection; req/s (observe's peak RSS)")
    print("| path | HTTP/1.1, one at a time | h2c, 10 streams |")
    print("| --- | --- | --- |")
    print(f"| nginx alone | {direct:,.0f} | - |")
    print(f"| observe answering | {alone[0]:,.0f} | {alone[1]:,.0f} ({alone[2]:.0f} MB) |")
    print(f"| observe -> nginx | {forward[0]:,.0f} | {forward[1]:,.0f} ({forward[2]:.0f} MB) |")


if __name__ == "__main__":
    main()
