"""Case 9: spoofed and forged email replies decide nothing; only the first genuine reply counts.

One real `signoff serve` with SIGNOFF_EMAIL_REQUIRE_AUTH on (our receiving server's authserv-id
is `mx.example.test`), its mailbox on a real Dovecot (every reply delivered over LMTP, as an MTA
would, with the attacker's envelope sender) and its outgoing mail recorded by aiosmtpd. Outcomes
are read from the bot's HTTP API, its database (inbox, events, the example agent's effects) and
what the SMTP server received.

Signoff mints reply tokens without an expiry; the expired token here is minted by the product's
own `make_reply_address` with an expiry in the past, as a deployment that sets one would.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser

import pytest
from sqlmodel import col, func, select

from bot.example_agent.models import ServiceActionRow
from channels.email.tokens import make_reply_address
from storage.db import Database
from storage.models import EventRow, ReceiptRow
from tests.fault.conftest import record
from tests.support.crash import unapproved_effects
from tests.support.email_signoff import (
    AGENT,
    ALICE,
    BOB,
    MALLORY,
    SECRET,
    WAIT,
    EmailSignoff,
    MakeEmailBot,
    body_of,
    mail,
    reply,
    request_id_of,
    sent_to,
    tampered_token,
    token_address,
)
from tests.support.fake_model import restart_when_asked
from tests.support.signoff_process import wait_until
from tests.support.smtp_server import Received

OURS = "mx.example.test"
PASS = f"{OURS}; dmarc=pass header.from=example.com"  # our server vouches for Alice's domain
NOT_AUTHENTICATED = "is not authenticated"
BAD_TOKEN = "reply token is not valid for this sender"
NO_SUCH_REQUEST = "does not exist; ignored"


@pytest.fixture
def bot(make_email_bot: MakeEmailBot) -> EmailSignoff:
    return make_email_bot(restart_when_asked, SIGNOFF_EMAIL_REQUIRE_AUTH="true", SIGNOFF_EMAIL_AUTHSERV_ID=OURS)


class Mailroom:
    """Replies to deliver, each with the log line that says why it was refused (None: accepted)."""

    def __init__(self, bot: EmailSignoff) -> None:
        self.bot = bot
        self.db = Database(bot.process.env["SIGNOFF_DATABASE_URL"])
        self.sent: list[tuple[str, str, str | None]] = []  # (what, Message-ID, expected log line)

    def deliver(self, what: str, raw: bytes, refused_because: str | None, *, envelope: str | None = None) -> None:
        self.bot.send(raw, sender=envelope)
        message_id = str(BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)["Message-ID"])
        self.sent.append((what, message_id, refused_because))

    def wait_read(self) -> None:
        """Until the bot recorded the last message delivered (it reads the mailbox in order)."""
        last = self.sent[-1][1]
        wait_until(lambda: any(last in key for key in self.inbox()), timeout=WAIT, message=f"{last} read")

    def inbox(self) -> list[str]:
        with self.db.session() as session:
            return list(session.exec(select(ReceiptRow.key)))

    def events(self) -> int:
        with self.db.session() as session:
            return int(session.exec(select(func.count()).select_from(EventRow)).one())

    def effects(self, thread_id: str) -> list[tuple[str, str, str | None]]:
        with self.db.session() as session:
            rows = session.exec(select(ServiceActionRow).where(col(ServiceActionRow.thread_id) == thread_id))
            return [(r.action, r.service, r.approved_by) for r in rows]

    def refusals(self, reason: str) -> int:
        return sum(1 for _what, _id, because in self.sent if because == reason)


def decisions(bot: EmailSignoff, thread_id: str) -> list[tuple[bool, str]]:
    return [(e["approved"], e["by"]) for e in bot.thread(thread_id)["events"] if e["type"] == "approval_decided"]


def with_token(ask: Received, sender: str, body: str, token: str, verdict: str | None = PASS) -> bytes:
    headers = {"Authentication-Results": verdict} if verdict else None
    return reply(ask.message, sender, body, to=token, headers=headers)


def test_spoofed_and_forged_replies_leave_requests_pending(bot: EmailSignoff) -> None:
    bot.send(mail(BOB, "payments", "restart payments please"))
    [ask1] = bot.wait_sent(1, sent_to(ALICE))
    bot.send(mail(BOB, "search", "restart search please"))
    ask2 = bot.wait_sent(2, sent_to(ALICE))[1]
    r1, r2 = request_id_of(ask1), request_id_of(ask2)
    t1, t2 = bot.request(r1)["thread_id"], bot.request(r2)["thread_id"]
    token1, token2 = token_address(ask1), token_address(ask2)
    room = Mailroom(bot)
    events_before, mail_before = room.events(), len(bot.sent())

    # Alice's From, with her valid token, sent by Mallory: only our server's verdict could vouch.
    spoofs = {
        "no verdict at all": None,
        "a pass from another server": "mx.evil.example; dmarc=pass header.from=example.com",
        "a pass from a look-alike authserv-id": f"{OURS}.evil.example; dmarc=pass header.from=example.com",
        "our server's dmarc=fail": f"{OURS}; dkim=fail header.d=example.com; dmarc=fail header.from=example.com",
        "our server's pass for another domain": f"{OURS}; dmarc=pass header.from=evil.example",
        "our server's DKIM pass, unaligned signer": f"{OURS}; dkim=pass header.d=evil.example",
        "our server's DKIM pass, signed by a subdomain": f"{OURS}; dkim=pass header.d=tenant.example.com",
        "a pass hidden in a comment": f"{OURS}; dmarc=fail (dmarc=pass) header.from=example.com",
    }
    for what, verdict in spoofs.items():
        room.deliver(what, with_token(ask1, ALICE, "approve", token1, verdict), NOT_AUTHENTICATED, envelope=MALLORY)

    # Authenticated senders, with tokens that are not theirs or not genuine.
    past = datetime.now(UTC) - timedelta(days=1)
    mallory_pass = f"{OURS}; dmarc=pass header.from=evil.example"
    bob_pass = f"{OURS}; dmarc=pass header.from=corp.example"
    expired = make_reply_address(AGENT, r1, ALICE, SECRET, expires_at=past)
    foreign = make_reply_address(AGENT, r1, ALICE, "another-installations-secret")
    for_no_request = make_reply_address(AGENT, uuid.uuid4().hex, ALICE, SECRET)
    truncated = re.sub(r"^(.*\+.{29}).*(@.*)$", r"\1\2", token1)
    tokens = [
        ("Mallory, authenticated, with Alice's token", MALLORY, token1, mallory_pass, BAD_TOKEN),
        ("Bob (who asked), authenticated, with Alice's token", BOB, token1, bob_pass, BAD_TOKEN),
        ("a tampered token", ALICE, tampered_token(token1), PASS, BAD_TOKEN),
        ("a truncated token", ALICE, truncated, PASS, BAD_TOKEN),
        ("an expired token", ALICE, expired, PASS, BAD_TOKEN),
        ("a token of another installation", ALICE, foreign, PASS, BAD_TOKEN),
        ("a token for no request", ALICE, for_no_request, PASS, NO_SUCH_REQUEST),
    ]
    for what, sender, token, verdict, because in tokens:
        room.deliver(what, with_token(ask1, sender, "approve", token, verdict), because)
    room.wait_read()

    forged = len(room.sent)
    assert (bot.request(r1)["status"], bot.request(r2)["status"]) == ("pending", "pending")
    assert decisions(bot, t1) == decisions(bot, t2) == []
    assert room.events() == events_before, "a refused reply became an event"
    assert len(bot.sent()) == mail_before, "a refused reply was answered"
    logs = bot.process.logs()
    for reason in (NOT_AUTHENTICATED, BAD_TOKEN, NO_SUCH_REQUEST):
        assert logs.count(reason) == room.refusals(reason), reason

    # The first genuine reply decides request 1, once.
    genuine = with_token(ask1, ALICE, "approve", token1)
    room.deliver("Alice's genuine approval", genuine, None)
    bot.wait_status(t1, "done")
    assert room.effects(t1) == [("restart", "payments", ALICE)]

    # Late, reused and replayed replies; then request 2 denied, and approved too late.
    late_before = len(bot.sent(lambda m: "came too late" in body_of(m)))
    bot.send(genuine)  # the same message delivered again (an MTA retry)
    room.deliver("request 1's used token, to deny", with_token(ask1, ALICE, "deny changed my mind", token1), "late")
    room.deliver("request 1's used token, on request 2's mail", with_token(ask2, ALICE, "approve", token1), "late")
    room.deliver(
        "a spoofed late denial", with_token(ask1, ALICE, "deny", token1, None), NOT_AUTHENTICATED, envelope=MALLORY
    )
    expired2 = make_reply_address(AGENT, r2, ALICE, SECRET, expires_at=past)
    room.deliver("an expired token for request 2", with_token(ask2, ALICE, "approve", expired2), BAD_TOKEN)
    room.deliver("Alice's genuine denial of request 2", with_token(ask2, ALICE, "deny not now", token2), None)
    bot.wait_status(t2, "done")
    room.deliver("an approval after the denial", with_token(ask2, ALICE, "approve", token2), "late")
    room.wait_read()
    told_late = bot.wait_sent(late_before + 3, lambda m: "came too late" in body_of(m))

    replies = len(room.sent) + 1  # and the redelivery
    refused = replies - 2
    extra = len(decisions(bot, t1)) + len(decisions(bot, t2)) - 2
    record(
        f"[email spoofs] spoofed_or_forged={forged} late_or_replayed={replies - forged - 2} "
        f"accepted={extra} refused={refused} effects=1 (1 approval) answered_spoofers=0"
    )
    assert decisions(bot, t1) == [(True, ALICE)] and decisions(bot, t2) == [(False, ALICE)]
    assert (bot.request(r1)["status"], bot.request(r2)["status"]) == ("approved", "denied")
    assert room.effects(t1) == [("restart", "payments", ALICE)] and room.effects(t2) == []
    assert len(told_late) == late_before + 3 and all(m.rcpt_tos == [ALICE] for m in told_late[late_before:])
    assert bot.sent(sent_to(MALLORY)) == [] and not [m for m in bot.sent() if MALLORY in m.rcpt_tos]
    assert bot.process.logs().count(NOT_AUTHENTICATED) == room.refusals(NOT_AUTHENTICATED)
    assert unapproved_effects(room.db) == []
    room.db.dispose()
