"""The scenario keys for real networks: ``cert``/``key``, ``resolve``, ``connect_to``
and ``ip_version`` in ``[pool]`` (and a step's ``pool``), ``follow_redirects`` in
``[defaults]`` and steps.  Loading only: what each becomes, and the one line a mistake
gives (file, step, key), as every other key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reusecheck.net.pinning import parse_connect_to, parse_resolve
from reusecheck.scenarios import ScenarioError, from_document
from reusecheck.scenarios.model import PoolStep, RequestStep
from reusecheck.server.certs import make_bundle

URL = {"url": "https://h.test/"}


def load(doc: dict[str, Any], base_dir: Path | None = None) -> Any:
    return from_document(doc, source="s.toml", env={}, base_dir=base_dir)


def error(doc: dict[str, Any], base_dir: Path | None = None) -> str:
    with pytest.raises(ScenarioError) as info:
        load(doc, base_dir)
    return str(info.value)


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pems")
    bundle = make_bundle(client_name="client")
    assert bundle.client_cert_pem is not None and bundle.client_key_pem is not None
    (d / "client.pem").write_bytes(bundle.client_cert_pem)
    (d / "client-key.pem").write_bytes(bundle.client_key_pem)
    (d / "both.pem").write_bytes(bundle.client_cert_pem + bundle.client_key_pem)
    return d


def test_cert_and_key_are_relative_to_the_file(pems: Path) -> None:
    s = load({"pool": {"cert": "client.pem", "key": "client-key.pem"}, "step": [URL]}, pems)
    assert s.plan.pool.tls.cert == str(pems / "client.pem")
    assert s.plan.pool.tls.key == str(pems / "client-key.pem")
    combined = load({"pool": {"cert": "both.pem"}, "step": [URL]}, pems)
    assert (combined.plan.pool.tls.cert, combined.plan.pool.tls.key) == (
        str(pems / "both.pem"),
        None,
    )


def test_a_steps_pool_inherits_the_certificate_or_replaces_it(pems: Path) -> None:
    doc = {
        "pool": {"cert": "client.pem", "key": "client-key.pem"},
        "step": [URL, {**URL, "pool": {"max_idle": 1}}, {**URL, "pool": {"cert": "both.pem"}}],
    }
    steps = load(doc, pems).plan.steps
    pools = [s.options for s in steps if isinstance(s, PoolStep)]
    assert pools[0].tls.cert == str(pems / "client.pem")
    assert pools[0].tls.key == str(pems / "client-key.pem")
    assert (pools[1].tls.cert, pools[1].tls.key) == (str(pems / "both.pem"), None)


@pytest.mark.parametrize(
    ("pool", "said"),
    [
        ({"key": "client-key.pem"}, "s.toml: [pool]: key: needs a cert"),
        ({"cert": "nope.pem"}, "s.toml: [pool]: cert: "),
        ({"cert": "client.pem"}, "holds no private key"),
        ({"cert": "client-key.pem", "key": "client-key.pem"}, "holds no PEM certificate"),
        ({"cert": 1}, "s.toml: [pool]: cert: must be a string, not an integer"),
    ],
)
def test_certificate_mistakes(pems: Path, pool: dict[str, Any], said: str) -> None:
    assert said in error({"pool": pool, "step": [URL]}, pems)


def test_resolve_connect_to_and_ip_version() -> None:
    doc = {
        "pool": {
            "resolve": ["h.test:443:127.0.0.1,::1", "*:80:127.0.0.2"],
            "connect_to": "h.test:443:b.test:8443",
            "ip_version": 6,
        },
        "step": [URL],
    }
    routing = load(doc).plan.pool.routing
    assert routing.pins.resolve == (
        parse_resolve("h.test:443:127.0.0.1,::1"),
        parse_resolve("*:80:127.0.0.2"),
    )
    assert routing.pins.connect_to == (parse_connect_to("h.test:443:b.test:8443"),)
    assert routing.ip_version == 6


def test_a_steps_pool_replaces_each_list_it_names_and_keeps_the_rest() -> None:
    doc = {
        "pool": {"resolve": "h.test:443:127.0.0.1", "ip_version": 4},
        "step": [URL, {**URL, "pool": {"resolve": "h.test:443:127.0.0.3"}}],
    }
    steps = load(doc).plan.steps
    fresh = next(s for s in steps if isinstance(s, PoolStep)).options.routing
    assert fresh.pins.resolve == (parse_resolve("h.test:443:127.0.0.3"),)
    assert fresh.ip_version == 4


@pytest.mark.parametrize(
    ("pool", "said"),
    [
        ({"resolve": "h.test:443:nowhere"}, "[pool]: resolve: 'h.test:443:nowhere': "),
        ({"resolve": []}, "[pool]: resolve: must be a string or a non-empty list"),
        ({"resolve": ["h:1:127.0.0.1", 2]}, "[pool]: resolve[2]: must be a string"),
        ({"connect_to": "x"}, "[pool]: connect_to: 'x' has too few fields"),
        ({"ip_version": 5}, "[pool]: ip_version: must be 4 or 6, not 5"),
        ({"ip_version": 3}, "[pool]: ip_version: must be at least 4"),
        ({"resolv": "h:1:127.0.0.1"}, "did you mean resolve?"),
    ],
)
def test_routing_mistakes(pool: dict[str, Any], said: str) -> None:
    assert said in error({"pool": pool, "step": [URL]})


def test_follow_redirects_from_defaults_and_per_step() -> None:
    doc = {
        "defaults": {"url": "https://h.test/", "follow_redirects": True},
        "step": [{"name": "a", "path": "/"}, {"name": "b", "path": "/", "follow_redirects": False}],
    }
    requests = [s for s in load(doc).plan.steps if isinstance(s, RequestStep)]
    assert [(s.name, s.follow_redirects) for s in requests] == [("a", True), ("b", False)]
    (plain,) = [s for s in load({"step": [URL]}).plan.steps if isinstance(s, RequestStep)]
    assert plain.follow_redirects is False
    said = error({"step": [{**URL, "name": "a", "follow_redirects": "yes"}]})
    assert said == 's.toml: step 1 "a": follow_redirects: must be true or false, not a string'
