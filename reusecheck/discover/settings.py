"""What ``reusecheck discover`` measures and within which limits, and its click options.

Cheap to import on purpose: ``cli.py`` applies ``discover_options`` when it is imported,
so nothing here may pull in the pool, ``h2`` or ``rich``; the engine builds its pools
from these plain values later.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Final

import click

from reusecheck.options import (
    CACERT,
    EVENTS,
    H2C,
    HEADERS,
    HTTP1,
    HTTP2,
    INSECURE,
    JSON,
    TIMEOUT,
    finite,
)

# Every measurement, in the order the report shows them.
MEASUREMENTS: Final = ("idle-timeout", "max-requests", "h2", "tls")
HTTP_MODES: Final = ("auto", "1.1", "2", "h2c")

# Extra time the whole run may take beyond its longest wait: dials, handshakes, the
# requests themselves and closing everything, against a slow remote server.
DEADLINE_MARGIN_S: Final = 60.0


def parse_only(values: tuple[str, ...] | list[str] | str | None) -> tuple[str, ...]:
    """``--only idle-timeout,tls`` (repeatable too) -> the chosen names, in report order.

    Raises ValueError naming the unknown ones.
    """
    if values is None:
        return MEASUREMENTS
    if isinstance(values, str):
        values = [values]
    names = {n.strip().lower() for v in values for n in v.split(",") if n.strip()}
    if not names:
        return MEASUREMENTS
    unknown = sorted(names - set(MEASUREMENTS))
    if unknown:
        raise ValueError(
            f"unknown measurement {', '.join(unknown)}; choose from {', '.join(MEASUREMENTS)}"
        )
    return tuple(m for m in MEASUREMENTS if m in names)


@dataclass(frozen=True, slots=True)
class DiscoverSettings:
    """One discover run: the target, the measurements chosen and every limit."""

    url: str
    only: tuple[str, ...] = MEASUREMENTS
    samples: int = 3  # idle connections watched at once
    max_wait: float = 120.0  # seconds an idle connection is watched
    max_requests: int = 1000  # requests sent on one connection at most
    rate: float | None = None  # requests per second on that connection; None: unlimited
    max_streams: int = 256  # cap on the HTTP/2 streams opened at once
    http: str = "auto"
    timeout: float = 10.0  # every single wait: connect, TLS, first byte, body
    deadline: float | None = None  # the whole run; None: computed (total_deadline)
    headers: tuple[tuple[str, str], ...] = ()
    cacert: str | None = None
    insecure: bool = False
    as_json: bool = False
    events_path: str | None = None

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError("samples must be at least 1")
        if self.max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        if self.max_streams < 1:
            raise ValueError("max_streams must be at least 1")
        if self.http not in HTTP_MODES:
            raise ValueError(f"http must be one of {', '.join(HTTP_MODES)}")
        for name in ("max_wait", "timeout", "rate", "deadline"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number")
        unknown = set(self.only) - set(MEASUREMENTS)
        if unknown or not self.only:
            raise ValueError(f"only must name some of {', '.join(MEASUREMENTS)}")

    @property
    def total_deadline(self) -> float:
        """``--deadline``, or enough for the longest measurement plus a margin.

        The idle watch lasts up to ``max_wait``; a paced request count up to
        ``max_requests / rate``.  They run at the same time, so the longer one counts.
        """
        if self.deadline is not None:
            return self.deadline
        longest = self.max_wait if "idle-timeout" in self.only else 0.0
        if "max-requests" in self.only and self.rate is not None:
            longest = max(longest, self.max_requests / self.rate)
        return longest + DEADLINE_MARGIN_S

    def options(self) -> dict[str, Any]:
        """The limits as the JSON report's ``options`` shows them."""
        return {
            "only": list(self.only),
            "samples": self.samples,
            "max_wait_s": self.max_wait,
            "max_requests": self.max_requests,
            "rate": self.rate,
            "max_streams": self.max_streams,
            "http": self.http,
            "timeout_s": self.timeout,
            "deadline_s": self.total_deadline,
        }

    @classmethod
    def from_cli(cls, url: str, o: dict[str, Any]) -> DiscoverSettings:
        """Settings from the options ``discover_options`` declares; bad input is a click
        usage error (exit 2), as for ``probe``."""
        from reusecheck.net.request import URLError, parse_header, parse_url

        try:
            parse_url(url)
        except URLError as exc:
            raise click.UsageError(str(exc)) from None
        try:
            headers = tuple(parse_header(h) for h in o.get("headers") or ())
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'-H'") from None
        try:
            only = parse_only(o.get("only"))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--only'") from None
        events_path = o.get("events_path")
        as_json = bool(o.get("as_json"))
        if events_path == "-" and as_json:
            raise click.UsageError("--events - and --json both want stdout; give --events a file")
        cacert = o.get("cacert")
        if cacert and not os.path.isfile(cacert):
            raise click.BadParameter(f"{cacert!r} is not a readable file", param_hint="'--cacert'")
        try:
            return cls(
                url=url,
                only=only,
                samples=o.get("samples", 3),
                max_wait=o.get("max_wait", 120.0),
                max_requests=o.get("max_requests", 1000),
                rate=o.get("rate"),
                max_streams=o.get("max_streams", 256),
                http=o.get("http") or "auto",
                timeout=o.get("timeout", 10.0),
                deadline=o.get("deadline"),
                headers=headers,
                cacert=cacert,
                insecure=bool(o.get("insecure")),
                as_json=as_json,
                events_path=events_path,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None


def discover_options(f: Any) -> Any:
    """The options of ``reusecheck discover`` (the URL argument is the command's own)."""
    opts = [
        click.option(
            "--only",
            "only",
            multiple=True,
            metavar="LIST",
            help="Measurements to run, comma-separated: idle-timeout, max-requests, h2, tls "
            "[default: all].",
        ),
        click.option(
            "--samples",
            type=click.IntRange(min=1, max=64),
            default=3,
            show_default=True,
            help="Idle connections watched at once for the idle timeout.",
        ),
        click.option(
            "--max-wait",
            type=click.FloatRange(min=0.001),
            default=120.0,
            show_default=True,
            callback=finite,
            help="Longest wait in seconds for the server to close an idle connection.",
        ),
        click.option(
            "--max-requests",
            type=click.IntRange(min=1),
            default=1000,
            show_default=True,
            help="Most requests sent on one connection to find the server's limit.",
        ),
        click.option(
            "--rate",
            type=click.FloatRange(min=0.001),
            callback=finite,
            help="Requests per second on that connection [default: unlimited].",
        ),
        click.option(
            "--max-streams",
            type=click.IntRange(min=1, max=1000),
            default=256,
            show_default=True,
            help="Most HTTP/2 streams opened at once to test the announced limit.",
        ),
        HEADERS,
        JSON,
        EVENTS,
        HTTP1,
        HTTP2,
        H2C,
        TIMEOUT,
        click.option(
            "--deadline",
            type=click.FloatRange(min=0.001),
            callback=finite,
            help="Bound on the whole run in seconds [default: the longest wait + 60].",
        ),
        CACERT,
        INSECURE,
    ]
    for o in reversed(opts):
        f = o(f)
    return f
