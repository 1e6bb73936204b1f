"""Scenario files (TOML) -> Scenario; docs/scenarios.md is the format's reference.

A step does, in this order, whatever its keys ask: start a fresh pool (``pool``), wait
(``sleep``), send requests (``path``/``url`` and the other request keys), check
(``expect``).  Every mistake is a ``ScenarioError`` naming the file, the step (index and
name) and the key; the CLI prints it as one line and exits 2.  Nothing here touches
the network: a loaded scenario is a value.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import urljoin

from reusecheck.analysis import Expectation
from reusecheck.net.dial import Timeouts
from reusecheck.net.request import Request
from reusecheck.net.tls import check_cafile
from reusecheck.pool import PoolOptions
from reusecheck.scenarios.checks import COUNTED, EXPECT_KEYS, PROTOCOLS, StepExpect
from reusecheck.scenarios.fields import ScenarioError, Where, kind, shown
from reusecheck.scenarios.model import (
    Check,
    Plan,
    PoolStep,
    RequestStep,
    Scenario,
    SleepStep,
    Step,
)
from reusecheck.scenarios.network import read_client_cert, read_routing
from reusecheck.scenarios.values import (
    MAX_BODY,
    read_body_mode,
    read_expanded,
    read_headers,
    read_http_mode,
    read_method,
    read_url,
    referenced,
)

TOP_KEYS: Final = ("name", "description", "pool", "defaults", "step")
POOL_KEYS: Final = (
    "max_idle",
    "max_idle_per_host",
    "max_conns_per_host",
    "idle_timeout",
    "disable_keepalives",
    "http",
    "strict_max_streams",
    "tls_resume",
    "cacert",
    "insecure",
    "cert",
    "key",
    "resolve",
    "connect_to",
    "ip_version",
)
TIMEOUT_KEYS: Final = (
    "timeout",
    "connect_timeout",
    "tls_timeout",
    "first_byte_timeout",
    "body_timeout",
)
DEFAULT_KEYS: Final = (
    "url",
    "method",
    "headers",
    "response_body",
    *TIMEOUT_KEYS,
    "deadline",
    "follow_redirects",
)
REQUEST_KEYS: Final = (
    "method",
    "path",
    "url",
    "headers",
    "body",
    "body_bytes",
    "count",
    "concurrency",
    "response_body",
    "follow_redirects",
)
STEP_KEYS: Final = ("name", *REQUEST_KEYS, "sleep", "busy", "pool", "expect")

DEFAULT_TIMEOUT: Final = 10.0  # the probe's --timeout default, for every wait
MAX_COUNT: Final = 1_000_000
MAX_CONCURRENCY: Final = 10_000
MAX_SLEEP: Final = 86_400.0
# A busy sleep blocks the whole client, deadline included; keep it short.
MAX_BUSY: Final = 60.0


@dataclass
class _Context:
    """What every step inherits: [defaults], the base pool, the variables."""

    source: str
    env: Mapping[str, str]
    base_dir: Path
    pool: PoolOptions
    base_url: str | None = None
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    response_body: str = "drain"
    deadline: float | None = None
    follow_redirects: bool = False
    names: dict[str, int] = field(default_factory=dict)  # step name -> index
    senders: dict[str, int] = field(default_factory=dict)  # request steps only


def load_file(
    path: str,
    url: str | None = None,
    variables: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Scenario:
    """Read and check a scenario file; ``url`` (the command line's) replaces
    ``[defaults] url``; ``variables`` (``--set``) win over the environment."""
    p = Path(path)
    if p.is_dir():
        Where(path).fail(None, "is a directory, not a scenario file")
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        Where(path).fail(None, "no such file")
    except OSError as exc:
        Where(path).fail(None, f"cannot read: {exc.strerror or exc}")
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        Where(path).fail(None, f"not UTF-8 (byte {exc.start}: {exc.reason})")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        Where(path).fail(None, f"not valid TOML: {exc}")
    except RecursionError:
        Where(path).fail(None, "not valid TOML: nested too deeply")
    return from_document(doc, source=path, url=url, variables=variables, env=env, base_dir=p.parent)


def from_document(
    doc: Mapping[str, Any],
    *,
    source: str,
    url: str | None = None,
    variables: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Scenario:
    """A parsed TOML document -> Scenario (the loader's core, for tests too)."""
    top = Where(source)
    top.known(doc, TOP_KEYS)
    environment = dict(os.environ if env is None else env)
    environment.update(variables or {})
    ctx = _Context(source, environment, base_dir or Path("."), PoolOptions())
    name = top.line("name", doc["name"], 80) if "name" in doc else Path(source).stem
    intro = top.line("description", doc["description"], 400) if "description" in doc else None
    _defaults(ctx, top.table("defaults", doc.get("defaults", {})), url)
    ctx.pool = _pool(Where(source, "[pool]"), top.table("pool", doc.get("pool", {})), ctx)
    steps, checks = _steps(ctx, doc.get("step"))
    target = ctx.base_url or next(s.url for s in steps if isinstance(s, RequestStep))
    return Scenario(
        name=name,
        source=source,
        plan=Plan(target, tuple(steps), ctx.pool),
        intro=intro,
        expectations=() if checks else (Expectation("none"),),
        checks=tuple(checks),
        deadline=ctx.deadline,
    )


# --- [defaults] and [pool] -----------------------------------------------------------------


def _defaults(ctx: _Context, table: dict[str, Any], url: str | None) -> None:
    w = Where(ctx.source, "[defaults]")
    w.known(table, DEFAULT_KEYS)
    if url is not None:
        ctx.base_url = url  # the command line's URL wins; [defaults] url is not read
    elif "url" in table:
        ctx.base_url = read_url(
            w,
            "url",
            read_expanded(w, "url", table["url"], ctx.env),
            referenced(table["url"], ctx.env),
        )
    if "method" in table:
        ctx.method = read_method(w, "method", table["method"])
    if "headers" in table:
        ctx.headers = read_headers(w, "headers", table["headers"], ctx.env)
    if "response_body" in table:
        ctx.response_body = read_body_mode(w, "response_body", table["response_body"])
    waits = {k: w.number(k, table[k], 0.001, MAX_SLEEP) for k in TIMEOUT_KEYS if k in table}
    every = waits.get("timeout", DEFAULT_TIMEOUT)
    ctx.pool = replace(
        ctx.pool,
        timeouts=Timeouts(
            connect=waits.get("connect_timeout", every),
            tls=waits.get("tls_timeout", every),
            first_byte=waits.get("first_byte_timeout", every),
            body=waits.get("body_timeout", every),
        ),
    )
    if "deadline" in table:
        ctx.deadline = w.number("deadline", table["deadline"], 0.001, MAX_SLEEP)
    if "follow_redirects" in table:
        ctx.follow_redirects = w.boolean("follow_redirects", table["follow_redirects"])


def _pool(w: Where, table: dict[str, Any], ctx: _Context, prefix: str = "") -> PoolOptions:
    """[pool] over ``ctx.pool`` (the defaults' timeouts), or a step's ``pool`` over [pool]."""
    w.known(table, POOL_KEYS, prefix)
    base = ctx.pool
    changes: dict[str, Any] = {}
    tls = base.tls
    for key, value in table.items():
        k = prefix + key
        if key in ("max_idle", "max_idle_per_host", "max_conns_per_host"):
            changes[key] = w.integer(k, value, 0, MAX_COUNT)
        elif key == "idle_timeout":
            changes[key] = w.number(k, value, 0.0, MAX_SLEEP) or None  # 0: no timeout
        elif key in ("disable_keepalives", "strict_max_streams", "tls_resume"):
            changes[key] = w.boolean(k, value)
        elif key == "http":
            changes[key] = read_http_mode(w, k, value)
        elif key == "insecure":
            tls = replace(tls, insecure=w.boolean(k, value))
        elif key in ("cert", "key"):
            continue  # read together below: a key belongs to its certificate
        elif key in ("resolve", "connect_to", "ip_version"):
            continue  # read together below: the pool's routing
        else:  # cacert, relative to the scenario file
            cacert = ctx.base_dir / w.string(k, value)
            if not cacert.is_file():
                w.fail(k, f"{shown(str(cacert), 80)!r} is not a readable file")
            try:
                check_cafile(str(cacert))
            except ValueError as exc:
                w.fail(k, shown(str(exc), 200))
            tls = replace(tls, cacert=str(cacert))
    if "cert" in table or "key" in table:
        tls = read_client_cert(w, table, ctx.base_dir, prefix, tls)
    if any(k in table for k in ("resolve", "connect_to", "ip_version")):
        changes["routing"] = read_routing(w, table, prefix, base.routing)
    return replace(base, tls=tls, **changes)


# --- steps ---------------------------------------------------------------------------------


def _steps(ctx: _Context, raw: object) -> tuple[list[Step], list[Check]]:
    top = Where(ctx.source)
    if raw is None:
        top.fail("step", "no steps: add at least one [[step]] table")
    if isinstance(raw, dict):
        top.fail("step", "must be an array of tables: write [[step]], not [step]")
    if not isinstance(raw, list) or not raw:
        top.fail("step", f"must be an array of [[step]] tables, not {kind(raw)}")
    steps: list[Step] = []
    checks: list[Check] = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            Where(ctx.source, f"step {i}").fail(None, f"must be a table, not {kind(item)}")
        _step(ctx, i, item, steps, checks)
    if not ctx.senders:
        top.fail("step", "no step sends a request: give a step a path or url")
    return steps, checks


def _step(
    ctx: _Context, i: int, item: dict[str, Any], steps: list[Step], checks: list[Check]
) -> None:
    name = f"step-{i}"
    if "name" in item:
        name = Where(ctx.source, f"step {i}").line("name", item["name"], 64)
    w = Where(ctx.source, f'step {i} "{shown(name)}"')
    if name in ctx.names:
        w.fail("name", f"step {ctx.names[name]} already has this name")
    ctx.names[name] = i
    w.known(item, STEP_KEYS)
    sends = any(k in item for k in REQUEST_KEYS)
    if not (sends or {"sleep", "pool", "expect"} & item.keys()):
        w.fail(None, "does nothing: give it a path or url (requests), sleep, pool or expect")
    if "pool" in item:
        options = _pool(w, w.table("pool", item["pool"]), ctx, prefix="pool.")
        steps.append(PoolStep(name, options))
    if "busy" in item and "sleep" not in item:
        w.fail("busy", "needs a sleep to be busy for")
    if "sleep" in item:
        busy = w.boolean("busy", item["busy"]) if "busy" in item else False
        seconds = w.number("sleep", item["sleep"], 0.0, MAX_BUSY if busy else MAX_SLEEP)
        steps.append(SleepStep(name, seconds, busy))
    if sends:
        steps.append(_request(ctx, w, name, item))
        ctx.senders[name] = i
    if "expect" in item:
        checks.extend(_expect_blocks(ctx, w, i, item["expect"]))


def _request(ctx: _Context, w: Where, name: str, item: dict[str, Any]) -> RequestStep:
    method = read_method(w, "method", item["method"]) if "method" in item else ctx.method
    headers = dict((n.lower(), (n, v)) for n, v in ctx.headers)
    if "headers" in item:
        headers.update(
            (n.lower(), (n, v)) for n, v in read_headers(w, "headers", item["headers"], ctx.env)
        )
    if "body" in item and "body_bytes" in item:
        w.fail("body_bytes", "give either body or body_bytes, not both")
    body: bytes | None = None
    if "body" in item:
        body = w.string("body", item["body"]).encode("utf-8")
        if len(body) > MAX_BODY:
            w.fail("body", f"must be at most {MAX_BODY} bytes, not {len(body)}")
    elif "body_bytes" in item:
        body = b"x" * w.integer("body_bytes", item["body_bytes"], 0, MAX_BODY)
    count = w.integer("count", item["count"], 1, MAX_COUNT) if "count" in item else 1
    conc = 1
    if "concurrency" in item:
        conc = w.integer("concurrency", item["concurrency"], 1, MAX_CONCURRENCY)
    if count * conc > MAX_COUNT:
        w.fail("count", f"count x concurrency must be at most {MAX_COUNT}, not {count * conc}")
    mode = ctx.response_body
    if "response_body" in item:
        mode = read_body_mode(w, "response_body", item["response_body"])
    follow = ctx.follow_redirects
    if "follow_redirects" in item:
        follow = w.boolean("follow_redirects", item["follow_redirects"])
    if "url" in item and "path" in item:
        w.fail("path", "give either url or path, not both")
    if "url" in item:
        url = read_url(
            w,
            "url",
            read_expanded(w, "url", item["url"], ctx.env),
            referenced(item["url"], ctx.env),
        )
    elif "path" in item:
        path = read_expanded(w, "path", item["path"], ctx.env)
        if "://" in path or path.startswith("//"):
            w.fail("path", "is a whole URL: use url = ... for another origin")
        if ctx.base_url is None:
            w.fail("path", "needs a base URL: set [defaults] url or give URL on the command line")
        try:
            joined = urljoin(ctx.base_url, path)
        except ValueError as exc:
            w.fail("path", f"cannot be joined to the base URL: {shown(str(exc), 80)}")
        url = read_url(w, "path", joined, referenced(item["path"], ctx.env))
    elif ctx.base_url is not None:
        url = ctx.base_url
    else:
        w.fail("url", "missing: set url or path, [defaults] url, or give URL on the command line")
    pairs = tuple(headers.values())
    try:  # what the runner will build: any refusal here is the file's fault
        Request(method, url, list(pairs), body)
    except (ValueError, UnicodeError) as exc:
        w.fail("url", f"cannot build the request: {shown(str(exc), 120)}")
    return RequestStep(name, url, method, pairs, body, count, conc, mode, follow)


def _expect_blocks(ctx: _Context, w: Where, i: int, raw: object) -> list[Check]:
    if isinstance(raw, dict):
        return _expect(ctx, w, i, raw, "expect.")
    if not isinstance(raw, list) or not raw:
        w.fail("expect", f"must be a table or an array of tables, not {kind(raw)}")
    found: list[Check] = []
    for k, block in enumerate(raw, 1):
        prefix = f"expect[{k}]."
        found.extend(_expect(ctx, w, i, w.table(prefix[:-1], block), prefix))
    return found


def _expect(ctx: _Context, w: Where, i: int, block: dict[str, Any], prefix: str) -> list[Check]:
    w.known(block, ("step", *EXPECT_KEYS), prefix)
    if "step" in block:
        target = w.line(prefix + "step", block["step"], 64)
        if target not in ctx.names:
            w.fail(prefix + "step", f"no step named {shown(target)!r} at or before this one")
        if target not in ctx.senders:
            w.fail(prefix + "step", f"step {ctx.names[target]} sends no requests to check")
        phases: tuple[str, ...] = (target,)
        scope = f'step "{shown(target)}"'
    else:
        if not ctx.senders:
            w.fail(prefix[:-1], "no step at or before this one sends a request")
        phases = tuple(ctx.senders)
        scope = f"step {i}" if i == 1 else f"steps 1-{i}"
    keys = [k for k in EXPECT_KEYS if k in block]
    if not keys:
        w.fail(prefix[:-1], f"nothing to check: give one of {', '.join(EXPECT_KEYS)}")
    return [StepExpect(k, _expect_value(w, prefix + k, k, block[k]), phases, scope) for k in keys]


def _expect_value(w: Where, key: str, name: str, value: object) -> bool | int | float | str:
    if name in COUNTED:
        if isinstance(value, bool):
            return value
        if not isinstance(value, int):
            w.fail(key, f"must be true (all), false (none) or a count, not {kind(value)}")
        return w.integer(key, value, 0, MAX_COUNT)
    if name == "new_connections":
        return w.integer(key, value, 0, MAX_COUNT)
    if name == "max_connections":
        return w.integer(key, value, 1, MAX_COUNT)
    if name == "protocol":
        protocol = w.string(key, value)
        if protocol not in PROTOCOLS:
            w.fail(key, f'must be "http/1.1" or "h2", not {shown(protocol)!r}')
        return protocol
    return w.number(key, value, 0.0, 1.0)  # reuse_ratio_min


__all__ = ["ScenarioError", "from_document", "load_file"]
