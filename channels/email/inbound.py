"""In: each email the IMAP watcher hands over becomes at most one event, exactly once.

    cannot be parsed (the parser raised,       quarantined: recorded once under its Message-ID,
    or took longer than its time limit)        flagged in IMAP, an ERROR for operators; never
                                               parsed, answered or retried again
    on our list of things never to answer      recorded, nothing else: automated mail (bounces,
                                               auto-replies, lists, bulk, null sender, mailer
                                               daemons), mail from our own address, no sender
    over SIGNOFF_EMAIL_MAX_BYTES               refused: the sender is told the limit; not read
    to one of our plus-addresses (a token)     a decision or an answer, when the token is valid
                                               for that request and that sender (and, when
                                               required, the sender is authenticated); anything
                                               else leaves the request pending and is only logged
    a reply naming a message we know, from     continues that thread (the new part only)
    one of that thread's participants
    (authenticated where required)
    a reply from a participant not allowed     continues the thread, and they are told in a
    to answer the question it waits on         short mail that they may not answer
    anything else (a reply from anyone else    starts a thread keyed by its Message-ID, whose
    too)                                       replies go to its sender (and its other To/Cc
                                               addresses only with SIGNOFF_EMAIL_CC_JOINS)

Each message is recorded under `email:<Message-ID>` (a digest of the raw message when it has none)
in the same transaction as its event, so a message handed over again (a reconnect, a crash
before \\Seen was set, a UIDVALIDITY change) is recognised and dropped. A per-sender limit caps
how many messages of one sender become work (and replies) per hour; decisions are never capped.
Parsing is CPU work: `bot` wires in `parse_worker.ParseWorker` (a child process with a time limit),
so no message can stall the server; a message it cannot parse is quarantined.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage

from channels.base import Core, Decision, Edit, HumanRequestView, Origin, Proof
from channels.email.addresses import Mailbox
from channels.email.answers import read_answer, read_decision, read_deny_option, read_edits, read_grant
from channels.email.auth import dkim_verify, sender_authenticated
from channels.email.compose import ThreadRefs, compose_decision_notice, compose_reply
from channels.email.errors import ParseFailed
from channels.email.imap_watch import QUARANTINED
from channels.email.limits import SenderRateLimit
from channels.email.mailer import Mailer
from channels.email.parse import InboundEmail, peek_identity
from channels.email.parse_worker import InlineParser, MailParser
from channels.email.threads import MailIndex, answer_key, received_key
from channels.email.tokens import TokenClaim, make_reply_address, read_reply_token
from channels.errors import DeliveryError

log = logging.getLogger(__name__)

DkimCheck = Callable[..., bool]
OnQuarantine = Callable[[str, str, str], None]  # (Message-ID, sender, why)
_TOKEN_MIN_CHARS = 29  # the shortest token tokens.make_reply_address makes (18 bytes in base32)


class EmailInbound:
    """The watcher's `on_message(uid, raw)`: True once the message is recorded (or known)."""

    def __init__(
        self,
        core: Core,
        index: MailIndex,
        mailer: Mailer,
        *,
        limit: SenderRateLimit,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        dkim: DkimCheck = dkim_verify,
        parser: MailParser | None = None,
        on_quarantine: OnQuarantine | None = None,
    ) -> None:
        self.core = core
        self.index = index
        self.mailer = mailer
        self.config = mailer.config
        self.mailbox = Mailbox(self.config.address)
        self.limit = limit
        self.now = now
        self.dkim = dkim
        self.parser = parser or InlineParser()
        self.on_quarantine = on_quarantine

    async def __call__(self, uid: int, raw: bytes) -> bool | str:
        return await self.handle(raw)

    async def handle(self, raw: bytes) -> bool | str:
        """True once recorded (or known), `QUARANTINED` for a message that cannot be parsed."""
        too_large = len(raw) > self.config.max_bytes
        peeked_id, peeked_from = peek_identity(raw)
        quarantine_id = peeked_id or _digest_id(raw)
        if await self.index.quarantined(quarantine_id):  # handed over again: never parse it twice
            return QUARANTINED
        try:
            mail = await self.parser.parse(raw, max_bytes=self.config.max_bytes, headers_only=too_large)
        except ParseFailed as exc:
            await self._quarantine(quarantine_id, peeked_from, len(raw), str(exc))
            return QUARANTINED
        message_id = mail.message_id or _digest_id(raw)
        if await self.index.received(message_id):
            log.debug("email %s was already recorded", message_id)
            return True
        ignored = self._never_answered(mail)
        if ignored:
            log.info("email %s from %r: %s; recorded, not answered", message_id, mail.from_addr, ignored)
            await self.index.record_received(message_id)
            return True
        if too_large:
            await self._refuse_too_large(mail, message_id, len(raw))
            return True
        tagged = [a for a in self.mailbox.tagged([*mail.to, *mail.cc, *mail.delivered_to]) if _looks_like_token(a)]
        if tagged:
            await self._reply_to_request(mail, message_id, raw, tagged)
            return True
        await self._message(mail, message_id, raw)
        return True

    async def _quarantine(self, message_id: str, sender: str, size: int, why: str) -> None:
        if not await self.index.record_quarantined(message_id):
            return  # recorded by an earlier try (or another replica): reported then
        log.error(
            "email %s from %s (%d bytes) could not be parsed and is quarantined: %s. It is flagged in the "
            "mailbox, not answered and never retried; read it in the mailbox and forward what matters",
            message_id,
            sender or "(unknown sender)",
            size,
            why,
        )
        if self.on_quarantine is not None:
            self.on_quarantine(message_id, sender, why)

    # -- what is never answered -------------------------------------------------------------------

    def _never_answered(self, mail: InboundEmail) -> str | None:
        if mail.auto is not None:
            return f"automated mail ({mail.auto.value})"
        if not mail.from_addr:
            return "no sender address"
        if self.mailbox.is_ours(mail.from_addr):
            return "sent from our own address"
        return None

    # -- a reply to an approval request or a question --------------------------------------------

    async def _reply_to_request(self, mail: InboundEmail, message_id: str, raw: bytes, tagged: list[str]) -> None:
        claim = self._claim(mail, tagged)
        if claim is None:
            log.warning(
                "email %s from %s to %s: the reply token is not valid for this sender (forged, altered, "
                "expired or someone else's); ignored",
                message_id,
                mail.from_addr,
                ", ".join(tagged),
            )
            await self.index.record_received(message_id)
            return
        method = await self._authenticated(mail, raw)
        if self.config.require_auth and method is None:
            log.warning(
                "email %s: reply to request %s from %s is not authenticated (no DMARC or aligned DKIM pass); "
                "ignored because SIGNOFF_EMAIL_REQUIRE_AUTH is on",
                message_id,
                claim.request_id,
                mail.from_addr,
            )
            await self.index.record_received(message_id)
            return
        request = await self.core.get_request(claim.request_id)
        if request is None:
            log.warning("email %s: request %s does not exist; ignored", message_id, claim.request_id)
            await self.index.record_received(message_id)
            return
        key = answer_key(message_id)
        proof = Proof(method or "email_from", "email", {"from": mail.from_addr, "message_id": message_id})
        if request.kind == "approval":
            decision = read_decision(mail.reply_text)
            labels = [o.label for o in request.deny_options]
            picked = read_deny_option(mail.reply_text, labels) if decision is None and labels else None
            if picked is not None:  # one of its named ways to deny, by number or label
                index, comment = picked
                result = await self.core.decide(
                    request.id,
                    approve=False,
                    by=claim.approver,
                    comment=comment,
                    receipt_key=key,
                    proof=proof,
                    deny_option=request.deny_options[index].name,
                )
                await self._after_decision(mail, message_id, request, result)
                return
            if decision is None:
                await self._hint(mail, message_id, request, "approval", claim)
                return
            word, comment = decision
            grant, comment = read_grant(comment) if word == "approve" else (None, comment)
            changes, rest = read_edits(comment) if word == "approve" else ({}, comment)
            result = await self.core.decide(
                request.id,
                approve=word == "approve",
                by=claim.approver,
                comment=rest if changes else comment,
                receipt_key=key,
                proof=proof,
                edit=Edit(dict(changes), text=True) if changes else None,
                grant=grant,
            )
        else:
            answer = _with_attachments(read_answer(mail.reply_text), mail)
            if not answer:
                await self._hint(mail, message_id, request, "question", claim)
                return
            result = await self.core.answer(request.id, answer=answer, by=claim.approver, receipt_key=key, proof=proof)
        await self._after_decision(mail, message_id, request, result)

    def _claim(self, mail: InboundEmail, tagged: Sequence[str]) -> TokenClaim | None:
        now = self.now()
        for address in tagged:
            claim = read_reply_token(address, self.config.secret, now, mail.from_addr, separator=self.mailbox.separator)
            if claim is not None:
                return claim
        return None

    async def _authenticated(self, mail: InboundEmail, raw: bytes) -> str | None:
        """How the sender was authenticated (`email_dmarc`, `email_dkim`), or None."""
        domain = mail.from_addr.rpartition("@")[2]
        if self.config.authserv_id and sender_authenticated(
            mail.authentication_results, self.config.authserv_id, domain
        ):
            return "email_dmarc"
        return "email_dkim" if await asyncio.to_thread(self.dkim, raw, from_domain=domain) else None

    async def _after_decision(
        self, mail: InboundEmail, message_id: str, request: HumanRequestView, result: Decision
    ) -> None:
        if result.status == "accepted":
            log.info("email %s: %s %s request %s", message_id, mail.from_addr, request.kind, request.id)
            if result.message:  # an approval counted toward N of M: the approver is told
                await self._tell(mail, message_id, request, f"{result.message}.")
            return
        log.warning("email %s: reply to request %s from %s: %s", message_id, request.id, mail.from_addr, result)
        if await self.index.received(message_id):  # recorded meanwhile: a replay, nothing to say
            return
        await self.index.record_received(message_id)
        if result.status == "already_decided" and result.request is not None:
            notice = compose_decision_notice(
                result.request,
                agent_address=self.config.address,
                to=[mail.from_addr],
                thread=_answering(mail),
                agent_name=self.config.agent_name,
                note="Your reply came too late; this request was already decided:",
                now=self.now(),
                message_id=self.mailer.message_id("late", message_id),
            )
            await self._note(mail, notice, request.thread_id)
        elif result.status in (
            "grant_refused",
            "self_grant",
            "not_allowed",
            "self_approval",
            "already_approved",
            "invalid_edit",
            "not_editable",
            "not_an_option",
        ):
            # The reply token was valid for this sender: they were asked, so they are told why not.
            await self._tell(mail, message_id, request, f"Your reply decided nothing: {result.message}.")

    async def _tell(self, mail: InboundEmail, message_id: str, request: HumanRequestView, text: str) -> None:
        note = compose_reply(
            agent_address=self.config.address,
            to=[mail.from_addr],
            thread=_answering(mail),
            text=f"{text}\n\nRequest {request.id}",
            agent_name=self.config.agent_name,
            now=self.now(),
            message_id=self.mailer.message_id("told", message_id),
        )
        await self._note(mail, note, request.thread_id)

    async def _hint(
        self, mail: InboundEmail, message_id: str, request: HumanRequestView, kind: str, claim: TokenClaim
    ) -> None:
        log.info("email %s from %s: no %s in the reply to request %s", message_id, mail.from_addr, kind, request.id)
        await self.index.record_received(message_id)
        if kind == "approval":
            ways = "".join(f"    {n}) {' '.join(o.label.split())}\n" for n, o in enumerate(request.deny_options, 1))
            text = (
                "I could not read a decision in your reply, so the request is still waiting.\n\n"
                "Reply again with one of these on the first line:\n\n    approve\n    deny <reason>\n"
                + (f"\nor the number of a way to deny:\n\n{ways}" if ways else "")
                + f"\nRequest {request.id}"
            )
        else:
            text = (
                "Your reply had no answer in it, so the question is still open. Write your answer at the top."
                f"\n\nRequest {request.id}"
            )
        note = compose_reply(
            agent_address=self.config.address,
            to=[mail.from_addr],
            thread=_answering(mail),
            text=text,
            # The token was valid for this sender: the note goes back with the very same one (its
            # expiry too), so answering it works like answering the request, and for no longer.
            reply_to=make_reply_address(
                self.config.address, request.id, mail.from_addr, self.config.secret, claim.expires_at
            ),
            agent_name=self.config.agent_name,
            now=self.now(),
            message_id=self.mailer.message_id("hint", message_id),
        )
        await self._note(mail, note, request.thread_id)

    # -- a message: start or continue a thread ---------------------------------------------------

    async def _message(self, mail: InboundEmail, message_id: str, raw: bytes) -> None:
        if not self.limit.allow(mail.from_addr):
            log.warning(
                "email %s from %s: over the limit of %d messages per sender per hour "
                "(SIGNOFF_EMAIL_RATE_LIMIT); recorded, not answered",
                message_id,
                mail.from_addr,
                self.limit.per_hour,
            )
            await self.index.record_received(message_id)
            return
        parents = [m for m in [mail.in_reply_to, *reversed(mail.references)] if m]
        conversation = await self.index.conversation(parents) if parents else None
        is_reply = bool(parents)
        body = (mail.reply_text if is_reply else mail.text) or ("" if is_reply else mail.reply_text)
        joins = conversation is not None and await self._may_join(mail, message_id, raw, conversation)
        if conversation is None or not joins:
            origin = Origin(
                "email",
                message_id,
                {
                    "subject": mail.subject,
                    "from": mail.from_addr,
                    "participants": self._first_participants(mail),
                    "message_id": message_id,
                    # The addresses it was sent to (the envelope's first): the core routes on them.
                    "to": list(dict.fromkeys([*mail.delivered_to, *mail.to]))[:20],
                    # Another thread's Message-IDs are not carried into a thread of its own.
                    "references": list(mail.references) if conversation is None else [],
                },
            )
            text = f"Subject: {mail.subject}\n\n{body}".strip() if mail.subject else body
        else:
            origin = Origin("email", conversation)
            text = body
        text = _with_attachments(text, mail)
        if not text:
            log.info("email %s from %s has nothing new in it; recorded", message_id, mail.from_addr)
            await self.index.record_received(message_id)
            return
        details = {
            "subject": mail.subject,
            "body": _with_attachments(body, mail),
            "message_id": message_id,
            "to": self.config.address,
            "raw": raw.decode("utf-8", errors="replace"),
        }
        thread_id = await self.core.receive_message(
            receipt_key=received_key(message_id), origin=origin, text=text, by=mail.from_addr, details=details
        )
        log.info("email %s from %s -> thread %s", message_id, mail.from_addr, thread_id or "(already recorded)")
        if conversation is not None and thread_id is not None:
            await self._not_an_answer(mail, message_id, thread_id)

    async def _not_an_answer(self, mail: InboundEmail, message_id: str, thread_id: str) -> None:
        """Tell a sender whose mail reached a thread waiting on a question they may not answer that
        it answered nothing (questions are answered by replying to the question, which only the
        people allowed to answer get). The note names nobody: a stranger learns no addresses."""
        sender = mail.from_addr.lower()
        questions = [r for r in await self.core.pending_requests(thread_id) if r.kind == "question"]
        refused = [q for q in questions if q.allowed and sender not in {a.lower() for a in q.allowed}]
        if not refused or len(refused) < len(questions):
            return
        log.info("email %s from %s: not an answer to question %s", message_id, mail.from_addr, refused[0].id)
        note = compose_reply(
            agent_address=self.config.address,
            to=[mail.from_addr],
            thread=_answering(mail),
            text=(
                "Your message was added to the conversation, but it does not answer the question the agent "
                "is waiting on: only the people the question was sent to may answer it, by replying to it."
            ),
            agent_name=self.config.agent_name,
            now=self.now(),
            message_id=self.mailer.message_id("not-an-answer", message_id),
        )
        await self._note(mail, note, thread_id)

    def _first_participants(self, mail: InboundEmail) -> list[str]:
        """Who a new thread's replies go to: its sender, and its other recipients only where
        SIGNOFF_EMAIL_CC_JOINS allows (else anyone could add 50 strangers to a conversation)."""
        others = [*mail.to, *mail.cc] if self.config.cc_joins else []
        return self.mailbox.others([mail.from_addr, *others])

    async def _may_join(self, mail: InboundEmail, message_id: str, raw: bytes, conversation: str) -> bool:
        """A reply joins a thread only from one of its participants (authenticated, where
        SIGNOFF_EMAIL_REQUIRE_AUTH is on); anyone else's mail starts a thread of its own."""
        if mail.from_addr not in await self.index.participants(conversation):
            why = "is not one of its participants"
        elif self.config.require_auth and not await self._authenticated(mail, raw):
            why = "is not authenticated (no DMARC or aligned DKIM pass; SIGNOFF_EMAIL_REQUIRE_AUTH is on)"
        else:
            return True
        log.warning(
            "email %s from %s cites thread %s but the sender %s: it does not join that thread and sees none "
            "of it; it starts a thread of its own",
            message_id,
            mail.from_addr,
            conversation,
            why,
        )
        return False

    async def _refuse_too_large(self, mail: InboundEmail, message_id: str, size: int) -> None:
        log.warning(
            "email %s from %s is %d bytes, over SIGNOFF_EMAIL_MAX_BYTES=%d; refused",
            message_id,
            mail.from_addr,
            size,
            self.config.max_bytes,
        )
        await self.index.record_received(message_id)
        note = compose_reply(
            agent_address=self.config.address,
            to=[mail.from_addr],
            thread=_answering(mail),
            text=(
                f"Your message is {_size(size)}, more than the {_size(self.config.max_bytes)} I accept, so I did "
                "not read it. Please send it again without the large attachments."
            ),
            agent_name=self.config.agent_name,
            now=self.now(),
            message_id=self.mailer.message_id("too-large", message_id),
        )
        await self._note(mail, note, None)

    async def _note(self, mail: InboundEmail, note: EmailMessage, thread_id: str | None) -> None:
        """Best effort, within the sender's limit: a note to one sender; a failure is only logged
        (the mail it answers is recorded already, and a note is not worth blocking the inbox)."""
        if not self.limit.allow(mail.from_addr):
            log.warning("not sending a note to %s: over SIGNOFF_EMAIL_RATE_LIMIT", mail.from_addr)
            return
        try:
            await self.mailer.send_once(note, thread_id)
        except DeliveryError as exc:
            log.warning("could not send a note to %s: %s", mail.from_addr, exc)


def _answering(mail: InboundEmail) -> ThreadRefs:
    return ThreadRefs.answering(mail.message_id, mail.references, mail.subject)


def _looks_like_token(address: str) -> bool:
    local = address.rpartition("@")[0]
    tag = local.rpartition("+")[2]
    return tag.isalnum() and tag.isascii() and len(tag) >= _TOKEN_MIN_CHARS


def _with_attachments(text: str, mail: InboundEmail) -> str:
    """Attachments are named, never read: the model sees that they exist, not what they hold."""
    lines = [f"[attachment: {name} ({_size(size)})]" for name, size in mail.attachments]
    return "\n\n".join(part for part in [text.strip(), "\n".join(lines)] if part)


def _size(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    for unit, scale in (("kB", 1e3), ("MB", 1e6)):
        if size < scale * 1000:
            return f"{size / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{size / 1e9:.1f} GB".replace(".0 ", " ")


def _digest_id(raw: bytes) -> str:
    """A stable id for a message without a Message-ID: the same bytes give the same id."""
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.invalid>"
