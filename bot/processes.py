"""The processes of `signoff serve`: one that does it all, or the ingress and the workers.

`SIGNOFF_WORKER_PROCESSES=0` runs everything in one process (`serve_all`). Otherwise the
supervisor (bot/supervisor.py) starts `python -m bot.processes ingress` (the HTTP server: Slack's
requests, the API, health, metrics; Socket Mode and the IMAP watcher) and N times
`python -m bot.processes worker I` (the agent's steps, tool runs, the thread builder, the outbox).
The ingress never imports litellm, never renders a context and never runs a tool, so an ack
waits on nothing but its own INSERT, whatever backlog the workers have.

A child that cannot start because of its configuration exits with EXIT_CONFIG after printing
why; the supervisor then stops and exits with the same message instead of restarting it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from bot.errors import BotError
from bot.logs import setup_logging
from bot.process_env import EXIT_CONFIG, PREPARE_SCHEMA, SUPERVISOR_PID, WAKE_DIR, WORKER_COUNT
from bot.runtime import ProcessGroup, Role, Runtime
from bot.server import one_line, unreachable
from bot.settings import Settings, load_settings
from storage.errors import DatabaseUnavailable, StorageConfigError

log = logging.getLogger(__name__)


def serve_http(runtime: Runtime, host: str, port: int, *, ready: str | None = None) -> None:
    from bot.http_api import create_app
    from bot.http_close import CloseUnreadBodies

    app = create_app(runtime)
    config = uvicorn.Config(
        CloseUnreadBodies(app),
        host=host,
        port=port,
        log_level=runtime.settings.log_level.lower(),
        access_log=False,
        log_config=None,  # uvicorn's lines go through our handler: the same format (text or JSON)
        # X-Forwarded-For and -Proto are believed only from SIGNOFF_TRUSTED_PROXIES (the web inbox's
        # Secure cookies and per-client limits read them); by default from nobody.
        proxy_headers=bool(runtime.settings.trusted_proxy_list),
        forwarded_allow_ips=runtime.settings.trusted_proxy_list or None,
    )
    # A stop ends the web inbox's live streams at once: uvicorn waits for open responses to end.
    server = _Server(
        config, on_listening=(lambda: mark_ready(ready)) if ready else None, on_exit=app.state.web.live.close
    )
    # uvicorn raises the stop signal again once it has shut down, so a clean stop on SIGTERM ended
    # as "killed by SIGTERM" (exit -15). A stop asked for and carried out is a normal exit: 0.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        sys.exit(3)  # uvicorn said why (a port in use, say)


class _Server(uvicorn.Server):
    """uvicorn's server, telling the supervisor once it listens."""

    def __init__(
        self,
        config: uvicorn.Config,
        on_listening: Callable[[], None] | None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.on_listening = on_listening
        self.on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self.on_exit is not None:
            self.on_exit()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_listening is not None:
            self.on_listening()


def mark_ready(name: str) -> None:
    """Tell the supervisor this child is up: a file in the runtime directory (bot/supervisor.py)."""
    (Path(os.environ[WAKE_DIR]) / f"ready-{name}").touch()


def _stopped(_signum: int, _frame: FrameType | None) -> None:
    return None


def serve_all(settings: Settings, host: str, port: int) -> None:
    runtime = Runtime.build(settings)
    log.info("signoff serving on http://%s:%d (agent %s), in one process", host, port, runtime.agent.name)
    serve_http(runtime, host, port)


def _group(index: int = 0) -> ProcessGroup:
    return ProcessGroup(Path(os.environ[WAKE_DIR]), int(os.environ[WORKER_COUNT]), index)


def run_ingress(settings: Settings, host: str, port: int) -> None:
    # Its first start (and only that) creates, upgrades or checks the schema: the workers start
    # once it is ready, so nothing else opens the database before it.
    first = os.environ.pop(PREPARE_SCHEMA, "") == "1"
    runtime = Runtime.build(settings, upgrade_schema=first, role=Role.INGRESS, group=_group())
    log.info("ingress serving on http://%s:%d (agent %s)", host, port, runtime.agent.name)
    serve_http(runtime, host, port, ready="ingress")


def run_worker(settings: Settings, index: int) -> None:
    if settings.worker_nice:
        # Before anything runs: what the worker starts (tool threads, subprocesses) inherits it.
        os.nice(settings.worker_nice)
    runtime = Runtime.build(settings, upgrade_schema=False, role=Role.WORKER, group=_group(index))
    asyncio.run(_work(runtime, index))


async def _work(runtime: Runtime, index: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with runtime.running():
        log.info("worker %d ready (agent %s)", index, runtime.agent.name)
        mark_ready(f"worker-{index}")
        await stop.wait()
    log.info("worker %d stopped", index)


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the supervisor dies, however it dies: a killed
    supervisor must not leave workers behind that nobody restarts or stops."""
    parent = int(os.environ.get(SUPERVISOR_PID, "0"))
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if parent and os.getppid() != parent:
        os._exit(1)  # the supervisor died before the request took effect


def _say(settings: Settings | None, message: str) -> None:
    if settings is not None and settings.log_format == "json":
        log.critical("Error: %s", message)  # one JSON line, like every other
    else:
        print(f"Error: {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> None:
    die_with_parent()
    settings: Settings | None = None
    try:
        settings = load_settings()
        setup_logging(settings)
        if argv[0] == "ingress":
            run_ingress(settings, argv[1], int(argv[2]))
        elif argv[0] == "worker":
            run_worker(settings, int(argv[1]))
        else:
            raise SystemExit(f"unknown process {argv[0]!r}")
    except BotError as exc:
        _say(settings, str(exc))
        sys.exit(EXIT_CONFIG)
    except StorageConfigError as exc:  # a URL or a schema it may not serve on (the first start's check)
        _say(settings, one_line(str(exc)))
        sys.exit(EXIT_CONFIG)
    except DatabaseUnavailable as exc:
        # One line, and a plain failure: the supervisor stops a first start with it, and restarts
        # a child that had run (the database may be back by then).
        _say(settings, unreachable(settings.database_url, exc) if settings else str(exc))
        sys.exit(1)
    # Everything is stopped and committed: skip the interpreter's teardown of a large heap (seconds
    # on a busy machine), which a stop would otherwise wait for.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
