"""`signoff audit`: every request, decision (who, how proven), progress and request event."""

from __future__ import annotations

from datetime import UTC, datetime

import click


@click.command()
@click.option("--since", default=None, help="Only what happened since: 7d, 12h, 30m, or a date or time (2026-12-01).")
@click.option("--person", default=None, help="Only records where this person (any of their names) acted or asked.")
@click.option("--tool", default=None, help="Only requests for this tool.")
@click.option("--thread", "thread_id", default=None, help="Only this thread.")
@click.option("--format", "form", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--limit", default=10_000, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--type", "types", default=None, help="Only these event types, comma-separated: request_reminded,request_expired."
)
def audit(
    since: str | None,
    person: str | None,
    tool: str | None,
    thread_id: str | None,
    form: str,
    limit: int,
    types: str | None,
) -> None:
    """Print the audit as JSON Lines or CSV (append-only: derived from the threads' events)."""
    from bot.audit import AuditFilter, AuditFilterError, parse_since, parse_types, records, render
    from bot.cli import _store

    try:
        when = parse_since(since, datetime.now(UTC))
        wanted = AuditFilter(when, person, tool, thread_id, limit, types=parse_types(types))
        rows = records(_store(), wanted)
    except AuditFilterError as exc:
        raise click.ClickException(str(exc)) from exc
    for chunk in render(rows, "csv" if form == "csv" else "jsonl"):
        click.echo(chunk, nl=False)
