"""The benchmark's servers, all on loopback: nginx and ``reusecheck serve``, each plain
HTTP/1.1 and HTTP/2 over TLS (certificates from ``reusecheck.server.certs``).

Every server is a child process of the suite, stopped by its own pid when the suite
ends; nginx runs in the foreground from a private directory with a generated config
(never the system one), as ``tests/integration/nginx.py`` does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

DOWNLOAD_BYTES = 100 * 1024 * 1024
START_TIMEOUT = 30.0

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type text/plain;
    # No GOAWAY / Connection: close at 1000 requests (nginx's default) in the middle of
    # a workload: httpx's HTTP/2 client fails on it, and it is not what is measured.
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams 128;
    server {{
        listen 127.0.0.1:{port}{listen};
        {tls}
        location / {{ return 200 "ok\\n"; }}
        location /big {{ alias {dir}/big; }}
    }}
}}
"""


@dataclass
class Target:
    name: str  # e.g. "nginx-h1"
    url: str  # the small response
    download_url: str  # DOWNLOAD_BYTES of body
    cafile: str | None
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(proc: subprocess.Popen[bytes], port: int, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError(f"{what} did not listen within {START_TIMEOUT:g} s")


def _write_big(path: Path) -> None:
    """DOWNLOAD_BYTES of body, written in 1 MiB pieces: a 100 MiB ``bytes`` here would
    stay in this process's peak RSS, which a child inherits through fork (the memory
    figures of ``reusecheck probe`` runs are ``ru_maxrss`` of the child)."""
    piece = b"x" * (1 << 20)
    with path.open("wb") as f:
        for _ in range(DOWNLOAD_BYTES // len(piece)):
            f.write(piece)


def start_nginx(workdir: Path, *, tls: bool) -> Target:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    workdir.mkdir(parents=True, exist_ok=True)
    _write_big(workdir / "big")
    cafile = None
    tls_conf = ""
    if tls:
        from reusecheck.server.certs import make_bundle

        bundle = make_bundle()
        (workdir / "cert.pem").write_bytes(bundle.cert_pem)
        (workdir / "key.pem").write_bytes(bundle.key_pem)
        (workdir / "ca.pem").write_bytes(bundle.ca_pem)
        cafile = str(workdir / "ca.pem")
        tls_conf = f"ssl_certificate {workdir}/cert.pem; ssl_certificate_key {workdir}/key.pem;"
    port = _free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(dir=workdir, port=port, listen=" ssl http2" if tls else "", tls=tls_conf)
    )
    proc = subprocess.Popen(
        [binary, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    name = "nginx-h2" if tls else "nginx-h1"
    _wait_listening(proc, port, name)
    scheme = "https" if tls else "http"
    base = f"{scheme}://127.0.0.1:{port}"
    return Target(name, f"{base}/", f"{base}/big", cafile, proc)


def _drain(stream: IO[bytes]) -> None:
    while stream.read(65536):
        pass


def start_serve(*, tls: bool) -> Target:
    """``reusecheck serve`` in its own process; its banner names the port and the CA."""
    argv = [sys.executable, "-m", "reusecheck", "serve", "--port", "0"]
    if tls:
        argv += ["--tls", "--h2"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    url = cafile = None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and (url is None or (tls and cafile is None)):
        line = proc.stderr.readline().decode(errors="replace")
        if not line:
            break
        if "listening on" in line:
            url = line.split("listening on", 1)[1].strip()
        elif "CA certificate:" in line:
            cafile = line.split("CA certificate:", 1)[1].split("(", 1)[0].strip()
    if url is None:
        proc.terminate()
        raise RuntimeError("reusecheck serve did not print its URL")
    # It logs a line per connection: keep reading, or a full pipe would stall it.
    threading.Thread(target=_drain, args=(proc.stderr,), daemon=True).start()
    base = url.rstrip("/")
    name = "serve-h2" if tls else "serve-h1"
    return Target(name, f"{base}/", f"{base}/bytes/{DOWNLOAD_BYTES}", cafile, proc)
