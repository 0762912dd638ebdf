"""Requests built by tests.support.slack_requests pass Bolt's signature check and reach listeners;
Bolt's replies reach the fake Slack."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from slack_bolt.async_app import AsyncApp, AsyncRespond, AsyncSay
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack.blocks import DENY_CALLBACK_ID, DENY_REASON_ACTION_ID, DENY_REASON_BLOCK_ID, reply_message
from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import (
    app_mention,
    block_actions,
    message_event,
    signed_event,
    signed_interaction,
    signed_url_verification,
    view_submission,
)

SECRET = "signing-secret"


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def bolt_request(body: bytes, headers: Mapping[str, str]) -> AsyncBoltRequest:
    return AsyncBoltRequest(body=body.decode(), headers=dict(headers))


def app_for(fake: FakeSlack) -> AsyncApp:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    return AsyncApp(client=client, signing_secret=SECRET, process_before_response=True)


def test_signatures_verify_only_with_the_right_secret_time_and_body() -> None:
    body, headers = signed_event(SECRET, app_mention("<@UBOT> hi"), event_id="Ev1", timestamp=1_700_000_000)
    assert headers["X-Slack-Request-Timestamp"] == "1700000000"
    at_that_time = SignatureVerifier(SECRET, clock=FixedClock(1_700_000_010))
    assert at_that_time.is_valid_request(body, headers)
    assert not SignatureVerifier("other", clock=FixedClock(1_700_000_010)).is_valid_request(body, headers)
    assert not at_that_time.is_valid_request(body + b" ", headers)
    assert not SignatureVerifier(SECRET, clock=FixedClock(1_700_001_000)).is_valid_request(body, headers)


def test_events_are_event_callbacks_and_interactions_are_form_encoded() -> None:
    body, headers = signed_event(SECRET, message_event("hi", channel_type="im", channel="D1"), "Ev2", retry_num=1)
    parsed = json.loads(body)
    assert (parsed["type"], parsed["event_id"], parsed["team_id"], parsed["event"]["channel_type"]) == (
        "event_callback",
        "Ev2",
        "T1",
        "im",
    )
    assert headers["X-Slack-Retry-Num"] == "1" and headers["Content-Type"] == "application/json"
    payload = block_actions("signoff_approve", "req-1", message_ts="1700000000.000100")
    body, headers = signed_interaction(SECRET, payload)
    assert json.loads(parse_qs(body.decode())["payload"][0]) == payload
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert abs(int(headers["X-Slack-Request-Timestamp"]) - time.time()) < 60


async def test_bolt_runs_a_mention_listener_that_replies_in_the_thread(fake: FakeSlack) -> None:
    app = app_for(fake)

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: AsyncSay) -> None:
        await say(thread_ts=event["ts"], **reply_message("On it."))

    mention = app_mention("<@UBOT> restart payments", channel="C1")
    body, headers = signed_event(SECRET, mention, event_id="Ev1")
    response = await app.async_dispatch(bolt_request(body, headers))
    assert response.status == 200
    [posted] = await fake.wait_for("chat.postMessage")
    assert (posted["channel"], posted["thread_ts"], posted["text"]) == ("C1", mention["ts"], "On it.")
    assert fake.errors == []


async def test_bolt_refuses_a_badly_signed_request(fake: FakeSlack) -> None:
    body, headers = signed_event("wrong-secret", app_mention("<@UBOT> hi"), event_id="Ev1")
    response = await app_for(fake).async_dispatch(bolt_request(body, headers))
    assert response.status == 401


async def test_bolt_answers_the_url_verification_challenge(fake: FakeSlack) -> None:
    body, headers = signed_url_verification(SECRET, "abc")
    response = await app_for(fake).async_dispatch(bolt_request(body, headers))
    assert response.status == 200 and json.loads(response.body) == {"challenge": "abc"}


async def test_bolt_routes_button_clicks_and_modal_submissions(fake: FakeSlack) -> None:
    app = app_for(fake)
    seen: list[tuple[str, str]] = []

    @app.action("signoff_deny")
    async def on_deny(ack: Any, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        seen.append(("click", body["actions"][0]["value"]))
        await respond(text="Noted", response_type="ephemeral", replace_original=False)

    @app.view(DENY_CALLBACK_ID)
    async def on_submit(ack: Any, view: dict[str, Any]) -> None:
        await ack()
        reason = view["state"]["values"][DENY_REASON_BLOCK_ID][DENY_REASON_ACTION_ID]["value"]
        seen.append((view["private_metadata"], reason))

    click = block_actions(
        "signoff_deny", "req-1", message_ts="1700000000.000100", response_url=fake.response_url("click")
    )
    body, headers = signed_interaction(SECRET, click)
    assert (await app.async_dispatch(bolt_request(body, headers))).status == 200
    submit = view_submission(DENY_CALLBACK_ID, "req-1", {DENY_REASON_BLOCK_ID: {DENY_REASON_ACTION_ID: "not now"}})
    body, headers = signed_interaction(SECRET, submit)
    assert (await app.async_dispatch(bolt_request(body, headers))).status == 200
    assert seen == [("click", "req-1"), ("req-1", "not now")]
    [responded] = await fake.wait_for("response_url")
    assert responded["text"] == "Noted" and responded["response_url_name"] == "click"
    assert fake.errors == []
