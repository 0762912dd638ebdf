"""Out: what the core wrote to the outbox, sent as email in the conversation's thread.

    reply / notice      to the thread's people, answering the newest message they sent

Every message goes to at most SIGNOFF_EMAIL_MAX_RECIPIENTS addresses (and a request to at most as
many people), the earliest people in the thread first; the rest are left out and logged.
    approval_request    to each approver on their own (the request's email approvers, else
                        SIGNOFF_APPROVERS'), with a Reply-To plus-address whose token is bound to
                        that request and that approver; the thread's other people get a short
                        note saying who was asked
    question            to the people who may answer, each with their own reply token
    decision            a notice of the outcome (who decided, the comment) to the thread's people
                        and the approvers
    reminder            the request's mail again, to each of the people it still waits for (with
                        their own reply address), under a line saying it is a reminder
    escalation          the request's mail to each person it was escalated to, who may now decide
    copy                the request's mail to each person who may decide it, for a request asked
                        elsewhere (agent/places.py); nothing once it is decided
    copy_update         "decided by X" to those the copy asked who did not answer (`email:decided`)

Every message is threaded (In-Reply-To, References, "Re:" subject), says Auto-Submitted:
auto-replied, and has a Message-ID derived from the outbox row and its recipient: a retry sends
the same Message-ID, and parts that already went out are not sent again. Returns
`{"message_id": <first>, "message_ids": [...], "to": [...]}`, plus `"refused"` (one
`"<address>: <the server's reply>"` each) when some recipients did not get it: the server refused
them at RCPT TO, or their own message of several failed for good. The rest went out, so the row is
sent, not retried; the dispatcher shows the refusals on the thread.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import Any

from channels.base import CLOCK_KINDS, HumanRequestView, Outbound, copy_key
from channels.email.addresses import email_addresses
from channels.email.clock_mail import escalation_intro, reminder_intro, waiting_note, with_intro
from channels.email.compose import (
    ThreadRefs,
    compose_approval_request,
    compose_decision_notice,
    compose_question,
    compose_reply,
    format_arguments,
)
from channels.email.mailer import Mailer
from channels.email.threads import MailIndex, ThreadMail, reference_chain
from channels.email.tokens import make_reply_address
from channels.errors import PermanentDeliveryError

log = logging.getLogger(__name__)


class SmtpChannel:
    name = "email"

    def __init__(self, mailer: Mailer, index: MailIndex) -> None:
        self.mailer = mailer
        self.index = index
        self.config = mailer.config

    async def deliver(self, message: Outbound) -> dict[str, Any]:
        asks = message.kind in CLOCK_KINDS or message.kind == "copy"
        if asks and (message.request is None or message.request.status != "pending"):
            return {}  # decided meanwhile: a reminder or a copy would ask for what is no longer wanted
        thread = await self.index.thread_mail(message.thread_id, message.origin)
        outgoing = self._compose(message, thread, self._refs(message, thread))
        own = {str(msg["Message-ID"]) for msg in outgoing}
        if own & set(thread.message_ids):  # a retry: thread this row's messages as the first try did
            earlier = ThreadMail(
                [m for m in thread.message_ids if m not in own], thread.last_received, thread.participants
            )
            outgoing = self._compose(message, thread, self._refs(message, earlier))
        if not outgoing and message.kind == "copy_update":
            return {}  # everyone the copy asked has answered: nobody to tell
        if not outgoing:
            raise PermanentDeliveryError(f"{message.kind} message {message.id}: nobody to send it to by email")
        sent: list[tuple[str, list[str]]] = []
        refused: list[str] = []
        for msg in outgoing:
            to = [a.addr_spec for h in msg.get_all("To", []) for a in h.addresses]
            try:
                result = await self.mailer.send_once(msg, message.thread_id)
            except PermanentDeliveryError as exc:  # one bad address must not stop the others
                log.error("email %s to %s: %s", msg["Message-ID"], msg["To"], exc)
                refused.append(f"{', '.join(to)}: {exc}")
                continue
            refused.extend(f"{address}: {reply}" for address, reply in (result.refused if result else {}).items())
            sent.append((str(msg["Message-ID"]), to))
        if not sent:
            raise PermanentDeliveryError("; ".join(refused))
        return {
            "message_id": sent[0][0],
            "message_ids": [mid for mid, _ in sent],
            "to": [to for _, tos in sent for to in tos],
            **({"refused": refused} if refused else {}),
        }

    def _refs(self, message: Outbound, thread: ThreadMail) -> ThreadRefs:
        parent, references = reference_chain(message.origin, thread)
        return ThreadRefs(subject=str(message.origin.data.get("subject", "")), parent_id=parent, references=references)

    def _compose(self, message: Outbound, thread: ThreadMail, refs: ThreadRefs) -> list[EmailMessage]:
        try:
            match message.kind:
                case "reply" | "notice" | "progress":
                    return self._to_people(message, thread, refs)
                case "approval_request":
                    return self._approval_request(message, _need(message), thread, refs)
                case "question":
                    return self._question(message, _need(message), thread, refs)
                case "decision":
                    return self._decision(message, _need(message), thread, refs)
                case "reminder" | "escalation":
                    return self._clock(message, _need(message), thread, refs)
                case "copy":
                    return self._copy(message, _need(message), thread, refs)
                case "copy_update":
                    return self._decided_copy(message, _need(message), thread, refs)
        except ValueError as exc:  # an address compose refuses, a token that cannot be made
            raise PermanentDeliveryError(f"{message.kind} message {message.id}: {exc}") from exc
        raise PermanentDeliveryError(f"the email channel cannot send {message.kind!r} messages")

    # -- kinds ----------------------------------------------------------------------------------

    def _capped(self, message: Outbound, people: list[str]) -> list[str]:
        """At most SIGNOFF_EMAIL_MAX_RECIPIENTS addresses, the earliest first (the requester)."""
        people = list(dict.fromkeys(people))
        cap = self.config.max_recipients
        if len(people) > cap:
            log.warning(
                "%s message %s for thread %s: %d recipients, sending to the first %d "
                "(SIGNOFF_EMAIL_MAX_RECIPIENTS); left out: %s",
                message.kind,
                message.id,
                message.thread_id,
                len(people),
                cap,
                ", ".join(people[cap:]),
            )
        return people[:cap]

    def _to_people(self, message: Outbound, thread: ThreadMail, refs: ThreadRefs) -> list[EmailMessage]:
        if not thread.participants:
            return []
        return [
            compose_reply(
                agent_address=self.config.address,
                to=self._capped(message, thread.participants),
                thread=refs,
                text=message.text,
                agent_name=_from_name(self.config.agent_name, message),
                now=self.mailer.now(),
                message_id=self._id(message, "all"),
            )
        ]

    def approvers(self, request: HumanRequestView, thread: ThreadMail) -> list[str]:
        """Who gets an approval request by email."""
        named = email_addresses(request.allowed)
        if named or request.allowed:  # a request that names only Slack people is not for email
            return named
        return email_addresses(self.config.approvers) or thread.participants

    def _approval_request(
        self, message: Outbound, request: HumanRequestView, thread: ThreadMail, refs: ThreadRefs
    ) -> list[EmailMessage]:
        if request.status != "pending":  # decided (through the API) before this went out
            return self._decision(message, request, thread, refs)
        approvers = self._capped(message, self.approvers(request, thread))
        if not approvers:
            raise PermanentDeliveryError(
                f"request {request.id} may be approved only by {', '.join(request.allowed)}, none of them an email "
                "address: add one to the tool's approvers or to SIGNOFF_APPROVERS, or decide with `signoff approve`"
            )
        out = self._ask_each(message, request, approvers, refs)
        onlookers = self._capped(message, [p for p in thread.participants if p not in approvers])
        text = (
            f"Before I run {request.tool}, I need an approval. I asked {', '.join(approvers)} to approve:\n\n"
            f"{request.tool} {format_arguments(request.arguments)}\n\nI will carry on once they answer."
        )
        return out + self._note_to_onlookers(message, refs, onlookers, text)

    def _note_to_onlookers(
        self, message: Outbound, refs: ThreadRefs, onlookers: list[str], text: str
    ) -> list[EmailMessage]:
        """What was asked, for the thread's people who were not asked (none when there are none)."""
        if not onlookers:
            return []
        return [
            compose_reply(
                agent_address=self.config.address,
                to=onlookers,
                thread=refs,
                text=text,
                agent_name=_from_name(self.config.agent_name, message),
                now=self.mailer.now(),
                message_id=self._id(message, "onlookers"),
            )
        ]

    def _question(
        self, message: Outbound, request: HumanRequestView, thread: ThreadMail, refs: ThreadRefs
    ) -> list[EmailMessage]:
        if request.status != "pending":
            return self._decision(message, request, thread, refs)
        # Only the people who may answer get a reply address; a question that names nobody (asked
        # before questions named their answerers) goes to the thread's participants.
        people = self._capped(message, email_addresses(request.allowed) if request.allowed else thread.participants)
        if request.allowed and not people:
            raise PermanentDeliveryError(
                f"question {request.id} may be answered only by {', '.join(request.allowed)}, none of them an email "
                "address: add one to the agent's answerers or approvers, or answer with `signoff answer`"
            )
        out = self._ask_each(message, request, people, refs)
        onlookers = self._capped(
            message, [p for p in thread.participants if p.lower() not in {a.lower() for a in people}]
        )
        text = f"I asked {', '.join(people)}:\n\n{request.question}\n\nI will carry on once they answer."
        return out + self._note_to_onlookers(message, refs, onlookers, text)

    def _decision(
        self, message: Outbound, request: HumanRequestView, thread: ThreadMail, refs: ThreadRefs
    ) -> list[EmailMessage]:
        asked = self.approvers(request, thread) if request.kind == "approval" else email_addresses(request.allowed)
        return self._notice(message, request, [*thread.participants, *asked], refs)

    def _clock(
        self, message: Outbound, request: HumanRequestView, thread: ThreadMail, refs: ThreadRefs
    ) -> list[EmailMessage]:
        """A reminder to the people the request still waits for, or the request to those it was
        escalated to: its own mail again, each with their own reply address."""
        escalated = message.kind == "escalation"
        people = email_addresses(message.reach())
        if not people and not escalated and not message.people:  # waiting for anyone it names
            people = self.approvers(request, thread) if request.kind == "approval" else email_addresses(request.allowed)
        people = self._capped(message, people)
        intro = escalation_intro(request, message.note) if escalated else reminder_intro(request, message.people)
        out = [with_intro(ask, intro) for ask in self._ask_each(message, request, people, refs)]
        if out:
            return out
        text = waiting_note(request, list(message.people), escalated)
        return self._note_to_onlookers(message, refs, self._capped(message, thread.participants), text)

    def _copy(
        self, message: Outbound, request: HumanRequestView, thread: ThreadMail, refs: ThreadRefs
    ) -> list[EmailMessage]:
        """The request's mail to each person who may decide it and has an address, each with their
        own reply address: a copy of a request asked elsewhere (agent/places.py)."""
        people = self.approvers(request, thread) if request.kind == "approval" else email_addresses(request.allowed)
        if not people:
            raise PermanentDeliveryError(
                f"request {request.id} may be decided only by {', '.join(request.allowed)}, none of them an email "
                "address: give them one in the people directory (`signoff people add`) or name their address"
            )
        return self._ask_each(message, request, self._capped(message, people), refs)

    def _decided_copy(
        self, message: Outbound, request: HumanRequestView, thread: ThreadMail, refs: ThreadRefs
    ) -> list[EmailMessage]:
        """One short mail saying who decided, to those the copy asked who did not answer
        (`message.people` are those who did, with every name the directory knows them by)."""
        copy = request.delivery.get(copy_key(message.text))
        asked = [str(a) for a in copy.get("to") or []] if isinstance(copy, dict) else []
        answered = {name.lower() for name in message.reach()}
        people = [a for a in asked if a.lower() not in answered]
        if request.status == "pending":
            return []
        return self._notice(message, request, people, refs)

    # -- helpers --------------------------------------------------------------------------------

    def _ask_each(
        self, message: Outbound, request: HumanRequestView, people: list[str], refs: ThreadRefs
    ) -> list[EmailMessage]:
        """The request's own mail (an approval or a question) to each of `people`, each with their
        own reply address."""
        compose = compose_question if request.kind == "question" else compose_approval_request
        return [
            compose(
                request,
                agent_address=self.config.address,
                to=[person],
                reply_to=self._reply_address(request, person),
                thread=refs,
                agent_name=_from_name(self.config.agent_name, message),
                now=self.mailer.now(),
                message_id=self._id(message, person),
            )
            for person in people
        ]

    def _notice(
        self, message: Outbound, request: HumanRequestView, people: list[str], refs: ThreadRefs
    ) -> list[EmailMessage]:
        """One mail saying how the request ended, to `people` (at most the cap); none for nobody."""
        people = self._capped(message, people)
        if not people:
            return []
        return [
            compose_decision_notice(
                request,
                agent_address=self.config.address,
                to=people,
                thread=refs,
                agent_name=_from_name(self.config.agent_name, message),
                now=self.mailer.now(),
                message_id=self._id(message, "all"),
            )
        ]

    def _id(self, message: Outbound, recipient: str) -> str:
        return self.mailer.message_id(message.kind.replace("_", "-"), message.thread_id, message.id, recipient)

    def _reply_address(self, request: HumanRequestView, person: str) -> str:
        expires_at = self.config.token_expiry(self.mailer.now())
        return make_reply_address(self.config.address, request.id, person, self.config.secret, expires_at)


def _from_name(name: str, message: Outbound) -> str:
    """The sender's display name: the agent that speaks, where a deployment runs several."""
    return f"{message.speaker} via {name}" if message.speaker else name


def _need(message: Outbound) -> HumanRequestView:
    if message.request is None:
        raise PermanentDeliveryError(f"{message.kind} message {message.id} has no request")
    return message.request
