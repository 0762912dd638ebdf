"""A reply decides a request only with a valid, unused token, from the approver it was issued to.
A reply from someone else, to an altered token, or with another request's token leaves the request
pending, and the sender gets nothing back; a second reply to a decided request is told it came too
late. With SIGNOFF_EMAIL_REQUIRE_AUTH the sender must also be authenticated by our mail server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.dovecot import DovecotServer
from tests.support.email_signoff import (
    ALICE,
    BOB,
    MALLORY,
    WAIT,
    EmailSignoff,
    body_of,
    email_signoff,
    mail,
    reply,
    request_id_of,
    sent_to,
    tampered_token,
    token_address,
)
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.signoff_process import wait_until
from tests.support.smtp_server import Received, SmtpServer


def decisions(bot: EmailSignoff, thread_id: str) -> list[dict[str, Any]]:
    return [e for e in bot.thread(thread_id)["events"] if e["type"] == "approval_decided"]


@pytest.fixture
def two_waiting(
    dovecot: DovecotServer, smtp: SmtpServer, model: FakeModelServer, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[EmailSignoff, list[Received]]]:
    """Two threads from Bob, each waiting for Alice to approve a restart."""
    env = getattr(request, "param", {})
    model.script(
        tool_call("restart_service", {"name": "payments", "reason": "stuck"}),
        tool_call("restart_service", {"name": "search", "reason": "slow"}),
    )
    model.default = lambda body: text("Done.")
    with email_signoff(dovecot, smtp, model, tmp_path, **env) as bot:
        bot.send(mail(BOB, "payments", "restart payments please"))
        bot.send(mail(BOB, "search", "restart search please"))
        asks = bot.wait_sent(2, sent_to(ALICE))
        yield bot, asks


def test_forged_altered_and_foreign_tokens_leave_requests_pending(
    two_waiting: tuple[EmailSignoff, list[Received]],
) -> None:
    bot, (ask1, ask2) = two_waiting
    r1, r2 = request_id_of(ask1), request_id_of(ask2)
    t1 = bot.request(r1)["thread_id"]
    t2 = bot.request(r2)["thread_id"]

    # Mallory replies to Alice's request mail (she got it forwarded): wrong sender.
    bot.send(reply(ask1.message, MALLORY, "approve"))
    # Alice's reply, but to an altered token.
    bot.send(reply(ask1.message, ALICE, "approve", to=tampered_token(token_address(ask1))))
    # Bob, who asked, answers to Alice's token: wrong sender too.
    bot.send(reply(ask1.message, BOB, "approve"))
    # Alice's genuine reply decides; it comes after the forged ones, so they were all read first.
    bot.send(reply(ask1.message, ALICE, "approve"))
    wait_until(lambda: decisions(bot, t1), timeout=WAIT, message="request 1 decided")
    [decided] = decisions(bot, t1)
    assert (decided["approved"], decided["by"]) == (True, ALICE)
    assert bot.request(r2)["status"] == "pending"

    # The used token of request 1, in reply to request 2's mail: request 2 stays pending.
    bot.send(reply(ask2.message, ALICE, "approve", to=token_address(ask1)))
    # The same token again, now to deny request 1: too late, it stays approved.
    bot.send(reply(ask1.message, ALICE, "deny changed my mind"))
    late = bot.wait_sent(2, lambda m: "came too late" in body_of(m))
    assert all(m.rcpt_tos == [ALICE] and "Approved by alice@example.com" in body_of(m) for m in late)
    assert bot.request(r2)["status"] == "pending" and bot.request(r1)["status"] == "approved"

    # Alice's genuine reply to request 2 (processed after everything above) decides it.
    bot.send(reply(ask2.message, ALICE, "approve"))
    wait_until(lambda: decisions(bot, t2), timeout=WAIT, message="request 2 decided")
    assert len(decisions(bot, t1)) == 1 and len(decisions(bot, t2)) == 1

    # Spoofers were never answered; the log says why their replies were ignored.
    assert bot.sent(sent_to(MALLORY)) == []
    assert not [m for m in bot.sent(sent_to(BOB)) if "came too late" in body_of(m) or "decision" in body_of(m)]
    logs = bot.process.logs()
    assert logs.count("reply token is not valid for this sender") == 3


@pytest.mark.parametrize(
    "two_waiting",
    [
        {"SIGNOFF_EMAIL_REQUIRE_AUTH": "true", "SIGNOFF_EMAIL_AUTHSERV_ID": "mx.example.test"},
        # #22.4: on by default, with nothing set
        {"SIGNOFF_EMAIL_REQUIRE_AUTH": None, "SIGNOFF_EMAIL_AUTHSERV_ID": "mx.example.test"},
    ],
    ids=["required", "by-default"],
    indirect=True,
)
def test_with_sender_authentication_required_only_an_authenticated_reply_decides(
    two_waiting: tuple[EmailSignoff, list[Received]],
) -> None:
    bot, (ask1, _ask2) = two_waiting
    r1 = request_id_of(ask1)
    t1 = bot.request(r1)["thread_id"]

    bot.send(reply(ask1.message, ALICE, "approve"))  # no verdict at all
    forged = "mx.evil.example; dmarc=pass header.from=example.com"  # another server's verdict
    bot.send(reply(ask1.message, ALICE, "approve", headers={"Authentication-Results": forged}))
    failed = "mx.example.test; dkim=fail header.d=example.com; dmarc=fail header.from=example.com"
    bot.send(reply(ask1.message, ALICE, "approve", headers={"Authentication-Results": failed}))
    bot.log_has("is not authenticated")
    passed = "mx.example.test; dkim=pass header.d=example.com header.s=s1; dmarc=pass header.from=example.com"
    bot.send(reply(ask1.message, ALICE, "approve", headers={"Authentication-Results": passed}))

    wait_until(lambda: decisions(bot, t1), timeout=WAIT, message="request 1 decided")
    [decided] = decisions(bot, t1)
    assert (decided["approved"], decided["by"]) == (True, ALICE)
    assert (decided["identity"]["method"], decided["identity"]["channel"]) == ("email_dmarc", "email")  # the proof
    assert bot.process.logs().count("is not authenticated") == 3
