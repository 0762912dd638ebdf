"""The tables. A thread's events are the truth; every other table is an index or a queue over them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Index, Integer, Text, UniqueConstraint, false, true
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every database (SQLite stores no zone and returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def _ts(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kwargs))


class ThreadRow(SQLModel, table=True):
    __tablename__ = "threads"
    __table_args__ = (
        UniqueConstraint("origin_channel", "origin_key", name="uq_threads_origin"),
        Index("ix_threads_status_lease", "status", "lease_until"),
        # The workers' queue: runnable threads, oldest first (storage/leases.py, runnable_threads).
        Index("ix_threads_status_updated", "status", "updated_at"),
    )

    id: str = Field(primary_key=True, max_length=64)
    agent: str = Field(max_length=200)
    status: str = Field(default="running", max_length=16)
    origin_channel: str = Field(default="api", max_length=32)
    origin_key: str | None = Field(default=None, max_length=500)
    origin_data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    requested_by: str = Field(default="", max_length=320)
    last_seq: int = 0
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_until: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("thread_id", "seq", name="uq_events_thread_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    thread_id: str = Field(foreign_key="threads.id", max_length=64)
    seq: int
    type: str = Field(max_length=32)
    data: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts(nullable=False)


class RequestRow(SQLModel, table=True):
    """A human request (approval or question): an index over the thread's events, plus delivery refs."""

    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_status_created", "status", "created_at"),
        # A thread's pending requests, counted at every append: with only the index above, SQLite
        # (no statistics) reads every pending request of every thread to count one thread's.
        Index("ix_requests_thread_status", "thread_id", "status"),
    )

    id: str = Field(primary_key=True, max_length=64)
    thread_id: str = Field(foreign_key="threads.id", index=True, max_length=64)
    kind: str = Field(max_length=16)  # approval | question
    status: str = Field(default="pending", max_length=16)  # pending | approved | denied | answered
    call_id: str | None = Field(default=None, max_length=64)
    tool: str | None = Field(default=None, max_length=200)
    arguments: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    digest: str | None = Field(default=None, max_length=64)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    question: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    options: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    allowed: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    requested_by: str = Field(default="", max_length=320)
    decided_by: str | None = Field(default=None, max_length=320)
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    delivery: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False)
    decided_at: datetime | None = _ts(nullable=True)
    # The request's policy (agent/policy.py), from its event: how many distinct approvers it needs,
    # whether the person who asked may approve it, the rule that matched. `approvals` holds the
    # approvals counted so far toward `required` ({"by", "person_id", "at"}); null on older rows.
    required: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default="1"))
    approvals: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    no_self_approval: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    rule: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # The schema an approver's edit must fit (agent/edits.py); null: the arguments cannot be edited.
    # `arguments` and `digest` are the call as it will run: an edit changes them (its event keeps both).
    edit_schema: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # A question with options: whether an answer that is none of them is taken.
    allow_free_text: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=true()))
    # Where it is delivered besides its thread (agent/places.py); null or empty: only there.
    copies: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # An approval's named ways to deny (agent.events.DenyOption, as dicts); null: Deny alone. And the
    # name of the one a denial took.
    deny_options: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    deny_option: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ReceiptRow(SQLModel, table=True):
    """A receipt: one row per inbound delivery (Slack event id, email Message-ID, API idempotency key),
    so a retry or a redelivery is recognised. (The table keeps its first name, `inbox`.)"""

    __tablename__ = "inbox"

    key: str = Field(primary_key=True, max_length=500)
    thread_id: str | None = Field(default=None, max_length=64, index=True)
    received_at: datetime = _ts(nullable=False)


class IntakeRow(SQLModel, table=True):
    """The intake: a message that opens a conversation, recorded before the ack; its thread is built
    right after.

    Deleted in the transaction that builds the thread (and records its receipt), so a row here is a
    delivery acknowledged but not yet a thread: startup builds whatever it finds. (The table keeps
    its first name, `inbound`.)
    """

    __tablename__ = "inbound"
    __table_args__ = (Index("ix_inbound_origin", "origin_channel", "origin_key"),)

    key: str = Field(primary_key=True, max_length=500)  # the receipt key, as its receipt will hold it
    origin_channel: str = Field(max_length=32)
    origin_key: str = Field(max_length=500)
    origin_data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    by: str = Field(max_length=320)
    received_at: datetime = _ts(nullable=False, index=True)


class OutboxRow(SQLModel, table=True):
    """A message to send, written in the same transaction as the events that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    thread_id: str = Field(foreign_key="threads.id", index=True, max_length=64)
    channel: str = Field(max_length=32)
    kind: str = Field(max_length=32)
    request_id: str | None = Field(default=None, max_length=64)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime = _ts(nullable=False)
    claimed_until: datetime | None = _ts(nullable=True)
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    refs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False)
    sent_at: datetime | None = _ts(nullable=True)


class MailboxStateRow(SQLModel, table=True):
    __tablename__ = "mailbox_state"

    mailbox: str = Field(primary_key=True, max_length=500)
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = _ts(nullable=False)


class StandaloneRow(SQLModel, table=True):
    """A human request made through `POST /api/approvals` or `/api/questions`, with no agent: who
    made it, where it went, its deadline and where its outcome is posted. The request itself is a
    `requests` row on a thread of its own (`threads.agent` = `signoff:standalone`), so cards, mails,
    replies, decisions and audit are the agents' own paths."""

    __tablename__ = "standalone_requests"
    __table_args__ = (
        UniqueConstraint("creator", "idempotency_key", name="uq_standalone_idempotency"),
        Index("ix_standalone_expires", "expires_at"),
    )

    request_id: str = Field(primary_key=True, foreign_key="requests.id", max_length=64)
    thread_id: str = Field(foreign_key="threads.id", max_length=64)
    creator: str = Field(max_length=320)  # the token that made it; only it may read it
    idempotency_key: str | None = Field(default=None, max_length=200)
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    callback_url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    callback_secret: str | None = Field(default=None, max_length=200)
    expires_at: datetime | None = _ts(nullable=True)
    # What another API face keeps as it was given (HumanLayer's run_id, call_id, spec and state).
    external: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _ts(nullable=False)


class SchemaCompatRow(SQLModel, table=True):
    """One row: the oldest migration revision whose code still runs on this schema.

    Migrations are written expand-then-contract: an expand leaves the previous release working, so
    a replica of it that finds the database newer than it knows reads this row and keeps serving; a
    contract raises it, and that replica then refuses to start. Written by `storage.migrate.upgrade`.
    """

    __tablename__ = "schema_compat"

    oldest_compatible: str = Field(primary_key=True, max_length=32)


class WebSigninRow(SQLModel, table=True):
    """A sign-in to the web inbox: a link asked for (mailed, or not when the address may not sign
    in: the row still counts toward the rate limits), then the session it started, until sign-out."""

    __tablename__ = "web_signins"
    __table_args__ = (
        Index("ix_web_signins_address_created", "address", "created_at"),
        Index("ix_web_signins_ip_created", "ip", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=64)
    address: str = Field(max_length=320)  # as typed, ASCII-lowercased
    ip: str = Field(default="", max_length=64)
    how: str = Field(default="link", max_length=16)  # link | token
    link_hash: str | None = Field(default=None, max_length=64, unique=True)  # sha256 of the link's token
    link_expires_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(nullable=False)
    started_at: datetime | None = _ts(nullable=True)  # the session began (the link was used)
    ended_at: datetime | None = _ts(nullable=True)  # signed out


class GrantRow(SQLModel, table=True):
    """A standing grant (agent/grants.py): given with an approval, it lets later calls of `tool`
    inside its scope run without asking until `expires_at`, unless `revoked_at`. `thread_id` limits
    it to one thread, `digest` to exact arguments, `match` to arguments equal to these. Each use is a
    conditional UPDATE of `uses` (storage/grants.py), in the transaction that records it."""

    __tablename__ = "grants"
    __table_args__ = (
        Index("ix_grants_tool_expires", "agent", "tool", "expires_at"),
        Index("ix_grants_request", "request_id"),
    )

    id: str = Field(primary_key=True, max_length=64)
    agent: str = Field(max_length=200)
    tool: str = Field(max_length=200)
    scope: str = Field(max_length=16)  # thread | duration | arguments
    thread_id: str | None = Field(default=None, max_length=64)
    digest: str | None = Field(default=None, max_length=64)
    match: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    request_id: str = Field(max_length=64)  # the request whose approval gave it
    given_by: str = Field(max_length=320)
    given_by_voter: str = Field(max_length=400)  # one key per person (agent.events.voter_key)
    identities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
    revoked_at: datetime | None = _ts(nullable=True)
    revoked_by: str | None = Field(default=None, max_length=320)
    uses: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    last_used_at: datetime | None = _ts(nullable=True)


class HomeTabRow(SQLModel, table=True):
    """A Slack user's App Home tab: whether it needs publishing again, and what was published last.

    A change to a request the user may see bumps `version` and sets `due_at` (in the transaction
    that records it, `storage.home_tabs.mark_home_tabs`); a publisher claims the row, builds the tab
    from the database and publishes it at most once per user per few seconds (bot/slack_home.py)."""

    __tablename__ = "slack_home_tabs"
    __table_args__ = (Index("ix_slack_home_tabs_due", "due_at"),)

    user: str = Field(primary_key=True, max_length=64)  # the Slack user id
    team: str = Field(default="", max_length=64)
    version: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    due_at: datetime | None = _ts(nullable=True)  # None: the published tab is current
    claimed_until: datetime | None = _ts(nullable=True)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    digest: str = Field(default="", max_length=64)  # of the view last published: an equal one is not sent
    published_at: datetime | None = _ts(nullable=True)
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = _ts(nullable=False)


# The people directory's tables live in their own module; imported here so they register with the rest.
from storage.people_models import ApiTokenRow, PersonIdentityRow, PersonRow  # noqa: E402
from storage.schedule_models import ScheduleRow  # noqa: E402
from storage.timer_models import RequestTimerRow  # noqa: E402

__all__ = [
    "ApiTokenRow",
    "EventRow",
    "GrantRow",
    "HomeTabRow",
    "IntakeRow",
    "MailboxStateRow",
    "OutboxRow",
    "PersonIdentityRow",
    "PersonRow",
    "ReceiptRow",
    "RequestRow",
    "RequestTimerRow",
    "ScheduleRow",
    "SchemaCompatRow",
    "StandaloneRow",
    "ThreadRow",
    "UTCDateTime",
    "WebSigninRow",
    "utcnow",
]


class AuditChainRow(SQLModel, table=True):
    """The audit's tamper-evident chain (storage/audit_chain.py): one row per audited event, in the
    order appended, each holding the SHA-256 of its record and of the record before it."""

    __tablename__ = "audit_chain"
    __table_args__ = (UniqueConstraint("thread_id", "seq", name="uq_audit_chain_event"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    )
    thread_id: str = Field(max_length=64)
    seq: int
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
