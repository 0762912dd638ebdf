"""How long to wait before the next try: one exponential, capped, jittered schedule for every retry.

Signoff retries in four places, each with its own loop: model calls (`agent/model.py`), IMAP
reconnects (`channels/email/imap_watch.py`), the outbox (`bot/dispatcher.py`, which stores the time
of the next attempt in the row) and the Slack Socket Mode connection
(`channels/slack/connection.py`). The loops differ (an awaited sleep, a thread's interruptible
wait, a time written to the database), so this module computes the delay and nothing else: no
sleeping, no I/O, no imports from the rest of Signoff, so `agent/` and `channels/` may both use it
without crossing their import boundaries.

The schedule, after the n-th consecutive failure (n >= 1):

    ceiling(n) = min(cap, initial * factor ** (n - 1))      never decreases, never exceeds `cap`
    delay(n)   = ceiling(n) / 2 + rng() * ceiling(n) / 2     in [ceiling / 2, ceiling)

The jitter is AWS's "equal jitter": replicas (or threads, or mailboxes) that failed together
spread out over the upper half of the window instead of retrying in lockstep, and no wait is
shorter than half the ceiling, so a server that asked us to slow down (a 429, an SMTP 4xx) is
never hit again at once. tenacity's and stamina's waits are computed from their own retry state
with the global `random` and drive their own loops; this one is a plain function of the failure
count with the random source injected, which is what the outbox's stored schedule and the IMAP
thread need.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """An exponential backoff: the first retry waits up to `initial` seconds, each next one up to
    `factor` times longer, none longer than `cap`. `rng` returns a float in [0, 1)."""

    initial: float
    cap: float
    factor: float = 2.0
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.cap and math.isfinite(self.cap)):
            raise ValueError(f"backoff needs 0 < initial <= cap < inf, got initial={self.initial}, cap={self.cap}")
        if not (self.factor >= 1 and math.isfinite(self.factor)):
            raise ValueError(f"backoff factor must be a finite number >= 1, got {self.factor}")

    def ceiling(self, failures: int) -> float:
        """The longest wait after `failures` consecutive failures (1 for the first)."""
        n = max(failures, 1) - 1
        # Compared in logarithms, so a failure count in the thousands (a server down for days)
        # reaches the cap instead of overflowing a float.
        if self.factor == 1 or n < math.log(self.cap / self.initial, self.factor):
            return min(self.cap, self.initial * self.factor**n)
        return self.cap

    def delay(self, failures: int) -> float:
        """How long to wait after `failures` consecutive failures: in [ceiling / 2, ceiling)."""
        ceiling = self.ceiling(failures)
        return ceiling / 2 + self.rng() * ceiling / 2
