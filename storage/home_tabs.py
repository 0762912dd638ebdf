"""Slack App Home tabs: which users' tabs need publishing again, claimed by one publisher at a time.

A user gets a row when they first open the tab. A change to a human request (asked, counted,
decided, expired, or any later request event) marks the rows of the people it concerns in the
transaction that records it (`mark_home_tabs`, called by `event_log.append_events`): the Slack
users it names, directly or through the people directory, and the person who asked; every row when
the request names a user group or nobody (anyone may answer). A mark bumps `version`, so a publish
that read the database before the change leaves the row due. The publisher (bot/slack_home.py)
takes due rows whose last publish is at least `gap` old: a burst of changes makes one publish per
user per gap, on whichever replica claims the row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage._sql import table
from storage.db import Database
from storage.models import EventRow, HomeTabRow, RequestRow, ThreadRow, utcnow
from storage.people import EMAIL, NAME, SLACK_ID, identity_key
from storage.people_models import PersonIdentityRow, PersonRow

_GROUP = re.compile(r"S[A-Z0-9]{2,}")


@dataclass(frozen=True)
class HomeReads:
    """What a Home tab is built from: the oldest pending requests (at most `scan`, with their
    threads and the reminders each got), the open threads someone started, and counts."""

    pending: list[tuple[RequestRow, ThreadRow]]
    pending_total: int
    reminders: dict[str, int]
    own_threads: list[ThreadRow]
    own_total: int


class HomeTabs:
    db: Database

    def home_facts(self, names: Sequence[str], *, scan: int = 500, own_limit: int = 10) -> HomeReads:
        """The facts for the Home tab of someone known by `names` (one read transaction)."""
        requests, threads = table(RequestRow).c, table(ThreadRow).c
        with self.db.session() as session:
            query = (
                select(RequestRow, ThreadRow)
                .where(col(RequestRow.thread_id) == col(ThreadRow.id), col(RequestRow.status) == "pending")
                .order_by(col(RequestRow.created_at))
                .limit(scan)
            )
            pending = [(r, t) for r, t in session.exec(query)]
            total = session.execute(
                core_select(func.count()).select_from(table(RequestRow)).where(requests.status == "pending")
            ).scalar_one()
            reminders = _reminder_counts(session, [(r.id, t.id) for r, t in pending])
            mine = [n for n in dict.fromkeys(names) if n]
            own: list[ThreadRow] = []
            own_total = 0
            if mine:
                open_threads = (threads.requested_by.in_(mine), threads.status.in_(("running", "waiting")))
                own = [
                    ThreadRow(**r._mapping)
                    for r in session.execute(
                        core_select(table(ThreadRow))
                        .where(*open_threads)
                        .order_by(threads.updated_at.desc())
                        .limit(own_limit)
                    ).all()
                ]
                own_total = session.execute(
                    core_select(func.count()).select_from(table(ThreadRow)).where(*open_threads)
                ).scalar_one()
        return HomeReads(pending, int(total), reminders, own, int(own_total))

    def reminders_sent(self, requests: Sequence[tuple[str, str]]) -> dict[str, int]:
        """How many reminders each of these `(request id, thread id)` got (absent: none)."""
        with self.db.session() as session:
            return _reminder_counts(session, requests)

    def home_opened(self, user: str, team: str) -> None:
        """A user opened their Home tab: publish it now (within the gap), creating their row. Two
        replicas hearing two openings at once make one row (an INSERT that does nothing if it is there)."""
        now = utcnow()
        tabs = table(HomeTabRow)
        with self.db.write() as session:
            insert_for = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
            session.execute(
                insert_for(tabs)
                .values(user=user, team=team, version=0, attempts=0, digest="", last_error="", created_at=now)
                .on_conflict_do_nothing(index_elements=["user"])
            )
            # Opening the tab always shows it afresh, even when nothing changed since the last publish.
            session.execute(
                update(tabs)
                .where(tabs.c.user == user)
                .values(
                    version=tabs.c.version + 1,
                    digest="",
                    due_at=case((tabs.c.due_at.is_(None), now), else_=tabs.c.due_at),
                )
            )

    def home_tab(self, user: str) -> HomeTabRow | None:
        with self.db.session() as session:
            return session.get(HomeTabRow, user)

    def due_home_tabs(self, *, gap: timedelta, limit: int = 20) -> list[HomeTabRow]:
        """Rows due now whose last publish is at least `gap` old and that nobody holds."""
        now = utcnow()
        with self.db.session() as session:
            return list(
                session.exec(
                    select(HomeTabRow)
                    .where(
                        col(HomeTabRow.due_at) <= now,
                        or_(col(HomeTabRow.published_at).is_(None), col(HomeTabRow.published_at) <= now - gap),
                        or_(col(HomeTabRow.claimed_until).is_(None), col(HomeTabRow.claimed_until) < now),
                    )
                    .order_by(col(HomeTabRow.due_at))
                    .limit(limit)
                )
            )

    def next_home_tab_due(self) -> datetime | None:
        """When the earliest row falls due (ignoring the gap): the publisher's next wake-up."""
        with self.db.session() as session:
            return session.exec(
                select(HomeTabRow.due_at).where(col(HomeTabRow.due_at).is_not(None)).order_by(col(HomeTabRow.due_at))
            ).first()

    def claim_home_tab(self, user: str, ttl: timedelta) -> int | None:
        """Hold the row for `ttl`; returns the version the publish will show, None when taken."""
        now = utcnow()
        with self.db.write() as session:
            tabs = table(HomeTabRow)
            result = session.execute(
                update(tabs)
                .where(
                    tabs.c.user == user,
                    tabs.c.due_at.is_not(None),
                    or_(tabs.c.claimed_until.is_(None), tabs.c.claimed_until < now),
                )
                .values(claimed_until=now + ttl)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return None
            return int(session.execute(core_select(tabs.c.version).where(tabs.c.user == user)).scalar_one())

    def home_tab_published(self, user: str, version: int, digest: str, *, sent: bool) -> None:
        """Published (or found equal to what was: `sent` False); still due when marked meanwhile."""
        tabs = table(HomeTabRow)
        values: dict[str, Any] = {
            "claimed_until": None,
            "attempts": 0,
            "last_error": "",
            "digest": digest,
            "due_at": case((tabs.c.version == version, None), else_=tabs.c.due_at),
        }
        if sent:
            values["published_at"] = utcnow()
        with self.db.write() as session:
            session.execute(update(tabs).where(tabs.c.user == user).values(**values))

    def home_tab_failed(self, user: str, error: str, *, retry_at: datetime | None) -> None:
        """Not published: tried again at `retry_at` (Slack's Retry-After, or a backoff), or given up
        (None) until the next change or opening."""
        tabs = table(HomeTabRow)
        with self.db.write() as session:
            session.execute(
                update(tabs)
                .where(tabs.c.user == user)
                .values(
                    claimed_until=None,
                    attempts=tabs.c.attempts + 1,
                    last_error=error[:1000],
                    due_at=retry_at,
                )
            )


def _reminder_counts(session: Session, requests: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Reminders are request events named after them (whatever channel sent them)."""
    ids = {request_id for request_id, _ in requests}
    thread_ids = sorted({thread_id for _, thread_id in requests})
    counts: dict[str, int] = {}
    if not thread_ids:
        return counts
    events = table(EventRow).c
    for (data,) in session.execute(
        core_select(events.data).where(events.thread_id.in_(thread_ids), events.type.like("%remind%"))
    ):
        request_id = _request_id(data)
        if request_id in ids:
            counts[request_id] = counts.get(request_id, 0) + 1
    return counts


def _request_id(data: str) -> str | None:
    try:
        value = json.loads(data).get("request_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def mark_home_tabs(session: Session, thread: ThreadRow, request_ids: Sequence[str], now: datetime) -> None:
    """Mark the Home tabs of the people these requests concern as due (see the module's docstring)."""
    if not request_ids:
        return
    tabs = table(HomeTabRow)
    if session.execute(core_select(tabs.c.user).limit(1)).first() is None:
        return  # nobody has opened a Home tab (or Slack is not set up): nothing to mark, no lookups
    requests = table(RequestRow).c
    rows = session.execute(
        core_select(requests.allowed, requests.requested_by).where(requests.id.in_(list(dict.fromkeys(request_ids))))
    ).all()
    names: list[str] = [thread.requested_by]
    everyone = False
    for allowed, requested_by in rows:
        allowed = [str(a) for a in allowed or []]
        names.append(str(requested_by or ""))
        names.extend(allowed)
        if not allowed or any(_GROUP.fullmatch(a) for a in allowed):
            everyone = True  # anyone may answer, or a user group: membership is Slack's to say
    statement = update(tabs).values(
        version=tabs.c.version + 1, due_at=case((tabs.c.due_at.is_(None), now), else_=tabs.c.due_at)
    )
    if not everyone:
        users = slack_users(session, names)
        if not users:
            return
        statement = statement.where(tabs.c.user.in_(sorted(users)))
    session.execute(statement)


def slack_users(session: Session, names: Iterable[str]) -> set[str]:
    """The Slack user ids `names` stand for: ids as given, and those of the people named (by their
    directory name, an address or another Slack id)."""
    users: set[str] = set()
    keys: list[str] = []
    plain: list[str] = []
    for name in dict.fromkeys(n.strip() for n in names if n and n.strip()):
        if SLACK_ID.fullmatch(name):
            users.add(name)
        if SLACK_ID.fullmatch(name) or EMAIL.fullmatch(name):
            key = identity_key(name)
            if key:
                keys.append(key)
        elif NAME.fullmatch(name):
            plain.append(name)
    people: list[PersonRow] = []
    if plain:
        people.extend(session.exec(select(PersonRow).where(col(PersonRow.name).in_(plain))))
    if keys:
        people.extend(
            session.exec(
                select(PersonRow)
                .join(PersonIdentityRow, col(PersonRow.id) == col(PersonIdentityRow.person_id))
                .where(col(PersonIdentityRow.key).in_(keys))
            )
        )
    for person in people:
        users.update(s for s in person.slack_ids if SLACK_ID.fullmatch(s))
    return users
