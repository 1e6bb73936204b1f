"""What each record is: the server it ran against and the run (a command or a driver).

``record.py`` runs them; the analysis, report and schema tests read what they wrote
(``tests.records.load``, ``load_discover``).  Each spec is there because a test needs
the behaviour its run shows; ``about`` says what that is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reusecheck.server import ServerConfig
from tests.records.drivers import (
    Driver,
    discover_driver,
    secrets_driver,
    spread_after_driver,
    spread_driver,
)


@dataclass(frozen=True)
class Spec:
    """One recorded run: the server, and the command (``{url}``, ``{ca}``, ``{dir}`` and
    ``{other}``, the URL under its other loopback name, filled in) or the driver."""

    about: str
    server: ServerConfig | str | None  # a config, a misbehave kind, or None: a closed port
    command: str = ""  # reusecheck's arguments, split on spaces
    driver: Driver | None = None
    # For a driver run (a discover run has none); a CLI run's come from its report.
    expectations: tuple[tuple[str, float | None], ...] = (("reuse", None),)
    files: dict[str, str] = field(default_factory=dict)  # scenario files: name -> TOML


H2: dict[str, Any] = dict(tls=True, h2=True)

UNREAD_TOML = """\
[[step]]
name = "leak"
count = 3
response_body = "ignore"
"""

H2_UNREAD_TOML = """\
[pool]
http = "2"

[[step]]
name = "early"
count = 3
response_body = "close-early"
"""

# Three requests, each after the server's quick idle close of the one before, and a wait
# for the last one's.
SPACED_TOML = """\
[[step]]
name = "first"
path = "/"

[[step]]
name = "second"
sleep = 0.15
path = "/"

[[step]]
name = "third"
sleep = 0.15
path = "/"

[[step]]
name = "wait"
sleep = 0.15
"""

# Two connections go idle together, then the server closes both.
IDLE_PAIR_TOML = """\
[[step]]
name = "pair"
concurrency = 2

[[step]]
name = "later"
sleep = 0.6
path = "/"
"""

# Bursts of 2 to two origins in turn; the first origin's first connections are lost.
TWO_ORIGINS_TOML = """\
[[step]]
name = "a-lost"
path = "/"
concurrency = 2
response_body = "close-early"

[[step]]
name = "b"
url = "${OTHER}"
concurrency = 2

[[step]]
name = "a"
path = "/"
concurrency = 2

[[step]]
name = "b-again"
url = "${OTHER}"
concurrency = 2
"""

PINNED_TOML = """\
[[step]]
name = "read"
path = "/"

[[step]]
name = "pin"
path = "/"
response_body = "ignore"

[[step]]
name = "next"
path = "/"
"""

CLOSE_EARLY_TOML = """\
[[step]]
name = "early"
count = 3
response_body = "close-early"
"""

FRESH_POOL_TOML = """\
[[step]]
name = "before"
count = 3

[[step]]
name = "after"
pool = {}
count = 3
"""

LATER_CHURN_TOML = """\
[[step]]
name = "roomy"
count = 2
concurrency = 4

[[step]]
name = "tight"
pool = { max_idle_per_host = 2 }
count = 2
concurrency = 4
"""


SPECS: dict[str, Spec] = {
    "healthy": Spec(
        "5 sequential requests, keep-alive on",
        ServerConfig(),
        "probe {url} --requests 5 --idle 0 --concurrency 0",
    ),
    "probe-default": Spec(
        "the default probe against a healthy server",
        ServerConfig(),
        "probe {url} --idle 0.3",
    ),
    "burst": Spec(
        "one burst of 4 on fresh connections",
        ServerConfig(),
        "probe {url} --requests 0 --idle 0 --concurrency 4",
    ),
    "connection-close": Spec(
        "Connection: close on every response",
        ServerConfig(close_always=True),
        "probe {url} --requests 5 --idle 0 --concurrency 0",
    ),
    "http10": Spec(
        "an HTTP/1.0 server",
        ServerConfig(http10=True),
        "probe {url} --requests 3 --idle 0 --concurrency 0",
    ),
    "max-requests": Spec(
        "the server ends connections after 3 requests",
        ServerConfig(max_requests=3),
        "probe {url} --requests 8 --idle 0 --concurrency 0",
    ),
    "max-requests-hint": Spec(
        "after 3 requests, with Keep-Alive: max=3",
        ServerConfig(max_requests=3, keepalive_hint=True),
        "probe {url} --requests 4 --idle 0 --concurrency 0",
    ),
    "max-requests-probe": Spec(
        "a limit of 6 met once by the default probe",
        ServerConfig(max_requests=6),
        "probe {url} --idle 0.3",
    ),
    "idle-timeout": Spec(
        "the server closes connections idle for 0.5 s",
        ServerConfig(idle_timeout=0.5),
        "probe {url} --requests 2 --idle 0.8 --concurrency 0",
    ),
    "idle-timeout-hint": Spec(
        "idle timeout 0.5 s, Keep-Alive hint timeout=5",
        ServerConfig(idle_timeout=0.5, keepalive_hint_override="timeout=5, max=100"),
        "probe {url} --requests 2 --idle 0.8 --concurrency 0",
    ),
    "idle-outlasted": Spec(
        "the client's 0.3 s idle timeout inside the server's hinted 0.5 s, a 0.8 s pause",
        ServerConfig(idle_timeout=0.5, keepalive_hint=True),
        "probe {url} --requests 2 --idle 0.8 --concurrency 0 --idle-timeout 0.3",
    ),
    "idle-client-only": Spec(
        "the client's 0.3 s idle timeout, a 0.8 s pause, a server that keeps 5 s unsaid",
        ServerConfig(idle_timeout=5.0),
        "probe {url} --requests 2 --idle 0.8 --concurrency 0 --idle-timeout 0.3",
    ),
    "demo": Spec(
        "the demo: idle 0.5 s and 4 requests per connection, hinted",
        ServerConfig(idle_timeout=0.5, max_requests=4, keepalive_hint=True),
        "probe {url}",
    ),
    "stale-retry": Spec(
        "the server drops the third request on a connection unanswered",
        ServerConfig(drop_after=2),
        "probe {url} --requests 3 --idle 0 --concurrency 0",
    ),
    "pool-churn": Spec(
        "Go's 2 idle connections per host under bursts of 4",
        ServerConfig(),
        "probe {url} --requests 0 --idle 0 --max-idle-per-host 2",
    ),
    "disable-keepalives": Spec(
        "the client sends Connection: close",
        ServerConfig(),
        "probe {url} --requests 3 --idle 0 --concurrency 0 --disable-keepalives",
    ),
    "unreachable": Spec(
        "nothing listens on the port",
        None,
        "probe {url} --requests 2 --idle 0 --concurrency 0",
    ),
    "unread-body": Spec(
        "bodies never read pin their connections",
        ServerConfig(),
        "run {dir}/unread.toml {url}",
        files={"unread.toml": UNREAD_TOML},
    ),
    "leaky-body": Spec(
        "builtin:leaky-body",
        ServerConfig(),
        "run builtin:leaky-body {url}",
    ),
    "go-default-pool": Spec(
        "builtin:go-default-pool",
        ServerConfig(),
        "run builtin:go-default-pool {url}",
    ),
    "cross-host": Spec(
        "builtin:cross-host",
        ServerConfig(),
        "run builtin:cross-host {url}",
    ),
    "h2-burst": Spec(
        "h2 over TLS: one burst of 4",
        ServerConfig(**H2),
        "probe {url} --requests 0 --idle 0 --concurrency 4 --cacert {ca} --expect multiplex",
    ),
    "h2-probe": Spec(
        "the default probe over h2",
        ServerConfig(**H2),
        "probe {url} --idle 0.3 --cacert {ca}",
    ),
    "h2c-burst": Spec(
        "h2c with prior knowledge: a burst of 3",
        ServerConfig(h2=True),
        "probe {url} --requests 0 --idle 0 --concurrency 3 --h2c --expect multiplex",
    ),
    "h2-goaway-every": Spec(
        "GOAWAY after 3 streams",
        ServerConfig(max_requests=3, **H2),
        "probe {url} --requests 7 --idle 0 --concurrency 0 --cacert {ca}",
    ),
    "h2-goaway-retry": Spec(
        "GOAWAY after 4 streams during a burst of 5",
        ServerConfig(max_requests=4, **H2),
        "probe {url} --requests 0 --idle 0 --concurrency 5 --cacert {ca}",
    ),
    "h2-idle-goaway": Spec(
        "GOAWAY on an idle h2 connection after 0.5 s",
        ServerConfig(idle_timeout=0.5, **H2),
        "probe {url} --requests 2 --idle 0.8 --concurrency 0 --cacert {ca}",
    ),
    "h2-refused": Spec(
        "h2c, 2 streams allowed, a burst of 4 before SETTINGS",
        ServerConfig(h2=True, max_streams=2),
        "probe {url} --requests 0 --idle 0 --concurrency 4 --h2c",
    ),
    "h2-spread": Spec(
        "a client per request: 4 h2 connections for 4 requests at once",
        ServerConfig(**H2),
        driver=spread_driver,
        expectations=(("reuse", None), ("multiplex", None)),
    ),
    "h2-unread": Spec(
        "h2 bodies closed early reset only their streams",
        ServerConfig(**H2),
        "run {dir}/h2-unread.toml {url} --cacert {ca}",
        files={"h2-unread.toml": H2_UNREAD_TOML},
    ),
    "h2-rst": Spec(
        "h2c: every stream reset by the server",
        "h2-rst-every-stream",
        "probe {url} --requests 2 --idle 0 --concurrency 0 --h2c --timeout 2",
    ),
    "h2-refused-stream": Spec(
        "h2c: the second stream of each connection refused",
        "h2-refuse-stream",
        "probe {url} --requests 0 --idle 0 --concurrency 2 --h2c --timeout 2",
    ),
    "h2-calm": Spec(
        "h2c: GOAWAY ENHANCE_YOUR_CALM after each connection's first stream",
        "h2-calm",
        "probe {url} --requests 2 --idle 0 --concurrency 2 --h2c --timeout 2",
    ),
    "h2-goaway-storm": Spec(
        "h2c: GOAWAY as soon as each connection opens",
        "h2-goaway-storm",
        "probe {url} --requests 2 --idle 0 --concurrency 0 --h2c --timeout 2",
    ),
    "alpn-fallback": Spec(
        "TLS without h2: ALPN chooses http/1.1",
        ServerConfig(tls=True),
        "probe {url} --requests 2 --idle 0 --concurrency 0 --cacert {ca} --expect h2",
    ),
    "alpn-none": Spec(
        "TLS without ALPN at all",
        ServerConfig(tls=True, alpn=False),
        "probe {url} --requests 2 --idle 0 --concurrency 0 --cacert {ca}",
    ),
    "h2-required": Spec(
        "--http2 against a server that picks http/1.1",
        ServerConfig(tls=True),
        "probe {url} --requests 2 --idle 0 --concurrency 0 --cacert {ca} --http2 --expect h2",
    ),
    "h2c-required": Spec(
        "--h2c against an HTTP/1.1-only server",
        ServerConfig(),
        "probe {url} --requests 2 --idle 0 --concurrency 0 --h2c --timeout 2 --expect h2",
    ),
    "tls-http1": Spec(
        "TLS, HTTP/1.1 only: resumed sessions under a burst",
        ServerConfig(tls=True),
        "probe {url} --requests 2 --idle 0 --concurrency 3 --cacert {ca} --http1",
    ),
    # --- more shapes the analysis and report tests need -------------------------------
    "max-requests-once": Spec(
        "a limit of 3 met once, without a Keep-Alive hint",
        ServerConfig(max_requests=3),
        "probe {url} --requests 4 --idle 0 --concurrency 0",
    ),
    "eof-after-response": Spec(
        "the server closes each connection 20 ms after its response, saying nothing",
        ServerConfig(idle_timeout=0.02),
        "run {dir}/spaced.toml {url}",
        files={"spaced.toml": SPACED_TOML},
    ),
    "idle-timeout-pair": Spec(
        "two idle connections closed by the server's 0.3 s idle timeout",
        ServerConfig(idle_timeout=0.3),
        "run {dir}/pair.toml {url}",
        files={"pair.toml": IDLE_PAIR_TOML},
    ),
    "idle-race": Spec(
        "builtin:idle-race: a reuse just as the server's 0.3 s idle timeout closes",
        ServerConfig(idle_timeout=0.3),
        "run builtin:idle-race {url} --set max_wait=2",
    ),
    "idle-race-given": Spec(
        "builtin:idle-race told the 0.3 s timeout: the stale reuse is all it sees of it",
        ServerConfig(idle_timeout=0.3),
        "run builtin:idle-race {url} --set server_idle_timeout=0.3",
    ),
    "close-early": Spec(
        "HTTP/1.1 bodies closed unread: the pool closes each connection at once",
        ServerConfig(),
        "run {dir}/close-early.toml {url}",
        files={"close-early.toml": CLOSE_EARLY_TOML},
    ),
    "pinned": Spec(
        "one body never read pins its connection beside an idle one",
        ServerConfig(),
        "run {dir}/pinned.toml {url}",
        files={"pinned.toml": PINNED_TOML},
    ),
    "fresh-pool": Spec(
        "a scenario's pool step between two sequences",
        ServerConfig(),
        "run {dir}/fresh.toml {url}",
        files={"fresh.toml": FRESH_POOL_TOML},
    ),
    "later-churn": Spec(
        "pool churn in a scenario's second pool (max_idle_per_host 2)",
        ServerConfig(),
        "run {dir}/churn.toml {url}",
        files={"churn.toml": LATER_CHURN_TOML},
    ),
    "cross-host-close": Spec(
        "builtin:cross-host against a server that closes after every response",
        ServerConfig(close_always=True),
        "run builtin:cross-host {url}",
    ),
    "two-origins": Spec(
        "bursts of 2 to two origins in turn, the first connections lost",
        ServerConfig(),
        "run {dir}/two.toml {url} --set OTHER={other}",
        files={"two.toml": TWO_ORIGINS_TOML},
    ),
    "h2-cross-host": Spec(
        "builtin:cross-host over h2: one connection per origin",
        ServerConfig(**H2),
        "run builtin:cross-host {url} --cacert {ca}",
    ),
    "many-connections": Spec(
        "100 requests, each on its own connection (Connection: close)",
        ServerConfig(close_always=True),
        "probe {url} --requests 100 --idle 0 --concurrency 0",
    ),
    "h2-burst-12": Spec(
        "h2 over TLS: 12 streams at once on one connection",
        ServerConfig(**H2),
        "probe {url} --requests 0 --idle 0 --concurrency 12 --cacert {ca} --expect multiplex",
    ),
    "h2-spread-one-stream": Spec(
        "one h2 request, then a client per request, 1 stream per connection allowed",
        ServerConfig(max_streams=1, **H2),
        driver=spread_after_driver,
        expectations=(("reuse", None), ("multiplex", None)),
    ),
    "h2-spread-after": Spec(
        "one h2 request, then a client per request: 4 connections where 1 would do",
        ServerConfig(**H2),
        driver=spread_after_driver,
        expectations=(("reuse", None), ("multiplex", None)),
    ),
    # --- what a server controls, bounded -----------------------------------------------
    "unsolicited-response": Spec(
        "a second response 50 ms after each one, seen in the idle gap",
        "late-response",
        "probe {url} --requests 3 --idle 0.3 --concurrency 2 --timeout 2",
    ),
    "extra-body": Spec(
        "more body than the Content-Length said: bytes after each response's end",
        "extra-body",
        "probe {url} --requests 2 --idle 0 --concurrency 0 --timeout 2",
    ),
    "many-headers": Spec(
        "10,000 headers per response: the record keeps 100 pairs of each",
        "many-headers",
        "probe {url} --requests 2 --idle 0 --concurrency 2 --timeout 2",
    ),
    "keepalive-inf": Spec(
        "Keep-Alive: timeout=inf, max=nan on every response",
        "keepalive-inf",
        "probe {url} --requests 2 --idle 0 --concurrency 0 --timeout 2",
    ),
    "h2-no-streams": Spec(
        "h2c: SETTINGS_MAX_CONCURRENT_STREAMS 0 and every stream refused",
        "h2-no-streams",
        "probe {url} --requests 2 --idle 0 --concurrency 2 --h2c --timeout 0.5",
    ),
    "h2-settings-flood": Spec(
        "h2c: identical SETTINGS frames without end, the server reading none of our ACKs",
        "h2-settings-flood",
        "probe {url} --requests 1 --idle 0 --concurrency 0 --h2c --timeout 0.5",
    ),
    "secrets": Spec(
        "a POST with credentials in its URL and headers, recorded unredacted",
        ServerConfig(),
        driver=secrets_driver,
    ),
    # --- discover: each measurement's result from a real run ------------------------------
    "discover-limits": Spec(
        "discover: idle 0.4 s and 7 requests, hint timeout=5, max=10 (both wrong)",
        ServerConfig(idle_timeout=0.4, max_requests=7, keepalive_hint_override="timeout=5, max=10"),
        driver=discover_driver(
            only=("idle-timeout", "max-requests"), samples=2, max_wait=2.0, max_requests=20
        ),
    ),
    "discover-open": Spec(
        "discover: neither limit reached within --max-wait 0.3 and --max-requests 5",
        ServerConfig(),
        driver=discover_driver(
            only=("idle-timeout", "max-requests"), samples=2, max_wait=0.3, max_requests=5
        ),
    ),
    "discover-close": Spec(
        "discover: Connection: close on every response",
        ServerConfig(close_always=True),
        driver=discover_driver(
            only=("idle-timeout", "max-requests"), samples=2, max_wait=1.0, max_requests=5
        ),
    ),
    "discover-quick-close": Spec(
        "discover: the server closes each connection 20 ms after its response",
        ServerConfig(idle_timeout=0.02),
        driver=discover_driver(only=("idle-timeout",), samples=2, max_wait=1.0),
    ),
    "discover-paced": Spec(
        "discover: requests paced at 4/s meet a 0.1 s idle timeout",
        ServerConfig(idle_timeout=0.1),
        driver=discover_driver(only=("max-requests",), max_requests=5, rate=4.0, max_wait=1.0),
    ),
    "discover-silent": Spec(
        "discover: the 5th request on a connection met by a close, nothing said",
        ServerConfig(drop_after=4),
        driver=discover_driver(only=("max-requests",), max_requests=20, max_wait=1.0),
    ),
    "discover-h2c": Spec(
        "discover over h2c: GOAWAY after 5 streams, 3 streams at once allowed",
        ServerConfig(h2=True, max_requests=5, max_streams=3),
        driver=discover_driver(
            only=("max-requests", "h2"), http="h2c", max_requests=20, max_wait=1.0
        ),
    ),
    "discover-h2-no-streams": Spec(
        "discover over h2c: SETTINGS_MAX_CONCURRENT_STREAMS 0, every stream refused",
        "h2-no-streams",
        driver=discover_driver(only=("h2",), http="h2c", timeout=0.5, max_wait=1.0),
    ),
    "discover-periodic": Spec(
        "discover: idle connections closed by a reaper every 1 s once idle 0.4 s: a window",
        ServerConfig(idle_timeout=0.4, idle_reap_interval=1.0),
        driver=discover_driver(only=("idle-timeout",), samples=8, max_wait=2.0),
    ),
    "discover-h2-queued": Spec(
        "discover over h2c: 24 streams advertised, 6 worked on at once, 100 ms each",
        ServerConfig(h2=True, max_streams=24, h2_streams_at_once=6),
        driver=discover_driver("delay/100", only=("h2",), http="h2c", max_wait=1.0),
    ),
    "discover-h2-at-once": Spec(
        "discover over h2c: 24 streams advertised and worked on at once, 100 ms each",
        ServerConfig(h2=True, max_streams=24),
        driver=discover_driver("delay/100", only=("h2",), http="h2c", max_wait=1.0),
    ),
    "discover-tls": Spec(
        "discover: TLS sessions resumed",
        ServerConfig(tls=True),
        driver=discover_driver(only=("tls",), max_wait=1.0),
    ),
    "discover-tls-none": Spec(
        "discover: a TLS server that never resumes a session",
        ServerConfig(tls=True, tls_resumption=False),
        driver=discover_driver(only=("tls",), max_wait=1.0),
    ),
}
