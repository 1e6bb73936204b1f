"""A request body from the command line, as curl reads it: ``-d/--data``,
``--data-binary`` and ``--json-body`` (curl's ``--json``).

- ``-d STRING`` sends STRING; ``-d @FILE`` the file with its carriage returns and
  newlines removed (curl does so for ``-d``); ``--data-binary @FILE`` the file as it is;
  ``@-`` reads stdin, once, before anything is sent.  Several ``-d`` or
  ``--data-binary`` are joined with ``&``; several ``--json-body`` are concatenated.
- A body makes the method POST unless ``-X`` names one, with ``Content-Type:
  application/x-www-form-urlencoded`` (``--json-body``: ``Content-Type`` and ``Accept``
  ``application/json``) unless ``-H`` gives that header.
- Every body is at most ``MAX_REQUEST_BODY`` bytes: it is held in memory and sent again
  by every request of the run (and by a retry or a 307/308 redirect).

Pure apart from reading the files and stdin it is handed, so the rules are tested with
plain values.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Final

from reusecheck.commands.exits import BadInput
from reusecheck.scenarios.values import MAX_BODY

MAX_REQUEST_BODY: Final = MAX_BODY  # 16 MiB, as a scenario file's body
FORM: Final = "application/x-www-form-urlencoded"
JSON: Final = "application/json"

# (click's destination, the option as users write it)
OPTIONS: Final = (("data", "-d"), ("data_binary", "--data-binary"), ("json_body", "--json-body"))


@dataclass(frozen=True, slots=True)
class RequestBody:
    data: bytes
    headers: tuple[tuple[str, str], ...]  # what the body brings, unless -H gives them


Stdin = Callable[[], BinaryIO]


def _limit(size: int, what: str, option: str) -> None:
    if size > MAX_REQUEST_BODY:
        raise BadInput(
            f"{what} is over the {MAX_REQUEST_BODY >> 20} MiB a request body may have",
            f"'{option}'",
        )


def _read_file(path: str, option: str) -> bytes:
    if "\0" in path:
        raise BadInput(f"{path!r} is not a valid path", f"'{option}'")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_REQUEST_BODY + 1)
    except IsADirectoryError:
        raise BadInput(f"{path!r} is a directory, not a file", f"'{option}'") from None
    except OSError as exc:
        raise BadInput(f"cannot read {path!r}: {exc.strerror or exc}", f"'{option}'") from None
    _limit(len(data), repr(path), option)
    return data


def _read_stdin(stdin: Stdin, option: str) -> bytes:
    data = stdin().read(MAX_REQUEST_BODY + 1)
    _limit(len(data), "the body on stdin", option)
    return data


def _piece(value: str, option: str, stdin: Stdin) -> bytes:
    if not value.startswith("@"):
        # The bytes the shell passed (click decoded them with the file system's encoding).
        return os.fsencode(value)
    source = value[1:]
    data = _read_stdin(stdin, option) if source == "-" else _read_file(source, option)
    if option == "-d":
        data = data.replace(b"\r", b"").replace(b"\n", b"")
    return data


def body_of(
    values: dict[str, Sequence[str]], given: Sequence[tuple[str, str]], stdin: Stdin
) -> RequestBody | None:
    """The body the options ask for (``values``: click's lists, by destination), or None.

    ``given``: the ``-H`` headers (their Content-Type and Accept win).  Raises BadInput:
    two kinds of body at once, stdin asked for twice, a file that cannot be read, a body
    over the limit.
    """
    chosen = [(dest, option) for dest, option in OPTIONS if values.get(dest)]
    if not chosen:
        return None
    if len(chosen) > 1:
        both = " and ".join(option for _, option in chosen)
        raise BadInput(f"{both} contradict each other: give the body with one of them")
    dest, option = chosen[0]
    items = list(values[dest])
    if sum(1 for v in items if v == "@-") > 1:
        raise BadInput("stdin can be read once: give @- to one option only", f"'{option}'")
    pieces = [_piece(v, option, stdin) for v in items]
    data = b"".join(pieces) if dest == "json_body" else b"&".join(pieces)
    _limit(len(data), "the body", option)
    names = {n.lower() for n, _ in given}
    headers: list[tuple[str, str]] = []
    if "content-type" not in names:
        headers.append(("Content-Type", JSON if dest == "json_body" else FORM))
    if dest == "json_body" and "accept" not in names:
        headers.append(("Accept", JSON))
    return RequestBody(data, tuple(headers))
