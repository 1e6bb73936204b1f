"""Start a private nginx on a loopback port with a generated config (never the system one).

nginx runs in the foreground with ``master_process off`` so it is one process owned
by the test, with every file (pid, logs, temp dirs) under the test's own directory.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.tools import find_tool, free_port, require_tool

NGINX_CANDIDATES = (
    "nginx",
    "/usr/sbin/nginx",
    "/usr/local/sbin/nginx",
    "/usr/local/nginx/sbin/nginx",
)

CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log info;
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
    {http_extra}
    server {{
        listen 127.0.0.1:{port}{listen_extra};
        {server_extra}
        location / {{ return 200 "ok\\n"; }}
        location /big {{ alias {dir}/big; }}
    }}
}}
"""


def find_nginx() -> str | None:
    return find_tool(NGINX_CANDIDATES)


def require_nginx() -> str:
    return require_tool(NGINX_CANDIDATES, "nginx", "nginx", "these tests need a real nginx")


@dataclass
class Nginx:
    proc: subprocess.Popen[bytes]
    port: int
    dir: Path
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def error_log(self) -> str:
        p = self.dir / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""


def start_nginx(
    workdir: Path,
    *,
    http_extra: str = "",
    server_extra: str = "",
    listen_extra: str = "",
    scheme: str = "http",
) -> Nginx:
    """Start nginx and wait until it accepts connections (bounded: 10 s)."""
    binary = require_nginx()
    last_error = ""
    for _attempt in range(3):
        port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / "nginx.conf"
        conf.write_text(
            CONFIG.format(
                dir=workdir,
                port=port,
                http_extra=http_extra,
                server_extra=server_extra,
                listen_extra=listen_extra,
            )
        )
        proc = subprocess.Popen(
            [binary, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        server = Nginx(proc, port, workdir, scheme)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return server
            except OSError:
                time.sleep(0.05)
        server.stop()
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        last_error = stderr + server.error_log()
    raise RuntimeError(f"nginx did not start: {last_error[-2000:]}")


def start_nginx_tls(
    workdir: Path, *, http2: bool, http_extra: str = "", server_extra: str = ""
) -> tuple[Nginx, Path]:
    """nginx over TLS with a certificate made for the test; returns it and the CA file.

    ``listen ... ssl http2`` is the spelling nginx 1.22 (Debian 12) understands; newer
    releases accept it with a deprecation warning.  The CA also signed a client
    certificate, ``client.pem`` and ``client-key.pem`` in ``workdir``, for a
    ``server_extra`` with ``ssl_verify_client on; ssl_client_certificate {ca};`` (``{ca}``
    is replaced by the CA file's path).
    """
    from reusecheck.server.certs import make_bundle

    workdir.mkdir(parents=True, exist_ok=True)
    bundle = make_bundle(client_name="client.reusecheck.test")
    assert bundle.client_cert_pem is not None and bundle.client_key_pem is not None
    (workdir / "client.pem").write_bytes(bundle.client_cert_pem)
    (workdir / "client-key.pem").write_bytes(bundle.client_key_pem)
    (workdir / "cert.pem").write_bytes(bundle.cert_pem)
    (workdir / "key.pem").write_bytes(bundle.key_pem)
    ca = workdir / "ca.pem"
    ca.write_bytes(bundle.ca_pem)
    (workdir / "big").write_bytes(b"x" * (5 * 1024 * 1024))
    server = start_nginx(
        workdir,
        http_extra=http_extra,
        listen_extra=" ssl http2" if http2 else " ssl",
        server_extra=(
            f"ssl_certificate {workdir}/cert.pem; ssl_certificate_key {workdir}/key.pem;"
            + server_extra.replace("{ca}", str(ca))
        ),
        scheme="https",
    )
    return server, ca
