"""The probe against real nginx (HTTP/1.1), each keep-alive setting giving its finding.

Each test starts its own nginx on a free loopback port with a generated config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reusecheck.cli import main
from tests.integration.nginx import Nginx, start_nginx

pytestmark = pytest.mark.nginx


def probe(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["probe", url, "--json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def nginx_factory(tmp_path: Path) -> Any:
    started: list[Nginx] = []

    def start(http_extra: str) -> Nginx:
        server = start_nginx(tmp_path / f"nginx{len(started)}", http_extra=http_extra)
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


def codes(report: dict[str, Any]) -> list[str]:
    return [f["code"] for f in report["findings"]]


def test_default_config_reuses_and_exits_0(nginx_factory: Any) -> None:
    server = nginx_factory("")
    code, report = probe(server.url, "--idle", "0.2")
    assert code == 0
    assert report["verdict"]["reuse"] == "yes"
    assert report["verdict"]["ok"] is True
    assert report["server"]["keepalive"] is True
    # 5 sequential + 1 after the gap on one connection, bursts need 4 at most.
    assert report["summary"]["connections_opened"] <= 4
    assert report["requests"][1]["reused"] is True


def test_keepalive_timeout_0_is_no_keepalive_and_fails_expect_reuse(nginx_factory: Any) -> None:
    server = nginx_factory("keepalive_timeout 0;")
    code, report = probe(server.url, "--idle", "0")
    assert code == 1
    assert "no-keepalive" in codes(report)
    assert report["verdict"]["reuse"] == "no"
    assert report["summary"]["reused"] == 0
    assert {c["close_reason"] for c in report["connections"]} == {"connection-close-header"}
    assert report["verdict"]["ok"] is False


def test_keepalive_requests_3_is_measured(nginx_factory: Any) -> None:
    server = nginx_factory("keepalive_requests 3;")
    _, report = probe(server.url, "--requests", "9", "--idle", "0", "--concurrency", "0")
    assert "max-requests-per-conn" in codes(report)
    assert report["server"]["max_requests_per_conn"] == 3
    finding = next(f for f in report["findings"] if f["code"] == "max-requests-per-conn")
    assert "3" in finding["message"]
    assert [r["conn_id"] for r in report["requests"]] == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_keepalive_timeout_1s_with_a_2s_gap(nginx_factory: Any) -> None:
    server = nginx_factory("keepalive_timeout 1s;")
    _, report = probe(server.url, "--idle", "2", "--concurrency", "0")
    assert "server-idle-timeout" in codes(report)
    idle = report["server"]["idle_timeout_s"]
    assert idle is not None and 0.9 <= idle <= 1.5
    after_gap = [r for r in report["requests"] if r["phase"] == "idle"]
    assert len(after_gap) == 1
    assert after_gap[0]["reused"] is False and after_gap[0]["error"] is None
    assert after_gap[0]["status"] == 200
    assert all(r["error"] is None for r in report["requests"])
