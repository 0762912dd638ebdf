"""The `signoff` command: serve, doctor, threads, approve/deny/answer, db."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from bot.errors import BotError
from bot.server import one_line as _one_line
from bot.server import unreachable as _unreachable
from bot.settings import Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except BotError as exc:
        raise click.ClickException(str(exc)) from exc


def _serve_logging(settings: Settings) -> None:
    from bot.logs import setup_logging

    setup_logging(settings)


@click.group()
@click.version_option(package_name="signoff")
def main() -> None:
    """Signoff: LLM agents that ask a human before anything risky, over Slack and email."""


@main.command()
@click.option("--host", default=None, help="Address to bind (default SIGNOFF_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to bind (default SIGNOFF_PORT, 8080).")
def serve(host: str | None, port: int | None) -> None:
    """Run the bot: an ingress process (HTTP API, Slack endpoint, email watcher) and worker
    processes (the agents' steps), or all in one with SIGNOFF_WORKER_PROCESSES=0."""
    settings = _settings()
    _serve_logging(settings)
    from bot.server import serve as run_server
    from storage.errors import DatabaseUnavailable, StorageError

    try:
        code = run_server(settings, host=host, port=port)
    except DatabaseUnavailable as exc:
        raise click.ClickException(_unreachable(settings.database_url, exc)) from exc
    except (BotError, StorageError) as exc:
        raise click.ClickException(_one_line(str(exc))) from exc
    sys.exit(code)


@main.command()
def doctor() -> None:
    """Check the configuration and every connection; say what is wrong and how to fix it."""
    from bot.doctor import run_checks

    ok = asyncio.run(run_checks(click.echo))
    sys.exit(0 if ok else 1)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (serve does this at start too)."""
    from storage import migrate
    from storage.db import Database
    from storage.errors import DatabaseUnavailable, StorageError

    settings = _settings()
    try:
        database = Database(settings.database_url)
        schema = migrate.inspect(database)
        if schema.state in (migrate.SchemaState.AHEAD, migrate.SchemaState.TOO_NEW):
            problem = schema.problem(database.safe_url)
            if problem:
                raise click.ClickException(problem)
            click.echo(
                f"database at revision {schema.revision}, newer than this release's {schema.head} "
                f"and still compatible with it: nothing to do"
            )
            return
        migrate.upgrade(database)
        click.echo(f"database at revision {migrate.current_revision(database)}")
    except DatabaseUnavailable as exc:
        raise click.ClickException(_unreachable(settings.database_url, exc)) from exc
    except StorageError as exc:
        raise click.ClickException(_one_line(str(exc))) from exc


@main.group()
def threads() -> None:
    """Inspect threads."""


def _store() -> Any:
    """The store of an existing, current database; operator commands never create or migrate one."""
    from storage import migrate
    from storage.db import Database
    from storage.errors import StorageError
    from storage.store import Store

    settings = _settings()
    try:
        database = Database(settings.database_url)
        migrate.require_current(database)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc
    return Store(database)


@threads.command("list")
@click.option("--status", type=click.Choice(["running", "waiting", "done", "failed"]))
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def threads_list(status: str | None, limit: int, as_json: bool) -> None:
    """List recent threads."""
    from bot.views import thread_json

    rows = _store().list_threads(status=status, limit=limit)
    if as_json:
        click.echo(json.dumps([thread_json(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo("no threads")
    for row in rows:
        click.echo(
            f"{row.id}  {row.status:<8} {row.origin_channel:<6} {row.requested_by:<24} {row.updated_at:%Y-%m-%d %H:%M}"
        )


@threads.command("show")
@click.argument("thread_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def threads_show(thread_id: str, as_json: bool) -> None:
    """Show a thread's events and what it waits for."""
    from agent.context import render_event
    from bot.views import thread_json

    store = _store()
    row = store.get_thread(thread_id)
    if row is None:
        raise click.ClickException(f"no thread {thread_id}")
    events = store.stored_events(thread_id)
    if as_json:
        click.echo(json.dumps(thread_json(row, events), indent=2))
        return
    click.echo(
        f"thread {row.id}  status={row.status}  agent={row.agent}  from={row.requested_by} via {row.origin_channel}"
    )
    for stored in events:
        click.echo(f"#{stored.seq:<3} {render_event(_marked(stored.event))}")
    for request in store.list_requests(status="pending", thread_id=thread_id):
        who = ", ".join(request.allowed) or "anyone"
        click.echo(f"waiting: {request.kind} {request.id} (may answer: {who})")


def _marked(event: Any) -> Any:
    """`event` with what is hard to see in its text and arguments marked (`channels.marks`), so an
    operator reads what runs: `⟨3000 spaces⟩`, `⟨U+202E⟩`, `p⟨Cyrillic а⟩yments`."""
    from channels.marks import mark, mark_value

    update: dict[str, Any] = {
        name: mark(value, spaces=False) for name, value in event if isinstance(value, str) and name != "type"
    }
    if isinstance(getattr(event, "arguments", None), dict):
        update["arguments"] = mark_value(event.arguments)
    return event.model_copy(update=update)


def _resolve(
    request_id: str,
    *,
    approve: bool | None,
    text: str,
    by: str,
    changes: dict[str, str] | None = None,
    grant: str | None = None,
    until: str | None = None,
) -> None:
    from bot.agent_set import load_agents
    from bot.cli_people import parse_expiry
    from bot.core import SignoffCore
    from channels.base import Edit, GrantAsk, Proof
    from storage.async_store import AsyncStore

    ask = None
    if grant is not None:
        end = parse_expiry(until, datetime.now(UTC)) if until else None
        ask = GrantAsk(grant, until=end)
    storage = AsyncStore(_store(), threads=1)
    settings = _settings()
    try:
        loaded = load_agents(settings)
    except BotError as exc:
        storage.close()
        raise click.ClickException(str(exc)) from exc
    core = SignoffCore(storage, loaded.default, default_approvers=settings.approver_list, agents=loaded)
    if settings.slack_bot_token is not None:  # a list naming a Slack user group: its members decide here too
        from bot.slack_wiring import web_client
        from channels.slack.identity import GroupMembership

        client = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        core.slack_groups = GroupMembership(client).held_by_any
    try:
        # At the console: recorded as the operator's, with the name they gave and their OS user.
        proof = Proof("console", "cli", {"os_user": getpass.getuser()})
        if approve is None:
            decision = asyncio.run(core.answer(request_id, answer=text, by=by, proof=proof))
        else:
            edit = Edit(dict(changes), text=True) if changes else None
            decision = asyncio.run(
                core.decide(request_id, approve=approve, by=by, comment=text, proof=proof, edit=edit, grant=ask)
            )
    finally:
        storage.close()
    if decision.status != "accepted":
        raise click.ClickException(decision.message)
    if decision.message:
        click.echo(decision.message)
    click.echo(f"recorded; the running bot picks the thread up within {settings.poll_interval}s")


@main.command()
@click.argument("request_id")
@click.option("--by", required=True, help="Who approves (a Slack user id or an email address).")
@click.option("--comment", default="", help="An optional note for the agent.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="Approve with this argument changed (repeatable); checked against the tool's schema.",
)
@click.option(
    "--grant",
    type=click.Choice(["thread", "duration", "arguments"]),
    default=None,
    help="And allow the same for this thread, any thread, or these exact arguments (a standing grant).",
)
@click.option("--until", default=None, help="The grant's end: 1h, 7d, or a date (default: the longest allowed).")
def approve(
    request_id: str, by: str, comment: str, settings: tuple[str, ...], grant: str | None, until: str | None
) -> None:
    """Approve a pending request (for operators)."""
    changes: dict[str, str] = {}
    for setting in settings:
        name, sep, value = setting.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{setting!r}: write NAME=VALUE", param_hint="--set")
        changes[name.strip()] = value
    _resolve(request_id, approve=True, text=comment, by=by, changes=changes, grant=grant, until=until)


@main.command()
@click.argument("request_id")
@click.option("--by", required=True, help="Who denies (a Slack user id or an email address).")
@click.option("--reason", "comment", default="", help="Why; the agent reads it and adapts.")
def deny(request_id: str, by: str, comment: str) -> None:
    """Deny a pending request (for operators)."""
    _resolve(request_id, approve=False, text=comment, by=by)


@main.command()
@click.argument("request_id")
@click.argument("answer_text")
@click.option("--by", required=True, help="Who answers.")
def answer(request_id: str, answer_text: str, by: str) -> None:
    """Answer a pending question (for operators)."""
    _resolve(request_id, approve=None, text=answer_text, by=by)


def _add_groups() -> None:
    from bot.cli_agents import agents
    from bot.cli_audit import audit
    from bot.cli_grants import grants
    from bot.cli_people import people, tokens
    from bot.cli_schedules import schedules

    main.add_command(people)
    main.add_command(tokens)
    main.add_command(audit)
    main.add_command(grants)
    main.add_command(agents)
    main.add_command(schedules)


_add_groups()
