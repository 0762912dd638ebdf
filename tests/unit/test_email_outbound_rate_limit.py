"""Outgoing mail is capped per thread and in total over a sliding hour (the clock is injected)."""

from __future__ import annotations

from channels.email.limits import OutboundRateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def send(limit: OutboundRateLimit, thread: str | None) -> bool:
    if limit.over(thread) is not None:
        return False
    limit.count(thread)
    return True


def test_a_thread_gets_its_quota_per_hour_and_other_threads_are_not_held_back() -> None:
    clock = Clock()
    limit = OutboundRateLimit(2, 0, clock=clock)
    assert [send(limit, "t1") for _ in range(3)] == [True, True, False]
    assert "SIGNOFF_EMAIL_THREAD_RATE_LIMIT" in (limit.over("t1") or "")
    assert send(limit, "t2") and send(limit, None)
    clock.now = 3599.0
    assert not send(limit, "t1")
    clock.now = 3600.5  # the first two are an hour old
    assert [send(limit, "t1") for _ in range(3)] == [True, True, False]


def test_the_total_caps_every_thread_and_mail_outside_threads() -> None:
    clock = Clock()
    limit = OutboundRateLimit(0, 3, clock=clock)
    assert [send(limit, f"t{n}") for n in range(4)] == [True, True, True, False]
    assert not send(limit, None)
    assert "SIGNOFF_EMAIL_SEND_RATE_LIMIT" in (limit.over("new") or "")
    clock.now = 3601.0
    assert send(limit, "t9")


def test_zero_means_no_limit() -> None:
    limit = OutboundRateLimit(0, 0, clock=Clock())
    assert all(send(limit, "t") for _ in range(1000))
