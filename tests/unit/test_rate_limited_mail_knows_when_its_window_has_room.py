"""The outbound mail limits say how long until one more message fits (the clock is injected)."""

from __future__ import annotations

from channels.email.limits import OutboundRateLimit


def test_a_full_thread_window_has_room_when_its_oldest_needed_send_is_an_hour_old() -> None:
    now = [0.0]
    limit = OutboundRateLimit(3, 0, clock=lambda: now[0])
    for at in (0.0, 10.0, 20.0, 30.0):  # the 4th is over the limit: not counted
        now[0] = at
        if limit.over("t1") is None:
            limit.count("t1")
    assert limit.over("t1") is not None
    assert limit.free_in("t1") == 3570.0  # at 3600 the send at 0 leaves the window
    assert limit.free_in("t2") == 0.0 and limit.free_in(None) == 0.0
    now[0] = 3600.0
    assert limit.over("t1") is None and limit.free_in("t1") == 0.0


def test_the_total_and_the_thread_limit_both_have_to_have_room() -> None:
    now = [0.0]
    limit = OutboundRateLimit(2, 3, clock=lambda: now[0])
    for at, thread in ((0.0, "a"), (100.0, "b"), (200.0, "b")):
        now[0] = at
        limit.count(thread)
    now[0] = 300.0
    assert limit.free_in("a") == 3300.0  # the total: the send at 0 must leave
    assert limit.free_in("b") == 3400.0  # and b's own window: its send at 100 must leave too
    assert limit.free_in(None) == 3300.0


def test_no_limit_never_waits() -> None:
    limit = OutboundRateLimit(0, 0, clock=lambda: 0.0)
    for _ in range(50):
        limit.count("t1")
    assert limit.free_in("t1") == 0.0
