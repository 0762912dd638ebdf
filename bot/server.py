"""Run the HTTP server and everything behind it in one process."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import uvicorn

from bot.http_api import create_app
from bot.http_close import CloseUnreadBodies
from bot.runtime import Runtime
from bot.settings import Settings

log = logging.getLogger(__name__)


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    runtime = Runtime.build(settings)
    app = create_app(runtime)
    bind_host = host or settings.host
    bind_port = settings.port if port is None else port
    log.info("signoff serving on http://%s:%d (agent %s)", bind_host, bind_port, runtime.agent.name)
    # uvicorn raises the stop signal again once it has shut down, so a clean stop on SIGTERM ended
    # as "killed by SIGTERM" (exit -15). A stop asked for and carried out is a normal exit: 0.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.run(
            CloseUnreadBodies(app),
            host=bind_host,
            port=bind_port,
            log_level=settings.log_level.lower(),
            access_log=False,
            # X-Forwarded-For and -Proto are believed only from SIGNOFF_TRUSTED_PROXIES (the web
            # inbox's Secure cookies and per-client limits read them); by default from nobody.
            proxy_headers=bool(settings.trusted_proxy_list),
            forwarded_allow_ips=settings.trusted_proxy_list or None,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopped(_signum: int, _frame: FrameType | None) -> None:
    return None
