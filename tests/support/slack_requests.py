"""Slack's inbound requests, built and signed exactly as Slack sends them.

Payload builders return plain dicts shaped like Slack's (an `event_callback` body, a `block_actions`
or `view_submission` payload); the same dict is the `payload` of a Socket Mode envelope
(`FakeSlack.send_envelope`). The `signed_*` functions turn them into an HTTP body and headers:

    body, headers = signed_event(SECRET, app_mention("<@UBOT> restart payments"), event_id="Ev1")
    response = await client.post("/slack/events", content=body, headers=headers)

Signatures come from `slack_sdk.signature.SignatureVerifier(secret).generate_signature`; pass
`timestamp=` to sign for a given (e.g. injected clock's) time.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

_ts = itertools.count(100, 100)
_ids = itertools.count(1)


def new_ts() -> str:
    """A unique, increasing message ts for messages humans write (earlier than any the fake issues)."""
    n = next(_ts)
    return f"{1_600_000_000 + n // 1_000_000}.{n % 1_000_000:06d}"


def new_trigger_id() -> str:
    """A unique trigger id in Slack's shape (`views.open` needs one from a recent interaction)."""
    return f"{next(_ids)}.{int(time.time())}.{uuid.uuid4().hex}"


def sign(secret: str, body: bytes, content_type: str, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Headers Slack sends with `body`: content type, request timestamp and v0 signature."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return body, {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


# --- Events API ------------------------------------------------------------------------------------


def event_callback(
    event: dict[str, Any],
    event_id: str,
    team: str = "T1",
    *,
    api_app_id: str = "A1",
    bot_user_id: str = "UBOT",
    event_time: int | None = None,
) -> dict[str, Any]:
    """The `event_callback` body Slack wraps an event in."""
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "context_team_id": team,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }


def signed_event(
    secret: str,
    event: dict[str, Any],
    event_id: str,
    team: str = "T1",
    timestamp: int | None = None,
    *,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
) -> tuple[bytes, dict[str, str]]:
    """A signed JSON `event_callback` request; `retry_num` adds Slack's redelivery headers."""
    body = json.dumps(event_callback(event, event_id, team)).encode()
    body, headers = sign(secret, body, "application/json", timestamp)
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return body, headers


def signed_url_verification(
    secret: str, challenge: str = "challenge-token", timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The handshake Slack sends when an admin sets the Events request URL."""
    body = json.dumps(
        {"token": "legacy-verification-token", "challenge": challenge, "type": "url_verification"}
    ).encode()
    return sign(secret, body, "application/json", timestamp)


def app_mention(
    text: str,
    *,
    user: str = "U1",
    channel: str = "C1",
    ts: str | None = None,
    thread_ts: str | None = None,
    team: str = "T1",
) -> dict[str, Any]:
    """An `app_mention` event (`text` as Slack sends it, e.g. `"<@UBOT> restart payments"`)."""
    ts = ts or new_ts()
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "team": team,
        "event_ts": ts,
        "client_msg_id": str(uuid.uuid4()),
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message_event(
    text: str,
    *,
    user: str = "U1",
    channel: str = "C1",
    ts: str | None = None,
    thread_ts: str | None = None,
    channel_type: str = "channel",
    team: str = "T1",
    subtype: str | None = None,
    bot_id: str | None = None,
) -> dict[str, Any]:
    """A `message` event; `channel_type` is `channel`, `group`, `im` or `mpim`.

    `bot_id` (with or without `subtype="bot_message"`) makes it look like a bot's message, as the
    bot's own posts come back.
    """
    ts = ts or new_ts()
    event: dict[str, Any] = {
        "type": "message",
        "text": text,
        "ts": ts,
        "channel": channel,
        "channel_type": channel_type,
        "event_ts": ts,
        "team": team,
    }
    if user:
        event["user"] = user
    if bot_id is None:
        event["client_msg_id"] = str(uuid.uuid4())
    else:
        event["bot_id"] = bot_id
    if thread_ts:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = user
    if subtype:
        event["subtype"] = subtype
    return event


# --- interactivity ---------------------------------------------------------------------------------


def signed_interaction(
    secret: str, payload: dict[str, Any], timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A signed form-encoded `payload=<json>` request, as Slack posts interactions."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return sign(secret, body, "application/x-www-form-urlencoded", timestamp)


def _user(user: str, team: str) -> dict[str, Any]:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team}


def block_actions(
    action_id: str,
    value: str,
    *,
    user: str = "U1",
    channel: str = "C1",
    message_ts: str | None = None,
    message: dict[str, Any] | None = None,
    block_id: str = "signoff_decision",
    trigger_id: str | None = None,
    response_url: str = "https://hooks.slack.com/actions/T1/1/fake",
    team: str = "T1",
    thread_ts: str | None = None,
    api_app_id: str = "A1",
) -> dict[str, Any]:
    """A `block_actions` payload for a button click in a message.

    `message` is the clicked message as Slack echoes it (defaults to a bare one at `message_ts`);
    give `response_url=fake.response_url()` to record `respond()` calls.
    """
    message_ts = message_ts or (message or {}).get("ts") or new_ts()
    message = dict(message or {"type": "message", "user": "UBOT", "bot_id": "B1", "text": "", "blocks": []})
    message.setdefault("ts", message_ts)
    if thread_ts:
        message.setdefault("thread_ts", thread_ts)
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel,
        "is_ephemeral": False,
    }
    if thread_ts:
        container["thread_ts"] = thread_ts
    return {
        "type": "block_actions",
        "user": _user(user, team),
        "api_app_id": api_app_id,
        "token": "legacy-verification-token",
        "container": container,
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team, "domain": "signoff-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": channel.lower()},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def view_submission(
    callback_id: str,
    private_metadata: str,
    values: dict[str, dict[str, Any]],
    *,
    user: str = "U1",
    team: str = "T1",
    view_id: str = "V00000001",
    blocks: list[dict[str, Any]] | None = None,
    api_app_id: str = "A1",
) -> dict[str, Any]:
    """A `view_submission` payload for a modal.

    `values` maps block_id -> action_id -> a string (taken as a `plain_text_input` value) or a
    state value dict as Slack sends it.
    """
    state = {
        block_id: {
            action_id: value if isinstance(value, dict) else {"type": "plain_text_input", "value": value}
            for action_id, value in actions.items()
        }
        for block_id, actions in values.items()
    }
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "signoff-test"},
        "user": _user(user, team),
        "api_app_id": api_app_id,
        "token": "legacy-verification-token",
        "trigger_id": new_trigger_id(),
        "view": {
            "id": view_id,
            "team_id": team,
            "type": "modal",
            "blocks": blocks or [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": state},
            "hash": uuid.uuid4().hex[:16],
            "title": {"type": "plain_text", "text": "Signoff"},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": {"type": "plain_text", "text": "Submit"},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": api_app_id,
            "external_id": "",
            "app_installed_team_id": team,
            "bot_id": "B1",
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def home_opened(user: str, *, team: str = "T1", tab: str = "home") -> dict[str, Any]:
    """An `app_home_opened` event: `user` opened the app's Home tab (or, `tab="messages"`, its DM)."""
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": "D" + user[1:],
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }


def home_block_actions(
    action_id: str,
    value: str,
    *,
    user: str = "U1",
    view_id: str = "V0HOME",
    team: str = "T1",
    trigger_id: str | None = None,
    api_app_id: str = "A1",
) -> dict[str, Any]:
    """A `block_actions` payload for a button clicked in the app's Home tab: no channel, no message,
    no response_url; the container is the view."""
    return {
        "type": "block_actions",
        "user": _user(user, team),
        "api_app_id": api_app_id,
        "token": "legacy-verification-token",
        "container": {"type": "view", "view_id": view_id},
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team, "domain": "signoff-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {
            "id": view_id,
            "team_id": team,
            "type": "home",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "hash": uuid.uuid4().hex[:16],
            "app_id": api_app_id,
            "bot_id": "B1",
        },
        "actions": [
            {
                "action_id": action_id,
                "block_id": "signoff_home_0",
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def slash_command(
    text: str,
    *,
    user: str = "U1",
    channel: str = "C1",
    team: str = "T1",
    command: str = "/signoff",
    response_url: str = "https://hooks.slack.com/commands/T1/1/fake",
    trigger_id: str | None = None,
    api_app_id: str = "A1",
) -> dict[str, str]:
    """The fields of a slash command, as Slack posts them (form-encoded over HTTP; the payload of a
    `slash_commands` Socket Mode envelope)."""
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "team_domain": "signoff-test",
        "channel_id": channel,
        "channel_name": channel.lower(),
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }


def signed_slash_command(
    secret: str, fields: dict[str, str], timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    return sign(secret, urlencode(fields).encode(), "application/x-www-form-urlencoded", timestamp)


def message_action(
    message: dict[str, Any],
    *,
    user: str = "U1",
    channel: str = "C1",
    team: str = "T1",
    callback_id: str = "signoff_ask_about",
    response_url: str = "https://hooks.slack.com/app/T1/1/fake",
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A message shortcut used on `message` (as Slack echoes it: `type`, `user`, `text`, `ts`, ...)."""
    return {
        "type": "message_action",
        "token": "legacy-verification-token",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": team, "domain": "signoff-test"},
        "user": _user(user, team),
        "channel": {"id": channel, "name": channel.lower()},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id or new_trigger_id(),
        "response_url": response_url,
        "message_ts": message["ts"],
        "message": message,
    }
