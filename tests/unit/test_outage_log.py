"""An outage is logged when it starts, as a reminder now and then, and when it ends: not per poll."""

from __future__ import annotations

import logging

import pytest

from bot.outage_log import OutageLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_logged_at_its_start_every_minute_and_at_its_end(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = OutageLog(logging.getLogger("test.outage"), "database", remind_every=60.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        outage.succeeded()  # nothing was down: nothing to say
        for _ in range(240):  # two minutes of polls, twice a second
            outage.failed(ConnectionError("connection refused"))
            clock.now += 0.5
        outage.succeeded()
        outage.succeeded()
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "database unavailable, will retry: connection refused",
        "database still unavailable after 60 s (121 failed attempts): connection refused",
        "database available again after 120 s (240 failed attempts)",
    ]


def test_a_second_outage_starts_over(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = OutageLog(logging.getLogger("test.outage"), "database", clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        outage.failed(ConnectionError("first"))
        outage.succeeded()
        clock.now += 5
        outage.failed(ConnectionError("second"))
    assert [record.getMessage() for record in caplog.records][-1] == "database unavailable, will retry: second"
