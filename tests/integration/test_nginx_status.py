"""Error responses from a real nginx: the finding names the cause the server stated, and
closes after error responses are never blamed on the server's keep-alive.

nginx turns keep-alive off for some errors (400, 500, ...: ngx_http_special_response),
so a plain ``http://`` probe of its TLS port gets 400 and a close on every connection;
that is a wrong URL, not a server without keep-alive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reusecheck.cli import main
from tests.integration.nginx import Nginx, start_nginx, start_nginx_tls
from tests.schema_check import check_report

pytestmark = pytest.mark.nginx

ROUTES = (
    "location /fail { return 500; } "
    "location /missing { return 404; } "
    "location /gateway { proxy_pass http://127.0.0.1:9; } "  # nothing listens on port 9
    "location /some { if ($arg_n = 3) { return 503; } return 200 'ok'; } "
)


def probe(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["probe", url, "--json", "--idle", "0", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    report = json.loads(result.stdout)
    check_report(report)  # schema, and the budget adds up
    return result.exit_code, report


def finding(report: dict[str, Any], code: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["code"] == code)


def codes(report: dict[str, Any]) -> list[str]:
    return [f["code"] for f in report["findings"]]


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = start_nginx(tmp_path_factory.mktemp("nginx-status"), server_extra=ROUTES)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server, _ca = start_nginx_tls(tmp_path_factory.mktemp("nginx-tls"), http2=False)
    yield server
    server.stop()


def test_plain_http_to_a_tls_port_is_named_not_blamed_on_keepalive(tls: Nginx) -> None:
    code, report = probe(f"http://127.0.0.1:{tls.port}/")
    n = report["summary"]["requests"]
    assert report["summary"]["status_classes"] == {"4xx": n}
    assert "no-keepalive" not in codes(report)
    assert report["server"]["keepalive"] is None  # closes after errors say nothing of it
    f = finding(report, "error-responses")
    assert f["severity"] == "error"  # every response
    assert f"{n} of {n} responses were errors (400 Bad Request: {n})" in f["message"]
    assert "plain HTTP sent to a TLS port" in f["message"]
    assert "The plain HTTP request was sent to HTTPS port" in f["message"]  # nginx's words
    assert "https://" in f["remedy"]
    assert f["evidence"]["causes"] == ["plain-http-to-tls"]
    # Each close cost a connection, and the line says after what.
    assert report["verdict"]["detail"].endswith("with Connection: close after a 400 response")
    assert code == 1 and report["verdict"]["reuse"] == "no"


def test_every_response_500_is_an_error_finding_and_fails_expect_status(
    routes: Nginx,
) -> None:
    code, report = probe(routes.url + "fail", "--expect", "status")
    n = report["summary"]["requests"]
    assert report["summary"]["status_classes"] == {"5xx": n}
    f = finding(report, "error-responses")
    assert f["severity"] == "error"
    assert "500 Internal Server Error" in f["message"]
    assert "logs" in f["remedy"]
    assert "no-keepalive" not in codes(report)
    (status,) = report["verdict"]["expectations"]
    assert status["name"] == "status" and not status["ok"]
    assert status["detail"] == f"{n} of {n} responses were errors: 500 Internal Server Error: {n}"
    assert code == 1


def test_a_proxy_with_no_upstream_is_named(routes: Nginx) -> None:
    code, report = probe(routes.url + "gateway")
    f = finding(report, "error-responses")
    assert "a proxy (nginx" in f["message"] and "502" in f["message"]
    assert f["evidence"]["causes"] == ["proxy-no-upstream"]
    assert "upstream" in f["remedy"]
    # nginx keeps the client's connection open after a 502: reuse itself works.
    assert report["verdict"]["reuse"] == "yes" and code == 0


def test_a_missing_path_and_expect_status(routes: Nginx) -> None:
    code, report = probe(routes.url + "missing", "--expect", "status", "--expect", "reuse")
    f = finding(report, "error-responses")
    assert "the path does not exist" in f["message"]
    status = next(e for e in report["verdict"]["expectations"] if e["name"] == "status")
    assert not status["ok"]
    assert code == 1


MIXED = """\
[[step]]
name = "fine"
path = "/"
count = 3

[[step]]
name = "broken"
path = "/missing"
count = 1

[[step]]
name = "fine-again"
path = "/"
count = 2
"""


def test_some_errors_are_a_warning_and_reuse_still_judged_alone(
    routes: Nginx, tmp_path: Path
) -> None:
    plan = tmp_path / "mixed.toml"
    plan.write_text(MIXED)
    result = CliRunner().invoke(main, ["run", str(plan), routes.url, "--json"])
    report = json.loads(result.stdout)
    check_report(report)
    assert report["summary"]["status_classes"] == {"2xx": 5, "4xx": 1}
    f = finding(report, "error-responses")
    assert f["severity"] == "warning"  # some, not all
    assert f["message"].startswith("1 of 6 responses were errors (404 Not Found: 1)")
    assert f["evidence"]["requests"] == [3]
    assert report["verdict"]["reuse"] == "yes"  # a 404 keeps nginx's connection open
    assert result.exit_code == 0  # a scenario's checks are its own: nothing asked of status
    fine = CliRunner().invoke(main, ["probe", routes.url, "--json", "--expect", "status"])
    assert fine.exit_code == 0
    (status,) = json.loads(fine.stdout)["verdict"]["expectations"]
    assert status["ok"] and status["detail"].endswith("were 2xx/3xx")
