"""Real clients for the `reusecheck observe` tests, and the harness that observes them.

The Go programs in ``clients/`` (stdlib only, one mistake each, plus ``good.go``) are built
once per test session with the system's Go (Debian's ``golang-go``), offline: the build
cache and GOPATH live in a temp dir, modules and the proxy are off, and cgo is disabled so
no C toolchain is needed.  Without Go the tests skip with the reason, except in CI (``CI``
set), where ``.ci/run`` installs Go and a missing one is a failure.

`Observe` runs ``python -m reusecheck observe`` as a user would: it waits for the line the
command prints once it listens, lets a client run against the URL, then stops the command
with SIGINT (Ctrl-C) and parses the JSON report it prints.  The curl tests use it too.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self

import click
import pytest

from reusecheck.cli import main
from reusecheck.server.certs import make_bundle
from tests.tools import find_tool, require_tool

CLIENTS_DIR: Final = Path(__file__).resolve().parent / "clients"
GO_CANDIDATES: Final = ("go", "/usr/bin/go", "/usr/lib/go/bin/go")
BUILD_TIMEOUT: Final = 240.0  # a cold build compiles the standard library without cgo
CLIENT_TIMEOUT: Final = 60.0
LISTEN_TIMEOUT: Final = 30.0
REPORT_TIMEOUT: Final = 30.0
LISTENING: Final = re.compile(r"reusecheck observe: listening on (https?://\S+)")


# --- Go ----------------------------------------------------------------------------------


def find_go() -> str | None:
    return find_tool(GO_CANDIDATES)


def require_go() -> str:
    return require_tool(GO_CANDIDATES, "Go", "golang-go", "these tests build Go clients")


def go_env(work: Path) -> dict[str, str]:
    """An offline, self-contained build environment under ``work``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(
        GOCACHE=str(work / "gocache"),
        GOPATH=str(work / "gopath"),
        GOENV="off",  # ignore the user's `go env -w` settings
        GO111MODULE="off",  # one file, stdlib only: no go.mod, nothing to download
        GOPROXY="off",
        GOFLAGS="",
        CGO_ENABLED="0",  # the pure-Go resolver; no C compiler needed
        HOME=str(work),
    )
    return env


@dataclass(frozen=True)
class GoClients:
    """The built programs: ``clients.argv("leak", url, "10")``."""

    bin_dir: Path

    def path(self, name: str) -> Path:
        path = self.bin_dir / name
        if not path.is_file():
            raise KeyError(f"no Go client {name!r} (clients/{name}.go)")
        return path

    def argv(self, name: str, *args: object) -> list[str]:
        return [str(self.path(name)), *(str(a) for a in args)]


def build_go_clients(go: str, work: Path) -> GoClients:
    """Build every ``clients/*.go`` into ``work/bin`` (in parallel); fail with the
    compiler's output when one does not build."""
    bin_dir = work / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    env = go_env(work)
    sources = sorted(CLIENTS_DIR.glob("*.go"))

    def build(src: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [go, "build", "-o", str(bin_dir / src.stem), str(src)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )

    # The first build fills the cache with the standard library; the rest reuse it.
    results = [build(sources[0])]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results += list(pool.map(build, sources[1:]))
    failed = [
        f"{src.name}:\n{r.stdout}{r.stderr}"
        for src, r in zip(sources, results, strict=True)
        if r.returncode
    ]
    if failed:
        pytest.fail("Go clients did not build:\n" + "\n".join(failed))
    return GoClients(bin_dir)


def run_client(argv: list[str], timeout: float = CLIENT_TIMEOUT) -> str:
    """Run a client to completion; its stdout, or a test failure with what it said.

    Proxy variables are dropped: the client must connect to observe itself."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    if result.returncode != 0:
        pytest.fail(
            f"client {Path(argv[0]).name} exited {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout


# --- TLS -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """A server certificate for ``observe --tls-cert/--tls-key`` and the CA a client trusts."""

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def make(cls, directory: Path) -> TlsFiles:
        bundle = make_bundle(("127.0.0.1", "localhost"))
        directory.mkdir(parents=True, exist_ok=True)
        files = cls(directory / "cert.pem", directory / "key.pem", directory / "ca.pem")
        files.cert.write_bytes(bundle.cert_pem)
        files.key.write_bytes(bundle.key_pem)
        files.key.chmod(0o600)
        files.ca.write_bytes(bundle.ca_pem)
        return files

    def observe_args(self) -> list[str]:
        return ["--tls", "--tls-cert", str(self.cert), "--tls-key", str(self.key)]


# --- reusecheck observe --------------------------------------------------------------------


def observe_available() -> bool:
    """Whether the CLI has an ``observe`` command (not whether it works: that is tested)."""
    return "observe" in main.list_commands(click.Context(main))


def require_observe() -> None:
    if not observe_available():
        pytest.skip("`reusecheck observe` is not in this checkout's CLI yet")


def _pump(stream: IO[str], sink: list[str], lines: queue.Queue[str] | None) -> None:
    for line in stream:
        sink.append(line)
        if lines is not None:
            lines.put(line)


def _next_line(lines: queue.Queue[str]) -> str | None:
    try:
        return lines.get(timeout=0.1)
    except queue.Empty:
        return None


@dataclass
class Observed:
    """What ``observe`` printed and how it exited."""

    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any] = field(default_factory=dict)

    def codes(self) -> set[str]:
        """The finding codes of the whole report."""
        return {f["code"] for f in self.report.get("findings", [])}

    def finding(self, code: str) -> dict[str, Any]:
        for f in self.report.get("findings", []):
            if f["code"] == code:
                return dict(f)
        raise AssertionError(f"no {code} finding in {sorted(self.codes())}:\n{self.stdout}")

    @property
    def clients(self) -> list[dict[str, Any]]:
        return list(self.report.get("clients", []))

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.report.get("summary", {}))

    @property
    def connections(self) -> list[dict[str, Any]]:
        return list(self.report.get("connections", []))

    def client_codes(self) -> set[str]:
        """The finding codes found in the per-client entries."""
        return {f["code"] for c in self.clients for f in c.get("findings", [])}


class Observe:
    """``with Observe(tmp, *options) as obs: run(obs.url); result = obs.stop()``.

    Leaving the block without stop() (a failed client) kills the command.
    """

    def __init__(self, *options: str) -> None:
        self.argv = [
            sys.executable,
            "-m",
            "reusecheck",
            "observe",
            "--listen",
            "127.0.0.1:0",
            "--json",
            *options,
        ]
        self._proc: subprocess.Popen[str] | None = None
        self._out: list[str] = []
        self._err: list[str] = []
        self._threads: list[threading.Thread] = []
        self.url = ""

    def __enter__(self) -> Self:
        proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        lines: queue.Queue[str] = queue.Queue()
        for stream, sink, q in ((proc.stdout, self._out, None), (proc.stderr, self._err, lines)):
            thread = threading.Thread(target=_pump, args=(stream, sink, q), daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + LISTEN_TIMEOUT
        try:
            while True:
                line = _next_line(lines)
                if line is None:
                    if not self._threads[1].is_alive() and lines.empty():
                        raise AssertionError(self._failure("observe exited before listening"))
                    if time.monotonic() > deadline:
                        raise AssertionError(self._failure("no 'listening on' line"))
                elif match := LISTENING.search(line):
                    self.url = match[1]
                    return self
        except BaseException:
            self._kill()
            raise

    def url_for(self, path: str) -> str:
        return self.url.rstrip("/") + "/" + path.lstrip("/")

    def stop(self) -> Observed:
        """Ctrl-C, then the report observe prints on stdout."""
        proc = self._proc
        assert proc is not None, "not started"
        proc.send_signal(signal.SIGINT)
        try:
            returncode = proc.wait(REPORT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._kill()
            raise AssertionError(self._failure("observe did not stop on SIGINT")) from None
        for thread in self._threads:
            thread.join(REPORT_TIMEOUT)
        self._proc = None
        observed = Observed(returncode, "".join(self._out), "".join(self._err))
        try:
            observed.report = _json_object(observed.stdout)
        except ValueError as exc:
            raise AssertionError(self._failure(f"no JSON report on stdout ({exc})")) from None
        return observed

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._kill()

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(REPORT_TIMEOUT)
        self._proc = None

    def _failure(self, what: str) -> str:
        return (
            f"{what}: {' '.join(self.argv[2:])}\n"
            f"stdout:\n{''.join(self._out)[-4000:]}\nstderr:\n{''.join(self._err)[-4000:]}"
        )


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("the report is not a JSON object")
    return value


def observe_client(argv: list[str], options: Iterable[str] = ()) -> tuple[Observed, str]:
    """Start observe with ``options``, run ``argv`` (``{url}`` in an argument becomes the
    URL observe listens on), stop observe; the result and the client's stdout."""
    with Observe(*options) as obs:
        out = run_client([a.replace("{url}", obs.url.rstrip("/")) for a in argv])
        return obs.stop(), out
