"""Redaction of secrets in headers and URLs, applied wherever a report or event is written.

The in-memory record stays exact; renderers and the NDJSON writer pass values through
here, so a report can be pasted into an issue.  What stays visible is what helps
debugging: the authentication scheme, cookie names, query parameter names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import unquote, urlsplit, urlunsplit

REDACTED: Final = "[redacted]"

# Header names whose value is a credential, lower-case.
SENSITIVE_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "x-csrf-token",
        "x-xsrf-token",
        "x-amz-security-token",
        "x-goog-api-key",
        "api-key",
    }
)

# A header or query parameter whose name contains one of these is treated as secret
# too (x-vault-token, client_secret, db-password, x-service-api-key, ...).
SENSITIVE_PARTS: Final = ("token", "secret", "password", "passwd", "api-key", "apikey", "api_key")

# Query parameters that carry credentials under names without those parts.
SENSITIVE_PARAMS: Final = frozenset(
    {"key", "sig", "signature", "x-amz-signature", "x-amz-credential", "auth", "pwd"}
)

# Headers whose value starts with a scheme word worth keeping ("Bearer [redacted]").
_SCHEME_HEADERS: Final = frozenset({"authorization", "proxy-authorization"})


def is_sensitive_header(name: str) -> bool:
    n = name.strip().lower()
    return n in SENSITIVE_HEADERS or any(part in n for part in SENSITIVE_PARTS)


def is_sensitive_param(name: str) -> bool:
    n = unquote(name).strip().lower()
    return n in SENSITIVE_PARAMS or any(part in n for part in SENSITIVE_PARTS)


def _redact_cookie(value: str) -> str:
    """``a=1; b=2`` -> ``a=[redacted]; b=[redacted]``: names help, values are credentials."""
    parts = []
    for pair in value.split(";"):
        name, eq, _ = pair.strip().partition("=")
        parts.append(f"{name}={REDACTED}" if eq else REDACTED)
    return "; ".join(parts)


def _redact_set_cookie(value: str) -> str:
    """Only the cookie's own value; attributes (Path, Max-Age, ...) are not secret."""
    first, sep, attributes = value.partition(";")
    name, eq, _ = first.strip().partition("=")
    head = f"{name}={REDACTED}" if eq else REDACTED
    return head + sep + attributes


def redact_target(target: str) -> str:
    """A request target (``/path?query``, HTTP/2's ``:path``) with credential-bearing
    query parameter values redacted, as in a URL."""
    path, q, query = target.partition("?")
    if not q:
        return target
    params = []
    for item in query.split("&"):
        name, eq, _ = item.partition("=")
        params.append(f"{name}={REDACTED}" if eq and is_sensitive_param(name) else item)
    return f"{path}?{'&'.join(params)}"


def redact_header(name: str, value: str) -> str:
    n = name.strip().lower()
    if n == ":path":
        return redact_target(value)
    if not is_sensitive_header(n):
        return value
    if n in _SCHEME_HEADERS:
        scheme, space, rest = value.strip().partition(" ")
        return f"{scheme} {REDACTED}" if space and rest else REDACTED
    if n == "cookie":
        return _redact_cookie(value)
    if n == "set-cookie":
        return _redact_set_cookie(value)
    return REDACTED


def redact_headers(pairs: Iterable[Sequence[str]], reveal: bool = False) -> list[list[str]]:
    """``[[name, value], ...]`` with sensitive values replaced; ``reveal`` keeps them."""
    out: list[list[str]] = []
    for pair in pairs:
        name, value = str(pair[0]), str(pair[1])
        out.append([name, value if reveal else redact_header(name, value)])
    return out


def redact_url(url: str, reveal: bool = False) -> str:
    """The URL without a userinfo password or credential-bearing query parameter values.

    Only the affected parts are rewritten; everything else keeps its exact spelling.
    """
    if reveal:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{REDACTED}@{hostport}" if colon else netloc
    query = parts.query
    if query:
        query = redact_target("?" + query)[1:]
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_PAIR: Final = re.compile(r"([A-Za-z0-9_.%\[\]-]+)=([^&\s\"'<>;,]*)")
_TOKEN: Final = re.compile(r"\b(Bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_USERINFO: Final = re.compile(r"(://[^/\s:@]+:)[^@\s/]+@")


def redact_text(text: str) -> str:
    """Free text a server sent back (an error page's first line), with what looks like
    a credential redacted: ``api_key=...`` pairs, ``Bearer ...`` tokens and URL
    passwords.  A 404 page that echoes the request's path must not leak its key."""
    text = _TOKEN.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    return _PAIR.sub(
        lambda m: f"{m.group(1)}={REDACTED}" if is_sensitive_param(m.group(1)) else m.group(0),
        text,
    )
