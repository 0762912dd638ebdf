"""`signoff serve`: everything in one process, or an ingress and worker processes under a supervisor."""

from __future__ import annotations

from bot.settings import Settings


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> int:
    """Serve until stopped; the exit code."""
    bind_host = host or settings.host
    bind_port = settings.port if port is None else port
    if settings.worker_process_count == 0:
        from bot.processes import serve_all

        serve_all(settings, bind_host, bind_port)
        return 0
    from bot.supervisor import supervise

    return supervise(settings, bind_host, bind_port)
