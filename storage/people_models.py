"""The people directory's tables: people, the names they go by on each channel, their API tokens.

Kept apart from `storage.models` (which imports this module, so the tables register with the rest).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from storage.models import _ts


class PersonRow(SQLModel, table=True):
    """A person: a directory name, their Slack user ids and email addresses (as given)."""

    __tablename__ = "people"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=100, unique=True)
    slack_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    emails: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False)


class PersonIdentityRow(SQLModel, table=True):
    """One name a person goes by (`slack:u012abc`, `email:alice@example.com`, ASCII lower case): the
    key is unique, so a Slack user or an address belongs to one person, on every replica."""

    __tablename__ = "person_identities"

    key: str = Field(primary_key=True, max_length=400)
    person_id: str = Field(foreign_key="people.id", index=True, max_length=64)


class ApiTokenRow(SQLModel, table=True):
    """A personal API token: only its SHA-256 is stored; the token itself is printed once."""

    __tablename__ = "api_tokens"

    id: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(foreign_key="people.id", index=True, max_length=64)
    hash: str = Field(max_length=64, unique=True)
    label: str = Field(default="", max_length=200)
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)
    last_used_at: datetime | None = _ts(nullable=True)
