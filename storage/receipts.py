"""Receipts: every inbound delivery recorded once by its key (a Slack event id, an email's
Message-ID, an API Idempotency-Key), with the thread it went to. A retry or redelivery finds its
receipt and makes no second event. (Mentions acknowledged but not yet built are `storage.intake`;
"delivery" alone means where an outbound message landed.)"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from storage._sql import insert_receipt
from storage.db import Database
from storage.models import ReceiptRow


class Receipts:
    db: Database

    def record_receipt(self, key: str, thread_id: str | None = None) -> bool:
        """Remember an inbound delivery; False when it was seen before."""
        with self.db.write() as session:
            return insert_receipt(session, key, thread_id)

    def has_receipt(self, key: str) -> bool:
        with self.db.session() as session:
            return session.get(ReceiptRow, key) is not None

    def receipt_thread(self, key: str) -> str | None:
        """The thread an inbound delivery went to, if it was recorded."""
        with self.db.session() as session:
            row = session.get(ReceiptRow, key)
            return row.thread_id if row else None

    def receipt_threads(self, keys: Sequence[str]) -> dict[str, str | None]:
        """Which of `keys` were recorded, and the thread each went to."""
        if not keys:
            return {}
        with self.db.session() as session:
            rows = session.exec(select(ReceiptRow).where(col(ReceiptRow.key).in_(list(keys))))
            return {row.key: row.thread_id for row in rows}

    def thread_receipts(self, thread_id: str, prefix: str) -> list[str]:
        """The keys recorded for a thread that start with `prefix`, oldest first."""
        with self.db.session() as session:
            return list(
                session.exec(
                    select(ReceiptRow.key)
                    .where(ReceiptRow.thread_id == thread_id, col(ReceiptRow.key).startswith(prefix, autoescape=True))
                    .order_by(col(ReceiptRow.received_at), col(ReceiptRow.key))
                )
            )
