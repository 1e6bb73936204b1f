"""A command line's values, checked, turned into what a run needs.

The CLI hands over the dict click parsed; everything that can be wrong with it is found
here, before anything is sent, and raised as ``BadInput`` (exit 2, one line).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from reusecheck.analysis import Expectation
from reusecheck.commands.exits import BadInput
from reusecheck.commands.outputs import OutputOptions
from reusecheck.discover.settings import DiscoverSettings, parse_only
from reusecheck.net.dial import Timeouts
from reusecheck.net.request import (
    URLError,
    check_headers,
    check_method,
    parse_header,
    parse_url,
)
from reusecheck.net.tls import TLSOptions, check_cafile
from reusecheck.pool import PoolOptions
from reusecheck.scenarios import probe_scenario
from reusecheck.scenarios.model import Scenario
from reusecheck.scenarios.runner import RunLimits

DEFAULT_TIMEOUT: Final = 10.0  # --timeout's default: every single wait
DEFAULT_CEILING: Final = 10_000  # --max-total-requests' default


@dataclass
class ProbeSettings:
    """One target's run as the command line asked for it (probe, demo, run)."""

    url: str
    plan_args: dict[str, Any]
    pool: PoolOptions
    expectations: tuple[Expectation, ...]
    as_json: bool = False
    events_path: str | None = None
    deadline: float = 61.0
    outputs: OutputOptions = field(default_factory=OutputOptions)
    limits: RunLimits = field(default_factory=RunLimits)
    max_total_requests: int = DEFAULT_CEILING

    def scenario(self) -> Scenario:
        """The probe built-in with this command line's settings."""
        return probe_scenario(
            self.url, pool=self.pool, expectations=self.expectations, **self.plan_args
        )


def check_url(url: str) -> None:
    try:
        parse_url(url)
    except URLError as exc:
        raise BadInput(str(exc)) from None


def headers_of(values: Any) -> tuple[tuple[str, str], ...]:
    try:
        headers = tuple(parse_header(h) for h in values or ())
        check_headers(headers)
    except ValueError as exc:
        raise BadInput(str(exc), "'-H'") from None
    return headers


def method_of(value: str) -> str:
    try:
        return check_method(value)
    except ValueError as exc:
        raise BadInput(str(exc), "'-X'") from None


def check_outputs(o: Mapping[str, Any]) -> None:
    """Output and trust options that cannot work together or point nowhere."""
    if o.get("events_path") == "-" and o.get("as_json"):
        raise BadInput("--events - and --json both want stdout; give --events a file")
    cacert = o.get("cacert")
    if cacert and not os.path.isfile(cacert):
        raise BadInput(f"{cacert!r} is not a readable file", "'--cacert'")
    if cacert:
        try:
            check_cafile(cacert)
        except ValueError as exc:
            raise BadInput(str(exc), "'--cacert'") from None


def probe_settings(url: str, o: Mapping[str, Any]) -> ProbeSettings:
    """``probe`` and ``demo``: the options ``cli.options.probe_options`` declares."""
    check_url(url)
    headers = headers_of(o["headers"])
    check_outputs(o)
    t = o["timeout"]
    timeouts = Timeouts(
        connect=o.get("connect_timeout") or t,
        tls=o.get("tls_timeout") or t,
        first_byte=o.get("first_byte_timeout") or t,
        body=o.get("body_timeout") or t,
    )
    pool = PoolOptions(
        max_idle=o["max_idle"],
        max_idle_per_host=o["max_idle_per_host"],
        max_conns_per_host=o["max_conns_per_host"],
        idle_timeout=o["client_idle_timeout"] or None,
        disable_keepalives=o["disable_keepalives"],
        timeouts=timeouts,
        tls=TLSOptions(cacert=o["cacert"], insecure=o["insecure"]),
        http=o.get("http") or "auto",
        strict_max_streams=o.get("strict_max_streams", False),
        tls_resume=not o.get("no_tls_resume", False),
    )
    expectations = [Expectation(name) for name in (o["expect"] or ("reuse",))]
    if o["min_reuse_ratio"] is not None:
        expectations.append(Expectation("min-reuse-ratio", o["min_reuse_ratio"]))
    if o["max_connections"] is not None:
        expectations.append(Expectation("max-connections", o["max_connections"]))
    deadline = o["deadline"] if o["deadline"] is not None else 60.0 + o["idle"]
    return ProbeSettings(
        url=url,
        plan_args={
            "requests": o["requests"],
            "idle": o["idle"],
            "concurrency": o["concurrency"],
            "method": method_of(o["method"]),
            "headers": headers,
        },
        pool=pool,
        expectations=tuple(expectations),
        as_json=o["as_json"],
        events_path=o["events_path"],
        deadline=deadline,
        limits=RunLimits(rate=o.get("rate"), max_drain=o.get("max_drain") or None),
        max_total_requests=o.get("max_total_requests") or DEFAULT_CEILING,
        outputs=OutputOptions(
            har=o.get("har"),
            junit=o.get("junit"),
            output_dir=o.get("output_dir"),
            svg=o.get("svg", False),
        ),
    )


def discover_settings(url: str, o: Mapping[str, Any]) -> DiscoverSettings:
    """``discover``: the options ``cli.options.discover_options`` declares."""
    check_url(url)
    headers = headers_of(o.get("headers"))
    try:
        only = parse_only(o.get("only"))
    except ValueError as exc:
        raise BadInput(str(exc), "'--only'") from None
    check_outputs(o)
    try:
        return DiscoverSettings(
            url=url,
            only=only,
            samples=o.get("samples", 3),
            max_wait=o.get("max_wait", 120.0),
            max_requests=o.get("max_requests", 1000),
            rate=o.get("rate"),
            max_streams=o.get("max_streams", 256),
            http=o.get("http") or "auto",
            timeout=o.get("timeout", DEFAULT_TIMEOUT),
            deadline=o.get("deadline"),
            headers=headers,
            cacert=o.get("cacert"),
            insecure=bool(o.get("insecure")),
            as_json=bool(o.get("as_json")),
            events_path=o.get("events_path"),
        )
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def parse_sets(pairs: tuple[str, ...]) -> dict[str, str]:
    """``--set NAME=VALUE`` options, the last one winning."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise BadInput(f"{pair!r} is not NAME=VALUE", "'--set'")
        values[name.strip()] = value
    return values


def read_targets(path: str) -> list[str]:
    """``--targets FILE``: one URL per line; blank lines and ``#`` comments (whole-line or
    trailing) skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except IsADirectoryError:
        raise BadInput(f"{path!r} is a directory", "'--targets'") from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError, or a NUL in the path
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text or not a valid path"
        raise BadInput(f"cannot read {path!r}: {why}", "'--targets'") from None
    urls = []
    for line in text.splitlines():
        url = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
        if " #" in url:
            url = url.split(" #", 1)[0].strip()
        if url:
            urls.append(url)
    return urls
