"""Typed reads of a parsed TOML document, each failing with one line that says where.

``tomllib`` hands back plain dicts, lists and scalars; everything a scenario file holds
passes through one of these readers, so every mistake, wherever it is, reads the same:
``FILE: step 2 "login": count: must be at least 1, not -1``.  Strings from the file are
shown escaped and cut short, so a message is always one line and never a whole secret.
"""

from __future__ import annotations

import datetime
import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn


class ScenarioError(ValueError):
    """A scenario that cannot run; ``str()`` is one line: file, step, key, what is wrong."""


def shown(text: str, most: int = 40) -> str:
    """``text`` on one line: control characters escaped, long ones cut."""
    cut = text if len(text) <= most else text[:most] + "..."
    return cut.encode("unicode_escape").decode("ascii") if not cut.isprintable() else cut


def kind(value: object) -> str:
    """What a TOML value is, in TOML's words."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.date | datetime.time):
        return "a date/time"
    return type(value).__name__


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a scenario file: the file, and the section or step (or none)."""

    source: str
    section: str | None = None

    def fail(self, key: str | None, message: str) -> NoReturn:
        parts = [self.source]
        if self.section:
            parts.append(self.section)
        if key:
            parts.append(key)
        raise ScenarioError(": ".join([*parts, message]))

    def known(self, table: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
        """Unknown keys are mistakes (a typo would otherwise be silently ignored)."""
        names = tuple(allowed)
        for key in table:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f" (did you mean {close[0]}?)" if close else f"; known: {', '.join(names)}"
                self.fail(prefix + (shown(key) or '""'), f"unknown key{hint}")

    def integer(self, key: str, value: object, least: int, most: int) -> int:
        # bool is an int in Python; in TOML it is not a number.
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, not {kind(value)}")
        if not least <= value <= most:
            bound = f"at least {least}" if value < least else f"at most {most}"
            self.fail(key, f"must be {bound}, not {value}")
        return value

    def number(self, key: str, value: object, least: float, most: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"must be a number, not {kind(value)}")
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            self.fail(key, f"must be a finite number, not {value}")
        if not least <= number <= most:
            bound = f"at least {least:g}" if number < least else f"at most {most:g}"
            self.fail(key, f"must be {bound}, not {value:g}")
        return number

    def boolean(self, key: str, value: object) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {kind(value)}")
        return value

    def string(self, key: str, value: object) -> str:
        if not isinstance(value, str):
            self.fail(key, f"must be a string, not {kind(value)}")
        return value

    def line(self, key: str, value: object, most: int) -> str:
        """A non-empty one-line string of at most ``most`` characters (names, intros)."""
        text = self.string(key, value)
        if not text.strip():
            self.fail(key, "must not be empty")
        if not text.isprintable():
            self.fail(key, f"must be one line without control characters: {shown(text)!r}")
        if len(text) > most:
            self.fail(key, f"must be at most {most} characters, not {len(text)}")
        return text

    def table(self, key: str, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"must be a table, not {kind(value)}")
        return value
