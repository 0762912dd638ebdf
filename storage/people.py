"""The people directory: who someone is across Slack and email, and their personal API tokens.

A person has a directory name (`alice`), Slack user ids and email addresses. Each id and address
belongs to at most one person (a unique key per identity, `person_identities`), so a Slack user and
an email address of the same person are one approver. Personal API tokens are stored as their
SHA-256 only (a token is 32 random bytes: a hash is enough, no salt or slow hash needed), with an
expiry, a revocation time and when they were last used; the token itself is shown once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage._sql import table
from storage.db import Database
from storage.errors import StorageError
from storage.models import WebSigninRow, utcnow
from storage.people_models import ApiTokenRow, PersonIdentityRow, PersonRow

TOKEN_PREFIX = "sgf_"
# A directory name: lower case, so it can never be a Slack id (upper case) nor an address (no @).
NAME = re.compile(r"[a-z][a-z0-9._-]{0,99}")
SLACK_ID = re.compile(r"[UW][A-Z0-9]{2,}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# last_used_at is written at most this often per token, so a busy client does not write on every call.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class PeopleError(StorageError):
    """A directory change that cannot be made; the message says why."""


class TokenState(StrEnum):
    VALID = "valid"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class TokenCheck:
    state: TokenState
    person: PersonRow | None = None
    token_id: str | None = None


def identity_key(identity: str) -> str | None:
    """The directory key of a Slack user id or an email address, None for anything else."""
    identity = identity.strip()
    if SLACK_ID.fullmatch(identity):
        return "slack:" + _ascii_lower(identity)
    if EMAIL.fullmatch(identity):
        return "email:" + _ascii_lower(identity)
    return None


def names_of(person: PersonRow) -> list[str]:
    """Every name a person is known by: the directory name, Slack ids and addresses."""
    return [person.name, *person.slack_ids, *person.emails]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def people_in(session: Session, names: Iterable[str]) -> dict[str, PersonRow]:
    """`People.people_for`, inside a transaction the caller holds."""
    wanted = [n for n in dict.fromkeys(names) if n]
    by_key = {k: n for n in wanted if (k := identity_key(n)) is not None}
    plain = [n for n in wanted if NAME.fullmatch(n)]
    found: dict[str, PersonRow] = {}
    if not plain and not by_key:
        return found
    # One plain statement, both ways of naming someone: it runs in every decision's transaction.
    people, identities = table(PersonRow), table(PersonIdentityRow)
    rows = session.execute(
        core_select(people, identities.c.key.label("identity_key"))
        .select_from(people.outerjoin(identities, identities.c.person_id == people.c.id))
        .where(or_(people.c.name.in_(plain), identities.c.key.in_(list(by_key))))
    )
    made: dict[str, PersonRow] = {}
    for row in rows:
        values = dict(row._mapping)
        key = values.pop("identity_key")
        person = made.get(values["id"]) or made.setdefault(values["id"], PersonRow(**values))
        if person.name in plain:
            found[person.name] = person
        if key in by_key:
            found[by_key[key]] = person
    return found


class People:
    db: Database

    def add_person(self, name: str, *, slack_ids: Sequence[str] = (), emails: Sequence[str] = ()) -> PersonRow:
        name = name.strip()
        if not NAME.fullmatch(name):
            raise PeopleError(
                f"{name!r} is not a directory name: use lower-case letters, digits, '.', '_' or '-', "
                "starting with a letter (e.g. alice or alice.smith)"
            )
        keys: dict[str, str] = {}
        for identity in [*slack_ids, *emails]:
            key = identity_key(identity)
            if key is None:
                raise PeopleError(f"{identity!r} is neither a Slack user id (U012ABCDEF) nor an email address")
            keys[key] = identity.strip()
        person = PersonRow(
            id="p_" + secrets.token_hex(8),
            name=name,
            slack_ids=[i.strip() for i in slack_ids],
            emails=[e.strip() for e in emails],
            created_at=utcnow(),
        )
        try:
            with self.db.write() as session:
                session.add(person)
                session.flush()
                for key in keys:
                    session.add(PersonIdentityRow(key=key, person_id=person.id))
                session.flush()
        except IntegrityError as exc:
            taken = self._taken(name, keys)
            raise PeopleError(taken or f"cannot add {name}: {exc.orig}") from exc
        return person

    def _taken(self, name: str, keys: dict[str, str]) -> str | None:
        with self.db.session() as session:
            if session.exec(select(PersonRow).where(PersonRow.name == name)).first() is not None:
                return f"there is already a person named {name}"
            for key, identity in keys.items():
                row = session.get(PersonIdentityRow, key)
                if row is not None:
                    owner = session.get(PersonRow, row.person_id)
                    return f"{identity} already belongs to {owner.name if owner else row.person_id}"
        return None

    def update_person(self, name: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> PersonRow:
        """Give a person more Slack ids or addresses (`add`), or take some away (`remove`); their
        tokens and the decisions they made stay theirs. PeopleError names what cannot be done."""
        added, gone = _keys(add), _keys(remove)
        if both := [added[k] for k in added if k in gone]:
            raise PeopleError(f"{', '.join(both)}: both added and removed; say one")
        try:
            with self.db.write() as session:
                person = session.exec(select(PersonRow).where(PersonRow.name == name.strip())).first()
                if person is None:
                    raise PeopleError(f"there is nobody named {name} in the directory (signoff people list)")
                held = {identity_key(i) for i in [*person.slack_ids, *person.emails]}
                if missing := [gone[k] for k in gone if k not in held]:
                    raise PeopleError(f"{name} does not go by {', '.join(missing)} (signoff people list)")
                slack_ids = [i for i in person.slack_ids if identity_key(i) not in gone]
                emails = [e for e in person.emails if identity_key(e) not in gone]
                session.execute(
                    delete(PersonIdentityRow).where(
                        col(PersonIdentityRow.person_id) == person.id, col(PersonIdentityRow.key).in_(list(gone))
                    )
                )
                for key, identity in added.items():
                    if key not in held:
                        session.add(PersonIdentityRow(key=key, person_id=person.id))
                        (slack_ids if key.startswith("slack:") else emails).append(identity)
                session.flush()
                person.slack_ids, person.emails = slack_ids, emails
                session.add(person)
                session.flush()
                session.refresh(person)
                return person
        except IntegrityError as exc:
            raise PeopleError(self._taken("", added) or f"cannot update {name}: {exc.orig}") from exc

    def list_people(self) -> list[PersonRow]:
        with self.db.session() as session:
            return list(session.exec(select(PersonRow).order_by(col(PersonRow.name))))

    def get_person(self, name: str) -> PersonRow | None:
        with self.db.session() as session:
            return session.exec(select(PersonRow).where(PersonRow.name == name.strip())).first()

    def remove_person(self, name: str) -> bool:
        """Remove a person, the names they go by and their tokens; False when there is nobody by that name.
        Decisions they made keep their name and id in the thread's events."""
        with self.db.write() as session:
            person = session.exec(select(PersonRow).where(PersonRow.name == name.strip())).first()
            if person is None:
                return False
            session.execute(delete(ApiTokenRow).where(col(ApiTokenRow.person_id) == person.id))
            session.execute(delete(PersonIdentityRow).where(col(PersonIdentityRow.person_id) == person.id))
            session.execute(delete(PersonRow).where(col(PersonRow.id) == person.id))
            return True

    def person_for(self, who: str) -> PersonRow | None:
        """The person known as `who`: their directory name, a Slack user id or an email address."""
        return self.people_for([who]).get(who)

    def people_for(self, names: Iterable[str]) -> dict[str, PersonRow]:
        """The people known by any of `names` (directory names, Slack ids, addresses), by that name."""
        wanted = [n for n in dict.fromkeys(names) if n]
        if not wanted:
            return {}
        with self.db.session() as session:
            return people_in(session, wanted)

    # -- tokens -------------------------------------------------------------------------------------

    def create_token(self, name: str, *, expires_at: datetime | None, label: str = "") -> tuple[str, ApiTokenRow]:
        """A new token for the person `name`: (the token, shown once; its stored row)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.write() as session:
            person = session.exec(select(PersonRow).where(PersonRow.name == name.strip())).first()
            if person is None:
                raise PeopleError(f"there is nobody named {name} in the directory (signoff people list)")
            row = ApiTokenRow(
                id="t_" + secrets.token_hex(6),
                person_id=person.id,
                hash=hash_token(token),
                label=label,
                created_at=utcnow(),
                expires_at=expires_at,
            )
            session.add(row)
        return token, row

    def list_tokens(self, name: str | None = None) -> list[tuple[ApiTokenRow, str]]:
        """Tokens (never their value) with their owner's name, oldest first."""
        with self.db.session() as session:
            query = (
                select(ApiTokenRow, PersonRow)
                .join(PersonRow, col(PersonRow.id) == col(ApiTokenRow.person_id))
                .order_by(col(ApiTokenRow.created_at))
            )
            if name is not None:
                query = query.where(PersonRow.name == name.strip())
            return [(token, person.name) for token, person in session.exec(query)]

    def revoke_token(self, token_id: str) -> bool:
        """Revoke a token by its id; False when there is no such token or it was revoked already.
        The web inbox sessions its person started with a personal token end with it."""
        now = utcnow()
        with self.db.write() as session:
            result = session.execute(
                update(ApiTokenRow)
                .where(col(ApiTokenRow.id) == token_id.strip(), col(ApiTokenRow.revoked_at).is_(None))
                .values(revoked_at=now)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            name = session.exec(
                select(PersonRow.name)
                .join(ApiTokenRow, col(PersonRow.id) == col(ApiTokenRow.person_id))
                .where(ApiTokenRow.id == token_id.strip())
            ).one()
            session.execute(
                update(WebSigninRow)
                .where(
                    col(WebSigninRow.address) == name,
                    col(WebSigninRow.how) == "token",
                    col(WebSigninRow.ended_at).is_(None),
                )
                .values(ended_at=now)
            )
            return True

    def check_token(self, token: str, *, now: datetime | None = None) -> TokenCheck:
        """Whose token this is, and whether it may be used now; records when it was last used."""
        now = now or utcnow()
        if not token.startswith(TOKEN_PREFIX):
            return TokenCheck(TokenState.UNKNOWN)
        digest = hash_token(token)
        with self.db.session() as session:
            found = session.exec(
                select(ApiTokenRow, PersonRow)
                .join(PersonRow, col(PersonRow.id) == col(ApiTokenRow.person_id))
                .where(ApiTokenRow.hash == digest)
            ).first()
        if found is None:
            return TokenCheck(TokenState.UNKNOWN)
        row, person = found
        if row.revoked_at is not None:
            return TokenCheck(TokenState.REVOKED, person, row.id)
        if row.expires_at is not None and row.expires_at <= now:
            return TokenCheck(TokenState.EXPIRED, person, row.id)
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            with self.db.write() as session:
                session.execute(update(ApiTokenRow).where(col(ApiTokenRow.id) == row.id).values(last_used_at=now))
        return TokenCheck(TokenState.VALID, person, row.id)


def _keys(identities: Iterable[str]) -> dict[str, str]:
    """The directory key of each Slack id or address, as given; PeopleError for anything else."""
    keys: dict[str, str] = {}
    for identity in identities:
        key = identity_key(identity)
        if key is None:
            raise PeopleError(f"{identity!r} is neither a Slack user id (U012ABCDEF) nor an email address")
        keys[key] = identity.strip()
    return keys


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)
