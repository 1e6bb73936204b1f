"""Random option lists against the CLI: every one ends with a documented exit code.

Bad values must be a one-line usage error (exit 2); good ones run against a closed
loopback port (exit 3, quickly). Never a traceback. Case count: docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import tempfile

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reusecheck.cli import main

CASES = 200
NUMERIC = [
    "--requests",
    "--idle",
    "--concurrency",
    "--timeout",
    "--deadline",
    "--rate",
    "--max-drain",
    "--max-total-requests",
    "--max-idle",
    "--max-idle-per-host",
    "--max-conns-per-host",
    "--idle-timeout",
    "--min-reuse-ratio",
    "--max-connections",
    "--connect-timeout",
    "--first-byte-timeout",
    "--parallel",
]
FLAGS = [
    "--json",
    "--http1",
    "--http2",
    "--h2c",
    "--insecure",
    "--disable-keepalives",
    "--strict-max-streams",
    "--no-tls-resume",
    "--svg",
]
TEXT = [
    "-H",
    "--expect",
    "-X",
    "--events",
    "--cacert",
    "--targets",
    "--har",
    "--junit",
    "--output-dir",
]

numbers = st.one_of(
    st.integers(-5, 10).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "0", "0.0", "1e-9", "", "abc", "2.5"]),
)
texts = st.one_of(
    st.sampled_from(
        [
            "reuse",
            "none",
            "h2",
            "bogus",
            "X-A: b",
            "NoColon",
            "/",
            "/nonexistent",
            "",
            "Bad Name: v",
            "A: b\r\nc",
        ]
    ),
    st.text(max_size=12),
)
arg = st.one_of(
    st.tuples(st.sampled_from(NUMERIC), numbers),
    st.tuples(st.sampled_from(TEXT), texts),
    st.sampled_from(FLAGS).map(lambda f: (f,)),
)
urls = st.sampled_from(
    [
        "http://127.0.0.1:1/",
        "https://127.0.0.1:1/",
        "ftp://127.0.0.1/",
        "127.0.0.1:1",
        "http://",
        "http://127.0.0.1:99999/",
        "http://[::1]:1/",
    ]
)


@settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(urls, st.lists(arg, max_size=6))
def test_option_lists_end_with_a_documented_exit(url: str, args: list[tuple[str, ...]]) -> None:
    argv = ["probe", url, "--idle", "0", "--timeout", "0.5", "--deadline", "3"]
    for a in args:
        argv.extend(a)
    # --events/--har/... values become files: keep them out of the checkout.
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        result = CliRunner().invoke(main, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        argv,
        result.exception,
    )
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2, 3), (argv, result.output)
    if result.exit_code == 2:
        error = [ln for ln in result.stderr.splitlines() if ln.startswith("Error")]
        assert len(error) == 1 or result.stderr.startswith("reusecheck:"), result.stderr
