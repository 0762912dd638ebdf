"""The IMAP watcher's progress per mailbox: its UIDVALIDITY and the last UID it recorded."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from storage.db import Database
from storage.models import MailboxStateRow, utcnow


class Mailboxes:
    db: Database

    def mailbox_state(self, mailbox: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, last processed UID) of a mailbox, if it was ever saved."""
        with self.db.session() as session:
            row = session.get(MailboxStateRow, mailbox)
            return (row.uidvalidity, row.last_uid) if row else None

    def save_mailbox_state(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        """Save progress; within one UIDVALIDITY the last UID only moves forward (replicas race)."""
        with self.db.write() as session:
            row = session.exec(
                select(MailboxStateRow).where(MailboxStateRow.mailbox == mailbox).with_for_update()
            ).first()
            if row is None:
                try:
                    with session.begin_nested():
                        session.add(
                            MailboxStateRow(
                                mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid, updated_at=utcnow()
                            )
                        )
                        session.flush()
                    return
                except IntegrityError:
                    row = session.exec(
                        select(MailboxStateRow).where(MailboxStateRow.mailbox == mailbox).with_for_update()
                    ).one()
            if row.uidvalidity == uidvalidity and row.last_uid >= last_uid:
                return
            row.uidvalidity = uidvalidity
            row.last_uid = last_uid
            row.updated_at = utcnow()
            session.add(row)
