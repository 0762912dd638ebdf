"""The fake Slack answers the real SDK like Slack, records every call and refuses malformed ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from channels.slack.blocks import approval_card, deny_modal
from tests.support.fake_slack import FakeSlack
from tests.support.request_views import approval_view
from tests.support.slack_requests import app_mention, block_actions, event_callback, new_trigger_id

REQUEST = approval_view(reason="The worker is stuck.", allowed=["U0BOB"], requested_by="U0ALICE")
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)


async def refused(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


async def test_post_message_is_recorded_and_answered_like_slack(fake: FakeSlack, client: AsyncWebClient) -> None:
    card = approval_card(REQUEST, None)
    first = await client.chat_postMessage(channel="C1", thread_ts="1600000000.000100", **card)
    second = await client.chat_postMessage(channel="C1", text="plain")
    assert first["ok"] and first["channel"] == "C1" and first["message"]["blocks"] == card["blocks"]
    assert first["ts"] == "1700000000.000100" and float(second["ts"]) > float(first["ts"])
    [call, _] = await fake.wait_for("chat.postMessage", count=2)
    assert call["channel"] == "C1" and call["text"] == card["text"] and call["thread_ts"] == "1600000000.000100"
    assert fake.messages[("C1", first["ts"])]["thread_ts"] == "1600000000.000100"
    assert [c.method for c in fake.calls] == ["chat.postMessage", "chat.postMessage"]
    assert fake.errors == []


async def test_auth_test_names_the_bot(fake: FakeSlack, client: AsyncWebClient) -> None:
    answer = await client.auth_test()
    assert (answer["user_id"], answer["team_id"], answer["bot_id"]) == ("UBOT", "T1", "B1")


async def test_blocks_without_a_text_fallback_are_flagged(fake: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.warns(UserWarning, match="top-level `text` argument is missing"):  # the SDK warns too
        error = await refused(client.chat_postMessage(channel="C1", blocks=[SECTION]))
    assert error.response["error"] == "no_text"
    [rejection] = fake.errors
    assert (rejection.method, rejection.error) == ("chat.postMessage", "no_text")
    assert "fallback" in rejection.messages[0]


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}], "/blocks/0/text/type"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "/blocks/0/text/text"),
        ([SECTION] * 51, "/blocks"),
        ([{"type": "sektion", "text": {"type": "mrkdwn", "text": "x"}}], "/blocks/0/type"),
        ([{"type": "section", "block_id": "b" * 256, "text": {"type": "mrkdwn", "text": "x"}}], "/blocks/0/block_id"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "action_id": "a" * 256, "text": {"type": "plain_text", "text": "Go"}}
                    ],
                }
            ],
            "/blocks/0/elements/0/action_id",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "a",
                            "value": "v" * 2001,
                            "text": {"type": "plain_text", "text": "Go"},
                        }
                    ],
                }
            ],
            "/blocks/0/elements/0/value",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "a",
                            "style": "green",
                            "text": {"type": "plain_text", "text": "Go"},
                        }
                    ],
                }
            ],
            "/blocks/0/elements/0/style",
        ),
        ([SECTION | {"block_id": "same"}, SECTION | {"block_id": "same"}], "/blocks/1/block_id"),
        ([{"type": "section"}], "/blocks/0"),
    ],
    ids=[
        "header-mrkdwn",
        "section-too-long",
        "too-many-blocks",
        "unknown-type",
        "long-block-id",
        "long-action-id",
        "long-button-value",
        "bad-style",
        "duplicate-block-id",
        "empty-section",
    ],
)
async def test_malformed_blocks_are_refused_with_a_pointer(
    fake: FakeSlack, client: AsyncWebClient, blocks: list[dict[str, Any]], pointer: str
) -> None:
    error = await refused(client.chat_postMessage(channel="C1", text="fallback", blocks=blocks))
    assert error.response["error"] == "invalid_blocks"
    messages = error.response["response_metadata"]["messages"]
    assert any(m.endswith(f"[json-pointer:{pointer}]") for m in messages), messages
    assert [r.error for r in fake.errors] == ["invalid_blocks"]


async def test_form_encoded_calls_are_understood(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.api_call("chat.postMessage", data={"channel": "C1", "text": "hi", "blocks": json.dumps([SECTION])})
    [call] = fake.calls_to("chat.postMessage")
    assert call["blocks"] == [SECTION] and call["text"] == "hi"
    assert fake.errors == []


async def test_missing_channel_is_refused(fake: FakeSlack, client: AsyncWebClient) -> None:
    error = await refused(client.api_call("chat.postMessage", json={"text": "hi"}))
    assert error.response["error"] == "invalid_arguments"
    assert fake.errors[0].messages == ("[ERROR] missing required field: channel",)


@pytest.mark.parametrize(
    ("token", "error"),
    [("xoxb-wrong", "invalid_auth"), ("xapp-fake-app-token", "not_allowed_token_type")],
)
async def test_a_bad_token_is_refused(fake: FakeSlack, token: str, error: str) -> None:
    bad = AsyncWebClient(token=token, base_url=fake.api_url)
    assert (await refused(bad.chat_postMessage(channel="C1", text="hi"))).response["error"] == error
    assert (await refused(AsyncWebClient(base_url=fake.api_url).auth_test())).response["error"] == "not_authed"
    assert [r.error for r in fake.errors] == [error, "not_authed"]


async def test_update_replaces_the_posted_message(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", **approval_card(REQUEST, None))
    await client.chat_update(channel="C1", ts=posted["ts"], text="Approved", blocks=[SECTION])
    assert fake.messages[("C1", posted["ts"])]["blocks"] == [SECTION]
    assert fake.messages[("C1", posted["ts"])]["text"] == "Approved"
    error = await refused(client.chat_update(channel="C1", ts="1700009999.000100", text="x"))
    assert error.response["error"] == "message_not_found"
    human = fake.seed_message("C1", "restart payments")
    assert (await refused(client.chat_update(channel="C1", ts=human, text="x"))).response["error"] == (
        "cant_update_message"
    )


async def test_message_metadata_is_checked_kept_and_read_back_like_slack(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    marker = {"event_type": "signoff_outbox", "event_payload": {"outbox_id": 3, "part": "message"}}
    parent = fake.seed_message("C1", "restart payments", ts="1600000000.000100")
    reply = await client.chat_postMessage(channel="C1", thread_ts=parent, text="card", metadata=marker)
    top = await client.chat_postMessage(channel="C1", text="top", metadata=marker)
    assert reply["message"]["metadata"] == marker
    await client.chat_update(channel="C1", ts=reply["ts"], text="decided")  # no metadata: it stays
    thread = await client.conversations_replies(channel="C1", ts=parent, include_all_metadata=True)
    assert [m["ts"] for m in thread["messages"]] == [parent, reply["ts"]]  # oldest first, the parent too
    assert thread["messages"][1]["metadata"] == marker
    brief = await client.conversations_replies(channel="C1", ts=parent)
    assert brief["messages"][1]["metadata"] == {"event_type": "signoff_outbox"}
    history = await client.conversations_history(channel="C1", include_all_metadata=True, limit=1)
    assert [m["ts"] for m in history["messages"]] == [top["ts"]] and history["has_more"]  # newest first
    rest = await client.conversations_history(channel="C1", cursor=history["response_metadata"]["next_cursor"])
    assert [m["ts"] for m in rest["messages"]] == [parent]  # replies stay in their thread
    assert fake.errors == []

    for bad, error in [
        ({"event_type": "signoff.outbox", "event_payload": {}}, "invalid_metadata_schema"),
        ({"event_type": "signoff_outbox", "event_payload": "3"}, "invalid_metadata_schema"),
        ({"event_payload": {}}, "invalid_metadata_schema"),
        ("not json", "invalid_metadata_format"),
    ]:
        assert (await refused(client.chat_postMessage(channel="C1", text="x", metadata=bad))).response["error"] == error  # type: ignore[arg-type]
    unknown = await refused(client.conversations_replies(channel="C1", ts="1600000000.999999"))
    assert unknown.response["error"] == "thread_not_found"
    assert (await refused(client.conversations_history(channel="U0BOB"))).response["error"] == "channel_not_found"


async def test_views_open_needs_a_trigger_and_a_valid_modal(fake: FakeSlack, client: AsyncWebClient) -> None:
    opened = await client.views_open(trigger_id=new_trigger_id(), view=deny_modal("req-1"))
    assert opened["view"]["private_metadata"] == "req-1" and opened["view"]["id"].startswith("V")
    assert fake.errors == []
    error = await refused(client.api_call("views.open", json={"view": deny_modal("req-1")}))
    assert error.response["error"] == "invalid_arguments"
    long_title = deny_modal("req-1") | {"title": {"type": "plain_text", "text": "t" * 25}}
    error = await refused(client.views_open(trigger_id=new_trigger_id(), view=long_title))
    assert any("/view/title/text" in m for m in error.response["response_metadata"]["messages"])
    no_submit = {k: v for k, v in deny_modal("req-1").items() if k != "submit"}
    error = await refused(client.views_open(trigger_id=new_trigger_id(), view=no_submit))
    assert any("/view/submit" in m for m in error.response["response_metadata"]["messages"])


async def test_views_publish_needs_a_user_and_a_valid_home_view(fake: FakeSlack, client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [SECTION]}
    published = await client.views_publish(user_id="U0ALICE", view=home)
    assert published["view"]["id"].startswith("V") and fake.home_views["U0ALICE"]["blocks"] == [SECTION]
    assert published.headers.get("X-OAuth-Scopes") or published.headers.get("x-oauth-scopes")
    assert fake.errors == []
    error = await refused(client.views_publish(user_id="C0NOTAUSER", view=home))
    assert error.response["error"] == "user_not_found"
    for bad, where in (
        (deny_modal("req-1"), "/view/type"),  # a modal is not a Home tab
        (home | {"title": {"type": "plain_text", "text": "Home"}}, "/view/title"),
        (home | {"blocks": [SECTION] * 101}, "/view/blocks"),
        (home | {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]}, "/view/blocks/0"),
    ):
        error = await refused(client.views_publish(user_id="U0ALICE", view=bad))
        assert error.response["error"] == "invalid_arguments"
        assert any(where in m for m in error.response["response_metadata"]["messages"]), where
    assert len(fake.errors) == 5
    fake.reset()


async def test_lookups_answer_like_slack(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_user("U0ALICE", real_name="Alice Example", email="alice@example.com")
    user = (await client.users_info(user="U0ALICE"))["user"]
    assert (user["real_name"], user["profile"]["email"]) == ("Alice Example", "alice@example.com")
    assert (await client.users_info(user="U0BOB"))["user"]["id"] == "U0BOB"
    assert (await refused(client.users_info(user="nobody"))).response["error"] == "user_not_found"
    assert (await client.conversations_info(channel="D0BOB"))["channel"]["is_im"] is True
    ts = (await client.chat_postMessage(channel="C1", text="hi", thread_ts="1600000000.000100"))["ts"]
    link = (await client.chat_getPermalink(channel="C1", message_ts=ts))["permalink"]
    assert link.startswith("https://signoff-test.slack.com/archives/C1/p") and "thread_ts=1600000000.000100" in link
    assert (await client.conversations_open(users="U0BOB"))["channel"]["id"] == "D0BOB"
    fake.usergroups["S0ONCALL"] = ["U0BOB"]
    assert (await client.usergroups_users_list(usergroup="S0ONCALL"))["users"] == ["U0BOB"]
    assert (await refused(client.api_call("chat.scheduleMessage"))).response["error"] == "unknown_method"


async def test_injected_rate_limit_and_outage(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail_next("chat.postMessage", error="ratelimited", retry_after=7)
    error = await refused(client.chat_postMessage(channel="C1", text="hi"))
    assert error.response.status_code == 429 and error.response.headers["Retry-After"] == "7"
    fake.fail_next("chat.postMessage", status=503)
    assert (await refused(client.chat_postMessage(channel="C1", text="hi"))).response.status_code == 503
    assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"]
    assert len(fake.calls_to("chat.postMessage")) == 3 and fake.errors == []


async def test_a_rate_limited_call_is_retried_by_the_sdk(fake: FakeSlack) -> None:
    retrying = AsyncWebClient(
        token=fake.bot_token, base_url=fake.api_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)]
    )
    fake.fail_next("chat.update", error="ratelimited", retry_after=0)
    posted = await retrying.chat_postMessage(channel="C1", text="hi")
    assert (await retrying.chat_update(channel="C1", ts=posted["ts"], text="ho"))["ok"]
    assert len(fake.calls_to("chat.update")) == 2


async def test_waiting_for_a_call_that_never_comes_fails_with_what_came(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel="C1", text="hi")
    with pytest.raises(AssertionError, match=r"chat\.update.*calls so far: \['chat\.postMessage'\]"):
        await fake.wait_for("chat.update", timeout=0.2)


async def test_respond_through_the_response_url_is_recorded(fake: FakeSlack) -> None:
    url = fake.response_url("click-1")
    await AsyncWebhookClient(url).send(text="Already decided by <@U0BOB>", response_type="ephemeral")
    await AsyncWebhookClient(url).send(blocks=[SECTION])
    [call, bad] = await fake.wait_for("response_url", count=2)
    assert call["response_url_name"] == "click-1" and call["response_type"] == "ephemeral"
    assert [r.error for r in fake.errors] == ["no_text"]


async def test_socket_mode_hello_envelope_and_ack_round_trip(fake: FakeSlack) -> None:
    web = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    socket_client = SocketModeClient(app_token=fake.app_token, web_client=web, auto_reconnect_enabled=False)
    seen_types: list[str] = []
    requests: list[SocketModeRequest] = []

    async def on_message(client: AsyncBaseSocketModeClient, message: dict[Any, Any], raw: str | None) -> None:
        seen_types.append(message.get("type", ""))

    async def on_request(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        requests.append(request)
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload={"echo": request.type})
        )

    socket_client.message_listeners.append(on_message)
    socket_client.socket_mode_request_listeners.append(on_request)
    await socket_client.connect()  # type: ignore[no-untyped-call]
    try:
        await fake.wait_for_socket()
        event = event_callback(app_mention("<@UBOT> restart payments"), event_id="Ev1")
        event_envelope = await fake.send_envelope("events_api", event)
        click = block_actions("signoff_approve", "req-1", message_ts="1700000000.000100")
        click_envelope = await fake.send_envelope("interactive", click)
        assert (await fake.wait_for_ack(event_envelope)) == {
            "envelope_id": event_envelope,
            "payload": {"echo": "events_api"},
        }
        assert (await fake.wait_for_ack(click_envelope))["payload"] == {"echo": "interactive"}
    finally:
        await socket_client.close()  # type: ignore[no-untyped-call]
    assert seen_types[0] == "hello"
    assert [r.type for r in requests] == ["events_api", "interactive"]
    assert requests[0].payload["event"]["text"] == "<@UBOT> restart payments"
    assert requests[1].accepts_response_payload is True
    assert [c.method for c in fake.calls] == ["apps.connections.open"] and fake.errors == []


def test_synchronous_tests_can_wait_too(fake: FakeSlack) -> None:
    WebClient(token=fake.bot_token, base_url=fake.api_url).chat_postMessage(channel="C1", text="hi")
    assert fake.wait_for_sync("chat.postMessage")[0]["text"] == "hi"
    with pytest.raises(AssertionError, match="chat.update"):
        fake.wait_for_sync("chat.update", timeout=0.1)
