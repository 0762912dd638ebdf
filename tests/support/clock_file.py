"""A test clock for `signoff serve` (bot/clock.py): the file every process of the server reads the
timers' time from. `advance(minutes=11)` moves it forward; no test sleeps on a timer."""

from __future__ import annotations

import os
from pathlib import Path

from bot.clock import write_offset
from tests.support.people import ROOT


class ClockFile:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "clock.json"
        self.offset = 0.0
        write_offset(self.path, 0)

    def advance(self, *, minutes: float = 0, seconds: float = 0) -> None:
        self.offset += minutes * 60 + seconds
        write_offset(self.path, self.offset)

    def settings(self) -> dict[str, str]:
        """`signoff serve` settings: the clock agent, on this clock."""
        return {
            "SIGNOFF_AGENT": "tests.support.clock_agent:agent",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "SIGNOFF_TEST_CLOCK_FILE": str(self.path),
        }
