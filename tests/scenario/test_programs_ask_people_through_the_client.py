"""A program with no agent here asks people through `signoff_client`: the request goes out as the
same Slack card and mails an agent's would, under the same rules, and the program gets the outcome.

One real `signoff serve` with Slack (signed requests to /slack/events, the fake Web API) and email
(Dovecot + aiosmtpd) both on; the client runs in this process, against it, over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.callbacks import verify
from channels.slack.blocks import APPROVE_ACTION_ID
from signoff_client import ApiError, Denied, Expired, Signoff, TimedOut
from tests.support.callback_receiver import CallbackReceiver
from tests.support.dovecot import DovecotServer
from tests.support.email_signoff import EmailSignoff, body_of, email_env, reply, sent_to
from tests.support.fake_model import FakeModelServer
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import API_TOKEN, wait_until
from tests.support.slack_requests import message_event
from tests.support.slack_signoff import (
    ALICE,
    BOB,
    MALLORY,
    MakeSlackBot,
    SlackSignoff,
    button_value,
    posted,
    wait_for_card,
)
from tests.support.smtp_server import SmtpServer

ALICE_MAIL = "alice@example.com"
APPROVALS = "C0APPROVALS"


@pytest.fixture
def bot(
    make_slack_bot: MakeSlackBot, dovecot: DovecotServer, smtp: SmtpServer, model: FakeModelServer, tmp_path: Path
) -> SlackSignoff:
    return make_slack_bot(
        **{
            **email_env(dovecot, smtp, model, tmp_path),
            "SIGNOFF_APPROVERS": f"{ALICE},{ALICE_MAIL}",
            "SLACK_APPROVALS_CHANNEL": APPROVALS,
        }
    )


@pytest.fixture
def mail(bot: SlackSignoff, dovecot: DovecotServer, smtp: SmtpServer) -> Iterator[EmailSignoff]:
    reader = EmailSignoff(bot.process, dovecot, smtp)
    yield reader
    reader.close()


@pytest.fixture
def signoff(bot: SlackSignoff) -> Signoff:
    return Signoff(bot.process.url, API_TOKEN)


@pytest.fixture
def background() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


def test_a_decorated_function_runs_once_with_what_alice_approved_in_slack(
    bot: SlackSignoff, fake: FakeSlack, mail: EmailSignoff, signoff: Signoff, background: ThreadPoolExecutor
) -> None:
    runs: list[tuple[str, bool]] = []

    @signoff.require_approval(approvers=[ALICE, ALICE_MAIL], reason="the nightly job is stuck", timeout=60)
    def restart(service: str, force: bool = False) -> str:
        runs.append((service, force))
        return f"restarted {service}"

    result: Future[str] = background.submit(restart, "payments")
    [(card_at, card)] = wait_for_card(fake)
    assert card_at[0] == APPROVALS and "thread_ts" not in card  # a card of its own: no conversation
    shown = json.dumps(card["blocks"])
    assert "restart" in shown and "payments" in shown and "the nightly job is stuck" in shown
    [asked] = mail.wait_sent(1, sent_to(ALICE_MAIL))  # and by mail, with the same rules
    assert "payments" in body_of(asked)

    # Someone not named may not decide: nothing runs.
    assert bot.click(APPROVE_ACTION_ID, button_value(card), user=MALLORY, card=card_at).status_code == 200
    fake.wait_for_sync("chat.postEphemeral", where=lambda p: p["user"] == MALLORY, timeout=60)
    assert not result.done() and runs == []

    assert bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at).status_code == 200
    assert result.result(timeout=60) == "restarted payments"
    assert runs == [("payments", False)]
    fake.wait_for_sync("chat.update", where=lambda p: p["channel"] == APPROVALS and p["ts"] == card_at[1], timeout=60)
    mail.wait_sent(1, lambda m: "Approved by" in body_of(m))
    # A second click is told who decided; the function does not run again.
    assert bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at).status_code == 200
    assert runs == [("payments", False)]
    [request] = [r for r in bot.api.get("/api/requests").json()["requests"]]
    assert request["status"] == "approved" and request["decided_by"] == ALICE


def test_a_denial_by_email_reply_raises_denied_with_the_comment(
    bot: SlackSignoff, fake: FakeSlack, mail: EmailSignoff, signoff: Signoff, background: ThreadPoolExecutor
) -> None:
    runs: list[str] = []

    @signoff.require_approval(approvers=[ALICE_MAIL], channel="email", timeout=60)
    def drop_table(name: str) -> None:
        runs.append(name)

    result: Future[None] = background.submit(drop_table, "users")
    [asked] = mail.wait_sent(1, sent_to(ALICE_MAIL))
    assert "drop_table" in body_of(asked) and '"users"' in body_of(asked)
    assert posted(fake) == []  # email only: no card

    mail.send(reply(asked.message, ALICE_MAIL, "deny not during the freeze\n\nAlice"))
    with pytest.raises(Denied) as denied:
        result.result(timeout=60)
    assert denied.value.comment.startswith("not during the freeze") and denied.value.decided_by == ALICE_MAIL
    assert "wrote:" not in denied.value.comment
    assert runs == []


def test_a_question_is_answered_by_email_and_another_through_the_api(
    bot: SlackSignoff, mail: EmailSignoff, signoff: Signoff, background: ThreadPoolExecutor
) -> None:
    asking = background.submit(
        signoff.ask, "Which region should the migration run in first?", answerers=[ALICE_MAIL], timeout=60
    )
    [asked] = mail.wait_sent(1, lambda m: "Which region" in body_of(m))
    mail.send(reply(asked.message, ALICE_MAIL, "eu-west first, please"))
    answer = asking.result(timeout=60)
    assert answer.status == "answered" and answer.answer == "eu-west first, please" and answer.decided_by == ALICE_MAIL

    # Through the API: the person the request names decides (`by`), anyone else is refused.
    question = signoff.ask("Ship it?", answerers=[ALICE_MAIL], channel="api", wait=False)
    refused = bot.api.post(f"/api/requests/{question.id}/answer", json={"answer": "yes", "by": "mallory@evil.example"})
    assert refused.status_code == 403
    assert bot.api.post(f"/api/requests/{question.id}/answer", json={"answer": "yes", "by": ALICE_MAIL}).is_success
    assert signoff.get_question(question.id, wait=10).answer == "yes"


def test_a_question_in_slack_is_answered_by_a_reply_in_its_thread_from_someone_named(
    bot: SlackSignoff, fake: FakeSlack, signoff: Signoff, background: ThreadPoolExecutor
) -> None:
    asking = background.submit(signoff.ask, "Roll back web to 4.1?", answerers=[ALICE], channel="slack", timeout=60)
    [(question_at, question)] = wait_until(lambda: posted(fake), message="the question")
    assert question_at[0] == APPROVALS and "thread_ts" not in question
    assert "Roll back web to 4.1?" in json.dumps(question["blocks"])

    # Mallory is not named: her reply answers nothing, and she is told so, privately.
    bot.wait_delivered()
    assert bot.event(message_event("yes", user=MALLORY, channel=APPROVALS, thread_ts=question_at[1])).is_success
    fake.wait_for_sync("chat.postEphemeral", where=lambda p: p["user"] == MALLORY, timeout=60)
    assert not asking.done()
    assert bot.event(message_event("no, keep 4.2", user=ALICE, channel=APPROVALS, thread_ts=question_at[1])).is_success
    answer = asking.result(timeout=60)
    assert (answer.status, answer.answer, answer.decided_by) == ("answered", "no, keep 4.2", ALICE)
    fake.wait_for_sync("chat.update", where=lambda p: p["ts"] == question_at[1], timeout=60)
    # No agent ran on any of it: no thread but the request's own, which is done.
    assert [(t["agent"], t["status"]) for t in bot.threads()] == [("signoff:standalone", "done")]


def test_a_retried_idempotency_key_returns_the_same_request_and_sends_one_card(
    bot: SlackSignoff, fake: FakeSlack, signoff: Signoff
) -> None:
    first = signoff.request_approval("deploy", {"service": "web"}, approvers=[ALICE], wait=False, idempotency_key="j-1")
    again = signoff.request_approval("deploy", {"service": "web"}, approvers=[ALICE], wait=False, idempotency_key="j-1")
    assert again.id == first.id
    with pytest.raises(ApiError) as reused:  # the same key for something else is refused
        signoff.request_approval("deploy", {"service": "db"}, approvers=[ALICE], wait=False, idempotency_key="j-1")
    assert reused.value.status == 409
    wait_for_card(fake)
    assert len(bot.api.get("/api/requests").json()["requests"]) == 1

    # Decided through the API; the long poll returns at once, and the async client reads the same.
    assert bot.api.post(f"/api/requests/{first.id}/decision", json={"decision": "approve", "by": ALICE}).is_success
    assert signoff.get_approval(first.id, wait=30).approved
    approved = asyncio.run(
        signoff.arequest_approval("deploy", {"service": "web"}, approvers=[ALICE], idempotency_key="j-1")
    )
    assert approved.id == first.id and approved.approved and approved.arguments == {"service": "web"}


def test_nobody_deciding_in_time_raises_expired_and_the_card_says_so(
    bot: SlackSignoff, fake: FakeSlack, signoff: Signoff
) -> None:
    @signoff.require_approval(approvers=[ALICE], expire_after=1, timeout=60)
    def rotate_keys() -> None:
        raise AssertionError("must not run")

    with pytest.raises(Expired):
        rotate_keys()
    # The card says so: updated, or (when it expired before the card went out) posted as expired.
    wait_until(lambda: [m for _, m in posted(fake) if "Expired" in json.dumps(m)], message="the card says Expired")

    # The client's own wait is bounded too: TimedOut, and the request stays pending.
    with pytest.raises(TimedOut):
        signoff.request_approval("rotate_keys", approvers=[ALICE], timeout=0.5)


def test_the_outcome_is_posted_to_the_callback_signed(bot: SlackSignoff, fake: FakeSlack, signoff: Signoff) -> None:
    with CallbackReceiver(answers=[503]) as hook:  # the first try fails: it is tried again
        created = signoff.request_approval(
            "deploy", {"service": "web"}, approvers=[ALICE], wait=False, callback_url=hook.url
        )
        secret = created.raw["callback_secret"]
        [(card_at, card)] = wait_for_card(fake)
        assert hook.posts == []
        bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at)
        posts = hook.wait_for(2)
        assert posts[0].body == posts[1].body
        assert posts[0].headers["X-Signoff-Delivery"] == posts[1].headers["X-Signoff-Delivery"]
        for post in posts:
            assert verify(secret, post.body, post.headers["X-Signoff-Signature"])
            assert not verify("another secret of 32 characters!!", post.body, post.headers["X-Signoff-Signature"])
        outcome: dict[str, Any] = json.loads(posts[1].body)
        assert outcome["id"] == created.id and outcome["status"] == "approved" and outcome["decided_by"] == ALICE
        thread = wait_until(
            lambda: (
                (t := bot.thread(bot.request(created.id)["thread_id"]))
                and any(d["channel"] == "callback" and d["status"] == "sent" for d in t["deliveries"])
                and t
            ),
            message="the callback marked sent",
        )
        [callback] = [d for d in thread["deliveries"] if d["channel"] == "callback"]
        assert callback["attempts"] == 2 and len(hook.posts) == 2


def test_bad_requests_are_refused_with_a_reason(bot: SlackSignoff, signoff: Signoff) -> None:
    api = bot.api
    cases: list[tuple[dict[str, Any], str]] = [
        ({"action": "x"}, "name the approvers"),
        ({"action": "x", "approvers": [ALICE], "policy": "default"}, "not both"),
        ({"action": "x", "approvers": [ALICE], "callback_url": "file:///etc/passwd"}, "http or https"),
        ({"action": "x", "approvers": [ALICE], "callback_url": "http://u:p@127.0.0.1/"}, "user name"),
        ({"action": "x", "approvers": ["nobody-reachable"], "channel": "email"}, "email"),
        ({"action": "x", "approvers": [ALICE], "expire_after": 0}, "expire_after"),
    ]
    for body, problem in cases:
        answer = api.post("/api/approvals", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert problem in answer.text, (body, answer.text)
    assert api.get("/api/approvals/no-such-request").status_code == 404
    question = signoff.ask("?", answerers=[ALICE], channel="api", wait=False)
    assert api.get(f"/api/approvals/{question.id}").status_code == 404  # a question is not an approval
    assert api.get(f"/api/questions/{question.id}?wait=61").status_code == 422  # the wait is bounded
    with pytest.raises(ApiError) as wrong:
        Signoff(bot.process.url, "wrong-token").request_approval("x", approvers=[ALICE], wait=False)
    assert wrong.value.status == 401


def test_two_of_three_approvers_are_needed_when_the_program_asks_for_two(
    bot: SlackSignoff, fake: FakeSlack, signoff: Signoff, background: ThreadPoolExecutor
) -> None:
    runs: list[str] = []

    @signoff.require_approval(approvers=[ALICE, BOB, MALLORY], required=2, channel="slack", timeout=60)
    def rotate_keys(env: str) -> str:
        runs.append(env)
        return f"rotated {env}"

    result: Future[str] = background.submit(rotate_keys, "prod")
    [(card_at, card)] = wait_for_card(fake)
    assert bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at).status_code == 200
    fake.wait_for_sync("chat.postEphemeral", where=lambda p: p["user"] == ALICE and "1 of 2" in p["text"], timeout=60)
    [pending] = bot.api.get("/api/requests?status=pending").json()["requests"]
    read = signoff.get_approval(pending["id"])
    assert (read.status, read.raw["required"], read.raw["approved_by"]) == ("pending", 2, [ALICE])
    # The same person again does not count twice.
    bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at)
    fake.wait_for_sync("chat.postEphemeral", count=2, where=lambda p: p["user"] == ALICE, timeout=60)
    assert not result.done() and runs == []

    assert bot.click(APPROVE_ACTION_ID, button_value(card), user=BOB, card=card_at).status_code == 200
    assert result.result(timeout=60) == "rotated prod" and runs == ["prod"]
    assert signoff.get_approval(pending["id"]).raw["approved_by"] == [ALICE, BOB]

    with pytest.raises(ApiError, match="required"):
        signoff.request_approval("x", approvers=[ALICE], required=2, wait=False)
