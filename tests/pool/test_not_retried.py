"""A POST that meets a stale connection is not retried (Go's ``shouldRetryRequest``: it
is not replayable), and the report says so instead of leaving an unexplained error.

The server's ``drop_after=1`` closes the connection without answering the second
request: the stale-connection race, made exact.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from reusecheck.cli import main
from reusecheck.net.errors import RequestError
from reusecheck.pool.retry import not_retried, retry_reason
from reusecheck.server import ServerConfig, ServerThread


def stale() -> RequestError:
    return RequestError("server-closed", "closed before any byte", before_response=True)


def test_the_rule_names_only_what_a_replayable_request_would_have_retried() -> None:
    exc = stale()
    assert retry_reason(exc, reused=True, replayable=True) == "stale"
    assert not_retried(exc, reused=True, replayable=False) == "non-idempotent"
    # Replayable: retried, nothing to explain.  A fresh connection: never retried anyway.
    assert not_retried(exc, reused=True, replayable=True) is None
    assert not_retried(exc, reused=False, replayable=False) is None
    # Closed mid-response: the server may have acted on it; no client retries that.
    mid = RequestError("server-closed", "mid-response", before_response=False)
    assert not_retried(mid, reused=True, replayable=False) is None


def probe(url: str, *args: str) -> dict[str, Any]:
    common = ("--requests", "2", "--idle", "0", "--concurrency", "0", "--json")
    result = CliRunner().invoke(main, ["probe", url, *common, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    report: dict[str, Any] = json.loads(result.stdout)
    report["exit_code"] = result.exit_code
    return report


def codes(report: dict[str, Any]) -> list[str]:
    return [f["code"] for f in report["findings"]]


def test_a_stale_post_fails_unretried_and_the_report_says_why() -> None:
    with ServerThread(ServerConfig(drop_after=1)) as srv:
        report = probe(srv.url, "-d", "order=1")
        server_conns = len(srv.connections)
    first, second = report["requests"]
    assert first["method"] == second["method"] == "POST"
    assert first["status"] == 200
    assert second["reused"] is True and second["retried"] is False
    assert second["error"]["kind"] == "server-closed"
    assert second["not_retried"] == "non-idempotent"
    assert server_conns == 1, "a non-idempotent request was sent again"
    assert "not-retried-non-idempotent" in codes(report)
    finding = next(f for f in report["findings"] if f["code"] == "not-retried-non-idempotent")
    assert "POST" in finding["message"] and "Idempotency-Key" in finding["remedy"]
    assert finding["evidence"]["requests"] == [second["index"]]
    # The caller lost a request to the reuse race: the reuse expectation fails with it.
    assert report["exit_code"] == 1 and report["verdict"]["ok"] is False
    (reuse,) = report["verdict"]["expectations"]
    assert not reuse["ok"] and "failed on a stale connection, not retried" in reuse["detail"]


@pytest.mark.parametrize(
    "args", [("-d", "order=1", "-H", "Idempotency-Key: k1"), ("-d", "order=1", "-X", "GET")]
)
def test_a_replayable_request_is_retried_on_a_new_connection(args: tuple[str, ...]) -> None:
    with ServerThread(ServerConfig(drop_after=1)) as srv:
        report = probe(srv.url, *args)
    second = report["requests"][1]
    assert second["retried"] is True and second["status"] == 200
    assert second.get("not_retried") is None
    assert "not-retried-non-idempotent" not in codes(report)
    assert "stale-conn-retry" in codes(report)
    assert report["verdict"]["expectations"][0]["detail"].count("not retried") == 0
