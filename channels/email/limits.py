"""Caps against mail storms: how often we act on one sender's mail, and how much mail we send.

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


class OutboundRateLimit:
    """Caps on the mail we send: per thread, and in all, per hour (a sliding window, in memory).

    The per-sender limit on inbound mail is no cap on what goes out: a sender can forge any From
    address, one message can make several, and a thread can go on without new mail. These caps
    hold whoever asks. `over(thread_id)` names the limit one more message would pass (or None),
    `free_in(thread_id)` says how long until it would not; `count(thread_id)` counts a message that
    went out. 0 or less means no limit.
    """

    def __init__(
        self, per_thread: int, total: int, *, clock: Callable[[], float] = time.monotonic, window: float = WINDOW
    ) -> None:
        self.per_thread = per_thread
        self.total = total
        self.window = window
        self.clock = clock
        self._threads: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def over(self, thread_id: str | None) -> str | None:
        now = self.clock()
        if self.total > 0 and len(self._trim(self._all, now)) >= self.total:
            return f"{self.total} messages per hour in all (SIGNOFF_EMAIL_SEND_RATE_LIMIT)"
        if self.per_thread > 0 and thread_id is not None:
            times = self._threads.get(thread_id)
            if times is not None and len(self._trim(times, now)) >= self.per_thread:
                return f"{self.per_thread} messages per thread per hour (SIGNOFF_EMAIL_THREAD_RATE_LIMIT)"
        return None

    def free_in(self, thread_id: str | None) -> float:
        """Seconds until one more message would be within every limit (0: now)."""
        now = self.clock()
        waits = [0.0]
        if self.total > 0:
            waits.append(self._free_in(self._trim(self._all, now), self.total, now))
        times = self._threads.get(thread_id) if thread_id is not None else None
        if self.per_thread > 0 and times is not None:
            waits.append(self._free_in(self._trim(times, now), self.per_thread, now))
        return max(waits)

    def _free_in(self, times: deque[float], limit: int, now: float) -> float:
        # Below the limit once all but limit - 1 of the times have left the window.
        return max(0.0, times[len(times) - limit] + self.window - now) if len(times) >= limit else 0.0

    def count(self, thread_id: str | None) -> None:
        now = self.clock()
        self._all.append(now)
        if thread_id is not None:
            self._threads.setdefault(thread_id, deque()).append(now)
        if len(self._threads) >= 10_000:
            for key in [k for k, v in self._threads.items() if not v or v[-1] <= now - self.window]:
                del self._threads[key]

    def _trim(self, times: deque[float], now: float) -> deque[float]:
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
