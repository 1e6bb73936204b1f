"""The real programs some tests drive (nginx, squid, Go, curl): found on the PATH or in
the system's sbin, skipped visibly when missing, and a failure in CI, where ``.ci/run``
installs them, so a test that silently skipped never passes for one that ran."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Sequence

import pytest


def find_tool(candidates: Sequence[str]) -> str | None:
    """The first candidate (a name on the PATH or an absolute path) that exists."""
    for candidate in candidates:
        path = shutil.which(candidate)
        if path:
            return path
    return None


def require_tool(candidates: Sequence[str], name: str, package: str, why: str) -> str:
    """The tool's path; a skip naming its Debian package outside CI, a failure in CI."""
    path = find_tool(candidates)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (.ci/run installs {package}) but was not found")
        pytest.skip(f"{name} not installed (apt-get install -y {package}); {why}")
    return path


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now (for programs that need one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
