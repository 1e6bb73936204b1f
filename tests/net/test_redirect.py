"""Following redirects with Go's ``http.Client`` policy: the rule as a pure function
(method and body per status, headers per hop, at most 10), and ``-L`` end to end
against the built-in server's ``/redirect/N`` and ``/redirect-to``, where each hop is a
request of its own with its own GotConn, so a redirect to another origin shows the
connection it costs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.net.redirect import (
    MAX_REDIRECTS,
    Chain,
    RedirectError,
    follows,
    location_of,
    next_hop,
)
from reusecheck.net.request import Request
from reusecheck.server import ServerConfig, ServerThread

# -- the rule ---------------------------------------------------------------------------------


def post(url: str = "https://a.test/form", **headers: str) -> Request:
    return Request("POST", url, list(headers.items()), b"x=1")


@pytest.mark.parametrize("status", [301, 302, 303])
def test_301_302_303_turn_a_post_into_a_get_without_its_body(status: int) -> None:
    req = post(**{"Content-Length": "3"})
    hop, chain = next_hop(Chain(req), req, status, "/done")
    assert (hop.method, hop.body, hop.url) == ("GET", None, "https://a.test/done")
    assert all(n.lower() != "content-length" for n, _ in hop.wire_headers)
    assert chain.hops == 1


@pytest.mark.parametrize("status", [307, 308])
def test_307_308_keep_the_method_and_resend_the_body(status: int) -> None:
    req = Request("PUT", "https://a.test/x", [], b"payload")
    hop, _ = next_hop(Chain(req), req, status, "https://a.test/y")
    assert (hop.method, hop.body) == ("PUT", b"payload")
    assert (b"Content-Length", b"7") in hop.wire_headers


def test_head_stays_head_on_a_303() -> None:
    req = Request("HEAD", "https://a.test/", [])
    assert next_hop(Chain(req), req, 303, "/b")[0].method == "HEAD"


def test_at_most_10_redirects() -> None:
    req = Request("GET", "https://a.test/0", [])
    chain = Chain(req)
    for n in range(MAX_REDIRECTS):
        req, chain = next_hop(chain, req, 302, f"/{n + 1}")
    assert chain.hops == 10 and req.url == "https://a.test/10"
    with pytest.raises(RedirectError, match="stopped after 10 redirects"):
        next_hop(chain, req, 302, "/11")


def test_credentials_stay_on_the_host_and_its_subdomains_then_are_dropped_for_good() -> None:
    req = Request("GET", "https://a.test/", [("Authorization", "Bearer t"), ("Cookie", "c=1")])
    sub, chain = next_hop(Chain(req), req, 302, "https://api.a.test:8443/")
    assert ("Authorization", "Bearer t") in sub.headers
    away, chain = next_hop(chain, sub, 302, "https://b.test/")
    assert all(n.lower() not in ("authorization", "cookie") for n, _ in away.headers)
    back, _ = next_hop(chain, away, 302, "https://a.test/again")
    assert all(n.lower() != "authorization" for n, _ in back.headers), "stripping sticks"


def test_a_given_host_header_is_kept_only_for_a_relative_location() -> None:
    req = Request("GET", "http://10.0.0.1/", [("Host", "site.test")])
    relative, _ = next_hop(Chain(req), req, 302, "/b")
    assert relative.host == "site.test"
    absolute, _ = next_hop(Chain(req), req, 302, "http://other.test/b")
    assert absolute.host == "other.test"


def test_referer_is_the_previous_url_but_never_from_https_to_http() -> None:
    req = Request("GET", "https://user:pw@a.test/p?q=1#frag", [])
    hop, chain = next_hop(Chain(req), req, 302, "https://a.test/next#x")
    assert ("Referer", "https://a.test/p?q=1") in hop.headers
    assert hop.url == "https://a.test/next"
    down, _ = next_hop(chain, hop, 302, "http://a.test/plain")
    assert all(n != "Referer" for n, _ in down.headers)


def test_a_location_that_is_not_http_stops_the_chain() -> None:
    req = Request("GET", "https://a.test/", [])
    with pytest.raises(RedirectError, match="cannot follow the redirect"):
        next_hop(Chain(req), req, 302, "ftp://a.test/file")


def test_which_responses_are_redirects() -> None:
    assert location_of([(b"Content-Type", b"x"), (b"location", b" /to ")]) == "/to"
    assert location_of(None) is None
    assert follows(302, "/x") and follows(308, "/x")
    assert not follows(302, None) and not follows(300, "/x") and not follows(304, "/x")


# -- end to end --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ServerThread, ServerThread]]:
    with ServerThread(ServerConfig()) as a, ServerThread(ServerConfig()) as b:
        yield a, b


SEQUENTIAL = ("--idle", "0", "--concurrency", "0", "--json")


def probe(url: str, *args: str) -> Result:
    result = CliRunner().invoke(main, ["probe", url, *SEQUENTIAL, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def report_of(result: Result) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_without_l_a_redirect_is_the_answer(servers: tuple[ServerThread, ServerThread]) -> None:
    a, _ = servers
    report = report_of(probe(a.url + "redirect/2", "--requests", "1"))
    assert [r["status"] for r in report["requests"]] == [302]


def test_each_hop_is_a_request_with_its_own_got_conn(
    servers: tuple[ServerThread, ServerThread],
) -> None:
    a, _ = servers
    result = probe(a.url + "redirect/3", "-L", "--requests", "2")
    assert result.exit_code == 0, result.stderr
    rows = report_of(result)["requests"]
    assert [r["status"] for r in rows] == [302, 302, 302, 200] * 2
    assert [r.get("redirected_from") for r in rows] == [None, 0, 1, 2, None, 4, 5, 6]
    assert rows[3]["url"] == a.url
    assert [r["reused"] for r in rows] == [False] + [True] * 7
    assert {r["conn_id"] for r in rows} == {1}


def test_a_redirect_to_another_origin_shows_the_connection_it_costs(
    servers: tuple[ServerThread, ServerThread],
) -> None:
    a, b = servers
    result = probe(f"{a.url}redirect-to?url={b.url}", "-L", "--requests", "3")
    assert result.exit_code == 0, result.stderr
    report = report_of(result)
    rows = report["requests"]
    hops = [r for r in rows if r.get("redirected_from") is not None]
    assert [r["url"] for r in hops] == [b.url] * 3
    assert len({r["conn_id"] for r in hops}) == 1
    assert not {r["conn_id"] for r in hops} & {r["conn_id"] for r in rows if r not in hops}
    assert report["summary"]["connections_opened"] == 2
    remotes = sorted(c["remote"] for c in report["connections"])
    assert remotes == sorted([f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"])
    assert report["verdict"]["reuse"] == "yes"


def test_ten_redirects_are_followed_and_the_eleventh_stops_the_run(
    servers: tuple[ServerThread, ServerThread],
) -> None:
    a, _ = servers
    ten = probe(a.url + "redirect/10", "-L", "--requests", "1")
    assert ten.exit_code == 0, ten.stderr
    assert len(report_of(ten)["requests"]) == 11
    eleven = probe(a.url + "redirect/11", "-L", "--requests", "1")
    assert eleven.exit_code == 3
    report = report_of(eleven)
    assert report["error"] == {"kind": "redirect", "message": "stopped after 10 redirects"}


def wrote(events: Path) -> list[tuple[str, dict[str, str]]]:
    """(method from get_conn, headers as sent) per request attempt."""
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    methods = {e["request"]: e["method"] for e in lines if e["event"] == "get_conn"}
    return [
        (methods[e["request"]], {k.lower(): v for k, v in e["headers"]})
        for e in lines
        if e["event"] == "wrote_headers"
    ]


@pytest.mark.parametrize(("status", "method"), [(303, "GET"), (302, "GET"), (307, "POST")])
def test_a_posts_redirect_follows_the_method_and_body_rules(
    servers: tuple[ServerThread, ServerThread], tmp_path: Path, status: int, method: str
) -> None:
    a, b = servers
    events = tmp_path / "events.ndjson"
    url = f"{a.url}redirect-to?url={b.url}&status_code={status}"
    result = probe(url, "-L", "--requests", "1", "-d", "k=v", "--events", str(events))
    assert result.exit_code == 0, result.stderr
    (first_method, first), (hop_method, hop) = wrote(events)
    assert (first_method, first["content-length"]) == ("POST", "3")
    assert hop_method == method
    assert hop.get("content-length") == ("3" if method == "POST" else None)
    assert hop["referer"] == url


def test_run_follows_redirects_when_the_scenario_says_so(
    servers: tuple[ServerThread, ServerThread], tmp_path: Path
) -> None:
    a, _ = servers
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        f'[defaults]\nurl = "{a.url}"\nfollow_redirects = true\n'
        '[[step]]\nname = "follow"\npath = "/redirect/2"\n'
        '[[step]]\nname = "stop"\npath = "/redirect/2"\nfollow_redirects = false\n'
    )
    result = CliRunner().invoke(main, ["run", str(scenario), "--json"])
    assert result.exit_code == 0, result.output
    rows = report_of(result)["requests"]
    assert [(r["phase"], r["status"]) for r in rows] == [
        ("follow", 302),
        ("follow", 302),
        ("follow", 200),
        ("stop", 302),
    ]
