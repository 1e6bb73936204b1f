"""The HTTP values in a scenario file: URLs (with ``${VAR}``), methods, headers, body
modes, the pool's ``http``; each read fails with the file's one-line error.

Values are checked here as the request will carry them, so a bad one is exit 2 at load
time, never a failed request in the middle of a run.  A value that may be a secret
(a header's, a URL's credentials) is never repeated in a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from reusecheck.net.request import TOKEN, URLError, check_method, parse_url
from reusecheck.pool import HTTP_MODES
from reusecheck.scenarios.fetch import check_body_mode
from reusecheck.scenarios.fields import Where, shown
from reusecheck.scenarios.variables import VariableError, expand

MAX_BODY: Final = 16 << 20
# Framing headers follow from body / body_bytes; a wrong one would only break the request.
_FRAMING: Final = frozenset({"content-length", "transfer-encoding"})


_REFERENCE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def read_http_mode(w: Where, key: str, value: object) -> str:
    # TOML reads an unquoted 1.1 as a float and 2 as an integer; both mean what they say.
    if value == 1.1 and isinstance(value, float):
        return "1.1"
    if value == 2 and isinstance(value, int) and not isinstance(value, bool):
        return "2"
    mode = w.string(key, value)
    if mode not in HTTP_MODES:
        w.fail(key, f"must be one of {', '.join(HTTP_MODES)}, not {shown(mode)!r}")
    return mode


# --- values --------------------------------------------------------------------------------


def read_expanded(w: Where, key: str, value: object, env: Mapping[str, str]) -> str:
    try:
        return expand(w.string(key, value), env)
    except VariableError as exc:
        w.fail(key, str(exc))


def read_url(w: Where, key: str, url: str, env: Mapping[str, str] | None = None) -> str:
    """``url`` checked; its error names the ``${VAR}`` the file wrote, not the value
    (a token put in a path must not reach the error line)."""
    try:
        parse_url(url)
    except URLError as exc:
        w.fail(key, shown(unexpand(str(exc), env or {}), 200))
    return url


def referenced(template: object, env: Mapping[str, str]) -> dict[str, str]:
    """The variables ``template`` names (``${NAME}``, ``${NAME:-x}``) and their values."""
    names = _REFERENCE.findall(template) if isinstance(template, str) else []
    return {n: env[n] for n in names if env.get(n)}


def unexpand(text: str, env: Mapping[str, str]) -> str:
    """``text`` with each variable's value (the longest first) written as ``${NAME}``."""
    for name, value in sorted(env.items(), key=lambda kv: -len(kv[1])):
        if len(value) >= 3 and value in text:
            text = text.replace(value, f"${{{name}}}")
    return text


def read_method(w: Where, key: str, value: object) -> str:
    method = w.string(key, value)
    try:
        check_method(method)
    except ValueError:
        w.fail(key, f"{shown(method)!r} is not an HTTP method name")
    if method.upper() == "CONNECT":
        w.fail(key, "CONNECT opens a tunnel: there is no connection reuse to measure")
    return method.upper()


def read_headers(
    w: Where, key: str, value: object, env: Mapping[str, str]
) -> tuple[tuple[str, str], ...]:
    table = w.table(key, value)
    pairs: list[tuple[str, str]] = []
    for name, raw in table.items():
        k = f"{key}.{shown(name)}"
        if not TOKEN.fullmatch(name):
            w.fail(k, "is not a valid header name")
        if name.lower() in _FRAMING:
            w.fail(k, "is set from body / body_bytes; leave it out")
        text = read_expanded(w, k, raw, env)
        # The value is not shown: it may be a token.
        if any(c in text for c in "\r\n\0"):
            w.fail(k, "the value has a line break or NUL")
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            w.fail(k, "the value has characters outside Latin-1")
        if any(n.lower() == name.lower() for n, _ in pairs):
            w.fail(k, "is given twice (header names are case-insensitive)")
        pairs.append((name, text))
    return tuple(pairs)


def read_body_mode(w: Where, key: str, value: object) -> str:
    mode = w.string(key, value)
    try:
        check_body_mode(mode)
    except ValueError:
        w.fail(key, f"must be drain, ignore, close-early or partial:N, not {shown(mode)!r}")
    if mode.startswith("partial:") and int(mode[8:]) > MAX_BODY:
        w.fail(key, f"partial:N reads at most {MAX_BODY} bytes")
    return mode
