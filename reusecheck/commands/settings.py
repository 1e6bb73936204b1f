"""A command line's values, checked, turned into what a run needs.

The CLI hands over the dict click parsed; everything that can be wrong with it is found
here, before anything is sent, and raised as ``BadInput`` (exit 2, one line).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

from reusecheck.analysis import Expectation
from reusecheck.commands.body import OPTIONS as BODY_OPTIONS
from reusecheck.commands.body import Stdin, body_of
from reusecheck.commands.exits import BadInput
from reusecheck.commands.outputs import OutputOptions
from reusecheck.commands.routing import check_h2c, routing_of
from reusecheck.discover.settings import DiscoverSettings, parse_only
from reusecheck.net import client_certs
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
    """Output and trust options that cannot work together or point nowhere: every output
    path is checked here, before anything is sent, so a run is never lost to a typo."""
    if o.get("events_path") == "-" and o.get("as_json"):
        raise BadInput("--events - and --json both want stdout; give --events a file")
    output_dir = o.get("output_dir")
    if o.get("svg") and not output_dir:
        raise BadInput("--svg writes report.svg into --output-dir DIR; give --output-dir too")
    if output_dir:
        check_output_dir(output_dir)
    for option, key in (("--events", "events_path"), ("--har", "har"), ("--junit", "junit")):
        path = o.get(key)
        if path and path != "-":
            check_output_file(path, option, output_dir)
    cacert = o.get("cacert")
    if cacert and not os.path.isfile(cacert):
        raise BadInput(f"{cacert!r} is not a readable file", "'--cacert'")
    if cacert:
        try:
            check_cafile(cacert)
        except ValueError as exc:
            raise BadInput(str(exc), "'--cacert'") from None
    check_client_cert(o)


def check_client_cert(o: Mapping[str, Any]) -> None:
    """``--cert`` (and ``--key``): a PEM certificate with its matching key, loadable now,
    so a run never starts with a certificate every handshake would fail to send."""
    cert, key = o.get("cert"), o.get("key")
    if key and not cert:
        raise BadInput("--key is the client certificate's key: give --cert FILE too", "'--key'")
    if cert:
        try:
            client_certs.check(cert, key)
        except ValueError as exc:
            option = "'--key'" if key and repr(key) in str(exc) else "'--cert'"
            raise BadInput(str(exc), option) from None


def tls_of(o: Mapping[str, Any]) -> TLSOptions:
    """The trust and client certificate options (checked by ``check_outputs``)."""
    return TLSOptions(
        cacert=o.get("cacert"),
        insecure=bool(o.get("insecure")),
        cert=o.get("cert") or None,
        key=o.get("key") or None,
    )


def request_of(
    o: Mapping[str, Any], headers: tuple[tuple[str, str], ...], stdin: Stdin | None = None
) -> dict[str, Any]:
    """The probe's request: method, headers, body (-d, --data-binary, --json-body, as
    curl: a body makes it a POST unless -X says otherwise) and -L."""
    values = {dest: o.get(dest) or () for dest, _ in BODY_OPTIONS}
    body = body_of(values, headers, stdin or _stdin)
    method = o.get("method") or ("POST" if body is not None else "GET")
    return {
        "method": method_of(method),
        "headers": headers + (body.headers if body is not None else ()),
        "body": body.data if body is not None else None,
        "follow_redirects": bool(o.get("location")),
    }


def _stdin() -> BinaryIO:
    import sys

    return sys.stdin.buffer


def _can_write_in(directory: str) -> str | None:
    """Why no file can be created in ``directory`` (which exists), or None.  Tried for
    real: permissions, a read-only file system, a full inode table all show."""
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".reusecheck-check-")
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(probe)
    return None


def check_output_dir(path: str) -> None:
    """``--output-dir``: an existing directory we can write in, or one we can create
    (with its parents) under the nearest directory that exists."""
    option = "'--output-dir'"
    if "\0" in path:
        raise BadInput(f"{path!r} is not a valid path", option)
    if os.path.exists(path) and not os.path.isdir(path):
        raise BadInput(f"{path!r} exists and is not a directory", option)
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise BadInput(f"cannot create {path!r}: {existing!r} is not a directory", option)
    why = _can_write_in(existing)
    if why is not None:
        raise BadInput(f"cannot write in {existing!r}: {why}", option)


def check_output_file(path: str, option: str, output_dir: str | None = None) -> None:
    """``--events``, ``--har``, ``--junit``: a file in a directory that exists and can be
    written (or in ``--output-dir``, which the run creates)."""
    hint = f"'{option}'"
    if "\0" in path:
        raise BadInput(f"{path!r} is not a valid path", hint)
    if os.path.isdir(path):
        raise BadInput(f"{path!r} is a directory", hint)
    parent = os.path.dirname(os.path.abspath(path))
    if output_dir and _within(parent, output_dir):
        return  # check_output_dir has checked where the run will create it
    if not os.path.exists(parent):
        raise BadInput(f"cannot write {path!r}: directory {parent!r} does not exist", hint)
    if not os.path.isdir(parent):
        raise BadInput(f"cannot write {path!r}: {parent!r} is not a directory", hint)
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise BadInput(f"cannot write {path!r}: permission denied", hint)
    why = _can_write_in(parent)
    if why is not None:
        raise BadInput(f"cannot write {path!r}: {why}", hint)


def _within(path: str, directory: str) -> bool:
    inner, outer = Path(path).resolve(), Path(directory).resolve()
    return inner == outer or outer in inner.parents


HTTP_FLAGS: Final = (
    ("--http1", "http1", "1.1"),
    ("--http2", "http2", "2"),
    ("--h2c", "h2c", "h2c"),
)


def http_of(url: str, o: Mapping[str, Any]) -> str:
    """The protocol choice (``--http1``, ``--http2``, ``--h2c``): one at most, and one
    the URL's scheme can carry.  ``o["http"]``, when a caller gives it, is taken as is."""
    if o.get("http"):
        chosen = [(flag, value) for flag, _, value in HTTP_FLAGS if value == o["http"]]
    else:
        chosen = [(flag, value) for flag, key, value in HTTP_FLAGS if o.get(key)]
    if len(chosen) > 1:
        flags = " and ".join(flag for flag, _ in chosen)
        raise BadInput(f"{flags} contradict each other: give one of --http1, --http2, --h2c")
    if not chosen:
        return "auto"
    value = chosen[0][1]
    scheme = url.partition(":")[0].lower()
    if value == "2" and scheme == "http":
        raise BadInput(
            "--http2 needs an https:// URL (h2 is agreed in the TLS handshake); "
            "for HTTP/2 over cleartext http:// give --h2c",
            "'--http2'",
        )
    if value == "h2c" and scheme == "https":
        raise BadInput(
            "--h2c is HTTP/2 over cleartext, for http:// URLs; for https:// give --http2",
            "'--h2c'",
        )
    return value


def outputs_of(o: Mapping[str, Any]) -> OutputOptions:
    return OutputOptions(
        har=o.get("har"),
        junit=o.get("junit"),
        output_dir=o.get("output_dir"),
        svg=bool(o.get("svg", False)),
    )


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
        tls=tls_of(o),
        http=http_of(url, o),
        strict_max_streams=o.get("strict_max_streams", False),
        tls_resume=not o.get("no_tls_resume", False),
        routing=routing_of(o),
    )
    check_h2c(url, pool.http, pool.routing)
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
            **request_of(o, headers),
        },
        pool=pool,
        expectations=tuple(expectations),
        as_json=o["as_json"],
        events_path=o["events_path"],
        deadline=deadline,
        limits=RunLimits(rate=o.get("rate"), max_drain=o.get("max_drain") or None),
        max_total_requests=o.get("max_total_requests") or DEFAULT_CEILING,
        outputs=outputs_of(o),
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
    routing = routing_of(o)
    check_h2c(url, http_of(url, o), routing)
    try:
        return DiscoverSettings(
            url=url,
            only=only,
            samples=o.get("samples", 5),
            max_wait=o.get("max_wait", 120.0),
            max_requests=o.get("max_requests", 1000),
            rate=o.get("rate"),
            max_streams=o.get("max_streams", 256),
            http=http_of(url, o),
            timeout=o.get("timeout", DEFAULT_TIMEOUT),
            deadline=o.get("deadline"),
            headers=headers,
            cacert=o.get("cacert"),
            insecure=bool(o.get("insecure")),
            cert=o.get("cert") or None,
            key=o.get("key") or None,
            as_json=bool(o.get("as_json")),
            events_path=o.get("events_path"),
            routing=routing,
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
