"""The outbox: messages for people, written with the events that caused them and sent afterwards.

A row is claimed by one sender at a time, marked sent with where it landed, or retried at a time
the dispatcher chooses (kept in the row, so a restart keeps the schedule), or given up with a note
on its thread.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from agent.events import Event
from storage._sql import insert_receipt, thread_row
from storage.db import Database
from storage.event_log import OutboxDraft, append_events
from storage.models import OutboxRow, ReceiptRow, RequestRow, utcnow
from storage.status import OutboxStatus

__all__ = ["Outbox", "OutboxDraft"]


class Outbox:
    db: Database

    def due_outbox(self, *, limit: int = 20) -> list[OutboxRow]:
        """Messages to send now: per thread and channel, only the oldest unsent one, so a decision
        never overtakes the card it updates (say, while that card waits for a retry)."""
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
            if row.request_id and refs:
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
                # reach the request's thread: `slack_post_thread` finds it by where it was posted.
                insert_receipt(session, slack_post_key(str(refs["channel"]), str(refs["ts"])), row.thread_id)
            if note is not None:
                append_events(session, thread_row(session, row.thread_id, for_update=True), [note], ())
            return row

    def slack_post_thread(self, channel: str, ts: str) -> str | None:
        """The thread whose Slack question was posted at (channel, ts), if one was."""
        with self.db.session() as session:
            found = session.get(ReceiptRow, slack_post_key(channel, ts))
            return found.thread_id if found else None

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


def _first_refs(existing: dict[str, Any], refs: dict[str, Any]) -> dict[str, Any]:
    # The first message sent for a request is the one later updates point at.
    return {k: v for k, v in refs.items() if k not in existing}
