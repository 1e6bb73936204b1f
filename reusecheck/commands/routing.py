"""The command line's routing options checked into a ``Routing``: proxies (``--proxy``,
``--noproxy``, the environment), ``--proxy-cacert``/``--proxy-insecure``, ``--resolve``,
``--connect-to``, ``-4``/``-6``.

Precedence, most specific first: the command line, then a scenario's ``[pool]`` keys,
then the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, as
``net.proxy`` reads them).  Everything wrong is ``BadInput`` (exit 2, one line) before
anything is sent; no message quotes a proxy's password.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from reusecheck.commands.exits import BadInput
from reusecheck.net.pinning import Pins, parse_connect_to, parse_resolve
from reusecheck.net.proxy import ProxyConfig, explicit_proxy, from_environment, parse_no_proxy
from reusecheck.net.request import URLError, parse_url
from reusecheck.net.route import Routing
from reusecheck.net.tls import check_cafile
from reusecheck.pool import PoolOptions
from reusecheck.scenarios.model import PoolStep, Scenario


def _given(o: Mapping[str, Any], name: str) -> bool:
    value = o.get(name)
    return value is not None and value != ()


def ip_version_of(o: Mapping[str, Any]) -> int | None:
    if o.get("ipv4") and o.get("ipv6"):
        raise BadInput("-4 and -6 contradict each other: give one (or neither: both families)")
    return 4 if o.get("ipv4") else 6 if o.get("ipv6") else None


def pins_of(o: Mapping[str, Any], base: Pins | None = None) -> Pins:
    """``--resolve`` and ``--connect-to`` (each replaces the scenario's list when given)."""
    pins = base or Pins()
    try:
        if _given(o, "resolve"):
            pins = replace(pins, resolve=tuple(parse_resolve(v) for v in o["resolve"]))
    except ValueError as exc:
        raise BadInput(str(exc), "'--resolve'") from None
    try:
        if _given(o, "connect_to"):
            pins = replace(pins, connect_to=tuple(parse_connect_to(v) for v in o["connect_to"]))
    except ValueError as exc:
        raise BadInput(str(exc), "'--connect-to'") from None
    return pins


def proxies_of(
    o: Mapping[str, Any], env: Mapping[str, str], base: ProxyConfig | None = None
) -> ProxyConfig:
    """``--proxy`` over a scenario's ``proxy`` over the environment; ``--noproxy``
    replaces whichever ``NO_PROXY`` list applies."""
    no_proxy = o.get("noproxy")
    if o.get("proxy") is not None:
        try:
            return explicit_proxy(o["proxy"], no_proxy, env)
        except ValueError as exc:
            raise BadInput(str(exc), "'--proxy'") from None
    if base is not None and base.explicit:
        if no_proxy is None:
            return base
        return replace(base, no_proxy=parse_no_proxy(no_proxy))
    try:
        return from_environment(env, no_proxy)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def routing_of(
    o: Mapping[str, Any], env: Mapping[str, str] | None = None, base: Routing | None = None
) -> Routing:
    """The routing a run uses: ``o`` is the command line (click's dict), ``base`` a
    scenario's ``[pool]`` routing."""
    environment = os.environ if env is None else env
    start = base or Routing()
    cacert = o.get("proxy_cacert")
    proxy_tls = start.proxy_tls
    if cacert:
        try:
            check_cafile(cacert)
        except ValueError as exc:
            raise BadInput(str(exc), "'--proxy-cacert'") from None
        proxy_tls = replace(proxy_tls, cacert=cacert)
    if o.get("proxy_insecure"):
        proxy_tls = replace(proxy_tls, insecure=True)
    version = ip_version_of(o)
    return Routing(
        proxies=proxies_of(o, environment, start.proxies),
        pins=pins_of(o, start.pins),
        ip_version=version if version is not None else start.ip_version,
        proxy_tls=proxy_tls,
    )


def check_h2c(url: str, http: str, routing: Routing) -> None:
    """``--h2c`` speaks HTTP/2 to the target with prior knowledge; through a proxy the
    connection is the proxy's (Go's Transport never sends h2c through one)."""
    if http != "h2c":
        return
    try:
        key = parse_url(url)[0]
    except URLError:
        return
    proxy = routing.proxy_for(key.scheme, key.host, key.port)
    if proxy is not None:
        raise BadInput(
            f"--h2c cannot go through the proxy {proxy.shown} ({proxy.source}): an http:// "
            "request through a proxy is HTTP/1.1 to the proxy; give --noproxy "
            f"{key.host} or --proxy ''",
            "'--h2c'",
        )


def with_routing(scenario: Scenario, fix: Callable[[Routing], Routing]) -> Scenario:
    """The scenario with ``fix`` applied to every pool's routing (the first pool and
    each step's fresh one)."""

    def pool(o: PoolOptions) -> PoolOptions:
        return replace(o, routing=fix(o.routing))

    plan = scenario.plan
    steps = tuple(
        replace(s, options=pool(s.options)) if isinstance(s, PoolStep) else s for s in plan.steps
    )
    return replace(scenario, plan=replace(plan, steps=steps, pool=pool(plan.pool)))


def scenario_for(
    spec: str, url: str | None, sets: Mapping[str, str], o: Mapping[str, Any], base: PoolOptions
) -> Scenario:
    """The scenario ``run`` and ``watch --scenario`` send: the file (or built-in) with
    ``sets`` (``--set``) over ``base``, the command line's TLS trust and client
    certificate, then its --resolve, --connect-to, -4/-6 and proxies over the file's.
    ``ScenarioError`` when the file is wrong."""
    from reusecheck.scenarios import resolve

    scenario = resolve(
        spec,
        url,
        sets,
        base,
        cacert=o["cacert"],
        insecure=o["insecure"],
        cert=o.get("cert") or None,
        key=o.get("key") or None,
    )
    return with_routing(scenario, lambda r: routing_of(o, base=r))
