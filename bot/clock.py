"""The clock the runtime's timers read (storage/timers.py fires what is due at `clock.now()`).

In production it is the system's. Tests move it forward instead of sleeping: with
`SIGNOFF_TEST_CLOCK_FILE=/path/clock.json` every process of `signoff serve` reads the time as the
system's plus the file's `offset_seconds`, re-read at each tick, so a test writes a larger offset
and the timers due by then fire (on every replica reading that file, once). It cannot be turned on
by accident: the variable says TEST, the file must hold `{"signoff_test_clock": true, ...}`, a
server listening beyond loopback (SIGNOFF_HOST) refuses to start with it, and each process logs a
warning at start. Only the clock of timers moves: tokens, leases and timestamps keep real time.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from bot.errors import ConfigError

log = logging.getLogger(__name__)

MAGIC = "signoff_test_clock"
MAX_FILE_BYTES = 4096
MAX_OFFSET = timedelta(days=3650).total_seconds()
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FileClock:
    """The system's time plus the offset a test wrote to `path` (never less than the last one read,
    so a half-written file never moves time back)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = read_offset(path)

    def now(self) -> datetime:
        try:
            self.offset = max(self.offset, read_offset(self.path))
        except ConfigError as exc:
            log.warning("test clock: %s; keeping the offset of %.0f s", exc, self.offset)
        return datetime.now(UTC) + timedelta(seconds=self.offset)


def read_offset(path: Path) -> float:
    """The offset in a test clock file; ConfigError says what is wrong with it."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"SIGNOFF_TEST_CLOCK_FILE: cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw) if len(raw) <= MAX_FILE_BYTES else None
    except ValueError:
        data = None
    offset = data.get("offset_seconds", 0) if isinstance(data, dict) and data.get(MAGIC) is True else None
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not math.isfinite(offset):
        raise ConfigError(
            f'SIGNOFF_TEST_CLOCK_FILE: {path} must hold {{"{MAGIC}": true, "offset_seconds": <number>}} '
            "(it is for tests only: unset it in production)"
        )
    if not 0 <= offset <= MAX_OFFSET:
        raise ConfigError(f"SIGNOFF_TEST_CLOCK_FILE: offset_seconds must be between 0 and {MAX_OFFSET:.0f}")
    return float(offset)


def write_offset(path: Path, seconds: float) -> None:
    """Move a test clock to `seconds` past the system's time (written whole, then renamed)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({MAGIC: True, "offset_seconds": seconds}))
    partial.replace(path)


def clock_from(test_clock_file: Path | None) -> Clock:
    if test_clock_file is None:
        return SystemClock()
    clock = FileClock(test_clock_file)
    log.warning(
        "SIGNOFF_TEST_CLOCK_FILE is set: timers read the time from %s (now %.0f s ahead). This is for tests only",
        test_clock_file,
        clock.offset,
    )
    return clock
