"""The email channel's configuration, and sending a message at most once per Message-ID.

`Mailer.send_once` asks the index whether a Message-ID already went out, sends, then records it.
A crash between sending and recording re-sends the same message with the same Message-ID (which
recipients' clients show once); it never sends a different message for the same purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from channels.email.addresses import Mailbox, derived_message_id
from channels.email.parse import DEFAULT_MAX_BYTES
from channels.email.smtp_send import SendResult, SmtpSettings, send_message
from channels.email.threads import MailIndex
from channels.email.tokens import DEFAULT_TOKEN_TTL

log = logging.getLogger(__name__)

Send = Callable[[EmailMessage, SmtpSettings], Awaitable[SendResult]]


@dataclass(frozen=True)
class EmailConfig:
    address: str  # the agent's address: From of everything we send, and where mail arrives
    secret: str = field(repr=False)  # signs reply tokens and derives our Message-IDs
    approvers: tuple[str, ...] = ()  # who decides where a request names nobody (emails used here)
    require_auth: bool = True  # a decision or answer needs an authenticated sender
    authserv_id: str | None = None  # our receiving server's Authentication-Results id
    max_bytes: int = DEFAULT_MAX_BYTES
    agent_name: str = "Signoff"
    token_ttl: timedelta = DEFAULT_TOKEN_TTL  # how long a reply address (its token) is valid

    def token_expiry(self, now: datetime) -> datetime:
        return now + self.token_ttl


class Mailer:
    def __init__(
        self,
        config: EmailConfig,
        smtp: SmtpSettings,
        index: MailIndex,
        *,
        send: Send = send_message,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.mailbox = Mailbox(config.address)
        self.smtp = smtp
        self.index = index
        self._send = send
        self.now = now

    def message_id(self, label: str, *parts: object) -> str:
        return derived_message_id(self.config.secret, self.mailbox.domain, label, *parts)

    async def send_once(self, msg: EmailMessage, thread_id: str | None) -> SendResult | None:
        """Send `msg` unless its Message-ID already went out; the server's answer when it was sent
        now (`refused`: the recipients it would not take), None when it had gone out before."""
        message_id = str(msg["Message-ID"])
        if await self.index.sent(message_id):
            log.info("email %s already sent; not sending it again", message_id)
            return None
        result = await self._send(msg, self.smtp)
        await self.index.record_sent(message_id, thread_id)
        log.info("sent email %s to %s", message_id, ", ".join(msg.get_all("To", [])))
        return result
