"""`signoff audit`: every request, decision (who, how proven), progress and request event; and
`signoff audit verify|export`: the tamper-evident chain over those records (storage/audit_chain.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

if TYPE_CHECKING:
    from storage.audit_chain import ChainRecord


@click.group(invoke_without_command=True)
@click.option("--since", default=None, help="Only what happened since: 7d, 12h, 30m, or a date or time (2026-12-01).")
@click.option("--person", default=None, help="Only records where this person (any of their names) acted or asked.")
@click.option("--tool", default=None, help="Only requests for this tool.")
@click.option("--thread", "thread_id", default=None, help="Only this thread.")
@click.option("--format", "form", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--limit", default=10_000, show_default=True, type=click.IntRange(1, 100_000))
@click.pass_context
def audit(
    ctx: click.Context,
    since: str | None,
    person: str | None,
    tool: str | None,
    thread_id: str | None,
    form: str,
    limit: int,
) -> None:
    """Print the audit as JSON Lines or CSV (append-only: derived from the threads' events).

    `signoff audit verify` checks the audit's hash chain; `signoff audit export` writes it out."""
    if ctx.invoked_subcommand is not None:
        return
    from bot.audit import AuditFilter, AuditFilterError, parse_since, records, render
    from bot.cli import _store

    try:
        wanted = AuditFilter(parse_since(since, datetime.now(UTC)), person, tool, thread_id, limit)
        rows = records(_store(), wanted)
    except AuditFilterError as exc:
        raise click.ClickException(str(exc)) from exc
    for chunk in render(rows, "csv" if form == "csv" else "jsonl"):
        click.echo(chunk, nl=False)


@audit.command()
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Verify an export (signoff audit export) offline, instead of the database.",
)
@click.option("--head", default=None, help="The head hash recorded earlier: fail if the chain no longer reaches it.")
def verify(path: Path | None, head: str | None) -> None:
    """Recompute the audit's hash chain; name the first record that does not match (exit status 1)."""
    from storage.audit_chain import ChainRecord, Verdict, verify_records

    verdict: Verdict
    if path is not None:
        with path.open(encoding="utf-8") as lines:
            verdict = verify_records(ChainRecord.from_export(line) for line in lines if line.strip())
        source = str(path)
    else:
        from bot.cli import _store

        verdict = _store().verify_chain()
        source = "the database"
    if not verdict.ok:
        click.echo(f"audit chain BROKEN in {source} after {verdict.records} good records: {verdict.reason}", err=True)
        sys.exit(1)
    if head is not None and head != verdict.head and not _reaches(path, head):
        click.echo(f"audit chain in {source} does not contain the head {head}: records were removed", err=True)
        sys.exit(1)
    click.echo(f"audit chain OK in {source}: {verdict.records} records, head {verdict.head}")


def _reaches(path: Path | None, head: str) -> bool:
    """Whether an earlier head is still a record of the chain (the chain grew since it was noted)."""
    from storage.audit_chain import ChainRecord

    if path is not None:
        with path.open(encoding="utf-8") as lines:
            return any(ChainRecord.from_export(line).hash == head for line in lines if line.strip())
    from bot.cli import _store

    return any(record.hash == head for record in _store().chain_records())


@audit.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here, not stdout.")
def export(out: Path | None) -> None:
    """Write the audit's chain as JSON Lines (each record with its event and hashes), verifiable
    offline with `signoff audit verify --file`."""
    from bot.cli import _store

    store = _store()
    if out is None:
        _write(store.chain_records(), sys.stdout)
        return
    with out.open("w", encoding="utf-8") as target:
        count = _write(store.chain_records(), target)
    click.echo(f"wrote {count} audit records to {out}", err=True)


def _write(records: Iterator[ChainRecord], target: IO[str]) -> int:
    import json

    count = 0
    for record in records:
        target.write(json.dumps(record.export(), separators=(",", ":"), ensure_ascii=False) + "\n")
        count += 1
    return count
