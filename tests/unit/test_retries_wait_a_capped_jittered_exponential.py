"""Every retry in Signoff waits by one schedule (`retry_backoff.Backoff`): an exponential ceiling
that never shrinks and never passes its cap, and a wait drawn from the ceiling's upper half."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retry_backoff import Backoff
from tests.unit.test_import_boundaries import ROOT, imported_modules


def fixed(value: float) -> Callable[[], float]:
    return lambda: value


def test_the_ceiling_doubles_from_initial_up_to_the_cap() -> None:
    backoff = Backoff(initial=2.0, cap=600.0)
    ceilings = [backoff.ceiling(n) for n in range(1, 13)]
    assert ceilings == [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600, 600]


def test_the_wait_spans_the_upper_half_of_the_ceiling() -> None:
    assert Backoff(1.0, 60.0, rng=fixed(0.0)).delay(3) == 2.0  # never below half
    assert Backoff(1.0, 60.0, rng=fixed(0.5)).delay(3) == 3.0
    assert Backoff(1.0, 60.0, rng=fixed(0.999999)).delay(3) == pytest.approx(4.0, abs=1e-5)
    assert Backoff(1.0, 60.0, rng=fixed(0.0)).delay(20) == 30.0  # half the cap, once there


def test_failures_together_are_spread_apart() -> None:
    draws = random.Random(7)
    backoff = Backoff(2.0, 600.0, rng=draws.random)
    waits = [backoff.delay(5) for _ in range(200)]  # 200 rows (or replicas) that failed at once
    assert all(16.0 <= w < 32.0 for w in waits)
    assert min(waits) < 17.0 and max(waits) > 31.0  # across the whole window, not in lockstep
    assert len({round(w, 3) for w in waits}) > 190


def test_a_failure_count_in_the_thousands_waits_the_cap_instead_of_overflowing() -> None:
    # 2.0 ** 1024 overflows a float: a server down for days must not crash the retry loop.
    backoff = Backoff(0.0001, 300.0, rng=fixed(0.0))
    for n in (1023, 1024, 1025, 10_000, 10**9):
        assert backoff.ceiling(n) == 300.0
        assert backoff.delay(n) == 150.0


def test_the_first_failure_counts_from_one() -> None:
    backoff = Backoff(0.5, 20.0, rng=fixed(0.0))
    assert backoff.ceiling(0) == backoff.ceiling(1) == 0.5
    assert backoff.delay(1) == 0.25


@pytest.mark.parametrize(
    ("initial", "cap", "factor"),
    [
        (0.0, 1.0, 2.0),
        (-1.0, 1.0, 2.0),
        (2.0, 1.0, 2.0),
        (1.0, float("inf"), 2.0),
        (1.0, 10.0, 0.5),
        (1.0, 10.0, float("nan")),
    ],
)
def test_a_schedule_without_a_cap_or_growth_is_refused(initial: float, cap: float, factor: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(initial, cap, factor)


def unit_floats() -> st.SearchStrategy[float]:
    return st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


@given(
    initial=st.floats(min_value=1e-6, max_value=100.0),
    extra=st.floats(min_value=0.0, max_value=10_000.0),
    factor=st.floats(min_value=1.0, max_value=10.0),
    draws=st.lists(unit_floats(), min_size=60, max_size=60),
)
def test_the_schedule_holds_for_any_settings(initial: float, extra: float, factor: float, draws: list[float]) -> None:
    stream: Iterator[float] = iter(draws)
    backoff = Backoff(initial, initial + extra, factor, rng=lambda: next(stream))
    ceilings = [backoff.ceiling(n) for n in range(1, 61)]
    assert ceilings[0] == pytest.approx(initial)
    assert all(a <= b for a, b in zip(ceilings, ceilings[1:], strict=False))  # never shrinks
    assert all(c <= backoff.cap for c in ceilings)  # never past the cap
    for n, ceiling in enumerate(ceilings, start=1):
        assert ceiling / 2 <= backoff.delay(n) <= ceiling


def test_the_schedule_imports_nothing_of_signoff() -> None:
    # agent/, channels/ and bot/ all use it, and agent/ and channels/ may not import each other.
    ours = {"agent", "channels", "storage", "bot"}
    assert imported_modules(ROOT / "retry_backoff" / "__init__.py") & ours == set()
