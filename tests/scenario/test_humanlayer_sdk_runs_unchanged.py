"""Code written for HumanLayer runs unchanged against Signoff: the real `humanlayer` 0.7.9 package,
unmodified, pointed at a real `signoff serve` by HUMANLAYER_API_BASE and HUMANLAYER_API_KEY.

The server has Slack (signed requests to /slack/events, the fake Web API) and email (Dovecot +
aiosmtpd) on. The SDK polls every 3 s by default; its `sleep` is given a shorter one here."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from humanlayer import (
    AsyncHumanLayer,
    ContactChannel,
    EmailContactChannel,
    EmailRecipient,
    Escalation,
    FunctionCallSpec,
    HumanContact,
    HumanContactSpec,
    HumanLayer,
    ResponseOption,
    SlackContactChannel,
)
from humanlayer.core.models_agent_webhook import V1Beta2FunctionCallCompleted, V1Beta2HumanContactCompleted
from humanlayer.core.protocol import HumanLayerException
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from channels.slack.blocks import APPROVE_ACTION_ID, DENY_ACTION_ID
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
    has_buttons,
    posted,
    wait_for_card,
)
from tests.support.smtp_server import SmtpServer

ALICE_MAIL = "alice@example.com"
CAROL_MAIL = "carol@example.com"
APPROVALS = "C0APPROVALS"


WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"a webhook secret, 32 bytes long").decode()


@pytest.fixture
def webhook() -> Iterator[CallbackReceiver]:
    """The outside agent's endpoint, where decided requests are posted (SIGNOFF_WEBHOOK_URL)."""
    with CallbackReceiver() as receiver:
        yield receiver


@pytest.fixture
def bot(
    webhook: CallbackReceiver,
    make_slack_bot: MakeSlackBot,
    dovecot: DovecotServer,
    smtp: SmtpServer,
    model: FakeModelServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> SlackSignoff:
    started = make_slack_bot(
        **{
            **email_env(dovecot, smtp, model, tmp_path),
            "SIGNOFF_APPROVERS": f"{ALICE},{ALICE_MAIL}",
            "SLACK_APPROVALS_CHANNEL": APPROVALS,
            "SIGNOFF_WEBHOOK_URL": webhook.url,
            "SIGNOFF_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
    )
    # All a HumanLayer user changes: the two variables.
    monkeypatch.setenv("HUMANLAYER_API_BASE", f"{started.process.url}/humanlayer/v1")
    monkeypatch.setenv("HUMANLAYER_API_KEY", API_TOKEN)
    return started


def polls(limit: float = 240) -> Callable[[int], None]:
    """The SDK's wait between polls, shortened; it gives up after `limit` seconds, so a failed test
    never leaves the SDK polling forever on a background thread."""
    deadline = time.monotonic() + limit

    def sleep(_seconds: int) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError("the SDK polled for too long")
        time.sleep(0.2)  # ok: the SDK's poll interval, shortened

    return sleep


@pytest.fixture
def hl(bot: SlackSignoff) -> HumanLayer:
    return HumanLayer(sleep=polls())


@pytest.fixture
def background() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


SLACK = ContactChannel(slack=SlackContactChannel(channel_or_user_id=APPROVALS, context_about_channel_or_user="ops"))


def test_require_approval_runs_the_function_once_when_approved_by_a_click(
    bot: SlackSignoff, fake: FakeSlack, hl: HumanLayer, background: ThreadPoolExecutor
) -> None:
    runs: list[str] = []

    @hl.require_approval(contact_channel=SLACK)
    def restart_service(name: str) -> str:
        runs.append(name)
        return f"restarted {name}"

    result: Future[str] = background.submit(restart_service, name="payments")
    [(card_at, card)] = wait_for_card(fake)
    assert card_at[0] == APPROVALS and "payments" in json.dumps(card["blocks"])
    assert bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at).is_success
    assert result.result(timeout=120) == "restarted payments"
    assert runs == ["payments"]


def test_each_decision_is_posted_to_the_webhook_signed_per_standard_webhooks(
    bot: SlackSignoff, fake: FakeSlack, hl: HumanLayer, webhook: CallbackReceiver, background: ThreadPoolExecutor
) -> None:
    call = hl.create_function_call(
        FunctionCallSpec(fn="deploy", kwargs={"v": "5"}, channel=SLACK, state={"k": 1}), call_id="c-7"
    )
    [(card_at, card)] = wait_for_card(fake)
    bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at)
    [post] = webhook.wait_for(1)
    payload = Webhook(WEBHOOK_SECRET).verify(post.body, post.headers)  # raises unless signed right
    completed = V1Beta2FunctionCallCompleted.model_validate(payload)
    assert completed.is_test is False and completed.event.call_id == "c-7" and completed.event.run_id == call.run_id
    assert completed.event.spec.state == {"k": 1}
    assert completed.event.status is not None and completed.event.status.approved is True
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"another secret, 32 bytes long!!").decode()).verify(
            post.body, post.headers
        )

    ask = hl.human_as_tool(contact_channel=SLACK)
    answer: Future[str] = background.submit(ask, message="Which region?")
    [(question_at, _question)] = wait_until(lambda: posted(fake)[1:], message="the question")
    bot.wait_delivered()
    bot.event(message_event("eu-west", user=ALICE, channel=APPROVALS, thread_ts=question_at[1]))
    assert answer.result(timeout=120) == "eu-west"
    second = webhook.wait_for(2)[1]
    contact = V1Beta2HumanContactCompleted.model_validate(Webhook(WEBHOOK_SECRET).verify(second.body, second.headers))
    assert contact.event.status is not None and contact.event.status.response == "eu-west"
    assert len({p.headers["webhook-id"] for p in webhook.posts}) == 2


def test_a_denial_with_a_comment_reaches_the_sdk_and_the_function_does_not_run(
    bot: SlackSignoff, fake: FakeSlack, hl: HumanLayer, background: ThreadPoolExecutor
) -> None:
    runs: list[str] = []

    @hl.require_approval(contact_channel=SLACK)
    def drop_table(name: str) -> str:
        runs.append(name)
        return "dropped"

    result: Future[str] = background.submit(drop_table, name="users")
    [(card_at, card)] = wait_for_card(fake)
    bot.click(DENY_ACTION_ID, button_value(card), user=ALICE, card=card_at)
    fake.wait_for_sync("views.open")
    assert bot.submit_deny(button_value(card), "not in production", user=ALICE).is_success
    assert result.result(timeout=120) == "User in ops denied drop_table with message: not in production"
    assert runs == []


def test_allowed_responder_ids_replace_the_approvers(
    bot: SlackSignoff, fake: FakeSlack, hl: HumanLayer, background: ThreadPoolExecutor
) -> None:
    only_bob = ContactChannel(slack=SlackContactChannel(channel_or_user_id=APPROVALS, allowed_responder_ids=[BOB]))
    runs: list[str] = []

    @hl.require_approval(contact_channel=only_bob)
    def deploy(version: str) -> str:
        runs.append(version)
        return "deployed"

    result: Future[str] = background.submit(deploy, version="5.0")
    [(card_at, card)] = wait_for_card(fake)
    bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at)  # Alice is not Bob
    fake.wait_for_sync("chat.postEphemeral", where=lambda p: p["user"] == ALICE)
    assert not result.done() and runs == []
    bot.click(APPROVE_ACTION_ID, button_value(card), user=BOB, card=card_at)
    assert result.result(timeout=120) == "deployed" and runs == ["5.0"]


def test_human_as_tool_is_answered_by_an_email_reply(
    bot: SlackSignoff, smtp: SmtpServer, dovecot: DovecotServer, hl: HumanLayer, background: ThreadPoolExecutor
) -> None:
    mail = EmailSignoff(bot.process, dovecot, smtp)
    try:
        ask = hl.human_as_tool(contact_channel=ContactChannel(email=EmailContactChannel(address=ALICE_MAIL)))
        answer: Future[str] = background.submit(ask, message="Which region first?", subject="rollout")
        [asked] = mail.wait_sent(1, sent_to(ALICE_MAIL))
        assert "Which region first?" in body_of(asked) and asked.message["Subject"] == "rollout"
        mail.send(reply(asked.message, ALICE_MAIL, "eu-west, then us-east"))
        assert answer.result(timeout=120) == "eu-west, then us-east"
    finally:
        mail.close()


def test_the_same_call_id_twice_is_one_request_and_state_comes_back_unchanged(
    bot: SlackSignoff, fake: FakeSlack, hl: HumanLayer
) -> None:
    spec = FunctionCallSpec(fn="deploy", kwargs={"v": "5"}, channel=SLACK, state={"step": 3, "ids": [1, 2]})
    first = hl.create_function_call(spec, call_id="call-42")
    again = hl.create_function_call(spec, call_id="call-42")
    assert (first.call_id, first.run_id) == (again.call_id, again.run_id) == ("call-42", hl.run_id)
    assert again.spec.state == {"step": 3, "ids": [1, 2]} and again.spec.kwargs == {"v": "5"}
    assert first.status is not None and first.status.requested_at is not None and first.status.approved is None
    wait_for_card(fake)
    assert len(posted(fake)) == 1 and len(bot.api.get("/api/requests").json()["requests"]) == 1
    fetched = hl.get_function_call("call-42")
    assert fetched.spec == first.spec


def test_the_async_client_and_what_is_refused(
    bot: SlackSignoff, fake: FakeSlack, background: ThreadPoolExecutor
) -> None:
    async def ask() -> str:
        deadline = time.monotonic() + 240

        async def sleep(_seconds: int) -> None:
            if time.monotonic() > deadline:
                raise TimeoutError("the SDK polled for too long")
            await asyncio.sleep(0.2)  # ok: the SDK's poll interval, shortened

        ahl = AsyncHumanLayer(sleep=sleep)

        @ahl.require_approval(contact_channel=SLACK)
        async def rotate(key: str) -> str:
            return f"rotated {key}"

        return str(await rotate(key="k1"))

    result: Future[str] = background.submit(asyncio.run, ask())
    [(card_at, card)] = wait_for_card(fake)
    bot.click(APPROVE_ACTION_ID, button_value(card), user=ALICE, card=card_at)
    assert result.result(timeout=120) == "rotated k1"

    hl = HumanLayer()
    for channel, field in [
        ({"sms": {"phone_number": "+15555550100"}}, "channel.sms"),
        ({"slack": {"channel_or_user_id": APPROVALS, "bot_token": "xoxb-other"}}, "bot_token"),
        ({"email": {"address": ALICE_MAIL, "template": "{{ x }}"}}, "template"),
    ]:
        with pytest.raises(HumanLayerException, match=field):
            hl.create_function_call(FunctionCallSpec(fn="x", kwargs={}, channel=ContactChannel(**channel)))
    with pytest.raises(HumanLayerException, match="404"):
        hl.get_function_call("no-such-call")
    with pytest.raises(HumanLayerException, match="401"):
        HumanLayer(api_key="wrong").create_function_call(FunctionCallSpec(fn="x", kwargs={}))
    assert len(bot.api.get("/api/requests").json()["requests"]) == 1  # nothing else was made
    wait_until(lambda: len(posted(fake)) == 1, message="one card")


def test_escalate_email_asks_more_people_in_the_same_mail_thread_and_they_may_decide(
    bot: SlackSignoff, smtp: SmtpServer, dovecot: DovecotServer, hl: HumanLayer
) -> None:
    mail = EmailSignoff(bot.process, dovecot, smtp)
    try:
        by_mail = ContactChannel(email=EmailContactChannel(address=ALICE_MAIL))
        hl.create_function_call(FunctionCallSpec(fn="rotate_keys", kwargs={"env": "prod"}, channel=by_mail), "esc-1")
        [asked] = mail.wait_sent(1, sent_to(ALICE_MAIL))
        escalation = Escalation(
            escalation_msg="Alice is away this week; Carol, please decide.",
            additional_recipients=[EmailRecipient(address=CAROL_MAIL, field="to")],
        )
        escalated = hl.escalate_email_function_call("esc-1", escalation)
        assert escalated.call_id == "esc-1" and escalated.status is not None and escalated.status.approved is None

        [to_carol] = mail.wait_sent(1, sent_to(CAROL_MAIL))
        assert body_of(to_carol).startswith("Alice is away this week; Carol, please decide.")
        assert "rotate_keys" in body_of(to_carol)
        assert str(to_carol.message["In-Reply-To"]) == str(asked.message["Message-ID"])
        assert str(asked.message["Message-ID"]) in str(to_carol.message["References"])
        [request] = bot.api.get("/api/requests").json()["requests"]
        events = bot.thread(request["thread_id"])["events"]
        [recorded] = [e for e in events if e["type"] == "request_escalated"]
        assert recorded["to"] == [CAROL_MAIL] and recorded["message"] == escalation.escalation_msg
        assert CAROL_MAIL in request["allowed"]

        mail.send(reply(to_carol.message, CAROL_MAIL, "approve"))
        decided = wait_until(
            lambda: (c := hl.get_function_call("esc-1")).status and c.status.approved is not None and c, timeout=60
        )
        assert decided.status.approved is True and bot.request(request["id"])["decided_by"] == CAROL_MAIL

        # A decided request is not escalated again; an unknown one, or one with no recipient, is refused.
        with pytest.raises(HumanLayerException, match="409"):
            hl.escalate_email_function_call("esc-1", escalation)
        with pytest.raises(HumanLayerException, match="404"):
            hl.escalate_email_function_call("no-such-call", escalation)
        hl.create_human_contact(HumanContactSpec(msg="Which region?", channel=by_mail), "esc-2")
        with pytest.raises(HumanLayerException, match="additional_recipients"):
            hl.escalate_email_human_contact("esc-2", Escalation(escalation_msg="anyone?"))
        outcome = mail.wait_sent(2, sent_to(CAROL_MAIL))[1]  # the request, then its outcome; nothing more
        assert "Approved by" in body_of(outcome) and len(mail.sent(sent_to(CAROL_MAIL))) == 2
    finally:
        mail.close()


def test_response_options_are_buttons_and_the_choice_comes_back_by_name(
    bot: SlackSignoff, fake: FakeSlack, hl: HumanLayer, background: ThreadPoolExecutor
) -> None:
    spec = HumanContactSpec(
        msg="Which region first?",
        channel=SLACK,
        response_options=[ResponseOption(name="eu", title="Europe first"), ResponseOption(name="us", title="US first")],
    )
    answer: Future[HumanContact.Completed] = background.submit(hl.fetch_human_response, spec)
    [(asked_at, asked)] = wait_for_card(fake)
    buttons = [e for block in asked["blocks"] if block["type"] == "actions" for e in block["elements"]]
    assert [(b["text"]["text"], b["action_id"]) for b in buttons] == [
        ("Europe first", "signoff_choice_1"),
        ("US first", "signoff_choice_2"),
    ]
    assert bot.click("signoff_choice_2", buttons[1]["value"], user=ALICE, card=asked_at).status_code == 200
    done = answer.result(timeout=120)
    assert done.contact.status is not None
    assert (done.contact.status.response_option_name, done.as_completed()) == ("us", "US first")


def test_reject_options_are_buttons_that_deny_at_once_or_ask_for_a_comment(
    bot: SlackSignoff, fake: FakeSlack, hl: HumanLayer, webhook: CallbackReceiver, background: ThreadPoolExecutor
) -> None:
    options = [
        ResponseOption(name="freeze", title="Not during the freeze", prompt_fill="try again after the freeze"),
        ResponseOption(name="why", title="Explain first", interactive=True, prompt_fill="Tell me why "),
        ResponseOption(name="no", title="No"),
    ]
    runs: list[str] = []

    @hl.require_approval(contact_channel=SLACK, reject_options=options)
    def deploy(version: str) -> str:
        runs.append(version)
        return "deployed"

    def deny_buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
        elements = [e for block in card["blocks"] if block["type"] == "actions" for e in block["elements"]]
        return [e for e in elements if e["action_id"].startswith("signoff_deny_option_")]

    # Without `interactive`: one click denies, with its prompt_fill as the comment.
    result: Future[str] = background.submit(deploy, version="6.0")
    [(card_at, card)] = wait_for_card(fake)
    buttons = deny_buttons(card)
    assert [(b["text"]["text"], b["action_id"]) for b in buttons] == [
        ("Not during the freeze", "signoff_deny_option_1"),
        ("Explain first", "signoff_deny_option_2"),
        ("No", "signoff_deny_option_3"),
    ]
    assert bot.click("signoff_deny_option_1", buttons[0]["value"], user=BOB, card=card_at).is_success  # not Bob's
    fake.wait_for_sync("chat.postEphemeral", where=lambda p: p["user"] == BOB)
    assert bot.click("signoff_deny_option_1", buttons[0]["value"], user=ALICE, card=card_at).is_success
    assert result.result(timeout=120) == "User in ops denied deploy with message: try again after the freeze"
    [post] = webhook.wait_for(1)
    completed = V1Beta2FunctionCallCompleted.model_validate(Webhook(WEBHOOK_SECRET).verify(post.body, post.headers))
    assert completed.event.status is not None and completed.event.status.reject_option_name == "freeze"
    assert runs == []

    # With `interactive`: the deny modal, prefilled with prompt_fill; the typed comment comes back.
    spec = FunctionCallSpec(fn="rotate_keys", kwargs={"env": "prod"}, channel=SLACK, reject_options=options)

    def card_of(call_id: str) -> tuple[tuple[str, str], dict[str, Any]]:
        [found] = wait_until(
            lambda: [c for c in posted(fake, has_buttons) if call_id in json.dumps(c[1]["blocks"])],
            message=f"the card for {call_id}",
        )
        return found

    hl.create_function_call(spec.model_copy(update={"kwargs": {"call": "rej-2"}}), call_id="rej-2")
    second_at, second = card_of("rej-2")
    bot.click("signoff_deny_option_2", deny_buttons(second)[1]["value"], user=ALICE, card=second_at)
    [opened] = fake.wait_for_sync("views.open")
    view = opened["view"]
    [reason] = [b["element"] for b in view["blocks"] if b["type"] == "input"]
    assert reason["initial_value"] == "Tell me why" and "Explain first" in json.dumps(view["blocks"])
    assert bot.submit_deny(view["private_metadata"], "Tell me why prod, not staging", user=ALICE).is_success
    denied = wait_until(lambda: (c := hl.get_function_call("rej-2")).status and c.status.approved is False and c)
    assert (denied.status.comment, denied.status.reject_option_name) == ("Tell me why prod, not staging", "why")

    # No prompt_fill: the title is the comment.
    hl.create_function_call(spec.model_copy(update={"kwargs": {"call": "rej-3"}}), call_id="rej-3")
    third_at, third = card_of("rej-3")
    bot.click("signoff_deny_option_3", deny_buttons(third)[2]["value"], user=ALICE, card=third_at)
    no = wait_until(lambda: (c := hl.get_function_call("rej-3")).status and c.status.approved is False and c)
    assert (no.status.comment, no.status.reject_option_name) == ("No", "no")


def test_reject_options_are_numbered_in_the_mail_and_a_reply_picks_one(
    bot: SlackSignoff, smtp: SmtpServer, dovecot: DovecotServer, hl: HumanLayer
) -> None:
    mail = EmailSignoff(bot.process, dovecot, smtp)
    try:
        options = [
            ResponseOption(name="freeze", title="Not during the freeze"),
            ResponseOption(name="why", title="Explain first", interactive=True),
        ]
        by_mail = ContactChannel(email=EmailContactChannel(address=ALICE_MAIL))
        spec = FunctionCallSpec(fn="rotate_keys", kwargs={"env": "prod"}, channel=by_mail, reject_options=options)
        hl.create_function_call(spec, call_id="mail-rej")
        [asked] = mail.wait_sent(1, sent_to(ALICE_MAIL))
        body = body_of(asked)
        assert "1) Not during the freeze" in body and "2) Explain first (say why after the number)" in body

        mail.send(reply(asked.message, ALICE_MAIL, "hmm, maybe later?"))  # not a decision: a hint, nothing decided
        hint = mail.wait_sent(2, sent_to(ALICE_MAIL))[1]
        assert "still waiting" in body_of(hint) and "1) Not during the freeze" in body_of(hint)
        assert hl.get_function_call("mail-rej").status.approved is None
        mail.send(reply(asked.message, ALICE_MAIL, "2 not before the audit on Friday"))
        denied = wait_until(
            lambda: (c := hl.get_function_call("mail-rej")).status and c.status.approved is not None and c, timeout=60
        )
        assert denied.status.approved is False
        assert (denied.status.reject_option_name, denied.status.comment) == ("why", "not before the audit on Friday")
    finally:
        mail.close()


def test_with_no_channel_the_deployments_approvers_are_asked_where_they_are(
    bot: SlackSignoff, fake: FakeSlack, smtp: SmtpServer, dovecot: DovecotServer, hl: HumanLayer
) -> None:
    mail = EmailSignoff(bot.process, dovecot, smtp)
    try:
        hl.create_function_call(FunctionCallSpec(fn="purge_cache", kwargs={"zone": "eu"}), call_id="default-1")
        [(card_at, card)] = wait_for_card(fake)  # the approvals channel, and a mail to the approver's address
        assert card_at[0] == APPROVALS and "purge_cache" in json.dumps(card["blocks"])
        [asked] = mail.wait_sent(1, sent_to(ALICE_MAIL))
        assert "purge_cache" in body_of(asked)
        [request] = bot.api.get("/api/requests").json()["requests"]
        assert set(request["allowed"]) == {ALICE, ALICE_MAIL}
    finally:
        mail.close()


def test_a_question_to_a_users_dm_is_answered_by_a_reply_in_its_thread_there(
    bot: SlackSignoff, fake: FakeSlack, hl: HumanLayer, background: ThreadPoolExecutor
) -> None:
    in_dm = ContactChannel(slack=SlackContactChannel(channel_or_user_id=ALICE))
    answer: Future[str] = background.submit(hl.human_as_tool(contact_channel=in_dm), message="Which region?")
    [(asked_at, _asked)] = wait_until(lambda: posted(fake), message="the question")
    dm = "D" + ALICE[1:]
    assert asked_at[0] == dm
    bot.wait_delivered()
    bot.event(message_event("eu-west", user=ALICE, channel=dm, channel_type="im", thread_ts=asked_at[1]))
    assert answer.result(timeout=120) == "eu-west"


def test_a_question_posted_into_a_thread_signoff_never_saw_is_answered_by_a_reply_there(
    bot: SlackSignoff, fake: FakeSlack, hl: HumanLayer, background: ThreadPoolExecutor
) -> None:
    root = "1700000000.000100"  # people's own thread in the channel, not one the bot was part of
    in_thread = ContactChannel(slack=SlackContactChannel(channel_or_user_id=APPROVALS, thread_ts=root))
    answer: Future[str] = background.submit(hl.human_as_tool(contact_channel=in_thread), message="Which region?")
    [(_asked_at, asked)] = wait_until(lambda: posted(fake), message="the question")
    assert asked.get("thread_ts") == root
    bot.wait_delivered()
    bot.event(message_event("not me", user=MALLORY, channel=APPROVALS, ts="1700000000.000300", thread_ts=root))
    fake.wait_for_sync("chat.postEphemeral", where=lambda p: p["user"] == MALLORY)  # told who may answer
    bot.event(message_event("eu-west", user=ALICE, channel=APPROVALS, ts="1700000000.000400", thread_ts=root))
    assert answer.result(timeout=120) == "eu-west"


def test_a_malformed_spec_is_a_422_naming_the_field_and_nothing_is_sent(bot: SlackSignoff, fake: FakeSlack) -> None:
    base = "/humanlayer/v1"
    bad = [
        ("function_calls", {"kwargs": {}}, "spec.fn"),
        ("function_calls", {"fn": "x", "reject_options": [{"title": "no name"}]}, "spec.reject_options.0.name"),
        ("function_calls", {"fn": "x", "channel": {"slack": {"channel_or_user_id": "#general"}}}, "channel_or_user_id"),
        ("contact_requests", {"msg": "?", "response_options": [{"name": "a"}, {"name": "A"}]}, "response_options.1"),
        (
            "contact_requests",
            {"msg": "?", "channel": {"email": {"address": "x", "in_reply_to_message_id": "no"}}},
            "in_reply_to",
        ),
    ]
    for route, spec, field in bad:
        response = bot.api.post(f"{base}/{route}", json={"run_id": "r", "call_id": f"bad-{field}", "spec": spec})
        assert response.status_code == 422 and field in response.json()["detail"], (route, spec, response.text)
    assert bot.api.get(f"{base}/function_calls/bad-spec.fn").status_code == 404
    assert bot.api.get("/api/requests").json()["requests"] == [] and posted(fake) == []
