"""Sign-ins to the web inbox: links asked for (rate limited), used once, and the sessions they start.

A row is written for every link asked for, whether or not the address may sign in (no mail goes to
an unknown one): the rate limits count rows, so an unknown address is limited exactly as a known one
and the answer never tells them apart. A link's token is kept only as its SHA-256.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import col, select

from storage._sql import table
from storage.db import Database
from storage.models import WebSigninRow


def link_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SigninLimits:
    per_address: int  # links per address per hour; 0: no limit
    per_ip: int  # links per client address per hour; 0: no limit


class WebSignins:
    db: Database

    def signin_asked(
        self,
        *,
        address: str,
        ip: str,
        token: str | None,
        now: datetime,
        ttl: timedelta,
        limits: SigninLimits,
    ) -> bool:
        """Record a link asked for `address` from `ip` (`token` None: none is sent); False, and
        nothing recorded, when the address or the client is over its limit for the past hour."""
        since = now - timedelta(hours=1)
        with self.db.write() as session:
            for column, value, limit in (
                (WebSigninRow.address, address, limits.per_address),
                (WebSigninRow.ip, ip, limits.per_ip),
            ):
                if limit <= 0:
                    continue
                asked = session.exec(
                    select(func.count())
                    .select_from(WebSigninRow)
                    .where(col(column) == value, col(WebSigninRow.how) == "link", col(WebSigninRow.created_at) >= since)
                ).one()
                if asked >= limit:
                    return False
            session.add(
                WebSigninRow(
                    id=uuid.uuid4().hex,
                    address=address,
                    ip=ip[:64],
                    how="link",
                    link_hash=link_hash(token) if token is not None else None,
                    link_expires_at=now + ttl,
                    created_at=now,
                )
            )
            return True

    def signin_link_address(self, token: str, *, now: datetime) -> str | None:
        """The address a link is for, while it is unused and unexpired (nothing changes)."""
        with self.db.session() as session:
            row = session.exec(select(WebSigninRow).where(col(WebSigninRow.link_hash) == link_hash(token))).first()
            if row is None or row.started_at is not None or row.link_expires_at is None or row.link_expires_at <= now:
                return None
            return row.address

    def signin_use_link(self, token: str, *, now: datetime) -> WebSigninRow | None:
        """Start the session of an unused, unexpired link: once; a second use finds nothing."""
        rows = table(WebSigninRow)
        with self.db.write() as session:
            used = session.execute(
                update(rows)
                .where(
                    rows.c.link_hash == link_hash(token),
                    rows.c.started_at.is_(None),
                    rows.c.link_expires_at > now,
                )
                .values(started_at=now)
                .returning(rows.c.id)
            ).first()
            return None if used is None else session.get(WebSigninRow, used[0])

    def signin_start(self, *, address: str, how: str, ip: str, now: datetime) -> WebSigninRow:
        """A session started without a link (a personal token)."""
        with self.db.write() as session:
            row = WebSigninRow(
                id=uuid.uuid4().hex, address=address, ip=ip[:64], how=how, created_at=now, started_at=now
            )
            session.add(row)
            return row

    def signin_session(self, signin_id: str, *, not_before: datetime) -> WebSigninRow | None:
        """A session still open: started, not ended, and begun at or after `not_before`."""
        with self.db.session() as session:
            row = session.get(WebSigninRow, signin_id)
            if row is None or row.started_at is None or row.ended_at is not None or row.started_at < not_before:
                return None
            return row

    def signin_end(self, signin_id: str, *, now: datetime) -> None:
        with self.db.write() as session:
            session.execute(
                update(table(WebSigninRow))
                .where(table(WebSigninRow).c.id == signin_id, table(WebSigninRow).c.ended_at.is_(None))
                .values(ended_at=now)
            )
