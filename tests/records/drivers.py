"""Runs the CLI cannot express, driven through reusecheck's own Python API.

Each driver takes the server's URL, its CA file (or None) and the events path, runs the
real pool (``reusecheck.pool.Pool``, the scenario ``Runner`` or discover's ``measure``)
on one ``Tracer`` writing the NDJSON stream as ``--events`` does, and returns what goes
into ``record.json``.  Nothing here writes an event by hand: ``request_done`` comes
from the request executor every command uses (``scenarios.fetch.fetch``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reusecheck.analysis.limits.model import Trail
from reusecheck.analysis.model import RunError

# (server URL, its CA file or None, the events path) -> record.json's contents
Driver = Callable[[str, str | None, Path], dict[str, Any]]


def error_block(error: Any) -> dict[str, str] | None:
    return None if error is None else {"kind": error.kind, "message": error.message}


# --- a client per request: h2 connections that could have been one ------------------------


async def _spread(url: str, ca: str | None, events: Path, before: int) -> dict[str, Any]:
    """``before`` requests one after another on the first client, then four clients (four
    pools on one clock) send one h2 request each at once."""
    from reusecheck.net.request import Request
    from reusecheck.net.tls import TLSOptions
    from reusecheck.pool import Pool, PoolOptions
    from reusecheck.scenarios.fetch import fetch
    from reusecheck.trace import NDJSONWriter, Tracer
    from reusecheck.trace.redact import redact_headers

    with events.open("w", encoding="utf-8") as f:
        tracer = Tracer(NDJSONWriter(f, redact=redact_headers))
        options = PoolOptions(tls=TLSOptions(cacert=ca))
        pools = [Pool(tracer, options, first_conn_id=1 + 10 * k) for k in range(4)]
        req = Request("GET", url)
        for i in range(before):
            await fetch(pools[0], tracer, req, i, "sequential")
        await asyncio.gather(
            *(fetch(pools[k], tracer, req, before + k, "burst-1") for k in range(4))
        )
        for p in pools:
            await p.close()
    return {"target": url, "options": {}, "error": None}


def spread_driver(url: str, ca: str | None, events: Path) -> dict[str, Any]:
    return asyncio.run(_spread(url, ca, events, before=0))


def spread_after_driver(url: str, ca: str | None, events: Path) -> dict[str, Any]:
    return asyncio.run(_spread(url, ca, events, before=1))


# --- secrets in the record: the redaction tests need them unredacted ------------------------

SECRET_USER = "bob:pa55word"
SECRET_PATH = "/[v1]?api_key=K3Y&page=2"
SECRETS_TOML = """\
[defaults]
headers = { Authorization = "Bearer T0K3N", Cookie = "sid=C00K1E" }

[[step]]
name = "secret"
method = "POST"
body = "hello"
"""


def secret_url(url: str) -> str:
    """The server's URL with a password, a bracketed path and an API key in it."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{SECRET_USER}@{rest.rstrip('/')}{SECRET_PATH}"


async def _secrets(url: str, events: Path) -> dict[str, Any]:
    from reusecheck.scenarios import load_file
    from reusecheck.scenarios.runner import Runner
    from reusecheck.trace import NDJSONWriter, Tracer

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "secrets.toml"
        path.write_text(SECRETS_TOML, encoding="utf-8")
        scenario = load_file(str(path), secret_url(url))
    # The writer without ``redact``: the record keeps the secrets, as the in-memory
    # record of a run does, so the renderers' own redaction is what the tests see.
    with events.open("w", encoding="utf-8") as f:
        error = await Runner(scenario.plan, Tracer(NDJSONWriter(f))).run(10.0)
    return {
        "target": scenario.plan.target,
        "options": scenario.plan.pool.to_record(),
        "error": error_block(error),
        "expectations": [[e.name, e.value] for e in scenario.expectations],
    }


def secrets_driver(url: str, ca: str | None, events: Path) -> dict[str, Any]:
    return asyncio.run(_secrets(url, events))


# --- discover: the record plus what is not in it (the trails) ------------------------------


def settings_block(settings: Any) -> dict[str, Any]:
    """The DiscoverSettings, as JSON; the CA file was a temporary one (the results do not
    depend on it)."""
    return {**dataclasses.asdict(settings), "cacert": None}


def trail_block(trail: Trail) -> dict[str, Any]:
    return {
        "name": trail.name,
        "requests": list(trail.requests),
        "roles": [[index, role] for index, role in sorted(trail.roles.items())],
        "error": error_block(trail.error),
        "skipped": trail.skipped,
    }


def trail_of(block: dict[str, Any]) -> Trail:
    error = block["error"]
    return Trail(
        block["name"],
        requests=list(block["requests"]),
        roles={int(index): str(role) for index, role in block["roles"]},
        error=RunError(error["kind"], error["message"]) if error else None,
        skipped=block["skipped"],
    )


def discover_driver(path: str = "", **chosen: Any) -> Driver:
    """A driver running ``discover`` on the server's URL + ``path`` (``delay/100``) with
    these DiscoverSettings (besides the URL)."""

    def drive(url: str, ca: str | None, events: Path) -> dict[str, Any]:
        from reusecheck.discover import DiscoverSettings
        from reusecheck.discover.engine import measure
        from reusecheck.trace import NDJSONWriter
        from reusecheck.trace.redact import redact_headers

        settings = DiscoverSettings(url + path, cacert=ca, **chosen)
        with events.open("w", encoding="utf-8") as f:
            writer = NDJSONWriter(f, redact=redact_headers)
            _, trails, error, duration = asyncio.run(measure(settings, writer, None))
        return {
            "command": "discover",
            "target": settings.url,
            "settings": settings_block(settings),
            "trails": [trail_block(t) for t in trails.values()],
            "error": error_block(error),
            "duration_s": round(duration, 6),
        }

    return drive
