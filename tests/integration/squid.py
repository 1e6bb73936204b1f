"""Start a private squid (a real forward proxy) on a loopback port with a generated config.

As ``nginx.py`` does for nginx: one foreground process (``squid -N``, ``workers 1``: squid
5 refuses ``workers 0`` with ``-N``, "check failed: theProcessCount > 0")
owned by the test, every file (config, pid, logs) in a directory of its own, no cache,
no system service.  Each request squid handles is a line of its access log, with the
client's port, so a test compares the report's connections with the proxy's own count.

Run as root (CI), squid refuses to keep root and switches to ``cache_effective_user``
once it has opened its port: the directory is then handed to that user, and it lives
under the system's temporary directory, not pytest's (which only root may enter).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.tools import find_tool, free_port, require_tool

SQUID_CANDIDATES = ("squid", "/usr/sbin/squid", "/usr/local/sbin/squid")

# %>p: the client's port, one per connection; %Ss/%>Hs: squid's result and the status.
CONFIG = """\
http_port 127.0.0.1:{port}
{https_port}
workers 1
pid_filename {dir}/squid.pid
visible_hostname reusecheck-test
{user}
cache deny all
cache_mem 8 MB
cache_store_log none
cache_log {dir}/cache.log
logformat reusecheck %ts.%03tu %>a %>p %Ss/%03>Hs %rm %ru
access_log stdio:{dir}/access.log reusecheck
coredump_dir {dir}
pinger_enable off
dns_nameservers 127.0.0.1
shutdown_lifetime 0 seconds
{extra}
http_access allow localhost
http_access deny all
"""

# Squid's basic authentication helper protocol: "user password" in, OK or ERR out.
AUTH_HELPER = """\
import sys
from urllib.parse import unquote
for line in sys.stdin:
    user, _, password = line.strip().partition(" ")
    ok = (unquote(user), unquote(password)) == ({user!r}, {password!r})
    sys.stdout.write("OK\\n" if ok else "ERR\\n")
    sys.stdout.flush()
"""


def find_squid() -> str | None:
    return find_tool(SQUID_CANDIDATES)


def require_squid() -> str:
    return require_tool(SQUID_CANDIDATES, "squid", "squid", "these tests need a real proxy")


@dataclass(frozen=True)
class Logged:
    """One line of the access log: a request squid handled."""

    client_port: int
    result: str  # TCP_MISS/200, TCP_TUNNEL/200, TCP_DENIED/403, ...
    method: str
    url: str

    @property
    def status(self) -> int:
        return int(self.result.rpartition("/")[2])


@dataclass
class Squid:
    proc: subprocess.Popen[bytes]
    port: int
    dir: Path
    https_port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_url(self) -> str:
        assert self.https_port is not None
        return f"https://localhost:{self.https_port}"

    def access_log(self) -> list[Logged]:
        p = self.dir / "access.log"
        lines = p.read_text(errors="replace").splitlines() if p.exists() else []
        found = []
        for line in lines:
            parts = line.split()
            if len(parts) >= 6:
                found.append(Logged(int(parts[2]), parts[3], parts[4], parts[5]))
        return found

    def cache_log(self) -> str:
        p = self.dir / "cache.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            # Nothing to save (no cache): a quick end, not squid's graceful shutdown.
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _effective_user() -> tuple[str, int, int] | None:
    """The user squid switches to when started as root (it refuses to stay root)."""
    if os.geteuid() != 0:
        return None
    for name in ("proxy", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, entry.pw_uid, entry.pw_gid
    raise RuntimeError("squid cannot run as root and there is no 'proxy' or 'nobody' user")


def _python() -> str:
    """An interpreter the effective user may run (the test's venv may be out of reach)."""
    for c in ("/usr/bin/python3", shutil.which("python3"), sys.executable):
        if c and os.access(c, os.X_OK):
            return c
    return sys.executable


def start_squid(
    *,
    extra: str = "",
    credentials: tuple[str, str] | None = None,
    tls_files: tuple[Path, Path] | None = None,
) -> Squid:
    """Start squid and wait until it accepts connections (bounded: 10 s).

    ``extra``: config lines before the final ``http_access`` rules (ACLs, denials,
    ``client_persistent_connections off``...).  ``credentials``: require basic proxy
    authentication with this user and password.  ``tls_files`` (certificate, key):
    an ``https_port`` too, for https:// proxy tests.
    """
    binary = require_squid()
    user = _effective_user()
    last_error = ""
    for _attempt in range(3):
        workdir = Path(tempfile.mkdtemp(prefix="reusecheck-squid-"))
        workdir.chmod(0o755)
        port = free_port()
        https_port = free_port() if tls_files is not None else None
        https_line = ""
        if tls_files is not None:
            cert, key = workdir / "proxy-cert.pem", workdir / "proxy-key.pem"
            shutil.copy(tls_files[0], cert)
            shutil.copy(tls_files[1], key)
            https_line = f"https_port 127.0.0.1:{https_port} tls-cert={cert} tls-key={key}"
        auth = ""
        if credentials is not None:
            helper = workdir / "auth.py"
            helper.write_text(AUTH_HELPER.format(user=credentials[0], password=credentials[1]))
            auth = (
                f"auth_param basic program {_python()} {helper}\n"
                "auth_param basic realm reusecheck-test\n"
                "acl authenticated proxy_auth REQUIRED\n"
                "http_access deny !authenticated\n"
            )
        conf = workdir / "squid.conf"
        conf.write_text(
            CONFIG.format(
                dir=workdir,
                port=port,
                https_port=https_line,
                user=f"cache_effective_user {user[0]}" if user else "",
                extra=auth + extra,
            )
        )
        if user is not None:
            for path in [workdir, *workdir.iterdir()]:
                os.chown(path, user[1], user[2])
        proc = subprocess.Popen(
            [binary, "-N", "-f", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        server = Squid(proc, port, workdir, https_port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    if https_port is not None:
                        socket.create_connection(("127.0.0.1", https_port), timeout=0.5).close()
                    return server
            except OSError:
                time.sleep(0.05)
        ended = proc.poll() is not None
        stderr = proc.stderr.read().decode(errors="replace") if ended and proc.stderr else ""
        last_error = stderr + server.cache_log()
        server.stop()
    raise RuntimeError(f"squid did not start: {last_error[-2000:]}")
