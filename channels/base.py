"""The seam between channels and the core.

Channels never import `agent` or `storage`. They receive a `Core` (implemented in `bot/`) to turn
what humans do into events, and they implement `Channel.deliver` to send out what the core wrote
to the outbox. Both sides speak only the small dataclasses below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

OutboundKind = Literal["reply", "approval_request", "question", "decision", "notice", "progress"]


@dataclass(frozen=True)
class Origin:
    """Where a thread lives in a channel, so replies go back to the same place.

    `channel` is `slack`, `email` or `api`; `key` is unique per conversation in that channel
    (Slack: `team:channel:thread_ts`; email: the root Message-ID); `data` is channel-specific
    (Slack channel id and thread ts; email subject, participants, Message-IDs).
    """

    channel: str
    key: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HumanRequestView:
    """A pending approval or question, as a channel needs it to render or check an answer."""

    id: str
    thread_id: str
    kind: Literal["approval", "question"]
    status: str  # pending | approved | denied | answered | expired
    tool: str | None
    arguments: dict[str, Any]
    reason: str
    question: str
    options: list[str]
    allowed: list[str]  # who may answer; empty means anyone
    requested_by: str  # who started the thread
    decided_by: str | None = None
    comment: str = ""
    delivery: dict[str, Any] = field(default_factory=dict)  # channel refs: slack ts, email Message-ID
    decided_at: datetime | None = None
    required: int = 1  # distinct approvals needed (N of M)
    approved_by: list[str] = field(default_factory=list)  # who approved so far, toward `required`
    rule: str = ""  # the policy rule that matched, shown to approvers


@dataclass(frozen=True)
class Proof:
    """How a channel authenticated the person behind a decision or answer; the core records it.

    `method`: `slack`, `email_dmarc`, `email_dkim`, `email_from`, `personal_token`, `service_token`,
    `console` (`agent.events.ProofMethod`); `channel`: where it came in; `detail`: what the proof
    was (the Slack team, the token id, ...), never a secret.
    """

    method: str
    channel: str
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outbound:
    """One message the core asks a channel to send (an outbox row)."""

    id: int
    thread_id: str
    kind: OutboundKind
    origin: Origin
    text: str = ""
    request: HumanRequestView | None = None
    attempts: int = 0  # earlier tries to send it: one of them may have gone out before a crash
    speaker: str = ""  # the agent that speaks, where a deployment runs several; shown with the message


@dataclass(frozen=True)
class Decision:
    """The outcome of a human's attempt to decide or answer a request."""

    # self_approval: the person who asked may not approve it; already_approved: their approval
    # already counts toward N of M. `message` says so (and, when accepted, the progress toward N).
    status: Literal[
        "accepted", "not_allowed", "already_decided", "unknown", "invalid", "self_approval", "already_approved"
    ]
    request: HumanRequestView | None = None
    message: str = ""


class Core(Protocol):
    async def receive_message(self, *, receipt_key: str, origin: Origin, text: str, by: str) -> str | None:
        """Record a human's message once per delivery key; start or continue the origin's thread.

        Returns the thread id, or None when this delivery was already recorded.
        """

    async def open_conversation(self, *, receipt_key: str, origin: Origin, text: str, by: str) -> None:
        """Durably record a message that opens a conversation (its origin is this very message, so
        no thread can exist for it yet), and nothing more: the caller may acknowledge it as soon as
        this returns. Its thread is started right after, once per delivery key; it raises when the
        message could not be recorded (the database is down), so the sender delivers it again."""

    async def thread_for(self, channel: str, key: str) -> str | None:
        """The thread id of a conversation this bot is part of, if any."""

    async def pending_requests(self, thread_id: str) -> list[HumanRequestView]: ...

    async def get_request(self, request_id: str) -> HumanRequestView | None: ...

    async def decide(
        self,
        request_id: str,
        *,
        approve: bool,
        by: str,
        comment: str = "",
        receipt_key: str | None = None,
        identities: Sequence[str] = (),
        proof: Proof | None = None,
    ) -> Decision:
        """Approve or deny. `identities`: other names `by` holds (Slack user groups) for the allowed check;
        `proof`: how `by` was authenticated, recorded with the decision."""

    async def answer(
        self,
        request_id: str,
        *,
        answer: str,
        by: str,
        receipt_key: str | None = None,
        identities: Sequence[str] = (),
        proof: Proof | None = None,
    ) -> Decision: ...

    async def record_delivery(self, outbound_id: int, refs: dict[str, Any]) -> None:
        """Remember where an outbound message landed (Slack ts, email Message-ID)."""

    async def first_delivery(self, receipt_key: str) -> bool:
        """Record an inbound delivery that makes no event by itself (a slash command); False when
        it was recorded before."""

    def may_decide(self, allowed: Sequence[str], names: Sequence[str]) -> bool:
        """The one rule for who may decide or answer a request (`allowed`: its list; `names`: the
        person's id and the groups they hold), for checks made before asking the core to decide."""


class Channel(Protocol):
    name: str

    async def deliver(self, message: Outbound) -> dict[str, Any]:
        """Send one outbound message; return references to it (e.g. `{"ts": ...}`).

        A message that went out but not to everyone returns `"refused"` among its references: a
        list of `"<recipient>: <why>"` for the ones it missed (it is not retried; the core shows
        them on the thread). Raise `channels.errors.RetryableDeliveryError` for a temporary
        failure and `channels.errors.PermanentDeliveryError` when retrying cannot help.
        """
