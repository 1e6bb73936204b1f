"""The sweeps (reusecheck/analysis/fold/sweep.py): intervals pushed out of order and
replayed below a watermark give exactly the peak a sort of them all gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reusecheck.analysis.fold.sweep import Peak, Sweep
from reusecheck.analysis.requests import peak_overlap

# Times on a coarse grid, so that starts and ends often fall on the same instant.
times = st.integers(min_value=0, max_value=40).map(lambda n: n / 4)
intervals = st.lists(
    st.tuples(times, st.one_of(st.none(), st.integers(0, 12).map(lambda n: n / 4))).map(
        lambda p: (p[0], None if p[1] is None else p[0] + p[1])
    ),
    max_size=40,
)


@settings(max_examples=300)
@given(intervals, st.randoms(use_true_random=False))
def test_peak_is_the_sorted_peak_whatever_the_order_and_the_watermarks(
    spans: list[tuple[float, float | None]], rnd: object
) -> None:
    # Requests finish out of order: push them in a shuffled order, advancing the
    # watermark to the earliest start of those not pushed yet, as the fold does.
    order = list(spans)
    rnd.shuffle(order)  # type: ignore[attr-defined]
    peak = Peak()
    for k, (start, end) in enumerate(order):
        peak.sweep.interval(start, end, None)
        rest = [s for s, _ in order[k + 1 :]]
        peak.sweep.advance(min(rest, default=float("inf")))
    peak.sweep.advance()
    assert peak.peak == peak_overlap(spans)
    assert len(peak.sweep) == 0


def test_ends_come_before_starts_and_queries_after_both() -> None:
    seen: list[tuple[str, float]] = []
    sweep = Sweep(
        lambda t, _: seen.append(("start", t)),
        lambda t, _: seen.append(("end", t)),
        lambda t, _: seen.append(("query", t)),
        lambda t: seen.append(("instant", t)),
    )
    sweep.query(1.0, None)
    sweep.interval(1.0, 2.0, None)
    sweep.interval(0.0, 1.0, None)
    sweep.advance(1.0)  # nothing at 1.0 yet: it could still change
    assert seen == [("start", 0.0), ("instant", 0.0)]
    sweep.advance()
    assert seen[2:] == [
        ("end", 1.0),
        ("start", 1.0),
        ("query", 1.0),
        ("instant", 1.0),
        ("end", 2.0),
        ("instant", 2.0),
    ]
