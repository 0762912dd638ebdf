"""Inbound deliveries recorded once (table `inbox`): a Slack event id, an email's Message-ID, an
API Idempotency-Key, each mapped to the thread it went to. A retry or redelivery finds its key and
makes no second event. (The queue of acknowledged mentions not yet built is `storage.inbound`.)"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from storage._sql import record_delivery_key
from storage.db import Database
from storage.models import InboxRow


class Deliveries:
    db: Database

    def record_delivery(self, key: str, thread_id: str | None = None) -> bool:
        """Remember an inbound delivery; False when it was seen before."""
        with self.db.write() as session:
            return record_delivery_key(session, key, thread_id)

    def seen_delivery(self, key: str) -> bool:
        with self.db.session() as session:
            return session.get(InboxRow, key) is not None

    def delivery_thread(self, key: str) -> str | None:
        """The thread an inbound delivery went to, if it was recorded."""
        with self.db.session() as session:
            row = session.get(InboxRow, key)
            return row.thread_id if row else None

    def delivery_threads(self, keys: Sequence[str]) -> dict[str, str | None]:
        """Which of `keys` were recorded, and the thread each went to."""
        if not keys:
            return {}
        with self.db.session() as session:
            rows = session.exec(select(InboxRow).where(col(InboxRow.key).in_(list(keys))))
            return {row.key: row.thread_id for row in rows}

    def thread_deliveries(self, thread_id: str, prefix: str) -> list[str]:
        """The keys recorded for a thread that start with `prefix`, oldest first."""
        with self.db.session() as session:
            return list(
                session.exec(
                    select(InboxRow.key)
                    .where(InboxRow.thread_id == thread_id, col(InboxRow.key).startswith(prefix, autoescape=True))
                    .order_by(col(InboxRow.received_at), col(InboxRow.key))
                )
            )
