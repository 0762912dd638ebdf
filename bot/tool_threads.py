"""Plain `def` tools run here, off the event loop that acknowledges Slack, serves the API and renews
leases: at most `size` at once (SIGNOFF_TOOL_THREADS), each on a daemon thread of its own.

Daemon threads (agent/io/daemon_thread.py), not a ThreadPoolExecutor: at exit Python joins an
executor's threads, so a stop would wait for a slow tool past SIGNOFF_SHUTDOWN_GRACE. A tool cut
short that way had its start recorded; its thread is resumed at the next start by the rules for an
unknown outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from agent.io.daemon_thread import on_daemon_thread


class ToolThreads:
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one tool thread")
        self.size = size
        self._slots: asyncio.Semaphore | None = None

    async def run(self, func: Callable[[], Any]) -> Any:
        """Run `func` on a tool thread and return its result (or raise its exception). A slot is
        freed when the function returns, not when the caller stops waiting, so a cancelled caller
        never lets more than `size` tools run at once."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        slots = self._slots
        await slots.acquire()
        return await on_daemon_thread(func, name="signoff-tool", finished=slots.release)
