"""`signoff serve`: everything in one process, or an ingress and worker processes under a supervisor."""

from __future__ import annotations

from bot.settings import Settings


def one_line(message: str) -> str:
    return " ".join(message.split())


def unreachable(url: str, exc: Exception) -> str:
    """The line `serve` (or its ingress) stops with when the database cannot be reached: where (never
    the password) and what to check."""
    from storage.db import Database

    return one_line(
        f"cannot reach the database at {Database(url).safe_url} ({exc}): check SIGNOFF_DATABASE_URL "
        "and that the database server is running and reachable from here"
    )


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
