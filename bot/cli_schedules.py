"""`signoff schedules list`: each schedule of the deployment file, when it fired last and fires next."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from bot.errors import BotError


@click.group()
def schedules() -> None:
    """The deployment file's schedules (SIGNOFF_CONFIG)."""


@schedules.command("list")
def schedules_list() -> None:
    """List the schedules: cron, agent, catch-up, last firing (or skip) and its thread, next time."""
    from bot.cli import _store
    from bot.deployment import load_deployment
    from bot.scheduler import next_due
    from bot.settings import load_settings
    from storage.schedules import Schedules

    try:
        settings = load_settings()
        if not settings.config:
            raise click.ClickException("no SIGNOFF_CONFIG: schedules are declared in the deployment file")
        deployment = load_deployment(settings.config)
    except BotError as exc:
        raise click.ClickException(str(exc)) from exc
    if not deployment.schedules:
        click.echo("no schedules")
        return
    rows = Schedules(_store().db).all()
    now = datetime.now(UTC)
    for name, entry in deployment.schedules.items():
        row = rows.get(name)
        if row is None or row.last_due is None:
            last = "never fired"
        else:
            thread = f" thread {row.last_thread_id}" if row.last_thread_id else ""
            counts = f"({row.fired} fired, {row.skipped} skipped)"
            last = f"last {row.last_outcome} for {row.last_due:%Y-%m-%d %H:%M}Z{thread} {counts}"
        click.echo(
            f"{name}  '{entry.cron}' -> {entry.agent}  catch-up {entry.catch_up}  {last}  "
            f"next {next_due(entry.cron, now):%Y-%m-%d %H:%M}Z"
        )
