"""The web inbox's edit form, in a real headless Chromium against a real `signoff serve`: under
Approve, "Edit the arguments, then approve" shows one field per argument, prefilled; a value that
does not fit is refused on the page and nothing is decided; a good one approves, and exactly the
edited call runs. A question's options are buttons; with free text not allowed there is no text box."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agent.events import DeliveryFailed
from storage.db import Database
from storage.store import Store
from tests.scenario import test_web_inbox_in_a_browser as web
from tests.scenario.test_web_inbox_in_a_browser import ALICE_MAIL, sign_in
from tests.support.edit_agent import EDIT_AGENT
from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import ALICE, BOB, MakeSlackBot, SlackSignoff, button_value, wait_for_card
from tests.support.smtp_server import SmtpServer

# The browser fixtures of the web inbox's tests: one Chromium per module, a context per test.
chromium_browser = web.chromium_browser
browser = web.browser


@pytest.fixture
def bot(make_slack_bot: MakeSlackBot, smtp: SmtpServer, tmp_path: Path) -> SlackSignoff:
    return make_slack_bot(
        approvers=f"{ALICE},{ALICE_MAIL}",
        **EDIT_AGENT,
        SIGNOFF_EMAIL_ADDRESS="agent@example.com",
        SIGNOFF_SMTP_HOST=smtp.host,
        SIGNOFF_SMTP_PORT=str(smtp.port),
        SIGNOFF_SMTP_TLS="off",
        SIGNOFF_SECRET_KEY="web-inbox-test-secret-key-0123456789",
    )


def test_edit_on_the_page_then_approve(
    bot: SlackSignoff, browser: Any, fake: FakeSlack, model: FakeModelServer, smtp: SmtpServer
) -> None:
    model.script(tool_call("scale", {"service": "web", "replicas": 2, "reason": "traffic"}), text("Scaled."))
    assert bot.event(app_mention("<@UBOT> scale web", user=BOB, channel="C1")).status_code == 200
    # The first model call loads litellm in the worker: slow on a loaded machine.
    [(_card_at, card)] = wait_for_card(fake, timeout=120)
    request_id = button_value(card)
    page = sign_in(browser, bot, smtp, ALICE_MAIL)
    card = page.locator(f"#request-{request_id}")
    card.get_by_text("Edit the arguments, then approve").click()
    replicas = card.locator("textarea[name='arg:replicas']")
    assert replicas.input_value() == "2"
    assert card.locator("select[name='arg:service']").input_value() == "web"

    replicas.fill("plenty")
    card.get_by_role("button", name="Approve as edited").click()
    assert "whole number" in page.locator("main").inner_text()
    assert bot.request(request_id)["status"] == "pending"
    # The refusal answers a POST; when the thread changes under it, the page goes to the thread's own
    # page (it cannot reload a POST's answer). Here the change is a note another process appends.
    thread_id = bot.request(request_id)["thread_id"]
    append_note(bot, thread_id)
    page.wait_for_url(re.compile(rf"/threads/{thread_id}$"))

    card = page.locator(f"#request-{request_id}")
    card.get_by_text("Edit the arguments, then approve").click()
    card.locator("textarea[name='arg:replicas']").fill("3")
    card.locator("select[name='arg:service']").select_option("payments")
    card.get_by_role("button", name="Approve as edited").click()
    page.wait_for_url(re.compile(r"/threads/"))
    done = bot.wait_status(bot.request(request_id)["thread_id"], "done")
    [result] = [e["result"] for e in done["events"] if e["type"] == "tool_result"]
    assert result.startswith("scaled payments to 3")
    page.reload()
    assert "edited by" in page.locator("ol.timeline").inner_text()


def test_a_closed_question_offers_buttons_only(
    bot: SlackSignoff, browser: Any, fake: FakeSlack, model: FakeModelServer, smtp: SmtpServer
) -> None:
    model.script(
        tool_call("ask_human", {"question": "Which region?", "options": ["eu", "us"], "allow_free_text": False}),
        text("Going to eu."),
    )
    assert bot.event(app_mention("<@UBOT> pick a region", user=BOB, channel="C1")).status_code == 200
    [question] = wait_until(lambda: bot.pending(), timeout=120, message="the question")
    page = sign_in(browser, bot, smtp, ALICE_MAIL)
    card = page.locator(f"#request-{question['id']}")
    assert card.locator("textarea[name=answer]").count() == 0
    card.get_by_role("button", name="eu").click()
    page.wait_for_url(re.compile(r"/threads/"))
    done = bot.wait_status(question["thread_id"], "done")
    [answered] = [e for e in done["events"] if e["type"] == "question_answered"]
    assert (answered["choice"], answered["by"]) == ("eu", ALICE_MAIL)


def append_note(bot: SlackSignoff, thread_id: str) -> None:
    """A failed delivery, appended to the thread by another connection (as the outbox would)."""
    db = Database(bot.process.env["SIGNOFF_DATABASE_URL"])
    try:
        note = DeliveryFailed(channel="email", kind="reply", error="not delivered", attempts=1)
        assert Store(db).append(thread_id, [note]) is not None
    finally:
        db.dispose()
