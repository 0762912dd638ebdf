"""Send one message over SMTP with aiosmtplib, and say whether a failure is worth retrying.

    4xx replies, timeouts, refused or dropped connections, TLS failures (an untrusted
    certificate, no STARTTLS where we require it: never sent in plaintext; the operator fixes
    the setting or the network and the retry goes out)
        -> channels.errors.RetryableDeliveryError
    5xx replies (recipient unknown, message rejected, authentication failed), a message the
    server cannot carry (SMTPUTF8)
        -> channels.errors.PermanentDeliveryError

When some recipients are refused and others accepted, the message was sent: retrying would
send it twice, so the refusals are logged and returned, not raised.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Literal

import aiosmtplib

from channels.errors import PermanentDeliveryError, RetryableDeliveryError

logger = logging.getLogger(__name__)

TlsMode = Literal["off", "starttls", "ssl"]


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    tls: TlsMode = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_context: ssl.SSLContext | None = field(default=None, repr=False)
    timeout: float = 30.0
    local_hostname: str | None = None

    def connection_options(self) -> dict[str, Any]:
        """How aiosmtplib reaches this server (its keyword arguments), for sending and probing alike."""
        return {
            "hostname": self.host,
            "port": self.port,
            "use_tls": self.tls == "ssl",
            "start_tls": self.tls == "starttls",
            "tls_context": self.tls_context,
            "timeout": self.timeout,
            "local_hostname": self.local_hostname,
        }


@dataclass(frozen=True)
class SendResult:
    response: str  # the server's reply to the message data
    refused: dict[str, str] = field(default_factory=dict)  # recipient -> reply, when some were refused


async def send_message(
    msg: EmailMessage,
    settings: SmtpSettings,
    *,
    sender: str | None = None,
    recipients: Sequence[str] | None = None,
) -> SendResult:
    """Deliver `msg` to its To/Cc/Bcc (or `recipients`); envelope sender defaults to From."""
    if settings.tls not in ("off", "starttls", "ssl"):
        raise PermanentDeliveryError(f"unknown SMTP TLS mode {settings.tls!r}: use off, starttls or ssl")
    try:
        errors, response = await aiosmtplib.send(
            msg,
            sender=sender,
            recipients=list(recipients) if recipients is not None else None,
            username=settings.username,
            password=settings.password,
            **settings.connection_options(),
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        raise _classify_refusals(error) from error
    except aiosmtplib.SMTPNotSupported as error:
        raise PermanentDeliveryError(f"SMTP server {settings.host}: {error}") from error
    except aiosmtplib.SMTPResponseException as error:
        raise _classify_code(error.code, f"SMTP server {settings.host} replied {error.code} {error.message}") from error
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        # Connect/read timeouts, refused or dropped connections, TLS failures.
        raise RetryableDeliveryError(f"SMTP server {settings.host}:{settings.port}: {error}") from error
    refused = {rcpt: f"{reply.code} {reply.message}" for rcpt, reply in errors.items()}
    if refused:
        logger.warning("message %s refused for some recipients: %s", msg.get("Message-ID"), refused)
    return SendResult(response=response, refused=refused)


def _classify_code(code: int, text: str) -> RetryableDeliveryError | PermanentDeliveryError:
    if 400 <= code < 500 or code < 0:
        return RetryableDeliveryError(text)
    return PermanentDeliveryError(text)


def _classify_refusals(error: aiosmtplib.SMTPRecipientsRefused) -> RetryableDeliveryError | PermanentDeliveryError:
    details = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
    if any(400 <= r.code < 500 for r in error.recipients):
        return RetryableDeliveryError(f"all recipients refused, some temporarily: {details}")
    return PermanentDeliveryError(f"all recipients refused: {details}")
