"""`signoff people` and `signoff tokens`: the people directory and personal API tokens."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

DURATION = re.compile(r"(\d+)\s*([dhm])")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}
DEFAULT_EXPIRY = "90d"


def _store() -> Any:
    from bot.cli import _store as store

    return store()


def parse_expiry(value: str, now: datetime) -> datetime | None:
    """`90d`, `12h`, `30m`, an ISO 8601 date or time (UTC unless it says), or `never`."""
    value = value.strip().lower()
    if value == "never":
        return None
    match = DURATION.fullmatch(value)
    if match:
        amount = int(match.group(1))
        if amount < 1:
            raise click.BadParameter("must be at least 1", param_hint="--expires")
        return now + timedelta(**{UNITS[match.group(2)]: amount})
    try:
        when = datetime.fromisoformat(value.upper() if "t" in value else value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give a duration (90d, 12h, 30m), a date or time (2027-03-01, 2027-03-01T12:00Z) or never",
            param_hint="--expires",
        ) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= now:
        raise click.BadParameter(f"{value!r} is in the past", param_hint="--expires")
    return when


@click.group()
def people() -> None:
    """The people directory: who approves, across Slack and email."""


@people.command("add")
@click.argument("name")
@click.option("--slack", "slack_ids", multiple=True, help="A Slack user id (U012ABCDEF); repeat for several.")
@click.option("--email", "emails", multiple=True, help="An email address; repeat for several.")
def people_add(name: str, slack_ids: tuple[str, ...], emails: tuple[str, ...]) -> None:
    """Add a person: NAME (lower case, e.g. alice) and the Slack ids and addresses they use."""
    from storage.people import PeopleError

    try:
        person = _store().add_person(name, slack_ids=slack_ids, emails=emails)
    except PeopleError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"added {person.name} ({person.id})")


@people.command("update")
@click.argument("name")
@click.option("--slack", "slack_ids", multiple=True, help="A Slack user id to add; repeat for several.")
@click.option("--email", "emails", multiple=True, help="An email address to add; repeat for several.")
@click.option("--remove", "removed", multiple=True, help="A Slack user id or address to take away; repeatable.")
def people_update(name: str, slack_ids: tuple[str, ...], emails: tuple[str, ...], removed: tuple[str, ...]) -> None:
    """Add Slack ids or addresses to a person, or take some away; their tokens stay theirs."""
    from storage.people import PeopleError

    if not (slack_ids or emails or removed):
        raise click.UsageError("say what changes: --slack, --email or --remove")
    try:
        person = _store().update_person(name, add=[*slack_ids, *emails], remove=removed)
    except PeopleError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"updated {person.name}: {', '.join([*person.slack_ids, *person.emails]) or 'no Slack ids or addresses'}"
    )


@people.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def people_list(as_json: bool) -> None:
    """List the people in the directory."""
    rows = _store().list_people()
    if as_json:
        click.echo(json.dumps([_person_json(p) for p in rows], indent=2))
        return
    if not rows:
        click.echo("nobody yet: signoff people add NAME --slack U012ABCDEF --email alice@example.com")
    for person in rows:
        names = ", ".join([*person.slack_ids, *person.emails]) or "-"
        click.echo(f"{person.name:<20} {person.id:<20} {names}")


@people.command("remove")
@click.argument("name")
def people_remove(name: str) -> None:
    """Remove a person, with their tokens (decisions they made keep their name in the threads)."""
    if not _store().remove_person(name):
        raise click.ClickException(f"there is nobody named {name} in the directory (signoff people list)")
    click.echo(f"removed {name} and their tokens")


@click.group()
def tokens() -> None:
    """Personal API tokens: a decision over the API is made as the token's owner."""


@tokens.command("create")
@click.argument("person")
@click.option(
    "--expires",
    default=DEFAULT_EXPIRY,
    show_default=True,
    help="A duration (90d, 12h, 30m), a date or time (2027-03-01, 2027-03-01T12:00Z), or never.",
)
@click.option("--label", default="", help="What the token is for (shown by tokens list).")
def tokens_create(person: str, expires: str, label: str) -> None:
    """Create a token for PERSON and print it once (only its hash is kept)."""
    from storage.people import PeopleError

    expires_at = parse_expiry(expires, datetime.now(UTC))
    try:
        token, row = _store().create_token(person, expires_at=expires_at, label=label[:200])
    except PeopleError as exc:
        raise click.ClickException(str(exc)) from exc
    until = f"expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "never expires"
    click.echo(f"token {row.id} for {person}, {until}. It is shown only now; keep it secret:", err=True)
    click.echo(token)


@tokens.command("list")
@click.option("--person", default=None, help="Only this person's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tokens_list(person: str | None, as_json: bool) -> None:
    """List tokens (never their values): owner, expiry, revocation, last use."""
    rows = _store().list_tokens(person)
    now = datetime.now(UTC)
    if as_json:
        click.echo(json.dumps([_token_json(t, name, now) for t, name in rows], indent=2))
        return
    if not rows:
        click.echo("no tokens")
    for token, name in rows:
        item = _token_json(token, name, now)
        used = item["last_used_at"] or "never used"
        click.echo(f"{token.id:<16} {name:<20} {item['state']:<8} expires {item['expires_at'] or 'never'}  {used}")


@tokens.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by its id (from tokens list); it stops working at once."""
    if not _store().revoke_token(token_id):
        raise click.ClickException(f"no token {token_id} that is not already revoked (signoff tokens list)")
    click.echo(f"revoked {token_id}")


def _person_json(person: Any) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "slack_ids": person.slack_ids,
        "emails": person.emails,
        "created_at": person.created_at.isoformat(),
    }


def _token_json(token: Any, name: str, now: datetime) -> dict[str, Any]:
    state = "valid"
    if token.revoked_at is not None:
        state = "revoked"
    elif token.expires_at is not None and token.expires_at <= now:
        state = "expired"
    return {
        "id": token.id,
        "person": name,
        "label": token.label,
        "state": state,
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
    }
