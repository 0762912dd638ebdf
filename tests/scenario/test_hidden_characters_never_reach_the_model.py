"""Issue 10.6 through a real `signoff serve`: a message full of characters a reader cannot see
(Hangul fillers, variation selectors, tags, bidi and zero-width controls, a soft hyphen, an escape)
reaches the thread's event, and the model, as the same visible text whether it came by Slack, by
email or through the HTTP API; the emoji in it keep their selectors and joiners."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.dovecot import DovecotServer
from tests.support.email_signoff import BOB as BOB_MAIL
from tests.support.email_signoff import (
    email_signoff,
    mail,
)
from tests.support.fake_model import FakeModelServer, text
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import BOB, slack_signoff
from tests.support.smtp_server import SmtpServer

HIDDEN = [0x3164, 0x115F, 0x1160, 0xFFA0, 0xFE00, 0xFE0F, 0xE0100, 0xE01EF, 0xE0001, 0xE0041, 0xE007F]
HIDDEN += [0x202E, 0x2066, 0x2069, 0x200E, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x034F, 0x001B]
SENT = "restart pay" + "".join(map(chr, HIDDEN)) + "ments \u2764\ufe0f \U0001f469\u200d\U0001f4bb please"
SEEN = "restart payments \u2764\ufe0f \U0001f469\u200d\U0001f4bb please"


def first_message(thread: dict) -> str:  # type: ignore[type-arg]
    return str(next(e for e in thread["events"] if e["type"] == "human_message")["text"])


def model_saw(model: FakeModelServer) -> str:
    return json.dumps([m.get("content") for r in model.requests for m in r["messages"]], ensure_ascii=False)


def test_slack_and_the_api_record_the_visible_text_only(
    fake: FakeSlack, model: FakeModelServer, tmp_path: Path
) -> None:
    model.script(text("Done."), text("Done."))
    with slack_signoff(fake, model, tmp_path) as bot:
        assert bot.event(app_mention(f"<@UBOT> {SENT}", user=BOB, channel="C1")).status_code == 200
        slack_thread = bot.wait_status(bot.only_thread()["id"], "done")
        launched = bot.api.post("/api/threads", json={"message": SENT, "by": "ops@example.com"})
        assert launched.status_code == 201
        api_thread = bot.wait_status(launched.json()["id"], "done")
        saw = model_saw(model)
    assert first_message(slack_thread) == SEEN
    assert first_message(api_thread) == SEEN
    assert SEEN in saw and not any(chr(cp) in saw for cp in HIDDEN if cp not in (0xFE0F, 0x200D))
    assert assert_no_stray_selectors_or_joiners(saw)


def test_email_records_the_same_visible_text(
    dovecot: DovecotServer, smtp: SmtpServer, model: FakeModelServer, tmp_path: Path
) -> None:
    model.script(text("Done."))
    with email_signoff(dovecot, smtp, model, tmp_path) as bot:
        bot.send(mail(BOB_MAIL, "a request", SENT))
        thread = bot.wait_status(bot.only_thread()["id"], "done")
        saw = model_saw(model)
    assert first_message(thread) == f"Subject: a request\n\n{SEEN}"
    assert SEEN in saw and assert_no_stray_selectors_or_joiners(saw)


def assert_no_stray_selectors_or_joiners(seen: str) -> bool:
    """U+FE0F and U+200D appear only inside the two emoji."""
    rest = seen.replace("\u2764\ufe0f", "").replace("\U0001f469\u200d\U0001f4bb", "")
    return "\ufe0f" not in rest and "\u200d" not in rest
