"""HTTP status: responses counted by class, error responses and what they say.

A run whose responses are errors measured the error path, not the service: a plain
``http://`` request to a TLS port gets a 400 and a close, a proxy with no upstream
answers 502.  The causes recognised here are those a server states plainly, in its
status, its ``Server`` header or the first words of its error body
(``body_done.body_head``); anything else is reported as the status it was.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

from reusecheck.analysis.model import RequestRow

ERROR_STATUS: Final = 400  # and up: the request did not get what it asked for

# What servers and proxies put in the body of a 400 to a plain HTTP request on a TLS
# port: nginx, Apache httpd, Go net/http, Envoy/others echo "HTTP request to an HTTPS".
_PLAIN_TO_TLS: Final = re.compile(
    r"plain HTTP request was sent to HTTPS port"
    r"|speaking plain HTTP to an SSL-enabled server"
    r"|HTTP request to an HTTPS server",
    re.IGNORECASE,
)
# A proxy or load balancer answering for an upstream it could not reach.
_NO_UPSTREAM: Final = re.compile(
    r"no healthy upstream|upstream connect error|no server is available"
    r"|no available server|upstream request timeout|bad gateway|gateway time-?out",
    re.IGNORECASE,
)
# nginx's pages for ssl_verify_client: no client certificate, or one it could not verify.
_NO_CLIENT_CERT: Final = re.compile(
    r"No required SSL certificate was sent|The SSL certificate error", re.IGNORECASE
)
_PROXIES: Final = ("nginx", "envoy", "haproxy", "caddy", "traefik", "awselb", "cloudflare",
                   "squid", "varnish", "apache", "istio", "openresty", "kong")  # fmt: skip
_TAG: Final = re.compile(r"<[^>]*>")
_HEAD: Final = re.compile(r"<head>.*?</head>", re.IGNORECASE | re.DOTALL)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def status_classes(rows: Iterable[RequestRow]) -> tuple[tuple[str, int], ...]:
    """Responses by class (``2xx``, ``4xx``, ...), in class order; requests that got
    no response are not counted."""
    counts = Counter(status_class(r.status) for r in rows if r.status is not None)
    return tuple(sorted(counts.items()))


def is_error(status: int | None) -> bool:
    return status is not None and status >= ERROR_STATUS


def phrase(status: int) -> str:
    """``400 Bad Request``; the bare number for a status HTTP does not name."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def said(body_head: str | None, status: int | None = None, server: str | None = None) -> str | None:
    """The words of an error page, worth quoting: its ``<head>`` (a title repeating the
    heading) and tags dropped, whitespace collapsed, at most 120 characters; None when
    it says no more than the status and the server's name."""
    if not body_head:
        return None
    body = _HEAD.sub(" ", body_head)
    text = " ".join(_TAG.sub(" ", body).split())
    rest = text
    for known in (phrase(status) if status is not None else None, server):
        if known:
            rest = rest.replace(known, " ")
    if not rest.strip(" .-"):
        return None
    return (text[:117] + "...") if len(text) > 120 else text


@dataclass(frozen=True, slots=True)
class Cause:
    """A cause of error responses the server stated: ``key``, in words, with its fix."""

    key: str
    text: str
    remedy: str


def _proxy(server: str | None) -> str | None:
    if server is None:
        return None
    low = server.lower()
    return server if any(p in low for p in _PROXIES) else None


def cause(row: RequestRow, server: str | None, cert_unanswered: bool = False) -> Cause | None:
    """What the server said went wrong with ``row``'s request, when it said it plainly.

    ``cert_unanswered``: the server asked for a client certificate in the handshake of
    the request's connection and none was configured, so a bare 400 (nginx's
    ``ssl_verify_client optional`` with ``if ($ssl_client_verify != SUCCESS)``) is read
    as the certificate's absence."""
    status, body = row.status, row.body_head or ""
    if status is None or status < ERROR_STATUS:
        return None
    if status == 400 and (_NO_CLIENT_CERT.search(body) or cert_unanswered):
        said_so = _NO_CLIENT_CERT.search(body) is not None
        return Cause(
            "client-cert-required",
            "the server requires a client certificate"
            + ("" if said_so else " (it asked for one in the TLS handshake and got none)"),
            "Give the client a certificate the server trusts: --cert FILE (and --key FILE "
            "unless the key is in it), [pool] cert and key in scenario files; curl --cert, "
            "Go tls.Config.Certificates, httpx/requests cert=(cert, key).",
        )
    scheme = (row.url or "").split("://", 1)[0].lower()
    if status == 400 and _PLAIN_TO_TLS.search(body) and scheme == "http":
        return Cause(
            "plain-http-to-tls",
            "plain HTTP sent to a TLS port",
            "The port speaks TLS: use https:// in the URL (and --cacert for a private CA).",
        )
    proxy = _proxy(server)
    if status in (502, 503, 504) and (_NO_UPSTREAM.search(body) or proxy):
        who = f"a proxy ({proxy})" if proxy else "a proxy"
        return Cause(
            "proxy-no-upstream",
            f"{who} answered {status} for an upstream it could not reach",
            "The proxy is up but its backend is not: check the upstream it forwards to "
            "(down, refusing, or slower than the proxy's timeout), then probe again.",
        )
    if status in (401, 407):
        return Cause(
            "auth",
            "the server wants credentials",
            "Send them: -H 'Authorization: ...', or user:password@ in the URL.",
        )
    if status == 404:
        return Cause(
            "not-found",
            "the path does not exist",
            "Probe a URL that answers 2xx (a health or status endpoint).",
        )
    if status == 429:
        return Cause(
            "rate-limited",
            "the server is rate-limiting",
            "Send fewer requests at once or per second (--concurrency, --rate).",
        )
    return None


def server_header(headers: Sequence[Sequence[object]] | None) -> str | None:
    for pair in headers or ():
        if len(pair) >= 2 and str(pair[0]).lower() == "server":
            return str(pair[1])
    return None
