"""The email channel's configuration, and sending a message at most once per Message-ID.

`Mailer.send_once` asks the index whether a Message-ID already went out, sends, then records it.
A message over the outbound rate limits (per thread, in all) is not sent: it raises
`RetryableDeliveryError` that says when the window will have room (`retry_after`), and the
dispatcher tries again then.
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
from channels.email.limits import OutboundRateLimit
from channels.email.parse import DEFAULT_MAX_BYTES
from channels.email.smtp_send import SendResult, SmtpSettings, send_message
from channels.email.threads import MailIndex
from channels.email.tokens import DEFAULT_TOKEN_TTL
from channels.errors import RetryableDeliveryError

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
    cc_joins: bool = False  # a new thread's other To and Cc addresses get its replies
    max_recipients: int = 10  # the most addresses one message to the thread's people goes to
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
        rate: OutboundRateLimit | None = None,
    ) -> None:
        self.config = config
        self.mailbox = Mailbox(config.address)
        self.smtp = smtp
        self.index = index
        self._send = send
        self.now = now
        self.rate = rate or OutboundRateLimit(0, 0)

    def message_id(self, label: str, *parts: object) -> str:
        return derived_message_id(self.config.secret, self.mailbox.domain, label, *parts)

    async def send_once(self, msg: EmailMessage, thread_id: str | None) -> SendResult | None:
        """Send `msg` unless its Message-ID already went out; the server's answer when it was sent
        now (`refused`: the recipients it would not take), None when it had gone out before."""
        message_id = str(msg["Message-ID"])
        if await self.index.sent(message_id):
            log.info("email %s already sent; not sending it again", message_id)
            return None
        over = self.rate.over(thread_id)
        if over is not None:
            log.warning("email %s for thread %s not sent now: over %s", message_id, thread_id, over)
            wait = self.rate.free_in(thread_id)
            raise RetryableDeliveryError(f"rate limited: over {over}; retried later", retry_after=wait)
        result = await self._send(msg, self.smtp)
        self.rate.count(thread_id)
        await self.index.record_sent(message_id, thread_id)
        log.info("sent email %s to %s", message_id, ", ".join(msg.get_all("To", [])))
        return result
