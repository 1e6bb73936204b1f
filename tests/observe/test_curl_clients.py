"""`reusecheck observe` against curl, the client every developer has at hand.

curl given several URLs on one command line keeps one connection for all of them: the
correct client.  ``-H 'Connection: close'`` turns keep-alive off, and a shell loop of
separate curl invocations cannot reuse anything: both are a new connection per request.
As for the Go clients, the built-in server's own records first show each behaviour on the
wire, then observe must name it (or, for the correct one, nothing).  curl's own count of
the connections it opened (``%{num_connects}``) must match the one observe reports.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator

import pytest

from reusecheck.server import ConnRecord, ServerConfig, ServerThread
from tests.observe.goclients import (
    Observe,
    Observed,
    TlsFiles,
    observe_client,
    require_observe,
    run_client,
)

pytestmark = pytest.mark.timeout(120)

N = 6


@pytest.fixture(scope="module")
def curl() -> list[str]:
    """curl and the options every call uses: no ~/.curlrc, no proxy, fail on HTTP errors."""
    path = shutil.which("curl")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("curl is required in CI (.ci/run installs it) but was not found")
        pytest.skip("curl not installed (apt-get install -y curl)")
    return [path, "-q", "--silent", "--show-error", "--fail", "--noproxy", "*"]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return TlsFiles.make(tmp_path_factory.mktemp("observe-tls"))


def _urls(base: str, n: int = N, start: int = 0) -> list[str]:
    """Distinct URLs (as a script's would be), each with ``-o /dev/null``: curl fetches
    them in order and writes one ``STATUS CONNECTS`` line per transfer."""
    args = ["--write-out", "%{http_code} %{num_connects}\\n"]
    for i in range(start, start + n):
        args += ["--output", os.devnull, f"{base.rstrip('/')}/?i={i}"]
    return args


def _connects(out: str, n: int = N) -> int:
    """The connections curl says it opened, after checking every transfer got a 200."""
    lines = [line.split() for line in out.splitlines()]
    assert [status for status, _ in lines] == ["200"] * n, out
    return sum(int(connects) for _, connects in lines)


def _server_side(run: list[list[str]]) -> list[ConnRecord]:
    """Run each curl command line against the built-in server; the server's records,
    after checking they count the connections curl says it opened."""
    with ServerThread(ServerConfig()) as srv:
        connects = 0
        for argv in run:
            out = run_client([a.replace("{url}", srv.url.rstrip("/")) for a in argv])
            connects += _connects(out, sum(a.startswith("{url}") for a in argv))
        assert len(srv.connections) == connects
        deadline = time.monotonic() + 5
        while any(r.closed_at is None for r in srv.connections) and time.monotonic() < deadline:
            time.sleep(0.02)
        return srv.connections


# --- what curl does on the wire (the built-in server's own account) ------------------------


def test_several_urls_share_one_connection(curl: list[str]) -> None:
    records = _server_side([[*curl, *_urls("{url}")]])
    assert [r.requests for r in records] == [N]


def test_connection_close_header_costs_a_connection_per_request(curl: list[str]) -> None:
    records = _server_side([[*curl, "-H", "Connection: close", *_urls("{url}")]])
    assert [r.requests for r in records] == [1] * N
    assert {r.reason for r in records} == {"client-close"}  # the server obeyed the client


def test_separate_invocations_cost_a_connection_per_request(curl: list[str]) -> None:
    records = _server_side([[*curl, *_urls("{url}", 1, i)] for i in range(N)])
    assert [r.requests for r in records] == [1] * N


# --- observe ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def observe() -> Iterator[None]:
    require_observe()
    yield


def _counts(result: Observed) -> tuple[int, int]:
    return result.summary["requests"], result.summary["connections_opened"]


@pytest.mark.usefixtures("observe")
class TestObserveCurl:
    def test_several_urls_on_one_command_line_have_no_findings(self, curl: list[str]) -> None:
        result, out = observe_client([*curl, *_urls("{url}")])
        assert _connects(out) == 1
        assert result.codes() == set(), result.stdout
        assert result.client_codes() == set(), result.clients
        assert _counts(result) == (N, 1)
        assert len(result.clients) == 1, result.clients
        assert result.returncode == 0, result.stderr

    def test_connection_close_is_client_new_conn_per_request(self, curl: list[str]) -> None:
        result, out = observe_client([*curl, "-H", "Connection: close", *_urls("{url}")])
        assert _connects(out) == N
        assert "client-new-conn-per-request" in result.codes(), result.stdout
        assert "client-new-conn-per-request" in result.client_codes(), result.clients
        assert _counts(result) == (N, N)
        assert result.returncode == 1, result.stderr

    def test_separate_invocations_are_client_new_conn_per_request(self, curl: list[str]) -> None:
        with Observe() as obs:
            for i in range(N):
                assert _connects(run_client([*curl, *_urls(obs.url, 1, i)]), 1) == 1
            result = obs.stop()
        # One client (same address, same User-Agent) whose every request opened a connection.
        assert len(result.clients) == 1, result.clients
        assert "client-new-conn-per-request" in result.client_codes(), result.clients
        assert "client-new-conn-per-request" in result.codes(), result.stdout
        assert _counts(result) == (N, N)
        assert result.returncode == 1, result.stderr

    def test_h2_over_tls_with_several_urls_has_no_findings(
        self, curl: list[str], tls: TlsFiles
    ) -> None:
        argv = [*curl, "--http2", "--cacert", str(tls.ca), *_urls("{url}")]
        result, out = observe_client(argv, tls.observe_args())
        assert _connects(out) == 1
        assert result.codes() == set(), result.stdout
        assert _counts(result) == (N, 1)
        assert {c["protocol"] for c in result.connections} == {"h2"}
        assert result.returncode == 0, result.stderr
