"""SIGNOFF_TEST_CLOCK_FILE moves the timers' clock for tests; it cannot be turned on by accident:
a server listening beyond loopback refuses it, and a file that does not say it is a test clock
(or says something absurd) stops the start. A clock moved forward never moves back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import FileClock, SystemClock, clock_from, write_offset
from bot.errors import ConfigError
from bot.settings import load_settings


def test_a_server_listening_beyond_loopback_refuses_the_test_clock(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SIGNOFF_TEST_CLOCK_FILE: .*for tests only"):
        load_settings(host="0.0.0.0", test_clock_file=str(tmp_path / "clock.json"))
    assert load_settings(host="127.0.0.1", test_clock_file=str(tmp_path / "clock.json")).test_clock_file


def test_without_the_setting_the_clock_is_the_systems() -> None:
    assert load_settings().test_clock_file is None
    assert isinstance(clock_from(None), SystemClock)


@pytest.mark.parametrize(
    "content",
    [
        "",
        "3600",
        '{"offset_seconds": 3600}',  # not marked as a test clock
        '{"signoff_test_clock": "yes", "offset_seconds": 3600}',
        '{"signoff_test_clock": true, "offset_seconds": -60}',
        '{"signoff_test_clock": true, "offset_seconds": 1e12}',
        '{"signoff_test_clock": true, "offset_seconds": "1h"}',
        '{"signoff_test_clock": true, "offset_seconds": 1}' + " " * 5000,
    ],
)
def test_a_file_that_is_not_a_test_clock_stops_the_start(tmp_path: Path, content: str) -> None:
    path = tmp_path / "clock.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="SIGNOFF_TEST_CLOCK_FILE"):
        clock_from(path)


def test_a_missing_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        clock_from(tmp_path / "nowhere.json")


def test_the_clock_moves_forward_with_the_file_and_never_back(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    write_offset(path, 0)
    clock = clock_from(path)
    assert isinstance(clock, FileClock)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
    write_offset(path, 3600)
    assert clock.now() - datetime.now(UTC) > timedelta(minutes=59)
    path.write_text("{half written")
    assert clock.now() - datetime.now(UTC) > timedelta(minutes=59)  # the last good offset is kept
    write_offset(path, 60)
    assert clock.now() - datetime.now(UTC) > timedelta(minutes=59)  # never back
