"""Logging for every process of `signoff serve`: text for people, or JSON Lines for a log pipeline
(`SIGNOFF_LOG_FORMAT=json`), each line with the thread it is about when there is one.

The thread comes from a context variable that the worker sets while it advances a thread and the
core sets while it records a message, decision or answer for one, so that a library's log line
inside a step (litellm's, a tool's) carries it too.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
from collections.abc import Iterator

from pythonjsonlogger.json import JsonFormatter

from bot.settings import Settings

current_thread: contextvars.ContextVar[str | None] = contextvars.ContextVar("signoff_thread", default=None)


@contextlib.contextmanager
def about_thread(thread_id: str) -> Iterator[None]:
    token = current_thread.set(thread_id)
    try:
        yield
    finally:
        current_thread.reset(token)


class _ThreadField(logging.Filter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process_role = process

    def filter(self, record: logging.LogRecord) -> bool:
        record.thread_id = current_thread.get()
        record.role = self.process_role
        return True


TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(settings: Settings, role: str | None = None) -> None:
    role = role or os.environ.get("SIGNOFF_PROCESS_ROLE", "serve")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ThreadField(role))
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(thread_id)s %(role)s %(process)d",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
