"""``${VAR}`` in a scenario's URLs and header values, from the environment.

So CI can inject hosts and tokens without writing them into the file.  The syntax is the
shell's, cut down to what a URL or a header needs: ``${NAME}``, ``${NAME:-default}``
(the default when NAME is unset or empty) and ``$$`` for a literal ``$``.  A ``$`` before
anything else is kept as it is, because URLs and header values may contain one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class VariableError(ValueError):
    """A ``${...}`` that cannot be expanded; the message names the variable, not a value
    (values may be secrets)."""


def expand(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        if text.startswith("$$", j):
            out.append("$")
            i = j + 2
            continue
        if not text.startswith("${", j):
            out.append("$")
            i = j + 1
            continue
        end = text.find("}", j + 2)
        if end < 0:
            raise VariableError(f"'${{' at character {j + 1} has no closing '}}'")
        inner = text[j + 2 : end]
        name, sep, default = inner.partition(":-")
        if not _NAME.fullmatch(name):
            shown = name[:40].encode("unicode_escape").decode("ascii")
            raise VariableError(
                f"'${{{shown}}}' is not a variable name (letters, digits and _, "
                "not starting with a digit)"
            )
        value = env.get(name)
        if not value and sep:
            value = default
        if value is None:
            raise VariableError(f"${{{name}}} is not set in the environment")
        out.append(value)
        i = end + 1
