"""Plain `def` tools run here, off the event loop that acknowledges Slack, serves the API and renews
leases: at most `size` at once (SIGNOFF_TOOL_THREADS), each on a daemon thread of its own.

Daemon threads, not a ThreadPoolExecutor: at exit Python joins an executor's threads, so a stop
would wait for a slow tool past SIGNOFF_SHUTDOWN_GRACE. A tool cut short that way had its start
recorded; its thread is resumed at the next start by the rules for an unknown outcome.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any


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
        loop = asyncio.get_running_loop()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        slots = self._slots
        await slots.acquire()
        done: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            slots.release()
            if done.done():
                return  # the caller was cancelled meanwhile
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)

        def body() -> None:
            result: Any = None
            error: BaseException | None = None
            try:
                result = func()
            except BaseException as exc:  # handed to the caller, who decides what a failure means
                error = exc
            try:
                loop.call_soon_threadsafe(settle, result, error)
            except RuntimeError:
                pass  # the loop is closed: the process is exiting and nobody waits for this tool

        try:
            threading.Thread(target=body, name="signoff-tool", daemon=True).start()
        except BaseException:
            slots.release()
            raise
        return await done
