"""The web inbox as a person uses it, in a real headless Chromium against a real `signoff serve`:
signing in by a link mailed to aiosmtpd, a request made by a Slack mention waiting on the page,
approving it there (the tool runs once, the Slack card is updated), CSRF refusals, who may not
decide, hostile arguments shown inert and marked, a decision that Slack made first, pages kept
current by server-sent events, and talking to the agent from the browser."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from channels.slack.blocks import APPROVE_ACTION_ID
from tests.support.browser import chromium
from tests.support.fake_model import FakeModelServer, restart_when_asked, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import ALICE, BOB, MakeSlackBot, SlackSignoff, button_value, has_buttons, wait_for_card
from tests.support.smtp_server import SmtpServer
from tests.support.two_teams_agent import CAROL, JOURNAL_ENV, journal

ALICE_MAIL = "alice@example.com"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    yield from chromium()


@pytest.fixture
def browser(chromium_browser: Any) -> Iterator[Any]:
    """The browser; every context a test opens is closed after it, before its server stops."""
    opened: list[Any] = []

    class Contexts:
        def new_context(self, **options: Any) -> Any:
            opened.append(chromium_browser.new_context(**options))
            opened[-1].set_default_timeout(60_000)  # a shared 2-core machine under load
            return opened[-1]

    yield Contexts()
    for context in opened:
        context.close()


@pytest.fixture
def bot(make_slack_bot: MakeSlackBot, smtp: SmtpServer, tmp_path: Path) -> SlackSignoff:
    return make_slack_bot(
        approvers=f"{ALICE},{ALICE_MAIL}",
        SIGNOFF_AGENT="tests.support.two_teams_agent:agent",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **{JOURNAL_ENV: str(tmp_path / "journal")},
        SIGNOFF_EMAIL_ADDRESS="agent@example.com",
        SIGNOFF_SMTP_HOST=smtp.host,
        SIGNOFF_SMTP_PORT=str(smtp.port),
        SIGNOFF_SMTP_TLS="off",
        SIGNOFF_SECRET_KEY="web-inbox-test-secret-key-0123456789",
    )


def screenshot(page: Any, name: str) -> None:
    """With SIGNOFF_WEB_SCREENSHOTS=docs, the pictures in the README are taken from these tests."""
    folder = os.environ.get("SIGNOFF_WEB_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def runs(bot: SlackSignoff) -> list[tuple[str, str, dict[str, str]]]:
    return journal(Path(bot.process.env[JOURNAL_ENV]))


def sign_in(browser: Any, bot: SlackSignoff, smtp: SmtpServer, address: str, **context: Any) -> Any:
    """A new browser context signed in as `address` by the link mailed to it; its page."""
    page = browser.new_context(**context).new_page()
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    page.goto(f"{bot.process.url}/")
    assert page.url.startswith(f"{bot.process.url}/signin")  # every page needs a session
    page.get_by_label("Your email address").fill(address)
    page.get_by_role("button", name="Mail me a sign-in link").click()
    assert "a sign-in link is on its way" in page.locator("main").inner_text()
    mail = wait_until(lambda: [m for m in smtp.messages if address in m.rcpt_tos], timeout=40, message="the link")
    body = mail[-1].message.get_body(("plain",)).get_content()
    link = re.search(r"http://\S+/signin/link\?token=\S+", body)
    assert link, body
    page.goto(link.group(0))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{bot.process.url}/")
    assert page.locator(".who strong").text_content() == address
    return page


def mention(bot: SlackSignoff, fake: FakeSlack, words: str = "<@UBOT> restart payments") -> tuple[str, Any]:
    """Bob asks in Slack; the card is posted; returns the request id and the card's (channel, ts)."""
    assert bot.event(app_mention(words, user=BOB, channel="C1")).status_code == 200
    [(card_at, card)] = wait_for_card(fake)
    return button_value(card), card_at


def test_sign_in_by_mailed_link_approve_on_the_page_runs_once_and_updates_slack(
    bot: SlackSignoff, browser: Any, fake: FakeSlack, model: FakeModelServer, smtp: SmtpServer
) -> None:
    model.script(
        tool_call("restart_service", {"name": "payments", "reason": "the worker is stuck"}), text("Restarted.")
    )
    request_id, card_at = mention(bot, fake)
    page = sign_in(browser, bot, smtp, ALICE_MAIL)

    card = page.locator(f"#request-{request_id}")
    assert 'name = "payments"' in card.locator("pre.arguments").inner_text()
    shown = card.inner_text()
    assert "the worker is stuck" in shown and BOB in shown and "restart_service" in shown
    card.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r"/threads/"))

    thread_id = bot.request(request_id)["thread_id"]
    done = bot.wait_status(thread_id, "done")
    decided = next(e for e in done["events"] if e["type"] == "approval_decided")
    assert decided["by"] == ALICE_MAIL and decided["approved"]
    assert (decided["identity"]["method"], decided["identity"]["channel"]) == ("web_link", "web")
    assert [(tool, arguments) for tool, _, arguments in runs(bot)] == [("restart_service", {"name": "payments"})]
    wait_until(lambda: not has_buttons(fake.messages[card_at]), timeout=20, message="the Slack card updated")
    assert ALICE_MAIL in str(fake.messages[card_at]["blocks"])

    # The timeline shows every event, the decision with who made it, and links to Slack.
    page.reload()
    timeline = page.locator("ol.timeline").inner_text()
    for words in ("Approval requested", "Approved by", ALICE_MAIL, "restarted payments", "Restarted."):
        assert words in timeline, words
    assert "Proven by the web inbox, signed in by a link mailed to them" in timeline
    assert page.locator("ol.timeline a[href^='https://slack.com/archives/C1/']").count() >= 1

    # The link worked once: a second use finds nothing.
    [mail] = [m for m in smtp.messages if ALICE_MAIL in m.rcpt_tos]
    link = re.search(r"http://\S+", mail.message.get_body(("plain",)).get_content())
    assert link
    again = browser.new_context().new_page()
    again.goto(link.group(0))
    assert "expired or was already used" in again.locator("main").inner_text()

    # Signing out ends the session: the old cookie no longer opens a page.
    cookies = page.context.cookies()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/signin"))
    stale = httpx.get(f"{bot.process.url}/", cookies={c["name"]: c["value"] for c in cookies}, follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/signin")


def test_a_form_post_without_its_csrf_token_is_refused(
    bot: SlackSignoff, browser: Any, fake: FakeSlack, model: FakeModelServer, smtp: SmtpServer
) -> None:
    model.script(tool_call("restart_service", {"name": "payments", "reason": "stuck"}), text("Restarted."))
    request_id, _ = mention(bot, fake)
    page = sign_in(browser, bot, smtp, ALICE_MAIL)
    digest = bot.request(request_id)["digest"]
    url = f"{bot.process.url}/requests/{request_id}/decide"

    no_token = page.context.request.post(url, form={"decision": "approve", "digest": digest}, max_redirects=0)
    wrong = page.context.request.post(
        url, form={"decision": "approve", "digest": digest, "csrf": "x" * 43}, max_redirects=0
    )
    cross_site = page.context.request.post(
        url,
        form={"decision": "approve", "digest": digest, "csrf": _csrf(page)},
        headers={"Origin": "https://evil.example"},
        max_redirects=0,
    )
    assert (no_token.status, wrong.status, cross_site.status) == (403, 403, 403)
    assert bot.request(request_id)["status"] == "pending" and runs(bot) == []


def _csrf(page: Any) -> str:
    return str(page.locator("input[name=csrf]").first.get_attribute("value"))


def test_who_may_not_decide_sees_no_buttons_and_a_forged_post_is_refused(
    bot: SlackSignoff, browser: Any, fake: FakeSlack, model: FakeModelServer, smtp: SmtpServer
) -> None:
    model.script(tool_call("restart_service", {"name": "payments", "reason": "stuck"}), text("Restarted."))
    request_id, _ = mention(bot, fake)
    page = sign_in(browser, bot, smtp, CAROL)  # Carol approves wire_money only
    assert "Nothing waits on you" in page.locator("main").inner_text()

    page.goto(f"{bot.process.url}/threads/{bot.request(request_id)['thread_id']}")
    card = page.locator(f"#request-{request_id}")
    assert "You may not decide this request" in card.inner_text()
    assert card.get_by_role("button", name="Approve").count() == 0 and card.locator("form").count() == 0

    forged = page.context.request.post(
        f"{bot.process.url}/requests/{request_id}/decide",
        form={"decision": "approve", "digest": bot.request(request_id)["digest"], "csrf": _csrf(page)},
        max_redirects=0,
    )
    assert forged.status == 403 and "may not answer" in forged.text()
    assert bot.request(request_id)["status"] == "pending" and runs(bot) == []


def test_hostile_arguments_render_inert_and_marked(
    bot: SlackSignoff, browser: Any, fake: FakeSlack, model: FakeModelServer, smtp: SmtpServer
) -> None:
    hostile = "pay\u202eyments\u200b<script>alert(1)</script>"
    model.script(
        tool_call("restart_service", {"name": hostile, "reason": "<img src=x onerror=alert(2)> \u2066now\u2069"}),
        text("Restarted."),
    )
    request_id, _ = mention(bot, fake)
    page = sign_in(browser, bot, smtp, ALICE_MAIL)
    response = page.goto(f"{bot.process.url}/")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]

    card = page.locator(f"#request-{request_id}")
    arguments = card.locator("pre.arguments").inner_text()
    assert arguments.strip() == 'name = "pay⟨U+202E⟩yments⟨U+200B⟩<script>alert(1)</script>"'
    assert card.locator("pre.arguments mark.hard").all_inner_texts() == ["⟨U+202E⟩", "⟨U+200B⟩"]
    assert "hard to see" in card.inner_text()
    assert "<img src=x onerror=alert(2)>" in card.locator(".reason").inner_text()
    # Nothing of it became markup: the only script on the page is the inbox's own.
    scripts = page.locator("script").evaluate_all("all => all.map(s => s.getAttribute('src'))")
    assert scripts == ["/static/live.js"] and page.locator("img").count() == 0
    screenshot(page, "web-inbox.png")

    # What the page showed is what runs.
    card.get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r"/threads/"))
    bot.wait_status(bot.request(request_id)["thread_id"], "done")
    assert [arguments for _, _, arguments in runs(bot)] == [{"name": hostile}]


def test_deciding_on_the_page_after_slack_decided_says_who_decided(
    bot: SlackSignoff, browser: Any, fake: FakeSlack, model: FakeModelServer, smtp: SmtpServer
) -> None:
    model.script(tool_call("restart_service", {"name": "payments", "reason": "stuck"}), text("Restarted."))
    request_id, card_at = mention(bot, fake)
    page = sign_in(browser, bot, smtp, ALICE_MAIL)
    card = page.locator(f"#request-{request_id}")
    assert card.get_by_role("button", name="Approve").count() == 1

    assert bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at).status_code == 200
    wait_until(lambda: bot.request(request_id)["status"] == "approved", message="approved in Slack")

    card.get_by_role("button", name="Deny").click()
    notice = page.locator(".notice").inner_text()
    assert f"already approved by {ALICE}" in notice
    assert bot.request(request_id)["decided_by"] == ALICE
    bot.wait_status(bot.request(request_id)["thread_id"], "done")
    assert len(runs(bot)) == 1


def test_the_inbox_and_a_thread_page_follow_what_slack_does_without_a_reload(
    bot: SlackSignoff, browser: Any, fake: FakeSlack, model: FakeModelServer, smtp: SmtpServer
) -> None:
    model.script(tool_call("restart_service", {"name": "payments", "reason": "stuck"}), text("Restarted."))
    page = sign_in(browser, bot, smtp, ALICE_MAIL)
    assert "Nothing waits on you" in page.locator("main").inner_text()
    page.evaluate("window.notReloaded = true")  # gone if the test reloads the page itself

    # Bob asks in Slack: the request appears on the open inbox by itself.
    request_id, card_at = mention(bot, fake)
    card = page.locator(f"#request-{request_id}")
    card.wait_for(timeout=30_000)
    assert 'name = "payments"' in card.locator("pre.arguments").inner_text()

    # A thread's page, open while the request waits, shows Slack's decision and the end by itself.
    thread_id = bot.request(request_id)["thread_id"]
    watching = page.context.new_page()
    watching.goto(f"{bot.process.url}/threads/{thread_id}")
    assert watching.get_by_role("button", name="Approve").count() == 1
    watching.evaluate("window.notReloaded = true")
    assert bot.click(APPROVE_ACTION_ID, request_id, user=ALICE, card=card_at).status_code == 200
    watching.get_by_text("Restarted.").wait_for(timeout=40_000)
    assert f"Approved by {ALICE}" in watching.locator("ol.timeline").inner_text()
    assert watching.get_by_role("button", name="Approve").count() == 0
    # ...and the inbox dropped it.
    card.wait_for(state="detached", timeout=30_000)
    assert "Nothing waits on you" in page.locator("main").inner_text()
    assert page.evaluate("window.notReloaded") is None  # the page's own script reloaded it

    # Someone typing is not interrupted: the page says it changed, and what they typed stays.
    model.default = restart_when_asked
    assert bot.event(app_mention("<@UBOT> restart search", user=BOB, channel="C1")).status_code == 200
    [search] = wait_until(lambda: bot.pending(), message="the second request")
    comment = page.locator(f"#comment-{search['id']}")
    comment.fill("looking at it")
    assert bot.event(app_mention("<@UBOT> restart web", user=BOB, channel="C1")).status_code == 200
    page.locator("#live").wait_for(state="visible", timeout=30_000)
    assert "This page has changed" in page.locator("#live").inner_text()
    assert comment.input_value() == "looking at it" and len(bot.pending()) == 2

    # Open streams never hold up a stop: the server ends them and exits cleanly (stop() would have
    # killed it after 10 s, exit -9, had uvicorn waited for the pages' streams).
    bot.process.stop()
    assert bot.process.proc is not None and bot.process.proc.returncode == 0


def test_try_the_agent_starts_a_thread_and_follows_it_to_the_end(
    bot: SlackSignoff, browser: Any, model: FakeModelServer, smtp: SmtpServer
) -> None:
    model.default = restart_when_asked
    page = sign_in(browser, bot, smtp, ALICE_MAIL, viewport={"width": 390, "height": 844})  # a phone
    page.get_by_role("link", name="Try the agent").click()
    page.get_by_label("Ask two-teams something").fill("please restart search")
    page.get_by_role("button", name="Start a thread").click()
    page.wait_for_url(re.compile(r"/threads/[0-9a-f]+$"))

    # The page follows the thread by itself until the approval waits on the page.
    approve = page.get_by_role("button", name="Approve")
    approve.wait_for(timeout=40_000)
    assert 'name = "search"' in page.locator("pre.arguments").first.inner_text()
    screenshot(page, "web-inbox-phone.png")
    inbox = page.context.new_page()  # the approval waits in the inbox too, like any other
    inbox.goto(f"{bot.process.url}/")
    assert inbox.locator("article.request").count() == 1
    assert 'name = "search"' in inbox.locator("pre.arguments").inner_text()
    inbox.close()
    approve.click()
    page.get_by_text("Done.").wait_for(timeout=40_000)
    assert [(tool, arguments) for tool, _, arguments in runs(bot)] == [("restart_service", {"name": "search"})]

    # The conversation goes on from the same page.
    page.get_by_label("Write to the agent").fill("thanks")
    page.get_by_role("button", name="Send").click()
    page.locator(".event-agent_reply").nth(1).wait_for(timeout=40_000)
    assert "thanks" in page.locator("ol.timeline").inner_text()
    # Readable on a phone: nothing wider than the screen but the scrolling tables and code.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_question_is_answered_on_the_page_and_the_lists_filter(
    bot: SlackSignoff, browser: Any, fake: FakeSlack, model: FakeModelServer, smtp: SmtpServer
) -> None:
    model.script(tool_call("ask_human", {"question": "Which region?", "options": ["eu", "us"]}), text("Restarting eu."))
    assert bot.event(app_mention("<@UBOT> restart payments", user=BOB, channel="C1")).status_code == 200
    [pending] = wait_until(lambda: bot.pending(), message="the question")
    page = sign_in(browser, bot, smtp, ALICE_MAIL)  # an approver: the agent's default answerers include them

    card = page.locator(f"#request-{pending['id']}")
    assert "Which region?" in card.inner_text() and "eu" in card.inner_text()
    assert card.get_by_label("Or your own answer").count() == 1  # free text is allowed beside the options
    card.get_by_role("button", name="eu").click()
    page.wait_for_url(re.compile(r"/threads/"))
    done = bot.wait_status(pending["thread_id"], "done")
    answered = next(e for e in done["events"] if e["type"] == "question_answered")
    assert (answered["answer"], answered["choice"], answered["by"]) == ("eu", "eu", ALICE_MAIL)

    page.goto(f"{bot.process.url}/requests?status=answered")
    assert page.locator("tbody tr").count() == 1 and ALICE_MAIL in page.locator("tbody").inner_text()
    page.goto(f"{bot.process.url}/requests?status=pending")
    assert "No requests match." in page.locator("tbody").inner_text()
    page.goto(f"{bot.process.url}/threads?channel=slack&status=done")
    assert page.locator("tbody tr").count() == 1
    page.goto(f"{bot.process.url}/threads?age=%2B1d")
    assert "No threads match." in page.locator("tbody").inner_text()


def test_sign_in_with_a_personal_token_acts_as_the_directory_person(
    bot: SlackSignoff, browser: Any, fake: FakeSlack, model: FakeModelServer, smtp: SmtpServer
) -> None:
    from storage.db import Database
    from storage.store import Store

    # Alice is in the directory under her Slack id and an address the approver list never names:
    # signed in with her token she is every one of her names, so the request for U0ALICE waits on her.
    store = Store(Database(bot.process.env["SIGNOFF_DATABASE_URL"]))
    store.add_person("alice", slack_ids=[ALICE], emails=["alice@corp.example"])
    token, token_row = store.create_token("alice", expires_at=None)
    revoked, revoked_row = store.create_token("alice", expires_at=None)
    store.revoke_token(revoked_row.id)
    model.script(tool_call("restart_service", {"name": "payments", "reason": "stuck"}), text("Restarted."))
    request_id, card_at = mention(bot, fake)

    page = browser.new_context().new_page()
    page.goto(f"{bot.process.url}/signin")
    page.get_by_label("Or a personal token").fill(revoked)
    page.get_by_role("button", name="Sign in with the token").click()
    assert "That personal token was revoked" in page.locator("main").inner_text()
    page.goto(f"{bot.process.url}/signin")
    page.get_by_label("Or a personal token").fill("sgf_" + "x" * 40)
    page.get_by_role("button", name="Sign in with the token").click()
    assert "is not one this server issued" in page.locator("main").inner_text()

    page.goto(f"{bot.process.url}/signin")
    page.get_by_label("Or a personal token").fill(token)
    page.get_by_role("button", name="Sign in with the token").click()
    page.wait_for_url(f"{bot.process.url}/")
    assert page.locator(".who strong").text_content() == "alice"
    page.locator(f"#request-{request_id}").get_by_role("button", name="Approve").click()
    page.wait_for_url(re.compile(r"/threads/"))
    done = bot.wait_status(bot.request(request_id)["thread_id"], "done")
    decided = next(e for e in done["events"] if e["type"] == "approval_decided")
    assert decided["approved"] and decided["identity"]["person"] == "alice"
    assert (decided["identity"]["method"], decided["identity"]["channel"]) == ("web_token", "web")
    assert [tool for tool, _, _ in runs(bot)] == ["restart_service"]
    wait_until(lambda: not has_buttons(fake.messages[card_at]), timeout=20, message="the Slack card updated")

    # Revoking her token ends the session it started.
    store.revoke_token(token_row.id)
    store.db.dispose()
    page.goto(f"{bot.process.url}/")
    assert page.url.startswith(f"{bot.process.url}/signin")
