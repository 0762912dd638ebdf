"""The inbox through outages: IDLE hears new mail at once (no polling delay); a server without IDLE
is polled; the IMAP server killed and restarted, a UIDVALIDITY change, or the bot killed right
after recording a mail or right after sending its reply: nothing is lost, nothing is processed or
sent twice."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.dovecot import DovecotServer, dovecot_available
from tests.support.email_signoff import (
    AGENT,
    AGENT_PASSWORD,
    BOB,
    WAIT,
    EmailSignoff,
    MakeEmailBot,
    body_of,
    email_signoff,
    mail,
    sent_to,
)
from tests.support.fake_model import FakeModelServer, text
from tests.support.signoff_process import wait_until
from tests.support.skips import skip_or_fail
from tests.support.smtp_server import SmtpServer


def echo(body: dict) -> object:  # type: ignore[type-arg]
    """The model answers each thread with the subject of the mail that started it."""
    first = next(m for m in body["messages"] if m["role"] == "user")
    content = first["content"] if isinstance(first["content"], str) else str(first["content"])
    subject = next((line for line in content.splitlines() if "Subject: " in line), "")
    return text("answer to " + subject.split("Subject: ", 1)[-1].strip())


def human_messages(bot: EmailSignoff) -> Counter[str]:
    texts: Counter[str] = Counter()
    for thread in bot.threads():
        for event in bot.thread(thread["id"])["events"]:
            if event["type"] == "human_message":
                texts[event["text"].split("\n")[0]] += 1
    return texts


def replies(bot: EmailSignoff) -> Counter[str]:
    return Counter(body_of(m).strip() for m in bot.sent(sent_to(BOB)))


def answered(bot: EmailSignoff, *subjects: str) -> None:
    wanted = {f"answer to {s}" for s in subjects}
    wait_until(lambda: wanted <= set(replies(bot)), timeout=WAIT, message=f"answers to {subjects}")


def send(bot: EmailSignoff, subject: str) -> None:
    bot.send(mail(BOB, subject, f"body of {subject}", message_id=f"<{subject}@corp.example>"))


@pytest.fixture
def model_echo(model: FakeModelServer) -> FakeModelServer:
    model.default = echo
    return model


@pytest.fixture
def bot(make_email_bot: MakeEmailBot, model_echo: FakeModelServer) -> EmailSignoff:
    # Polling would take ten minutes: anything faster is IDLE at work.
    return make_email_bot(SIGNOFF_IMAP_POLL_INTERVAL="600")


def test_idle_hears_new_mail_at_once(bot: EmailSignoff) -> None:
    send(bot, "m1")
    answered(bot, "m1")  # the watcher is now waiting in IDLE
    started = time.monotonic()
    send(bot, "m2")
    wait_until(lambda: human_messages(bot)["Subject: m2"] == 1, timeout=10, message="m2 recorded")
    assert time.monotonic() - started < 5


def test_a_server_without_idle_is_polled(smtp: SmtpServer, model_echo: FakeModelServer, tmp_path: Path) -> None:
    ok, reason = dovecot_available()
    if not ok:
        skip_or_fail(reason)
    server = DovecotServer.start({AGENT: AGENT_PASSWORD}, idle=False)
    try:
        with email_signoff(server, smtp, model_echo, tmp_path, SIGNOFF_IMAP_POLL_INTERVAL="0.3") as bot:
            send(bot, "p1")
            answered(bot, "p1")
            send(bot, "p2")
            answered(bot, "p2")
            assert human_messages(bot) == {"Subject: p1": 1, "Subject: p2": 1}
    finally:
        server.stop()


def test_the_imap_server_killed_and_restarted_loses_nothing_and_repeats_nothing(
    bot: EmailSignoff, dovecot: DovecotServer
) -> None:
    send(bot, "k1")
    answered(bot, "k1")
    send(bot, "k2")  # possibly not yet read when the server dies
    dovecot.kill()
    dovecot.restart()
    send(bot, "k3")
    answered(bot, "k1", "k2", "k3")
    assert human_messages(bot) == {"Subject: k1": 1, "Subject: k2": 1, "Subject: k3": 1}
    assert replies(bot) == {"answer to k1": 1, "answer to k2": 1, "answer to k3": 1}


def test_a_uidvalidity_change_reprocesses_nothing(bot: EmailSignoff, dovecot: DovecotServer) -> None:
    send(bot, "u1")
    send(bot, "u2")
    answered(bot, "u1", "u2")
    dovecot.change_uidvalidity(AGENT)  # the server renumbers the mailbox (and restarts)
    send(bot, "u3")
    answered(bot, "u3")
    bot.log_has("UIDVALIDITY changed")
    assert human_messages(bot) == {"Subject: u1": 1, "Subject: u2": 1, "Subject: u3": 1}
    assert replies(bot) == {"answer to u1": 1, "answer to u2": 1, "answer to u3": 1}


@pytest.mark.parametrize("failpoint", ["after_inbound_recorded=1", "after_send=1"])
def test_the_bot_killed_mid_mail_loses_nothing_and_repeats_nothing(
    dovecot: DovecotServer, smtp: SmtpServer, model_echo: FakeModelServer, tmp_path: Path, failpoint: str
) -> None:
    """Killed right after a mail's event is committed (before it is flagged \\Seen and its UID saved),
    or right after the reply was sent (before it is marked sent): after a restart the mail is one
    event and the reply went out once (a resend would carry the same Message-ID)."""
    with email_signoff(dovecot, smtp, model_echo, tmp_path, SIGNOFF_FAILPOINTS=failpoint) as bot:
        send(bot, "c1")
        process = bot.process
        assert process.proc is not None
        process.proc.wait(timeout=60)  # the failpoint killed it
        del process.env["SIGNOFF_FAILPOINTS"]
        process.start()
        answered(bot, "c1")
        send(bot, "c2")
        answered(bot, "c2")
        assert human_messages(bot) == {"Subject: c1": 1, "Subject: c2": 1}
        sent = bot.sent(sent_to(BOB))
        ids_by_body: dict[str, set[str]] = {}
        for message in sent:
            ids_by_body.setdefault(body_of(message).strip(), set()).add(str(message.message["Message-ID"]))
        assert ids_by_body.keys() == {"answer to c1", "answer to c2"}
        assert all(len(ids) == 1 for ids in ids_by_body.values()), ids_by_body
        assert replies(bot)["answer to c2"] == 1
