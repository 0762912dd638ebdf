"""What the email channel remembers about conversations, and the seam to the storage behind it.

Every Message-ID we know is recorded once with its thread: the ones we received (under the same
delivery key the core records the message's event with, so the record and the event are one
transaction; replies that answered a request under a key of their own) and the ones we sent. A
reply naming any of them in In-Reply-To or References continues that thread; our next message in
the thread answers the newest message its people sent and lists them all in References.

The bot implements `MailIndex` on the database (`bot/email_wiring.py`); the channel never imports
storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from channels.base import Origin


def received_key(message_id: str) -> str:
    """The delivery key of a received message: each email becomes one event, whatever its UID."""
    return f"email:{message_id}"


def answer_key(message_id: str) -> str:
    """The delivery key of a reply that decided or answered a request (it is no message in the
    conversation: our next message there answers the people's newest message, not this one)."""
    return f"email:answer:{message_id}"


def sent_key(message_id: str) -> str:
    return f"email:out:{message_id}"


def quarantine_key(message_id: str) -> str:
    """A message that could not be parsed: recorded so that it is never parsed again."""
    return f"email:quarantine:{message_id}"


@dataclass(frozen=True)
class ThreadMail:
    """An email thread as our next message in it needs it."""

    message_ids: list[str] = field(default_factory=list)  # ours and theirs, oldest first
    last_received: str | None = None  # the newest message a human sent us in the thread
    participants: list[str] = field(default_factory=list)  # the people in the conversation


class MailIndex(Protocol):
    async def conversation(self, message_ids: Sequence[str]) -> str | None:
        """The origin key of the email thread that any of `message_ids` belongs to, if one does."""

    async def participants(self, conversation: str) -> list[str]:
        """Who belongs to the email thread with this origin key: whom it started with, who wrote in
        it, whom we mailed in it, and whom its requests name."""

    async def received(self, message_id: str) -> bool:
        """Whether this message was already recorded (as an event, an answer, or mail we only noted)."""

    async def record_received(self, message_id: str, thread_id: str | None = None) -> bool:
        """Note a message that becomes no event (ignored, refused, a late reply); False if known."""

    async def quarantined(self, message_id: str) -> bool:
        """Whether this message was quarantined (it could not be parsed)."""

    async def record_quarantined(self, message_id: str) -> bool:
        """Quarantine a message; False if it already was."""

    async def sent(self, message_id: str) -> bool:
        """Whether we already sent a message with this Message-ID."""

    async def record_sent(self, message_id: str, thread_id: str | None) -> None: ...

    async def thread_mail(self, thread_id: str, origin: Origin) -> ThreadMail: ...


def reference_chain(origin: Origin, thread: ThreadMail) -> tuple[str | None, tuple[str, ...]]:
    """(the message to answer, References) for our next message in a thread: the root first, the
    answered message last (unless it is the root), everything we know in between, oldest first."""
    root_refs = [r for r in origin.data.get("references", []) if isinstance(r, str)]
    known = [origin.key, *thread.message_ids] if origin.key.startswith("<") else list(thread.message_ids)
    # A thread that began elsewhere (Slack, the API) answers what it names (`in_reply_to`: a request
    # asked through the API in the human's mail thread), else the first mail it sent.
    parent = (
        thread.last_received
        or (origin.key if origin.key.startswith("<") else None)
        or _message_id(origin)
        or (thread.message_ids[0] if thread.message_ids else None)
    )
    chain = list(dict.fromkeys([*root_refs, *known]))
    if parent is not None and chain and chain[0] != parent:  # the answered message comes last
        chain = [m for m in chain if m != parent] + [parent]
    return parent, tuple(_bounded(chain))


def _message_id(origin: Origin) -> str | None:
    value = origin.data.get("in_reply_to")
    return value if isinstance(value, str) and value.startswith("<") else None


def _bounded(chain: Sequence[str], limit: int = 20) -> list[str]:
    """Keep the root and the newest (RFC 5322 3.6.4: References may be trimmed in the middle)."""
    chain = list(chain)
    return chain if len(chain) <= limit else chain[:1] + chain[-(limit - 1) :]
