"""Log an outage once when it starts, as a reminder now and then while it lasts, and when it ends.

A loop that polls the database twice a second would otherwise log the same warning twice a second
for as long as the database is down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class OutageLog:
    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        *,
        remind_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._what = what
        self._remind_every = remind_every
        self._clock = clock
        self._since: float | None = None
        self._last_logged = 0.0
        self._failures = 0

    def failed(self, error: BaseException) -> None:
        now = self._clock()
        self._failures += 1
        if self._since is None:
            self._since = self._last_logged = now
            self._logger.warning("%s unavailable, will retry: %s", self._what, error)
        elif now - self._last_logged >= self._remind_every:
            self._last_logged = now
            self._logger.warning(
                "%s still unavailable after %.0f s (%d failed attempts): %s",
                self._what,
                now - self._since,
                self._failures,
                error,
            )

    def succeeded(self) -> None:
        if self._since is not None:
            self._logger.warning(
                "%s available again after %.0f s (%d failed attempts)",
                self._what,
                self._clock() - self._since,
                self._failures,
            )
            self._since, self._failures = None, 0
