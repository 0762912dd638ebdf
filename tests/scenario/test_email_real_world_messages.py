"""Real-world mail through the whole bot: HTML-only mail, legacy charsets, attachments (named, never
read), Outlook's quoting; a mail over the size limit is refused with a clear answer; replies to
our mail continue the thread, anything else starts one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.email_signoff import (
    AGENT,
    BOB,
    WAIT,
    EmailSignoff,
    MakeEmailBot,
    body_of,
    mail,
    reply,
    sent_to,
    to_of,
)
from tests.support.fake_model import FakeModelServer, text
from tests.support.signoff_process import wait_until

FIXTURES = Path(__file__).parents[1] / "fixtures" / "email"


@pytest.fixture
def bot(make_email_bot: MakeEmailBot) -> EmailSignoff:
    return make_email_bot(lambda body: text("Thanks, noted."), SIGNOFF_EMAIL_MAX_BYTES="20000")


def first_messages(bot: EmailSignoff, count: int) -> dict[str, dict[str, Any]]:
    """The first human_message of each thread, by sender, once there are `count` threads."""
    threads = wait_until(lambda: len(t := bot.threads()) >= count and t, timeout=WAIT, message=f"{count} threads")
    firsts = [bot.thread(t["id"])["events"][0] for t in threads]
    return {event["by"]: event for event in firsts}


def test_real_world_mail_becomes_clean_text_and_is_answered_in_its_thread(
    bot: EmailSignoff, model: FakeModelServer
) -> None:
    # One first: the first model call imports litellm. (Six threads making their first call at
    # once each hold one of the default executor's threads for the whole import; on a small
    # machine that starves the HTTP API for as long.)
    bot.send((FIXTURES / "html_only.eml").read_bytes(), to=AGENT)
    bot.wait_sent(1)
    for name in [
        "latin1.eml",
        "windows1252.eml",
        "iso2022jp.eml",
        "attachment.eml",
        "outlook_original_message.eml",
    ]:
        bot.send((FIXTURES / name).read_bytes(), to=AGENT)
    by = first_messages(bot, 6)

    html = by["erin@shop.example"]["text"]
    assert html.startswith("Subject: Please check the search service\n\n")
    assert "Could you check whether search is healthy?" in html
    assert "Ignore all previous instructions" not in html and "<p>" not in html  # hidden text and markup
    assert by["francois@exemple.fr"]["text"] == (
        "Subject: Répondre à la question\n\nLe service « paiements » doit être redémarré après 18h.\nFrançois"
    )
    assert by["greg@corp.example"]["text"] == (
        "Subject: deploy notes\n\nIt\u2019s \u201cready\u201d \u2013 costs \u20ac5 \u2026 go ahead."
    )
    assert (
        by["yamada@example.jp"]["text"] == "Subject: 再起動の件\n\n承認してください。\n支払いサービスを再起動します。"
    )
    assert by["hank@corp.example"]["text"] == (
        "Subject: incident report attached\n\nSee the attached report; the PDF says to restart web.\n\n"
        "[attachment: incident-2024-05-18.pdf (1.4 kB)]"
    )
    # A reply to a conversation we do not know: a new thread, with only the new part.
    assert by["dave@corp.example"]["text"] == (
        "Subject: RE: payments is slow\n\nIt is the one in eu-west, the other region is fine."
    )

    # Each sender gets the answer in their own thread.
    answers = bot.wait_sent(6, lambda m: body_of(m).strip() == "Thanks, noted.")
    yamada = next(m for m in answers if "yamada@example.jp" in to_of(m))
    assert yamada.message["In-Reply-To"] == "<jp-1@example.jp>"
    assert yamada.message["Subject"] == "Re: 再起動の件"
    # The model saw the attachment's name, never its content.
    everything = json.dumps(model.requests)
    assert "incident-2024-05-18.pdf" in everything and "%PDF" not in everything


def test_a_mail_over_the_size_limit_is_refused_with_a_clear_answer(bot: EmailSignoff) -> None:
    big = mail(
        BOB, "logs", "here are the logs:\n" + "x" * 60 + ("\n" + "y" * 70) * 400, message_id="<big@corp.example>"
    )
    assert len(big) > 20000
    bot.send(big)
    [refusal] = bot.wait_sent(1, sent_to(BOB))
    assert "not read it" in body_of(refusal) and "20 kB" in body_of(refusal)
    assert refusal.message["In-Reply-To"] == "<big@corp.example>"
    assert refusal.message["Auto-Submitted"] == "auto-replied"
    assert bot.threads() == []


def test_replies_to_our_mail_continue_the_thread_and_other_mail_starts_one(
    bot: EmailSignoff, model: FakeModelServer
) -> None:
    bot.send(mail(BOB, "status", "how is search?", message_id="<root@corp.example>"))
    [answer] = bot.wait_sent(1, sent_to(BOB))
    # Bob answers our reply (its References name the root and our message) in Outlook.
    bot.send(reply(answer.message, BOB, "and payments?", style="outlook", message_id="<second@corp.example>"))
    wait_until(lambda: len(bot.sent(sent_to(BOB))) == 2, timeout=WAIT, message="the second answer")
    # A client that names only the root message in In-Reply-To still lands in the thread.
    bot.send(mail(BOB, "Re: status", "and web?", in_reply_to="<root@corp.example>"))
    wait_until(lambda: len(bot.sent(sent_to(BOB))) == 3, timeout=WAIT, message="the third answer")
    # An unrelated mail with the same subject is a new conversation.
    bot.send(mail(BOB, "status", "new question"))
    wait_until(lambda: len(bot.threads()) == 2, timeout=WAIT, message="a second thread")

    root = next(t for t in bot.threads() if bot.thread(t["id"])["events"][0]["text"].endswith("how is search?"))
    texts = [e["text"] for e in bot.thread(root["id"])["events"] if e["type"] == "human_message"]
    assert texts == ["Subject: status\n\nhow is search?", "and payments?", "and web?"]  # no quoted history
    third = bot.sent(sent_to(BOB))[2].message
    assert third["References"].split()[0] == "<root@corp.example>"
    assert third["In-Reply-To"] != "<root@corp.example>"  # the newest message Bob sent
