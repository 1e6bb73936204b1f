"""Our own process out of file descriptors is named as the local limit it is, not as
the target's connect failure (EMFILE for real: RLIMIT_NOFILE lowered for the test)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
from collections.abc import Iterator

import pytest

from reusecheck.net.dial import connect, local_limit
from reusecheck.net.errors import UNUSABLE_TARGET, RequestError
from reusecheck.trace import Event
from tests.net.wire import ScriptedServer, recorder_tracer, run


@contextlib.contextmanager
def _no_file_descriptors_left() -> Iterator[int]:
    """Lower the soft RLIMIT_NOFILE a little above what is open and use up the rest;
    yields the limit.  Everything is given back on the way out."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    limit = highest + 8
    held: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        while True:
            try:
                held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError as exc:
                assert exc.errno == errno.EMFILE
                break
        yield limit
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_too_many_open_files_is_a_local_limit_naming_rlimit_nofile() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def main() -> tuple[RequestError, int, list[Event]]:
        rec, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            with _no_file_descriptors_left() as limit:
                try:
                    await connect(["127.0.0.1"], srv.key.port, 1, 0, tracer, 2.0)
                except RequestError as exc:
                    return exc, limit, rec.events
            raise AssertionError("a socket was made")

    err, limit, events = run(main())
    assert err.kind == "local-limit"
    assert f"RLIMIT_NOFILE {limit}" in err.message and "EMFILE" in err.message
    assert "connect to" not in err.message  # not the target's failure
    done = [e for e in events if e.event == "connect_done"]
    assert len(done) == 1 and done[0].fields["error"] == err.message


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_the_limit_lifted_the_same_target_connects() -> None:
    """The target was never at fault: once descriptors are free, it answers."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def main() -> str:
        _, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            with _no_file_descriptors_left(), contextlib.suppress(RequestError):
                await connect(["127.0.0.1"], srv.key.port, 1, 0, tracer, 2.0)
            channel = await connect(["127.0.0.1"], srv.key.port, 2, 1, tracer, 2.0)
            channel.abort()
            return channel.addresses()[1]

    assert run(main()).startswith("127.0.0.1:")


def test_local_limits_stop_the_run_and_other_errors_are_not_local() -> None:
    assert {"local-limit", "write-timeout"} <= UNUSABLE_TARGET
    enfile = local_limit(OSError(errno.ENFILE, os.strerror(errno.ENFILE)))
    assert enfile is not None and enfile.kind == "local-limit" and "ENFILE" in enfile.message
    assert local_limit(OSError(errno.ECONNREFUSED, "refused")) is None
