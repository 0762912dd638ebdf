"""`signoff grants list|revoke`: standing grants at the operator's console."""

from __future__ import annotations

import asyncio
import json

import click


@click.group()
def grants() -> None:
    """Standing grants: approvals that cover later calls for a while."""


@grants.command("list")
@click.option("--all", "all_grants", is_flag=True, help="Include revoked and expired grants.")
@click.option("--tool", default=None, help="Only grants for this tool.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def grants_list(all_grants: bool, tool: str | None, as_json: bool) -> None:
    """List grants (active ones unless --all)."""
    from bot.cli import _store
    from bot.grant_admin import grant_json

    rows = _store().list_grants(active=not all_grants, tool=tool, limit=1000)
    if as_json:
        click.echo(json.dumps([grant_json(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo("no grants" if all_grants else "no active grants")
    for row in rows:
        body = grant_json(row)
        where = f"thread {row.thread_id}" if row.thread_id else ("exact arguments" if row.digest else "any thread")
        click.echo(
            f"{row.id}  {body['state']:<7} {row.tool:<20} {row.scope:<9} by {row.given_by:<24} "
            f"until {row.expires_at:%Y-%m-%d %H:%M}Z  {where}  used {row.uses}x"
        )


@grants.command("revoke")
@click.argument("grant_id")
@click.option("--by", required=True, help="Who revokes it (recorded on the grant).")
def grants_revoke(grant_id: str, by: str) -> None:
    """Revoke a grant at once: the next call it would have covered asks a human."""
    from bot.cli import _store
    from bot.grant_admin import revoke
    from storage.async_store import AsyncStore

    storage = AsyncStore(_store(), threads=1)
    try:
        outcome = asyncio.run(revoke(storage, {}, grant_id, by=by, person=None, operator=True))
    finally:
        storage.close()
    if outcome.status != "revoked":
        raise click.ClickException(outcome.message)
    click.echo(outcome.message)
