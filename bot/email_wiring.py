"""Email, wired from the settings: the IMAP watcher as a service, SMTP delivery, and the database
behind the channel's memory (which Message-IDs belong to which thread, the mailbox's progress).

Known Message-IDs are kept as receipts (`storage.receipts`): `email:<id>` for what we received (the core writes it
with the message's event), `email:answer:<id>` for replies that decided or answered a request
(written with that event), `email:out:<id>` for what we sent. The watcher's UIDVALIDITY and last
UID live in `mailbox_state`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from agent.events import ApprovalRequested, HumanMessage, QuestionAsked
from bot.errors import ConfigError
from bot.identity import directory_names, expand
from bot.runtime import Runtime
from bot.settings import Settings
from channels.base import Origin
from channels.email.addresses import Mailbox, email_addresses
from channels.email.deliver import SmtpChannel
from channels.email.errors import ParserUnavailable
from channels.email.imap_watch import ImapSettings, ImapWatcher
from channels.email.inbound import EmailInbound
from channels.email.limits import OutboundRateLimit, SenderRateLimit
from channels.email.mailer import EmailConfig, Mailer
from channels.email.parse_worker import ParseWorker
from channels.email.smtp_send import SmtpSettings
from channels.email.threads import ThreadMail, answer_key, quarantine_key, received_key, sent_key
from channels.email.tokens import make_reply_address
from storage.async_store import AsyncStore

log = logging.getLogger(__name__)

IDLE_RENEW_SECONDS = 300.0  # re-issue IDLE every 5 minutes; servers may end it after 29 (RFC 2177)
_RECEIVED, _ANSWER, _SENT = received_key(""), answer_key(""), sent_key("")


class StoreMailIndex:
    """`channels.email.threads.MailIndex` on the database."""

    def __init__(self, storage: AsyncStore, mailbox: Mailbox) -> None:
        self.storage = storage
        self.mailbox = mailbox

    async def conversation(self, message_ids: Sequence[str]) -> str | None:
        keys = [k for m in message_ids for k in (received_key(m), sent_key(m), answer_key(m))]
        found = await self.storage.receipt_threads(keys)
        for key in keys:  # in the order given: the message answered first, then the newest reference
            thread_id = found.get(key)
            if thread_id is None:
                continue
            thread = await self.storage.get_thread(thread_id)
            if thread is not None and thread.origin_channel == "email" and thread.origin_key:
                return thread.origin_key
        return None

    async def received(self, message_id: str) -> bool:
        keys = [received_key(message_id), answer_key(message_id)]
        return bool(await self.storage.receipt_threads(keys))

    async def record_received(self, message_id: str, thread_id: str | None = None) -> bool:
        return await self.storage.record_receipt(received_key(message_id), thread_id)

    async def quarantined(self, message_id: str) -> bool:
        return await self.storage.has_receipt(quarantine_key(message_id))

    async def record_quarantined(self, message_id: str) -> bool:
        return await self.storage.record_receipt(quarantine_key(message_id))

    async def sent(self, message_id: str) -> bool:
        return await self.storage.has_receipt(sent_key(message_id))

    async def record_sent(self, message_id: str, thread_id: str | None) -> None:
        await self.storage.record_receipt(sent_key(message_id), thread_id)

    async def thread_mail(self, thread_id: str, origin: Origin) -> ThreadMail:
        return await self.storage.run(self._thread_mail, thread_id, origin)

    def _thread_mail(self, thread_id: str, origin: Origin) -> ThreadMail:
        store = self.storage.store
        message_ids: list[str] = []
        last_received: str | None = None
        for key in store.thread_receipts(thread_id, _RECEIVED):
            if key.startswith(_SENT):
                message_ids.append(key.removeprefix(_SENT))
            elif key.startswith(_ANSWER):
                message_ids.append(key.removeprefix(_ANSWER))
            else:
                last_received = key.removeprefix(_RECEIVED)
                message_ids.append(last_received)
        senders = [
            event.by
            for event in store.snapshot(thread_id).events
            if isinstance(event, HumanMessage) and event.channel == "email"
        ]
        people = [p for p in origin.data.get("participants", []) if isinstance(p, str)]
        return ThreadMail(message_ids, last_received, self.mailbox.others([*people, *senders]))

    async def participants(self, conversation: str) -> list[str]:
        return await self.storage.run(self._participants, conversation)

    def _participants(self, conversation: str) -> list[str]:
        store = self.storage.store
        thread = store.thread_by_origin("email", conversation)
        if thread is None:
            return []
        people = [p for p in thread.origin_data.get("participants", []) if isinstance(p, str)]
        for event in store.snapshot(thread.id).events:
            if isinstance(event, HumanMessage) and event.channel == "email":
                people.append(event.by)
            elif isinstance(event, ApprovalRequested):
                people.extend(event.approvers)
            elif isinstance(event, QuestionAsked):
                people.extend(event.answerers)
        for row in store.outbox_for_thread(thread.id):
            if row.channel == "email" and row.status == "sent":
                people.extend(a for a in row.refs.get("to", []) if isinstance(a, str))
        # Approvers and answerers named as people take part by their addresses (bot/identity.py).
        people = expand(people, store.people_for(directory_names(people)))
        return self.mailbox.others(email_addresses(people))


class StoreMailboxState:
    """`channels.email.imap_watch.MailboxStateStore` on the database."""

    def __init__(self, storage: AsyncStore) -> None:
        self.storage = storage

    async def load(self, mailbox: str) -> tuple[int, int] | None:
        return await self.storage.mailbox_state(mailbox)

    async def save(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        await self.storage.save_mailbox_state(mailbox, uidvalidity, last_uid)


def email_config(settings: Settings) -> EmailConfig:
    address = (settings.email_address or "").strip()
    try:
        Mailbox(address)
    except ValueError:
        raise ConfigError(
            f"SIGNOFF_EMAIL_ADDRESS: {address!r} is not an email address (e.g. agent@example.com)"
        ) from None
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        raise ConfigError(
            "email needs SIGNOFF_SECRET_KEY: it signs the reply addresses approvers answer to. Set it to a long "
            "random string, e.g. the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    secret = settings.secret_key.get_secret_value()
    try:  # a reply address is the local part, "+", and a 53-character token: at most 64 in all
        make_reply_address(address, uuid.uuid4().hex, "approver@example.com", secret)
    except ValueError:
        raise ConfigError(
            f"SIGNOFF_EMAIL_ADDRESS: the part before @ in {address!r} is too long for reply addresses "
            "(at most 10 characters, e.g. agent@ or ops@; a reply token takes the rest of the 64 allowed)"
        ) from None
    return EmailConfig(
        address=address.lower(),
        secret=secret,
        approvers=tuple(settings.approver_list),
        require_auth=settings.email_require_auth,
        authserv_id=settings.email_authserv_id,
        max_bytes=settings.email_max_bytes,
        cc_joins=settings.email_cc_joins,
        max_recipients=settings.email_max_recipients,
        token_ttl=settings.email_token_ttl,
    )


def imap_settings(settings: Settings) -> ImapSettings:
    assert settings.imap_host is not None
    if settings.imap_password is None:
        raise ConfigError("SIGNOFF_IMAP_PASSWORD is not set: the password (or app password) of the agent's mailbox")
    return ImapSettings(
        host=settings.imap_host,
        port=settings.imap_port or (993 if settings.imap_tls == "ssl" else 143),
        username=settings.imap_user or settings.email_address or "",
        password=settings.imap_password.get_secret_value(),
        tls=settings.imap_tls,
        mailbox=settings.imap_folder,
    )


def smtp_settings(settings: Settings) -> SmtpSettings:
    if not settings.smtp_host:
        raise ConfigError(
            "SIGNOFF_SMTP_HOST is not set: email needs a server to send through (e.g. smtp.gmail.com, with "
            "SIGNOFF_SMTP_USER and SIGNOFF_SMTP_PASSWORD)"
        )
    default_port = {"ssl": 465, "starttls": 587, "off": 25}[settings.smtp_tls]
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port or default_port,
        tls=settings.smtp_tls,
        username=settings.smtp_user,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout=settings.smtp_timeout,
    )


def setup_email(runtime: Runtime) -> None:
    settings = runtime.settings
    config = email_config(settings)
    imap = imap_settings(settings)
    smtp = smtp_settings(settings)
    index = StoreMailIndex(runtime.storage, Mailbox(config.address))
    rate = OutboundRateLimit(settings.email_thread_rate_limit, settings.email_send_rate_limit)
    mailer = Mailer(config, smtp, index, rate=rate)
    runtime.add_channel("email", SmtpChannel(mailer, index))
    parser = ParseWorker(timeout=settings.email_parse_timeout)
    inbound = EmailInbound(
        runtime.core,
        index,
        mailer,
        limit=SenderRateLimit(settings.email_rate_limit),
        parser=parser,
        on_quarantine=lambda *_: runtime.metrics.email_quarantined.inc(),
    )
    watcher = ImapWatcher(
        imap,
        inbound,
        StoreMailboxState(runtime.storage),
        idle_timeout=IDLE_RENEW_SECONDS,
        poll_interval=settings.imap_poll_interval,
    )

    async def imap_watcher() -> None:
        try:
            try:
                await parser.start()
            except ParserUnavailable as exc:  # each message then waits (unrecorded) until it starts
                log.error("email: %s", exc)
            await watcher.run()
        finally:
            parser.close()

    runtime.services.append(imap_watcher)
