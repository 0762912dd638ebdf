"""Run a blocking function on a daemon thread of its own and await its result.

Not the loop's executor: Python joins an executor's threads at exit (and `asyncio.run` waits for
the default one), so a stop would wait for a slow tool or a seconds-long import past the shutdown
grace. A daemon thread still running at exit is simply dropped; what it was doing had its start
recorded where that matters (a tool's `tool_started`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any


async def on_daemon_thread(func: Callable[[], Any], *, name: str, finished: Callable[[], None] = lambda: None) -> Any:
    """`func()`'s result (or exception). `finished` runs on the loop when `func` returns, even if
    the caller stopped waiting: a slot held for the thread is freed when the thread is done."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        finished()
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
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is exiting
            loop.call_soon_threadsafe(settle, result, error)

    try:
        threading.Thread(target=body, name=name, daemon=True).start()
    except BaseException:
        finished()
        raise
    return await done
