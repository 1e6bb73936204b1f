"""The ``[pool]`` keys for real networks (docs/scenarios.md): a client certificate
(``cert``, ``key``) and the routing curl's options give (``resolve``, ``connect_to``,
``ip_version``).  Each is checked as it is read, so a mistake is one line naming the
file, the step and the key, and nothing is sent with a certificate that cannot load.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from reusecheck.net.client_certs import check as check_client_cert
from reusecheck.net.pinning import parse_connect_to, parse_resolve
from reusecheck.net.route import Routing
from reusecheck.net.tls import TLSOptions
from reusecheck.scenarios.fields import Where, kind, shown


def _entries(w: Where, key: str, value: object) -> list[str]:
    """A string or a list of strings (curl's option, once or repeated)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        w.fail(key, f"must be a string or a non-empty list of strings, not {kind(value)}")
    return [w.string(f"{key}[{i}]", v) for i, v in enumerate(value, 1)]


def read_routing(w: Where, table: dict[str, Any], prefix: str, routing: Routing) -> Routing:
    """``resolve``, ``connect_to`` (as curl's ``--resolve``/``--connect-to``, each
    replacing the inherited list) and ``ip_version`` (4 or 6, as ``-4``/``-6``)."""
    pins = routing.pins
    if "resolve" in table:
        texts = _entries(w, prefix + "resolve", table["resolve"])
        try:
            pins = replace(pins, resolve=tuple(parse_resolve(t) for t in texts))
        except ValueError as exc:
            w.fail(prefix + "resolve", shown(str(exc), 200))
    if "connect_to" in table:
        texts = _entries(w, prefix + "connect_to", table["connect_to"])
        try:
            pins = replace(pins, connect_to=tuple(parse_connect_to(t) for t in texts))
        except ValueError as exc:
            w.fail(prefix + "connect_to", shown(str(exc), 200))
    version = routing.ip_version
    if "ip_version" in table:
        version = w.integer(prefix + "ip_version", table["ip_version"], 4, 6)
        if version == 5:
            w.fail(prefix + "ip_version", "must be 4 or 6, not 5")
    return replace(routing, pins=pins, ip_version=version)


def read_client_cert(
    w: Where, table: dict[str, Any], base_dir: Path, prefix: str, tls: TLSOptions
) -> TLSOptions:
    """``cert`` and ``key`` (PEM, relative to the scenario file; the key may be in the
    certificate's file, as curl reads it), checked now: nothing is sent with a
    certificate that cannot load.  A step's ``pool.key`` alone keys the inherited cert."""
    inherited = tls.key if "cert" not in table else None
    paths: dict[str, str | None] = {"cert": tls.cert, "key": inherited}
    for name in ("cert", "key"):
        if name in table:
            path = base_dir / w.string(prefix + name, table[name])
            if not path.is_file():
                w.fail(prefix + name, f"{shown(str(path), 80)!r} is not a readable file")
            paths[name] = str(path)
    cert, key = paths["cert"], paths["key"]
    if cert is None:
        w.fail(prefix + "key", "needs a cert: give the client certificate's file as cert")
    try:
        check_client_cert(cert, key)
    except ValueError as exc:
        w.fail(prefix + ("cert" if "cert" in table else "key"), shown(str(exc), 200))
    return replace(tls, cert=cert, key=key)
