"""`reusecheck observe` against real Go clients, each making one classic mistake.

The programs in ``clients/`` use nothing but Go's standard library, as a service would:
``leak`` never closes its bodies, ``nodrain`` closes them unread, ``newtransport`` makes a
client per request, ``poolchurn`` runs 20 goroutines on the default idle pool of 2,
``idlepause`` keeps idle connections longer than the server does, ``h2split`` gives each
HTTP/2 client its own Transport, and ``good`` does it right.

Two layers.  First each program is run against the built-in server, whose own record of
every connection shows the mistake on the wire, independently of observe (so a finding
below is never a finding about a client that did not make the mistake).  Then each runs
through ``observe`` as a user would, and the report must name the mistake's finding for the
faulty client, with counts that match what the program did, and none for the correct one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from reusecheck.server import ConnRecord, ServerConfig, ServerThread
from tests.observe.goclients import (
    GoClients,
    Observed,
    TlsFiles,
    build_go_clients,
    observe_client,
    require_go,
    require_observe,
    run_client,
)

pytestmark = pytest.mark.timeout(120)

N = 10  # requests of the sequential programs
BIG = 256 * 1024  # a body far beyond what Go's Transport reads ahead (4 KiB)
WORKERS, EACH, PAUSE_MS, DELAY_MS = 20, 4, 20, 10  # poolchurn: 80 requests, 20 at once
IDLE_TIMEOUT_S, IDLE_PAUSE_MS, IDLE_REQUESTS = 0.3, 800, 4  # the server's and the client's
H2_CLIENTS, H2_EACH = 4, 3


@pytest.fixture(scope="session")
def go(tmp_path_factory: pytest.TempPathFactory) -> GoClients:
    """The Go clients, built once per session."""
    return build_go_clients(require_go(), tmp_path_factory.mktemp("go-clients"))


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return TlsFiles.make(tmp_path_factory.mktemp("observe-tls"))


def _server_side(config: ServerConfig, argv: list[str]) -> list[ConnRecord]:
    """Run a client against the built-in server; the server's records of its connections."""
    with ServerThread(config) as srv:
        run_client([a.replace("{url}", srv.url.rstrip("/")) for a in argv])
        # The client has exited, so the kernel has closed its sockets; give the server's
        # loop a moment to see the FIN/RST of each (the records settle, no timing asserted).
        deadline = time.monotonic() + 5
        while any(r.closed_at is None for r in srv.connections) and time.monotonic() < deadline:
            time.sleep(0.02)
        return srv.connections


# --- the programs make their mistakes (the built-in server's own account) ------------------


def test_leak_opens_a_connection_per_request_and_never_closes_one(go: GoClients) -> None:
    records = _server_side(ServerConfig(), go.argv("leak", "{url}/", N))
    assert [r.requests for r in records] == [1] * N
    # Nobody closed them before the program ended: neither the server nor the client.
    assert {(r.closed_by, r.reason) for r in records} == {("client", "eof")}


def test_nodrain_resets_each_connection_with_the_body_unread(go: GoClients) -> None:
    records = _server_side(ServerConfig(), go.argv("nodrain", f"{{url}}/bytes/{BIG}", N))
    # One connection per request (the server may count a response it had not finished
    # writing when the reset came as not completed, so connections are counted here).
    assert len(records) == N
    # Closing a socket with unread data sends RST: the body was never read to the end.
    assert {(r.closed_by, r.reason) for r in records} == {("client", "reset")}


def test_newtransport_uses_each_connection_once(go: GoClients) -> None:
    records = _server_side(ServerConfig(), go.argv("newtransport", "{url}/", N))
    assert [r.requests for r in records] == [1] * N
    assert {r.reason for r in records} == {"eof"}  # bodies read: no reset


def test_poolchurn_opens_more_connections_than_its_concurrency(go: GoClients) -> None:
    argv = go.argv("poolchurn", f"{{url}}/delay/{DELAY_MS}", WORKERS, EACH, PAUSE_MS)
    records = _server_side(ServerConfig(), argv)
    assert sum(r.requests for r in records) == WORKERS * EACH
    # 20 connections would carry 20 goroutines; the pool of 2 throws the others away.
    assert len(records) > WORKERS


def test_idlepause_finds_its_connections_closed_by_the_server(go: GoClients) -> None:
    config = ServerConfig(idle_timeout=IDLE_TIMEOUT_S)
    records = _server_side(config, go.argv("idlepause", "{url}/", IDLE_REQUESTS, IDLE_PAUSE_MS))
    assert [r.requests for r in records] == [1] * IDLE_REQUESTS
    reasons = Counter(r.reason for r in records)
    assert reasons["idle-timeout"] == IDLE_REQUESTS - 1  # all but the last, closed idle


def test_h2split_opens_an_h2_connection_per_client(go: GoClients) -> None:
    with ServerThread(ServerConfig(tls=True, h2=True)) as srv:
        assert srv.ca_path is not None
        run_client(go.argv("h2split", srv.url, srv.ca_path, H2_CLIENTS, H2_EACH))
        records = srv.connections
    assert [(r.protocol, r.requests) for r in records] == [("h2", H2_EACH)] * H2_CLIENTS


def test_good_uses_one_connection(go: GoClients) -> None:
    records = _server_side(ServerConfig(), go.argv("good", "{url}/", 2 * N))
    assert [r.requests for r in records] == [2 * N]


def test_good_concurrent_needs_no_more_connections_than_its_concurrency(
    go: GoClients,
) -> None:
    argv = go.argv("good", f"{{url}}/delay/{DELAY_MS}", WORKERS * EACH, WORKERS)
    records = _server_side(ServerConfig(), argv)
    assert sum(r.requests for r in records) == WORKERS * EACH
    assert len(records) <= WORKERS


# --- observe names each mistake ------------------------------------------------------------


@pytest.fixture(scope="module")
def observe() -> Iterator[None]:
    require_observe()
    yield


def _client(result: Observed) -> dict[str, Any]:
    """The one client a test ran (one program: one address, one User-Agent)."""
    assert len(result.clients) == 1, result.clients
    client = result.clients[0]
    assert client["user_agent"].startswith("Go-http-client/"), client
    return client


def _assert_fails_with(result: Observed, code: str) -> None:
    """The report names `code` for the client, with a fix, and observe exits 1."""
    assert code in result.codes(), result.stdout
    finding = result.finding(code)
    assert finding["severity"] in {"warning", "error"}
    assert "Go" in finding["remedy"], finding  # a fix in the terms of the Go client
    assert code in {f["code"] for f in _client(result)["findings"]}, result.clients
    assert result.returncode == 1, result.stderr


def _counts(result: Observed) -> tuple[int, int]:
    """(requests, connections opened): the summary's, which the one client's must equal."""
    summary, client = result.summary, _client(result)
    counts = summary["requests"], summary["connections_opened"]
    assert (client["requests"], client["connections"]) == counts, (summary, client)
    return counts


@pytest.mark.usefixtures("observe")
class TestObserveGoClients:
    def test_leak_is_client_conn_leak(self, go: GoClients) -> None:
        result, _ = observe_client(go.argv("leak", "{url}/", N))
        _assert_fails_with(result, "client-conn-leak")
        assert _counts(result) == (N, N)

    def test_close_without_drain_is_client_body_not_drained(self, go: GoClients) -> None:
        result, _ = observe_client(go.argv("nodrain", f"{{url}}/bytes/{BIG}", N))
        _assert_fails_with(result, "client-body-not-drained")
        assert _counts(result) == (N, N)
        assert "client-conn-leak" not in result.codes()  # every body was closed

    def test_transport_per_request_is_client_new_conn_per_request(self, go: GoClients) -> None:
        result, _ = observe_client(go.argv("newtransport", "{url}/", N))
        _assert_fails_with(result, "client-new-conn-per-request")
        assert _counts(result) == (N, N)
        assert _client(result)["reused"] == 0
        assert "client-body-not-drained" not in result.codes()  # every body was read

    def test_idle_pool_of_two_under_20_goroutines_is_client_idle_pool_churn(
        self, go: GoClients
    ) -> None:
        argv = go.argv("poolchurn", f"{{url}}/delay/{DELAY_MS}", WORKERS, EACH, PAUSE_MS)
        result, _ = observe_client(argv)
        _assert_fails_with(result, "client-idle-pool-churn")
        requests, connections = _counts(result)
        assert requests == WORKERS * EACH
        assert connections > WORKERS
        # Reported against the minimum its concurrency needed.
        assert connections > _client(result)["minimum_connections"]

    def test_idle_longer_than_the_server_is_client_idle_timeout_too_long(
        self, go: GoClients
    ) -> None:
        argv = go.argv("idlepause", "{url}/", IDLE_REQUESTS, IDLE_PAUSE_MS)
        result, _ = observe_client(argv, ["--idle-timeout", str(IDLE_TIMEOUT_S)])
        _assert_fails_with(result, "client-idle-timeout-too-long")
        assert _counts(result) == (IDLE_REQUESTS, IDLE_REQUESTS)

    def test_h2_transport_per_client_is_client_h2_not_multiplexing(
        self, go: GoClients, tls: TlsFiles
    ) -> None:
        argv = go.argv("h2split", "{url}/", tls.ca, H2_CLIENTS, H2_EACH)
        result, _ = observe_client(argv, tls.observe_args())
        _assert_fails_with(result, "client-h2-not-multiplexing")
        assert _counts(result) == (H2_CLIENTS * H2_EACH, H2_CLIENTS)
        assert {c["protocol"] for c in result.connections} == {"h2"}
        assert _client(result)["minimum_connections"] == 1  # one would have multiplexed

    def test_h2_capable_client_stuck_on_http11_is_client_h2_not_multiplexing(
        self, go: GoClients, tls: TlsFiles
    ) -> None:
        # A custom TLSClientConfig without ForceAttemptHTTP2: Go never offers h2.
        argv = go.argv("h2split", "{url}/", tls.ca, H2_CLIENTS, H2_EACH, "h1")
        result, _ = observe_client(argv, tls.observe_args())
        _assert_fails_with(result, "client-h2-not-multiplexing")
        assert {c["protocol"] for c in result.connections} == {"http/1.1"}

    def test_correct_client_has_no_findings(self, go: GoClients) -> None:
        result, _ = observe_client(go.argv("good", "{url}/", 2 * N))
        assert result.codes() == set(), result.stdout
        assert result.client_codes() == set(), result.clients
        assert _counts(result) == (2 * N, 1)
        assert _client(result)["reused"] == 2 * N - 1  # all but the first
        assert result.returncode == 0, result.stderr

    def test_correct_concurrent_client_has_no_findings(self, go: GoClients) -> None:
        # The fix for pool churn: an idle pool as large as the concurrency.
        argv = go.argv("good", f"{{url}}/delay/{DELAY_MS}", WORKERS * EACH, WORKERS)
        result, _ = observe_client(argv)
        assert result.codes() == set(), result.stdout
        requests, connections = _counts(result)
        assert requests == WORKERS * EACH
        assert connections <= WORKERS
        assert result.returncode == 0, result.stderr

    def test_correct_h2_client_has_no_findings(self, go: GoClients, tls: TlsFiles) -> None:
        argv = go.argv("good", "{url}/", 2 * N, 1, tls.ca)
        result, _ = observe_client(argv, tls.observe_args())
        assert result.codes() == set(), result.stdout
        assert _counts(result) == (2 * N, 1)
        assert _client(result)["reused"] == 2 * N - 1
        assert {c["protocol"] for c in result.connections} == {"h2"}
        assert result.returncode == 0, result.stderr

    def test_correct_concurrent_h2_client_has_no_findings(
        self, go: GoClients, tls: TlsFiles
    ) -> None:
        # Go's Transport dials once per request waiting while no h2 connection exists yet,
        # then closes the extra connections unused: not the client's mistake.  Every
        # request still rides on one connection.
        argv = go.argv("good", f"{{url}}/delay/{DELAY_MS}", 4 * N, 5, tls.ca)
        result, _ = observe_client(argv, tls.observe_args())
        assert result.codes() == set(), result.stdout
        client = _client(result)
        assert client["max_requests_per_connection"] == 4 * N
        assert _counts(result)[0] == 4 * N
        # The dial race's extras are counted apart: per connection means per carrying one.
        carried = [c for c in result.connections if c["requests"]]
        assert client["unused_connections"] == len(result.connections) - len(carried)
        assert client["requests_per_connection"] == 4 * N / len(carried)
        assert result.returncode == 0, result.stderr
