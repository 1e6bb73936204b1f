"""``watch``'s run cut into windows: a sink that keeps the events of the window under
way, and nothing older, so a run of hours holds one window's events at a time.

Which window an event belongs to:
- a request's events belong to the window it started in (its ``get_conn``), the dial it
  started included: ``watch`` closes a window only once its cycle has ended and the
  dials its requests started have connected or failed (``dialling``);
- a connection's own events (an idle close, ``conn_closed``, SETTINGS, GOAWAY) belong to
  the window they happen in, so a connection dialled in one window and closed by the
  server in a later one counts as dialled in the first and closed in the second;
- an event of a request from an earlier window that still comes (the pool putting away
  a connection a dial brought after its request was served elsewhere, or closing one an
  unread body held) counts in the window it happens in, as its connection's event: it
  is handed on without its request index, so it cannot make a request of this window.

``carried`` is what the analysis of a window needs from the windows before it: the
connections dialled earlier and still open when it began (``report/window.py``).
"""

from __future__ import annotations

from reusecheck.trace import Event


class WindowSplitter:
    """A sink: the events of the current window, handed over by ``cut``."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.carried: frozenset[int] = frozenset()  # dialled before this window, still open
        self._requests: set[int] = set()  # started in this window
        self._known: set[int] = set()  # every connection dialled and not yet closed
        self._dialling: set[int] = set()  # connect_start seen, connect_done not yet

    def write(self, event: Event) -> None:
        if event.request is not None and event.request not in self._requests:
            if event.event == "get_conn":
                self._requests.add(event.request)
            else:  # a request of an earlier window: its connection's event now
                event = Event(event.t, event.event, None, event.conn, event.fields)
        conn = event.conn
        if conn is not None:
            name = event.event
            if name == "connect_start":
                self._known.add(conn)
                self._dialling.add(conn)
            elif name == "connect_done":
                self._dialling.discard(conn)
                if event.fields.get("error") is not None:
                    self._known.discard(conn)  # never connected: no conn_closed comes
            elif name == "conn_closed":
                self._known.discard(conn)
                self._dialling.discard(conn)
        self.events.append(event)

    def close(self) -> None:
        pass

    @property
    def dialling(self) -> bool:
        """A dial of this window has neither connected nor failed yet."""
        return bool(self._dialling)

    def cut(self) -> tuple[list[Event], frozenset[int]]:
        """The window's events and the connections carried into it; the next window
        starts empty, carrying every connection still open."""
        events, carried = self.events, self.carried
        self.events = []
        self._requests = set()
        self.carried = frozenset(self._known)
        return events, carried
