"""The outbox: messages for people, written with the events that caused them and sent afterwards.

A row is claimed by one sender at a time, marked sent with where it landed, or retried at a time
the dispatcher chooses (kept in the row, so a restart keeps the schedule), or given up with a note
on its thread.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, exists, func, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from agent.events import Event
from agent.places import COPY, COPY_UPDATE
from storage._sql import insert_receipt, table, thread_row
from storage.db import Database
from storage.event_log import OutboxDraft, append_events
from storage.models import OutboxRow, ReceiptRow, RequestRow, utcnow
from storage.status import OutboxStatus, RequestKind

MAX_QUESTIONS_IN_A_SLACK_THREAD = 50

__all__ = ["Outbox", "OutboxDraft"]


class Outbox:
    db: Database

    def due_outbox(self, *, limit: int = 20) -> list[OutboxRow]:
        """Messages to send now: per thread and channel, only the oldest unsent one, so a decision
        never overtakes the card it updates (say, while that card waits for a retry). A request's
        copy elsewhere is a lane of its own (its place): it waits only for that place's rows, so one
        place that fails does not hold back the others."""
        now = utcnow()
        earlier = aliased(OutboxRow)
        with self.db.session() as session:
            return list(
                session.exec(
                    select(OutboxRow)
                    .where(
                        OutboxRow.status == OutboxStatus.PENDING,
                        col(OutboxRow.next_attempt_at) <= now,
                        or_(col(OutboxRow.claimed_until).is_(None), col(OutboxRow.claimed_until) < now),
                        ~exists().where(
                            col(earlier.thread_id) == col(OutboxRow.thread_id),
                            col(earlier.channel) == col(OutboxRow.channel),
                            _lane(earlier) == _lane(OutboxRow),
                            col(earlier.status) == OutboxStatus.PENDING,
                            col(earlier.id) < col(OutboxRow.id),
                        ),
                    )
                    .order_by(col(OutboxRow.id))
                    .limit(limit)
                )
            )

    def outbox_backlog(self) -> int:
        """Messages not yet sent (due now or waiting for a retry)."""
        with self.db.session() as session:
            return int(session.exec(select(func.count()).where(OutboxRow.status == OutboxStatus.PENDING)).one())

    def claim_outbox(self, outbox_id: int, ttl: timedelta) -> bool:
        now = utcnow()
        with self.db.write() as session:
            result = session.execute(
                update(OutboxRow)
                .where(
                    col(OutboxRow.id) == outbox_id,
                    col(OutboxRow.status) == OutboxStatus.PENDING,
                    or_(col(OutboxRow.claimed_until).is_(None), col(OutboxRow.claimed_until) < now),
                )
                .values(claimed_until=now + ttl, attempts=OutboxRow.attempts + 1)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def outbox_sent(self, outbox_id: int, refs: dict[str, Any], *, note: Event | None = None) -> OutboxRow:
        """Record a sent message and where it landed, with `note` (some recipients it missed)
        appended to the thread in the same transaction."""
        with self.db.write() as session:
            row = session.get_one(OutboxRow, outbox_id)
            row.status = OutboxStatus.SENT
            row.sent_at = utcnow()
            row.refs = {**row.refs, **refs}
            row.claimed_until = None
            session.add(row)
            if row.request_id and refs and row.kind in (COPY, COPY_UPDATE):
                _record_copy(session, row, refs)
            elif row.request_id and refs:
                request = session.get(RequestRow, row.request_id)
                if request is not None:
                    # Under the kind, and under channel:kind for a request sent on several channels
                    # (a standalone request's card and mails): each channel finds its own message.
                    request.delivery = {
                        **request.delivery,
                        row.kind: refs,
                        f"{row.channel}:{row.kind}": refs,
                        **_first_refs(request.delivery, refs),
                    }
                    session.add(request)
            if row.channel == "slack" and row.kind == "question" and refs.get("channel") and refs.get("ts"):
                # Replies in the thread under a question posted on its own (a standalone request's)
                # reach the request's thread: `slack_post_threads` finds it by where it was posted:
                # its own ts, or the Slack thread it was posted into (HumanLayer's `thread_ts`),
                # where several questions may wait at once.
                insert_receipt(session, slack_post_key(str(refs["channel"]), str(refs["ts"])), row.thread_id)
                if refs.get("thread_ts"):
                    keys = slack_thread_keys(str(refs["channel"]), str(refs["thread_ts"]))
                    next((k for k in keys if insert_receipt(session, k, row.thread_id)), None)
            if note is not None:
                append_events(session, thread_row(session, row.thread_id, for_update=True), [note], ())
            return row

    def slack_post_threads(self, channel: str, ts: str) -> list[str]:
        """The threads whose Slack questions were posted at (channel, ts) or into the Slack thread
        whose root is there, first posted first."""
        keys = slack_thread_keys(channel, ts)
        receipts = table(ReceiptRow).c
        with self.db.session() as session:
            rows = session.execute(core_select(receipts.key, receipts.thread_id).where(receipts.key.in_(keys)))
            found = {key: thread_id for key, thread_id in rows}
        return list(dict.fromkeys(t for k in keys if (t := found.get(k))))

    def outbox_failed(
        self, outbox_id: int, error: str, *, retry_at: datetime | None, note: Event | None = None
    ) -> None:
        """Record a failed send: tried again at `retry_at`, or (None) given up, with `note` appended
        to the thread in the same transaction."""
        with self.db.write() as session:
            row = session.get_one(OutboxRow, outbox_id)
            row.last_error = error[:1000]
            row.claimed_until = None
            if retry_at is None:
                row.status = OutboxStatus.FAILED
            else:
                row.next_attempt_at = retry_at
            session.add(row)
            if note is not None:
                append_events(session, thread_row(session, row.thread_id, for_update=True), [note], ())

    def outbox_for_thread(self, thread_id: str) -> list[OutboxRow]:
        with self.db.session() as session:
            return list(
                session.exec(select(OutboxRow).where(OutboxRow.thread_id == thread_id).order_by(col(OutboxRow.id)))
            )


def slack_post_key(channel: str, ts: str) -> str:
    return f"slack:posted:{channel}:{ts}"


def slack_thread_keys(channel: str, ts: str) -> list[str]:
    """The keys of the questions waiting in one Slack thread: its root's, then one each for the
    questions posted into it (exact keys, so a reply's lookup is one indexed query)."""
    first = slack_post_key(channel, ts)
    return [first, *(f"{first}#{n}" for n in range(2, MAX_QUESTIONS_IN_A_SLACK_THREAD + 1))]


def _lane(row: Any) -> Any:
    """The place of a copy's row, '' for every other row (see `due_outbox`)."""
    return case((col(row.kind).in_([COPY, COPY_UPDATE]), col(row.text)), else_="")


def _record_copy(session: Session, row: OutboxRow, refs: dict[str, Any]) -> None:
    """A copy's refs, under its place in the request's `delivery` (never the thread's own card's
    keys); a copy of a question posted in Slack takes the replies in its threads as answers."""
    if row.kind != COPY:
        return  # an update lands where the copy is: nothing new to keep
    request = session.get(RequestRow, row.request_id, with_for_update=True)
    if request is None:
        return
    request.delivery = {**request.delivery, f"copy:{row.text}": refs}
    session.add(request)
    if row.channel == "slack" and request.kind == RequestKind.QUESTION:
        for post in refs.get("posts") or [refs]:
            if isinstance(post, dict) and post.get("channel") and post.get("ts"):
                insert_receipt(session, slack_post_key(str(post["channel"]), str(post["ts"])), row.thread_id)


def _first_refs(existing: dict[str, Any], refs: dict[str, Any]) -> dict[str, Any]:
    # The first message sent for a request is the one later updates point at.
    return {k: v for k, v in refs.items() if k not in existing}
