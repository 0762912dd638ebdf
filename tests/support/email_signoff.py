"""A real `signoff serve` with email enabled: Dovecot holds the agent's mailbox (mail arrives by
LMTP, the way an MTA delivers it), aiosmtpd records what the bot sends.

    with email_signoff(dovecot, smtp, model, tmp_path) as bot:
        bot.send(mail("bob@corp.example", "restart payments", "please restart the payments worker"))
        [ask] = bot.wait_sent(1)
        bot.send(reply(ask.message, "alice@example.com", "approve"))

`mail` and `reply` build messages as mail clients write them (Gmail's and Outlook's quoting).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import time
from collections.abc import Callable, Iterator, Sequence
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import Any, Literal, TypeAlias

from tests.support.dovecot import DovecotServer
from tests.support.fake_model import FakeModelServer
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.smtp_server import Received, SmtpServer

AGENT = "agent@example.test"
AGENT_PASSWORD = "agent-pw"
SECRET = "test-secret-key-for-reply-tokens"
ALICE = "alice@example.com"  # the configured approver
BOB = "bob@corp.example"  # asks for things
MALLORY = "mallory@evil.example"  # may not decide

WAIT = 60.0  # seconds to wait for the bot: generous, for a loaded CI machine (the first model call imports litellm)

_counter = itertools.count(1)


def new_message_id(domain: str = "client.example") -> str:
    return f"<{time.time_ns()}.{next(_counter)}@{domain}>"


def mail(
    sender: str,
    subject: str,
    body: str,
    *,
    to: str = AGENT,
    cc: Sequence[str] = (),
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(_now())
    msg["Message-ID"] = message_id or new_message_id(sender.rpartition("@")[2] or "client.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def reply(
    to_message: EmailMessage,
    sender: str,
    body: str,
    *,
    style: Literal["gmail", "outlook"] = "gmail",
    to: str | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """`sender` answers `to_message` (one the bot sent) the way their mail client would."""
    quoted = to_message.get_content() if to_message.get_content_type() == "text/plain" else ""
    original_from = str(to_message["From"])
    if style == "gmail":
        history = f"On Tue, May 14, 2024 at 9:05 AM {original_from} wrote:\n\n" + "\n".join(
            f"> {line}" if line else ">" for line in quoted.splitlines()
        )
    else:
        history = (
            "________________________________\n"
            f"From: {original_from}\nSent: Tuesday, May 14, 2024 9:25 AM\nTo: {sender}\n"
            f"Subject: {to_message['Subject']}\n\n{quoted}"
        )
    reply_to = to or parseaddr(str(to_message.get("Reply-To") or to_message["From"]))[1]
    references = [*str(to_message.get("References", "")).split(), str(to_message["Message-ID"])]
    subject = str(to_message["Subject"])
    return mail(
        sender,
        subject if subject.lower().startswith("re:") else f"Re: {subject}",
        f"{body}\n\n{history}\n",
        to=reply_to,
        message_id=message_id,
        in_reply_to=str(to_message["Message-ID"]),
        references=references,
        headers=headers,
    )


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def header_address(raw: bytes, name: str) -> str:
    msg = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    return parseaddr(str(msg[name] or ""))[1]


def envelope_to(raw: bytes) -> str:
    """Where an MTA delivers a message: its To address (with the plus-token, if any)."""
    return header_address(raw, "To")


class EmailSignoff:
    def __init__(self, process: SignoffProcess, dovecot: DovecotServer, smtp: SmtpServer) -> None:
        self.process = process
        self.dovecot = dovecot
        self.smtp = smtp
        self.api = process.client()

    def close(self) -> None:
        self.api.close()

    # --- mail in ---------------------------------------------------------------------------------

    def send(self, raw: bytes, *, to: str | None = None, sender: str | None = None) -> None:
        """Deliver `raw` over LMTP to `to` (default: its To address, plus-token included), with the
        envelope sender (Return-Path) `sender` (default: its From; "" for a null sender)."""
        self.dovecot.deliver(
            raw, to=to or envelope_to(raw), sender=header_address(raw, "From") if sender is None else sender
        )

    # --- mail out --------------------------------------------------------------------------------

    def sent(self, where: Callable[[Received], bool] | None = None) -> list[Received]:
        return [m for m in list(self.smtp.messages) if where is None or where(m)]

    def wait_sent(
        self, count: int, where: Callable[[Received], bool] | None = None, timeout: float = WAIT
    ) -> list[Received]:
        return list(
            wait_until(
                lambda: (found := self.sent(where)) and len(found) >= count and found,
                timeout=timeout,
                message=f"{count} sent message(s)",
            )
        )

    # --- the bot's state -------------------------------------------------------------------------

    def thread(self, thread_id: str) -> dict[str, Any]:
        return dict(self.api.get(f"/api/threads/{thread_id}").json())

    def threads(self) -> list[dict[str, Any]]:
        return list(self.api.get("/api/threads").json()["threads"])

    def only_thread(self) -> dict[str, Any]:
        [thread] = wait_until(lambda: self.threads(), timeout=WAIT, message="a thread")
        return self.thread(thread["id"])

    def wait_status(self, thread_id: str, status: str, timeout: float = WAIT) -> dict[str, Any]:
        return dict(
            wait_until(
                lambda: (t := self.thread(thread_id))["status"] == status and t,
                timeout=timeout,
                message=f"thread {thread_id} {status}",
            )
        )

    def pending(self) -> list[dict[str, Any]]:
        return list(self.api.get("/api/requests", params={"status": "pending"}).json()["requests"])

    def request(self, request_id: str) -> dict[str, Any]:
        return dict(self.api.get(f"/api/requests/{request_id}").json())

    def log_has(self, text: str, timeout: float = WAIT) -> None:
        wait_until(lambda: text in self.process.logs(), timeout=timeout, message=f"{text!r} in the log")


def to_of(message: Received) -> list[str]:
    return [addr for _, addr in getaddresses([str(a) for a in message.message.get_all("To", [])])]


def sent_to(address: str) -> Callable[[Received], bool]:
    return lambda m: address in to_of(m)


def body_of(message: Received) -> str:
    return str(message.message.get_content())


def request_id_of(ask: Received) -> str:
    """The request id a request mail names in its body."""
    found = re.search(r"Request ([0-9a-f]{32})", body_of(ask))
    assert found, body_of(ask)
    return found.group(1)


def token_address(ask: Received) -> str:
    """The reply address (with its token) a request mail asks to be answered at."""
    return str(ask.message["Reply-To"].addresses[0].addr_spec)


def tampered_token(address: str) -> str:
    """`address` with the last character of its token changed."""
    local, _, domain = address.partition("@")
    last = local[-1]
    return f"{local[:-1]}{'a' if last != 'a' else 'b'}@{domain}"


def email_env(dovecot: DovecotServer, smtp: SmtpServer, model: FakeModelServer, tmp_path: Path) -> dict[str, str]:
    return {
        "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
        **model.settings(),
        "SIGNOFF_APPROVERS": ALICE,
        # The test mail carries no DKIM signature or Authentication-Results: sender authentication
        # (on by default) is turned off here, explicitly; tests of it turn it back on.
        "SIGNOFF_EMAIL_REQUIRE_AUTH": "false",
        "SIGNOFF_SECRET_KEY": SECRET,
        "SIGNOFF_EMAIL_ADDRESS": AGENT,
        "SIGNOFF_IMAP_HOST": dovecot.host,
        "SIGNOFF_IMAP_PORT": str(dovecot.imap_port),
        "SIGNOFF_IMAP_USER": AGENT,
        "SIGNOFF_IMAP_PASSWORD": AGENT_PASSWORD,
        "SIGNOFF_IMAP_TLS": "off",
        "SIGNOFF_SMTP_HOST": smtp.host,
        "SIGNOFF_SMTP_PORT": str(smtp.port),
        "SIGNOFF_SMTP_TLS": "off",
    }


MakeEmailBot: TypeAlias = Callable[..., "EmailSignoff"]  # the `make_email_bot` fixture (tests/conftest.py)


@contextlib.contextmanager
def email_signoff(
    dovecot: DovecotServer, smtp: SmtpServer, model: FakeModelServer, tmp_path: Path, **env: str | None
) -> Iterator[EmailSignoff]:
    """`signoff serve` on SQLite with its mailbox in `dovecot` and its outgoing mail to `smtp`;
    a setting given as None is left unset (the product's default)."""
    settings = {**email_env(dovecot, smtp, model, tmp_path), **env}
    process = SignoffProcess({k: v for k, v in settings.items() if v is not None}, tmp_path)
    process.start()
    bot = EmailSignoff(process, dovecot, smtp)
    try:
        yield bot
    finally:
        bot.close()
        process.stop()
