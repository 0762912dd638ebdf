"""The seam between channels and the core.

Channels never import `agent` or `storage`. They receive a `Core` (implemented in `bot/`) to turn
what humans do into events, and they implement `Channel.deliver` to send out what the core wrote
to the outbox. Both sides speak only the small dataclasses below.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

OutboundKind = Literal[
    "reply",
    "approval_request",
    "question",
    "decision",
    "notice",
    "progress",
    "reminder",
    "escalation",
    "copy",
    "copy_update",
]
# A request's copy in another place (agent/places.py), and what brings it up to date: the row's
# text is the place ("slack:C0APPROVERS", "slack:dm", "email", "email:decided"); the copy's refs
# are kept in the request's `delivery` under `copy_key(place)`.
COPY_KINDS = frozenset({"copy", "copy_update"})


def copy_key(place: str) -> str:
    return f"copy:{place}"


# What a request's clock sends (bot/timer_service.py): a reminder to who it still waits for, and
# the news that it was escalated to more people; `Outbound.people` names them. The outbox row's
# text holds them as JSON: {"people": [...], "slack_channel": "C..." or null} (`clock_text`).
CLOCK_KINDS = frozenset({"reminder", "escalation"})
MAX_CLOCK_PEOPLE = 100


def clock_text(people: Sequence[str], slack_channel: str | None = None) -> str:
    return json.dumps({"people": list(people)[:MAX_CLOCK_PEOPLE], "slack_channel": slack_channel})


def clock_people(text: str) -> tuple[list[str], str | None]:
    """The people and the Slack channel of a clock message's text (older rows: one name a line)."""
    try:
        data = json.loads(text)
    except ValueError:
        head = text.partition("\n\n")[0]
        return [n for n in head.splitlines() if n.strip()][:MAX_CLOCK_PEOPLE], None
    if not isinstance(data, dict):
        return [], None
    people = [p for p in data.get("people") or [] if isinstance(p, str) and p.strip()][:MAX_CLOCK_PEOPLE]
    channel = data.get("slack_channel")
    return people, channel if isinstance(channel, str) and channel else None


def clock_note(text: str) -> str:
    """What a person said to go with a clock message (an escalation's `escalation_msg`), if anything:
    `note` in its JSON (older rows: the text after the first blank line)."""
    try:
        data = json.loads(text)
    except ValueError:
        return text.partition("\n\n")[2].strip()
    note = data.get("note") if isinstance(data, dict) else None
    return note.strip() if isinstance(note, str) else ""


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
    # The arguments an approver may change before approving (empty: no edits), and a question's rule
    # for answers that are none of its options.
    edit_fields: list[EditField] = field(default_factory=list)
    allow_free_text: bool = True
    grant_offers: tuple[GrantOffer, ...] = ()  # the standing grants its approver may give with an approval
    granted: str = ""  # decided with a standing grant: what it allows and until when, said with the outcome
    # An approval's named ways to deny, offered beside Deny (a button each, a numbered choice by mail).
    deny_options: tuple[DenyChoice, ...] = ()


@dataclass(frozen=True)
class DenyChoice:
    """One way to deny: `label` shown; with `ask` the approver writes the comment (`comment`
    prefills it), else choosing it denies at once with `comment`."""

    name: str
    label: str
    comment: str
    ask: bool


@dataclass(frozen=True)
class EditField:
    """One argument as an edit form shows it. `kind`: string, integer, number, boolean, choice (one
    of `choices`) or json (typed as JSON); `value` is the current value as text."""

    name: str
    kind: str
    required: bool
    value: str
    description: str = ""
    choices: tuple[str, ...] = ()
    nullable: bool = False


@dataclass(frozen=True)
class Edit:
    """An approver's change of some arguments, given with an approval: JSON values (`text=False`, the
    HTTP API) or text typed into a form or a mail, read by each field's type (`text=True`)."""

    values: dict[str, Any]
    text: bool = False


@dataclass(frozen=True)
class GrantAsk:
    """ "Approve, and allow the same ...": a standing grant asked for with an approval.

    `scope`: `thread` (this thread), `duration` (any thread, for a while) or `arguments` (these
    exact arguments); it ends at `until`, or `within` from now, or (neither) the longest the tool
    allows."""

    scope: str
    until: datetime | None = None
    within: timedelta | None = None


@dataclass(frozen=True)
class GrantOffer:
    """A grant a request's approver may give, as the channels offer it (`until`: its longest end)."""

    scope: str
    label: str
    longest_seconds: int


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
    # A reminder's or an escalation's people, as the request names them, and for each of them every
    # name the directory knows them by (their Slack ids and addresses; the name itself first).
    people: tuple[str, ...] = ()
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # An escalation's Slack channel, where the request is posted as well (None: only its thread).
    slack_channel: str | None = None
    # What a person said to go with it: an escalation's message (HumanLayer's `escalation_msg`).
    note: str = ""

    def reach(self) -> list[str]:
        """Every name of every one of `people`."""
        return list(dict.fromkeys(a for name in self.people for a in self.aliases.get(name, (name,))))

    speaker: str = ""  # the agent that speaks, where a deployment runs several; shown with the message


@dataclass(frozen=True)
class Decision:
    """The outcome of a human's attempt to decide or answer a request."""

    # self_approval: the person who asked may not approve it; already_approved: their approval
    # already counts toward N of M. `message` says so (and, when accepted, the progress toward N).
    # invalid_edit: edited arguments that do not fit (`problems`, per field); not_editable: the request
    # takes no edit; not_an_option: an answer none of a closed question's options.
    status: Literal[
        "accepted",
        "not_allowed",
        "already_decided",
        "unknown",
        "invalid",
        "self_approval",
        "already_approved",
        "grant_refused",
        "self_grant",
        "invalid_edit",
        "not_editable",
        "not_an_option",
    ]
    request: HumanRequestView | None = None
    message: str = ""
    problems: dict[str, str] = field(default_factory=dict)


class Core(Protocol):
    async def receive_message(
        self, *, receipt_key: str, origin: Origin, text: str, by: str, details: Mapping[str, Any] | None = None
    ) -> str | None:
        """Record a human's message once per delivery key; start or continue the origin's thread.

        `details`: what the channel knows of the message beyond its text, for an agent that lives
        elsewhere (email: `subject`, `body`, `message_id`, `to`, `raw`); never kept with the thread.
        Returns the thread id, or None when this delivery was already recorded.
        """

    async def open_conversation(self, *, receipt_key: str, origin: Origin, text: str, by: str) -> None:
        """Durably record a message that opens a conversation (its origin is this very message, so
        no thread can exist for it yet), and nothing more: the caller may acknowledge it as soon as
        this returns. Its thread is started right after, once per delivery key; it raises when the
        message could not be recorded (the database is down), so the sender delivers it again."""

    async def thread_for(self, channel: str, key: str) -> str | None:
        """The thread id of a conversation this bot is part of, if any."""

    async def threads_asking_in(self, slack_channel: str, thread_ts: str) -> list[str]:
        """The threads whose questions were posted on their own at, or into, this Slack thread (a
        reply there may answer them)."""

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
        edit: Edit | None = None,
        grant: GrantAsk | None = None,
        deny_option: str | None = None,
    ) -> Decision:
        """Approve or deny (`edit`: approve with these arguments changed). `identities`: other names
        `by` holds (Slack user groups) for the allowed check; `proof`: how `by` was authenticated,
        recorded with the decision; `grant`: a standing grant given with the approval (refused,
        with nothing decided, where it may not be given); `deny_option`: the name of one of the
        request's `deny_options` a denial takes (its comment, unless `comment` is given)."""

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
