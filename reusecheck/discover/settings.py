"""What ``reusecheck discover`` measures and within which limits: plain values, checked.

The engine builds its pools from these later; the command line's spelling of them is
``cli.options.discover_options``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from reusecheck.net.route import DIRECT, Routing

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
    samples: int = 5  # idle connections watched at once (5 phases of a 1 s tick)
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
    cert: str | None = None  # a client certificate (PEM), and its key when apart
    key: str | None = None
    as_json: bool = False
    events_path: str | None = None
    routing: Routing = DIRECT  # proxies, --resolve, --connect-to, -4/-6

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

        The idle watch lasts up to ``max_wait`` (after the samples' starts, spread over
        a second: within the margin); a paced request count up to
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
            **self.routing.to_record(),
        }
