"""The package's shape, read from the source: no import cycle, layers only depend
downward, no module too long to read in one sitting.

Every module under reusecheck/ is parsed with ``ast``; every import counts, at module
level, inside a function (the CLI's lazy imports) and under ``if TYPE_CHECKING:``,
because each one is a dependency a reader has to hold in mind, whenever it executes.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import Final

PACKAGE: Final = Path(__file__).resolve().parent.parent / "reusecheck"

# Which top-level packages each one may import, besides itself.
#
# Data flows one way: net (bytes on sockets) -> pool (connections kept, handed out,
# closed) -> trace (the events every layer emits) -> analysis (the record made into
# facts, findings, a verdict) -> report (the facts shown). trace is the bottom, so every
# layer can emit and analysis can read events without touching a socket; analysis sees
# only trace, so it stays sans-IO; report and schema read the analysis, never the pool.
# scenarios run plans on a pool, discover runs measurements on scenarios and pools, and
# server (the built-in target) stands alone: it shares no code with the client it tests.
# commands wire all of it to I/O; cli (click) sits on top and may import anything.
LOWER: Final[dict[str, frozenset[str]]] = {
    "trace": frozenset(),
    "net": frozenset({"trace"}),
    "pool": frozenset({"net", "trace"}),
    "analysis": frozenset({"trace"}),
    "scenarios": frozenset({"pool", "net", "trace", "analysis"}),
    "discover": frozenset({"scenarios", "pool", "net", "trace", "analysis"}),
    "report": frozenset({"analysis", "trace"}),
    "schema": frozenset({"trace", "analysis"}),
    "server": frozenset(),
    # observe (the recording reverse proxy) serves the client with the server's routes
    # and forwards through the pool; it writes records of the analysis' own types.
    "observe": frozenset({"server", "pool", "net", "trace", "analysis"}),
    "commands": frozenset(
        {"trace", "net", "pool", "analysis", "scenarios", "discover", "report", "schema"}
        | {"server", "observe"}
    ),
    "cli": frozenset(
        {"trace", "net", "pool", "analysis", "scenarios", "discover", "report", "schema"}
        | {"server", "commands", "observe"}
    ),
}
# The package's own __init__ and __main__ (``python -m``) sit outside the layers. Any
# layer may read ``reusecheck.__version__`` (the User-Agent, HAR's creator, --version):
# that is safe only while the package's __init__ imports nothing of its own, which
# test_layers_only_depend_downward checks too.
ROOT: Final = "reusecheck"
EXEMPT: Final = frozenset({ROOT, "reusecheck.__main__"})

# STYLE.md: "A module over ~400 lines is two modules waiting to be separated."
MAX_LINES: Final = 450
# path under reusecheck/ -> why it may be longer for now (each entry says what split
# is waiting, so the list shrinks rather than grows).
LONG_MODULES_ALLOWED: Final[dict[str, str]] = {
    "net/http2.py": "one HTTP/2 client connection, one job: what the server sends (frames, "
    "SETTINGS, GOAWAY, floods), flow control and the stream limit; a stream's own waits "
    "are h2stream.py and the wire-level parts h2wire.py",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its __init__)."""
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute name ``from ... import`` reads from, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    is_package = _modules()[module].name == "__init__.py"
    base = module.split(".")
    # ``from . import x`` in a module means its package; in a package's __init__, itself.
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str) -> set[str]:
    """The package's modules that ``module`` imports, anywhere in its source.

    ``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``.
    """
    known = _modules()
    tree = ast.parse(known[module].read_text(encoding="utf-8"), str(known[module]))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in known else source)
    return {name for name in found if name in known and name != module}


@cache
def import_graph() -> dict[str, frozenset[str]]:
    return {module: frozenset(imports_of(module)) for module in _modules()}


def find_cycle(graph: dict[str, frozenset[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None; depth-first, colours as in CLRS."""
    on_path: list[str] = []
    state: dict[str, str] = {}  # module -> "open" (on the current path) or "done"

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        on_path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return [*on_path[on_path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        on_path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)) is not None:
            return cycle
    return None


def _layer(module: str) -> str:
    return module.split(".")[1]


def layer_violations(graph: dict[str, frozenset[str]]) -> list[str]:
    found = []
    for module, targets in sorted(graph.items()):
        if module == ROOT and targets:
            found.append(f"{module} imports {sorted(targets)}: every layer imports it")
        if module in EXEMPT:
            continue
        layer = _layer(module)
        if layer not in LOWER:
            found.append(f"{module}: top-level package {layer!r} is not in the layer table")
            continue
        for target in sorted(targets):
            if target == ROOT:
                continue
            if target in EXEMPT:
                found.append(f"{module} imports {target}, which sits outside the layers")
            elif _layer(target) != layer and _layer(target) not in LOWER[layer]:
                found.append(f"{module} ({layer}) imports {target} ({_layer(target)})")
    return found


# -- the checks on small graphs, so each can fail --------------------------------------


def test_find_cycle_names_the_cycle() -> None:
    graph = {
        "reusecheck.a": frozenset({"reusecheck.b"}),
        "reusecheck.b": frozenset({"reusecheck.c"}),
        "reusecheck.c": frozenset({"reusecheck.a"}),
        "reusecheck.d": frozenset({"reusecheck.a"}),
    }
    assert find_cycle(graph) == ["reusecheck.a", "reusecheck.b", "reusecheck.c", "reusecheck.a"]
    assert find_cycle({**graph, "reusecheck.c": frozenset()}) is None


def test_layer_violations_name_the_upward_import() -> None:
    graph = {
        "reusecheck.trace.event": frozenset({"reusecheck.trace.vocab"}),
        "reusecheck.pool.pool": frozenset({"reusecheck.net.conn", "reusecheck.trace.event"}),
        "reusecheck.net.conn": frozenset({"reusecheck.pool.idle"}),
        "reusecheck.gadgets.x": frozenset(),
        "reusecheck.report.har": frozenset({"reusecheck"}),  # its __version__: fine
    }
    assert layer_violations(graph) == [
        "reusecheck.gadgets.x: top-level package 'gadgets' is not in the layer table",
        "reusecheck.net.conn (net) imports reusecheck.pool.idle (pool)",
    ]
    heavy_root = {**graph, "reusecheck": frozenset({"reusecheck.cli"})}
    assert layer_violations(heavy_root)[0].startswith("reusecheck imports ['reusecheck.cli']")


def test_every_kind_of_import_is_an_edge() -> None:
    graph = import_graph()
    # The CLI imports the commands lazily, inside the click callbacks.
    assert any(t.startswith("reusecheck.commands") for t in graph["reusecheck.cli.main"])
    # ``from reusecheck.trace import Tracer``: the package, since Tracer is no module.
    assert "reusecheck.trace" in graph["reusecheck.pool.pool"] | graph["reusecheck.pool"]
    # ``from reusecheck.cli import main``: the module cli/main.py, not the package.
    assert graph["reusecheck.__main__"] == {"reusecheck.cli.main"}
    # Relative imports resolve against the importing module's package.
    relative = ast.parse("from . import vocab\nfrom .. import net\nfrom .event import Event")
    names = [
        _resolve("reusecheck.trace.sinks", n)
        for n in ast.walk(relative)
        if isinstance(n, ast.ImportFrom)
    ]
    assert names == ["reusecheck.trace", "reusecheck", "reusecheck.trace.event"]
    in_init = ast.parse("from . import vocab").body[0]
    assert isinstance(in_init, ast.ImportFrom)
    assert _resolve("reusecheck.trace", in_init) == "reusecheck.trace"


# -- the package -----------------------------------------------------------------------


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_layers_only_depend_downward() -> None:
    found = layer_violations(import_graph())
    assert found == [], "imports against the layers:\n" + "\n".join(found)


def test_no_module_too_long() -> None:
    lengths = {
        str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines())
        for p in _modules().values()
    }
    too_long = {
        path: n for path, n in lengths.items() if n > MAX_LINES and path not in LONG_MODULES_ALLOWED
    }
    assert too_long == {}, f"modules over {MAX_LINES} lines (split them): {too_long}"
    stale = sorted(p for p in LONG_MODULES_ALLOWED if lengths.get(p, 0) <= MAX_LINES)
    assert stale == [], f"allowed as long but no longer over {MAX_LINES} lines: {stale}"
