"""``reusecheck observe``: listen, record the client, report on it.

Stopping (docs/observe.md): ``--duration``, ``--requests N`` (then a linger for the
client's closes), or SIGINT/SIGTERM.  A signal here is the ordinary end, not an
interruption: a CI job stops the observer after its tests, so the report is written and
the exit code is the verdict's (0 or 1), never 130/143.  A second signal ends the
process at once (``os._exit``), as in the other commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Final

from reusecheck.analysis import Analysis, conclude
from reusecheck.analysis.fold import Fold
from reusecheck.analysis.observed import ObservedAnalysis, analyze_observed
from reusecheck.commands import exits
from reusecheck.commands.exits import BadInput
from reusecheck.commands.report import failure_lines
from reusecheck.commands.routing import routing_of
from reusecheck.commands.sinks import events_file
from reusecheck.commands.writing import Failure, text_to_stdout, to_stderr, to_stdout
from reusecheck.net.dial import Timeouts
from reusecheck.net.request import URLError, parse_url
from reusecheck.net.tls import TLSOptions
from reusecheck.observe import Book, BuiltinAnswer, Forwarder, ObserveConfig, observe
from reusecheck.observe.answer import Answer
from reusecheck.pool import Pool
from reusecheck.pool.options import PoolOptions
from reusecheck.server.config import ServerConfig
from reusecheck.trace import Clock, FanOut, Sink, Tracer

LISTENING: Final = "reusecheck observe: listening on {url}"


@dataclass(frozen=True, slots=True)
class ObserveSettings:
    config: ObserveConfig
    as_json: bool
    events_path: str | None
    expect: str


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6); raises BadInput."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise BadInput(f"--listen {text!r} is not HOST:PORT (e.g. 127.0.0.1:8080)", "'--listen'")
    if not 0 <= int(port) <= 65535:
        raise BadInput(f"port {port} is not 0-65535", "'--listen'")
    return host.strip("[]"), int(port)


def observe_settings(opts: dict[str, Any]) -> ObserveSettings:
    """The command line's values checked; BadInput for anything contradictory."""
    host, port = parse_listen(opts["listen"])
    upstream = opts["upstream"]
    if upstream is not None:
        try:
            parse_url(upstream)
        except URLError as exc:
            raise BadInput(str(exc), "'--upstream'") from None
    cert, key = opts["tls_cert"], opts["tls_key"]
    if (cert is None) != (key is None):
        raise BadInput("--tls-cert and --tls-key go together")
    if cert is not None and not opts["tls"]:
        raise BadInput("--tls-cert/--tls-key need --tls")
    if opts["ca_out"] is not None and (not opts["tls"] or cert is not None):
        raise BadInput("--ca-out writes the CA of the certificate --tls makes: give --tls")
    if opts["events_path"] == "-" and opts["as_json"]:
        raise BadInput("--events - and --json both want stdout: give --events a file")
    try:
        server = ServerConfig(
            host=host,
            port=port,
            idle_timeout=opts["idle_timeout"],
            max_requests=opts["max_requests"],
            close_always=opts["close_always"],
            keepalive_hint=opts["keepalive_hint"],
            max_streams=opts["max_streams"],
            tls=opts["tls"],
            h2=True,
        )
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    config = ObserveConfig(
        host=host,
        port=port,
        upstream=upstream,
        tls=opts["tls"],
        tls_cert=cert,
        tls_key=key,
        ca_out=opts["ca_out"],
        duration=opts["duration"],
        requests=opts["requests"],
        server=server,
        body_size=opts["body_size"],
        upstream_cacert=opts["cacert"],
        upstream_insecure=opts["insecure"],
        upstream_routing=routing_of(opts),
    )
    return ObserveSettings(config, opts["as_json"], opts["events_path"], opts["expect"])


class _Upstream:
    """The upstream leg's pool, its fold and tracer."""

    def __init__(self, config: ObserveConfig, clock: Clock, events: Sink | None) -> None:
        assert config.upstream is not None
        self.url = config.upstream
        self.fold = Fold(on_row=lambda row: None)  # rows are not reported: memory stays flat
        sink: Sink = self.fold if events is None else FanOut([self.fold, events])
        self.tracer = Tracer(sink, clock)
        t = config.upstream_timeout
        self.options = PoolOptions(
            http="1.1",
            timeouts=Timeouts(connect=min(t, 10.0), tls=min(t, 10.0), first_byte=t, body=t),
            tls=TLSOptions(cacert=config.upstream_cacert, insecure=config.upstream_insecure),
            routing=config.upstream_routing,
        )
        self.pool = Pool(self.tracer, self.options)

    def analysis(self) -> Analysis:
        return conclude(self.fold, target=self.url, options=self.options.to_record())


def _idle_limit(
    config: ObserveConfig, upstream: Analysis | None
) -> tuple[float | None, str | None]:
    """The idle timeout the client should stay under, and where it comes from."""
    if upstream is None:
        limit = config.server.idle_timeout
        return (limit, "built-in server's") if limit is not None else (None, None)
    server = upstream.server
    if server.idle_timeout_s is not None:
        return server.idle_timeout_s, "upstream's measured"
    hint = server.keepalive_hint
    if hint is not None and hint.timeout_s is not None:
        return hint.timeout_s, "upstream's announced (Keep-Alive)"
    limit = config.server.idle_timeout
    return (limit, "observer's") if limit is not None else (None, None)


def _announce(url: str) -> None:
    sys.stderr.write(LISTENING.format(url=url) + "\n")
    sys.stderr.flush()


@dataclass(slots=True)
class Observation:
    """One observation's result: the client's analysis and, with --upstream, the
    upstream leg's."""

    analysis: ObservedAnalysis
    listen: str
    stopped_by: str
    upstream: tuple[str, Analysis] | None


async def observation(
    settings: ObserveSettings,
    stop: asyncio.Event,
    *,
    events: Sink | None = None,
    on_listening: Callable[[str], None] = _announce,
) -> Observation:
    """Listen, record until the end (``stop`` set, --duration, --requests N), and
    analyse.  OSError when the address cannot be listened on."""
    config = settings.config
    clock = Clock()
    book = Book(clock, events)
    upstream = _Upstream(config, clock, events) if config.upstream is not None else None
    answer: Answer = (
        Forwarder(upstream.url, upstream.pool, upstream.tracer)
        if upstream is not None
        else BuiltinAnswer(config.body_size)
    )
    observer = await observe(config, book, answer, stop, on_listening)
    up = upstream.analysis() if upstream is not None else None
    limit, source = _idle_limit(config, up)
    record = book.record(
        server_idle_timeout_s=limit,
        server_idle_timeout_source=source,
        tls=config.tls,
        max_concurrent_streams=observer.max_streams,
    )
    return Observation(
        analyze_observed(record, settings.expect),
        observer.url,
        observer.stopped_by,
        (upstream.url, up) if upstream is not None and up is not None else None,
    )


async def _until_signalled(settings: ObserveSettings, events: Sink | None) -> Observation:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    seen: list[int] = []

    def on_signal(signum: int) -> None:
        if seen:
            os._exit(exits.for_signal(signum))  # a second signal: at once, no report
        seen.append(signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, on_signal, signum)
    return await observation(settings, stop, events=events)


def run_observe(settings: ObserveSettings) -> int:
    """The whole command; returns the exit code."""
    config = settings.config
    with events_file(settings.events_path) as events:
        writer = events.writer if events is not None else None
        try:
            result = asyncio.run(_until_signalled(settings, writer))
        except KeyboardInterrupt:  # before the handlers were in place
            return exits.EXIT_SIGINT
        except OSError as exc:
            why = exc.strerror or str(exc)
            to_stderr(f"reusecheck: cannot listen on {config.host}:{config.port}: {why}\n")
            return exits.EXIT_UNREACHABLE
        failures = [_write(settings, result), events.failure if events is not None else None]
    code = exits.EXIT_OK if result.analysis.verdict.ok else exits.EXIT_EXPECTATION_FAILED
    return exits.for_outputs(code, failure_lines(failures))


def _options(config: ObserveConfig) -> dict[str, Any]:
    server = config.server
    return {
        "upstream": config.upstream is not None,
        "tls": config.tls,
        "duration_s": config.duration,
        "requests": config.requests,
        "idle_timeout_s": server.idle_timeout,
        "max_requests": server.max_requests,
        "close_always": server.close_always,
        "keepalive_hint": server.keepalive_hint,
        "max_streams": server.max_streams,
        "body_size": config.body_size,
    }


def _write(settings: ObserveSettings, result: Observation) -> Failure | None:
    """The report on stdout (the terminal view or JSON); the failure to name, if any."""
    from reusecheck.report import observed as view

    if settings.as_json:
        doc = view.report_json(
            result.analysis,
            listen=result.listen,
            options=_options(settings.config),
            upstream=result.upstream,
            stopped_by=result.stopped_by,
        )
        # A reader that went away is no failure; a full disk or a closed stdout is one.
        failure = text_to_stdout(json.dumps(doc, indent=2) + "\n")
        to_stderr(view.verdict_text(result.analysis) + "\n")
        return failure
    from rich.console import Console

    def render(out: IO[str]) -> None:
        view.render(
            result.analysis, Console(file=out), listen=result.listen, upstream=result.upstream
        )

    if settings.events_path == "-":  # stdout is the event stream: the report goes aside
        with contextlib.suppress(OSError, ValueError):
            render(sys.stderr)
        return None
    return to_stdout(render)
