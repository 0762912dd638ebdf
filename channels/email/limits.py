"""A per-sender cap on how often we act on mail (and so how often we reply): no mail storms.

A sliding window per sender, in memory: `allow(sender)` says whether one more is within
`per_hour` in the last hour, and counts it if so. A restart forgets the window, which errs on the
side of answering people. The clock is injected.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW = 3600.0


class SenderRateLimit:
    def __init__(self, per_hour: int, *, clock: Callable[[], float] = time.monotonic, window: float = WINDOW) -> None:
        self.per_hour = per_hour
        self.window = window
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}

    def allow(self, sender: str) -> bool:
        """True (and counted) when `sender` is under the limit; 0 or less means no limit."""
        if self.per_hour <= 0:
            return True
        now = self.clock()
        key = sender.strip().lower()
        times = self._seen.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.per_hour:
            return False
        times.append(now)
        self._forget_idle(now)
        return True

    def _forget_idle(self, now: float) -> None:
        if len(self._seen) < 10_000:
            return
        for key in [k for k, v in self._seen.items() if not v or v[-1] <= now - self.window]:
            del self._seen[key]
