"""A local Slack Web API and Socket Mode server for tests.

Slack's side of the boundary is played by a real HTTP server on 127.0.0.1 (aiohttp, in a background
thread with its own event loop). Point the SDK at it and assert what the bot sent:

    with FakeSlack() as fake:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
        await client.chat_postMessage(channel="C1", text="hi")
        [call] = await fake.wait_for("chat.postMessage")
        assert call["text"] == "hi" and fake.errors == []

It answers the methods a bot uses (see `FakeSlack.METHODS`), checks the bearer token (`not_authed`,
`invalid_auth`, `not_allowed_token_type`), and validates what it gets: required fields, Block Kit
shape and limits (`validate_blocks`, `validate_view`), and a `text` fallback whenever blocks are
sent. A call Slack would refuse (or that hides a bug Slack would let pass, like a missing fallback)
is answered `{"ok": false, "error": ...}` and recorded in `.errors`, so tests end with
`assert fake.errors == []`.

Every call is recorded in `.calls` as `Call(method, params)` (token removed); `calls_to(method)`
filters, `await wait_for(method, count)` waits with a deadline. `fail_next(method, ...)` injects a
fault (HTTP 5xx, `ratelimited` with Retry-After, or any Slack error) into the next call(s).

`views.publish` validates the Home view as Slack does (`validate_view(view, kind="home")`) and keeps
each user's last one in `.home_views[user]`. Every answer to the bot token carries the token's
scopes (`.scopes`, by default all the manifest grants) in `X-OAuth-Scopes`, as Slack's do.

Posted messages are kept in `.messages[(channel, ts)]` (updated by `chat.update`); `seed_message`
adds one a human wrote. Message metadata (`{"event_type", "event_payload"}`) is validated, kept with
the message, and read back by `conversations.replies` / `conversations.history` as Slack does: in
full with `include_all_metadata`, else its `event_type` only.
`response_url(name)` gives a URL that records Bolt's `respond()` calls as
method `"response_url"`.

Socket Mode: `apps.connections.open` (app token) returns `ws://127.0.0.1:PORT/link/?ticket=...`;
each connection gets `{"type": "hello"}`. `await send_envelope(type, payload)` delivers an envelope
to one connected client (round robin) and `await wait_for_ack(envelope_id)` returns its ack.
"""

# The waiting helpers take `timeout=` on purpose: tests read `await fake.wait_for(m, timeout=2)`.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from aiohttp import WSMsgType, web

from channels.slack.manifest_requirements import REQUIRED_SCOPES
from tests.support.loopback_server import LoopbackServer

T = TypeVar("T")


class Call(NamedTuple):
    """One Web API call as the fake received it: query, form and JSON parameters merged."""

    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Rejection:
    """A call the fake refused because it was malformed (or unauthenticated)."""

    method: str
    error: str
    messages: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass
class _Fault:
    status: int
    error: str | None
    retry_after: float | None

    def response(self) -> web.Response:
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(self.retry_after))
        if self.error is None and self.status >= 500:
            return web.Response(
                status=self.status, text="<html>Service Unavailable</html>", content_type="text/html", headers=headers
            )
        body = {"ok": False, "error": self.error or "fatal_error"}
        return web.json_response(body, status=self.status, headers=headers)


class _SlackError(Exception):
    def __init__(self, error: str, *messages: str) -> None:
        super().__init__(error)
        self.error = error
        self.messages = tuple(messages)


# --- Block Kit validation ---------------------------------------------------------------------------
# Limits from Slack's Block Kit reference. Lengths are counted in UTF-16 code units, which is never
# fewer than code points: a payload the fake accepts fits Slack's limit however Slack counts.

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000

_TEXT_KEYS = {"type", "text", "emoji", "verbatim"}
_BLOCK_KEYS: dict[str, set[str]] = {
    "section": {"text", "fields", "accessory", "expand"},
    "divider": set(),
    "header": {"text"},
    "context": {"elements"},
    "actions": {"elements"},
    "image": {"image_url", "slack_file", "alt_text", "title"},
    "input": {"label", "element", "dispatch_action", "hint", "optional"},
    "rich_text": {"elements"},
    "markdown": {"text"},
}
_LOOSE_BLOCKS = {"video", "file", "call", "context_actions", "table"}  # type and block_id checked only
_SELECTS = {
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
}
_ACTION_ELEMENTS = _SELECTS | {
    "button",
    "overflow",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    "workflow_button",
    "rich_text_input",
}
_INPUT_ELEMENTS = _SELECTS | {
    "plain_text_input",
    "email_text_input",
    "url_text_input",
    "number_input",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    "rich_text_input",
    "file_input",
}
_ACCESSORIES = _SELECTS | {
    "button",
    "overflow",
    "datepicker",
    "timepicker",
    "checkboxes",
    "radio_buttons",
    "image",
    "workflow_button",
}
_RICH_CONTAINERS = {"rich_text_section", "rich_text_list", "rich_text_preformatted", "rich_text_quote"}
_RICH_LEAVES = {"text", "link", "user", "usergroup", "channel", "emoji", "broadcast", "date", "color"}


def units(text: str) -> int:
    """Length as Slack's limits are checked here: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"[ERROR] {message} [json-pointer:{path}]")


def _string(p: _Problems, value: Any, path: str, max_len: int, *, required: bool = True) -> None:
    if value is None:
        if required:
            p.add(path, "missing required field")
        return
    if not isinstance(value, str):
        p.add(path, "must be a string")
    elif required and not value:
        p.add(path, "must not be empty")
    elif units(value) > max_len:
        p.add(path, f"must be at most {max_len} characters (got {units(value)})")


def _text(p: _Problems, obj: Any, path: str, max_len: int, *, kind: str | None = None, required: bool = True) -> None:
    if obj is None:
        if required:
            p.add(path, "missing required text object")
        return
    if not isinstance(obj, dict):
        p.add(path, "must be a text object")
        return
    t = obj.get("type")
    if t not in ("plain_text", "mrkdwn"):
        p.add(f"{path}/type", f"unknown text object type {t!r}")
    elif kind is not None and t != kind:
        p.add(f"{path}/type", f"must be {kind}")
    _string(p, obj.get("text"), f"{path}/text", max_len)
    if "emoji" in obj and t != "plain_text":
        p.add(f"{path}/emoji", "emoji is only allowed in plain_text")
    if "verbatim" in obj and t != "mrkdwn":
        p.add(f"{path}/verbatim", "verbatim is only allowed in mrkdwn")
    for key in obj.keys() - _TEXT_KEYS:
        p.add(f"{path}/{key}", "unknown field")


def _confirm(p: _Problems, obj: Any, path: str) -> None:
    if obj is None:
        return
    if not isinstance(obj, dict):
        p.add(path, "must be a confirmation dialog object")
        return
    _text(p, obj.get("title"), f"{path}/title", 100, kind="plain_text")
    _text(p, obj.get("text"), f"{path}/text", 300)
    _text(p, obj.get("confirm"), f"{path}/confirm", 30, kind="plain_text")
    _text(p, obj.get("deny"), f"{path}/deny", 30, kind="plain_text")
    if obj.get("style") not in (None, "primary", "danger"):
        p.add(f"{path}/style", "must be primary or danger")


def _options(p: _Problems, options: Any, path: str) -> None:
    if not isinstance(options, list) or not options or len(options) > 100:
        p.add(path, "must be a list of 1 to 100 options")
        return
    for i, option in enumerate(options):
        if not isinstance(option, dict):
            p.add(f"{path}/{i}", "must be an option object")
            continue
        _text(p, option.get("text"), f"{path}/{i}/text", 75)
        _string(p, option.get("value"), f"{path}/{i}/value", 150)


def _element(p: _Problems, el: Any, path: str, allowed: set[str], action_ids: set[str] | None) -> None:
    if not isinstance(el, dict):
        p.add(path, "must be an element object")
        return
    t = el.get("type")
    if t not in allowed:
        p.add(f"{path}/type", f"element type {t!r} is not allowed here")
        return
    if t == "image":
        _string(p, el.get("image_url"), f"{path}/image_url", 3000, required="slack_file" not in el)
        _string(p, el.get("alt_text"), f"{path}/alt_text", 2000)
        return
    action_id = el.get("action_id")
    if action_id is not None:
        _string(p, action_id, f"{path}/action_id", 255)
        if action_ids is not None and isinstance(action_id, str):
            if action_id in action_ids:
                p.add(f"{path}/action_id", f"duplicate action_id {action_id!r} in this block")
            action_ids.add(action_id)
    if t == "button":
        for key in el.keys() - {"type", "text", "action_id", "url", "value", "style", "confirm", "accessibility_label"}:
            p.add(f"{path}/{key}", "unknown field")
        _text(p, el.get("text"), f"{path}/text", 75, kind="plain_text")
        _string(p, el.get("value"), f"{path}/value", 2000, required=False)
        _string(p, el.get("url"), f"{path}/url", 3000, required=False)
        _string(p, el.get("accessibility_label"), f"{path}/accessibility_label", 75, required=False)
        if el.get("style") not in (None, "primary", "danger"):
            p.add(f"{path}/style", "must be primary or danger")
        _confirm(p, el.get("confirm"), f"{path}/confirm")
    elif t == "plain_text_input":
        for key in el.keys() - {
            "type",
            "action_id",
            "placeholder",
            "initial_value",
            "multiline",
            "min_length",
            "max_length",
            "dispatch_action_config",
            "focus_on_load",
        }:
            p.add(f"{path}/{key}", "unknown field")
        _text(p, el.get("placeholder"), f"{path}/placeholder", 150, kind="plain_text", required=False)
        _string(p, el.get("initial_value"), f"{path}/initial_value", 3000, required=False)
        if not isinstance(el.get("multiline", False), bool):
            p.add(f"{path}/multiline", "must be a boolean")
        for key, low in (("min_length", 0), ("max_length", 1)):
            if key in el and (not isinstance(el[key], int) or not low <= el[key] <= 3000):
                p.add(f"{path}/{key}", f"must be an integer from {low} to 3000")
    elif t in ("static_select", "multi_static_select"):
        if "option_groups" not in el:
            _options(p, el.get("options"), f"{path}/options")
        _text(p, el.get("placeholder"), f"{path}/placeholder", 150, kind="plain_text", required=False)
    elif t == "overflow":
        _options(p, el.get("options"), f"{path}/options")


def _rich_text(p: _Problems, elements: Any, path: str) -> None:
    if not isinstance(elements, list) or not elements:
        p.add(path, "must be a non-empty list")
        return
    for i, container in enumerate(elements):
        cpath = f"{path}/{i}"
        if not isinstance(container, dict) or container.get("type") not in _RICH_CONTAINERS:
            p.add(f"{cpath}/type", "must be a rich text section, list, preformatted or quote")
            continue
        if container["type"] == "rich_text_list":
            if container.get("style") not in ("bullet", "ordered"):
                p.add(f"{cpath}/style", "must be bullet or ordered")
            _rich_text(p, container.get("elements"), f"{cpath}/elements")
            continue
        leaves = container.get("elements")
        if not isinstance(leaves, list):
            p.add(f"{cpath}/elements", "must be a list")
            continue
        for j, leaf in enumerate(leaves):
            if not isinstance(leaf, dict) or leaf.get("type") not in _RICH_LEAVES:
                p.add(f"{cpath}/elements/{j}/type", "unknown rich text element")
            elif leaf["type"] == "text":
                _string(p, leaf.get("text"), f"{cpath}/elements/{j}/text", 12_000)


def _block(p: _Problems, block: Any, path: str, block_ids: set[str], surface: str) -> None:
    if not isinstance(block, dict):
        p.add(path, "must be a block object")
        return
    t = block.get("type")
    if t in _LOOSE_BLOCKS:
        return
    if t not in _BLOCK_KEYS:
        p.add(f"{path}/type", f"unknown block type {t!r}")
        return
    for key in block.keys() - _BLOCK_KEYS[t] - {"type", "block_id"}:
        p.add(f"{path}/{key}", f"unknown field for a {t} block")
    block_id = block.get("block_id")
    if block_id is not None:
        _string(p, block_id, f"{path}/block_id", 255)
        if isinstance(block_id, str):
            if block_id in block_ids:
                p.add(f"{path}/block_id", f"duplicate block_id {block_id!r}")
            block_ids.add(block_id)
    if t == "section":
        if "text" not in block and "fields" not in block:
            p.add(path, "a section needs text or fields")
        _text(p, block.get("text"), f"{path}/text", 3000, required=False)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not fields or len(fields) > 10:
                p.add(f"{path}/fields", "must be a list of 1 to 10 text objects")
            else:
                for i, f in enumerate(fields):
                    _text(p, f, f"{path}/fields/{i}", 2000)
        if "accessory" in block:
            _element(p, block["accessory"], f"{path}/accessory", _ACCESSORIES, set())
    elif t == "header":
        _text(p, block.get("text"), f"{path}/text", 150, kind="plain_text")
    elif t == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements or len(elements) > 10:
            p.add(f"{path}/elements", "must be a list of 1 to 10 elements")
        else:
            for i, el in enumerate(elements):
                if isinstance(el, dict) and el.get("type") == "image":
                    _element(p, el, f"{path}/elements/{i}", {"image"}, None)
                else:
                    _text(p, el, f"{path}/elements/{i}", 3000)
    elif t == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements or len(elements) > 25:
            p.add(f"{path}/elements", "must be a list of 1 to 25 elements")
        else:
            ids: set[str] = set()
            for i, el in enumerate(elements):
                _element(p, el, f"{path}/elements/{i}", _ACTION_ELEMENTS, ids)
    elif t == "image":
        _string(p, block.get("image_url"), f"{path}/image_url", 3000, required="slack_file" not in block)
        _string(p, block.get("alt_text"), f"{path}/alt_text", 2000)
        _text(p, block.get("title"), f"{path}/title", 2000, kind="plain_text", required=False)
    elif t == "input":
        _text(p, block.get("label"), f"{path}/label", 2000, kind="plain_text")
        _text(p, block.get("hint"), f"{path}/hint", 2000, kind="plain_text", required=False)
        if "element" not in block:
            p.add(f"{path}/element", "missing required field")
        else:
            _element(p, block["element"], f"{path}/element", _INPUT_ELEMENTS, set())
        for key in ("optional", "dispatch_action"):
            if key in block and not isinstance(block[key], bool):
                p.add(f"{path}/{key}", "must be a boolean")
        if surface == "message" and block.get("dispatch_action") is not True:
            p.add(path, "an input block in a message needs dispatch_action")
    elif t == "rich_text":
        _rich_text(p, block.get("elements"), f"{path}/elements")
    elif t == "markdown":
        _string(p, block.get("text"), f"{path}/text", 12_000)


def validate_blocks(blocks: Any, *, surface: str = "message", path: str = "/blocks") -> list[str]:
    """Problems with a Block Kit `blocks` list, Slack-style (`[ERROR] ... [json-pointer:...]`).

    `surface` is `message` (at most 50 blocks), `modal` or `home` (at most 100).
    """
    p = _Problems()
    if not isinstance(blocks, list):
        p.add(path, "blocks must be a list")
        return p.items
    limit = MAX_MESSAGE_BLOCKS if surface == "message" else MAX_VIEW_BLOCKS
    if len(blocks) > limit:
        p.add(path, f"no more than {limit} blocks are allowed (got {len(blocks)})")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        _block(p, block, f"{path}/{i}", block_ids, surface)
    return p.items


def validate_view(view: Any, *, kind: str = "modal") -> list[str]:
    """Problems with a view object: a modal as `views.open` / `views.update` receive it, or (`kind`
    "home") a Home tab as `views.publish` does (no title, close or submit; at most 100 blocks)."""
    p = _Problems()
    if not isinstance(view, dict):
        p.add("/view", "view must be an object")
        return p.items
    if view.get("type") != kind:
        p.add("/view/type", f"must be {kind}")
    if kind == "home":
        for key in view.keys() - {"type", "blocks", "private_metadata", "callback_id", "external_id"}:
            p.add(f"/view/{key}", "unknown field for a home view")
        _string(p, view.get("private_metadata"), "/view/private_metadata", 3000, required=False)
        _string(p, view.get("callback_id"), "/view/callback_id", 255, required=False)
        _string(p, view.get("external_id"), "/view/external_id", 255, required=False)
        p.items.extend(validate_blocks(view.get("blocks"), surface="home", path="/view/blocks"))
        return p.items
    for key in view.keys() - {
        "type",
        "title",
        "blocks",
        "close",
        "submit",
        "private_metadata",
        "callback_id",
        "clear_on_close",
        "notify_on_close",
        "external_id",
        "submit_disabled",
    }:
        p.add(f"/view/{key}", "unknown field")
    _text(p, view.get("title"), "/view/title", 24, kind="plain_text")
    _text(p, view.get("close"), "/view/close", 24, kind="plain_text", required=False)
    blocks = view.get("blocks")
    has_input = isinstance(blocks, list) and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    _text(p, view.get("submit"), "/view/submit", 24, kind="plain_text", required=has_input)
    _string(p, view.get("private_metadata"), "/view/private_metadata", 3000, required=False)
    _string(p, view.get("callback_id"), "/view/callback_id", 255, required=False)
    _string(p, view.get("external_id"), "/view/external_id", 255, required=False)
    p.items.extend(validate_blocks(blocks, surface="modal", path="/view/blocks"))
    return p.items


# --- message metadata ---------------------------------------------------------------------------
# Slack's rule: an event_type of letters, digits, underscores and hyphens; an event_payload object.
# Slack posts a message whose metadata breaks it and drops the metadata with an
# `invalid_metadata_schema` warning; the fake refuses it instead, since that hides a bug.

_EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_METADATA_KEYS = {"event_type", "event_payload", "entities"}


def _metadata(params: dict[str, Any]) -> dict[str, Any] | None:
    """The call's valid metadata; None when it sent none."""
    metadata = params.get("metadata")
    if metadata is None:
        return None
    if isinstance(metadata, str):  # form-encoded and not JSON
        raise _SlackError("invalid_metadata_format", "[ERROR] metadata must be a JSON object")
    if not isinstance(metadata, dict):
        raise _SlackError("invalid_metadata_format", "[ERROR] metadata must be an object")
    if not metadata:
        return {}
    if "entities" in metadata and "event_type" not in metadata:  # work objects: not checked here
        return dict(metadata)
    problems = [f"[ERROR] unknown metadata field: {k}" for k in sorted(metadata.keys() - _METADATA_KEYS)]
    event_type = metadata.get("event_type")
    if not isinstance(event_type, str) or not _EVENT_TYPE_RE.match(event_type):
        problems.append(f"[ERROR] event_type {event_type!r}: letters, digits, underscores and hyphens only")
    if not isinstance(metadata.get("event_payload"), dict):
        problems.append("[ERROR] event_payload must be an object")
    if problems:
        raise _SlackError("invalid_metadata_schema", *problems)
    return dict(metadata)


def _with_metadata(message: dict[str, Any], full: bool) -> dict[str, Any]:
    """A message as conversations.* return it: without `include_all_metadata`, only the event_type."""
    shown = dict(message)
    if "metadata" in shown and not full:
        shown["metadata"] = {"event_type": shown["metadata"].get("event_type")}
    return shown


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


# --- the server -------------------------------------------------------------------------------------

_TS_RE = re.compile(r"^\d{10}\.\d{6}$")
_TRIGGER_RE = re.compile(r"^\d+\.\d+\.[0-9a-f]+$")
_JSON_PARAMS = ("blocks", "attachments", "view", "metadata")


class FakeSlack(LoopbackServer):
    """Slack's Web API and Socket Mode on 127.0.0.1, validating and recording what the bot sends."""

    thread_name = "fake-slack"

    METHODS: tuple[str, ...] = (
        "auth.test",
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "chat.getPermalink",
        "views.open",
        "views.publish",
        "users.info",
        "usergroups.users.list",
        "conversations.info",
        "conversations.open",
        "conversations.replies",
        "conversations.history",
        "apps.connections.open",
    )

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-fake-bot-token",
        app_token: str = "xapp-fake-app-token",
        team_id: str = "T1",
        team_domain: str = "signoff-test",
        bot_user_id: str = "UBOT",
        bot_id: str = "B1",
        app_id: str = "A1",
    ) -> None:
        super().__init__()
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        # Each user's Home tab as last published (`views.publish`), by user id.
        self.home_views: dict[str, dict[str, Any]] = {}
        # The bot token's scopes, sent as Slack does in each answer's X-OAuth-Scopes header.
        self.scopes: list[str] = sorted(REQUIRED_SCOPES)
        self._calls: list[Call] = []
        self._errors: list[Rejection] = []
        self._acks: list[dict[str, Any]] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._ts = itertools.count(100, 100)
        self._ids = itertools.count(1)
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []  # touched on the server loop only
        self._live_sockets = 0
        self._next_socket = 0
        self._handlers: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
            "auth.test": (self._auth_test, "bot"),
            "chat.postMessage": (self._chat_post_message, "bot"),
            "chat.update": (self._chat_update, "bot"),
            "chat.postEphemeral": (self._chat_post_ephemeral, "bot"),
            "chat.getPermalink": (self._chat_get_permalink, "bot"),
            "views.open": (self._views_open, "bot"),
            "views.publish": (self._views_publish, "bot"),
            "users.info": (self._users_info, "bot"),
            "usergroups.users.list": (self._usergroups_users_list, "bot"),
            "conversations.info": (self._conversations_info, "bot"),
            "conversations.open": (self._conversations_open, "bot"),
            "conversations.replies": (self._conversations_replies, "bot"),
            "conversations.history": (self._conversations_history, "bot"),
            "apps.connections.open": (self._apps_connections_open, "app"),
        }

    # lifecycle

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        """The `base_url` for `AsyncWebClient` (and Signoff's `SLACK_API_URL`)."""
        return f"{self.url}api/"

    # inspection

    @property
    def calls(self) -> list[Call]:
        """A snapshot of every Web API call so far, in arrival order."""
        with self._lock:
            return list(self._calls)

    @property
    def errors(self) -> list[Rejection]:
        """A snapshot of the calls the fake refused as malformed or unauthenticated."""
        with self._lock:
            return list(self._errors)

    @property
    def acks(self) -> list[dict[str, Any]]:
        """A snapshot of every Socket Mode acknowledgement received (`{"envelope_id", "payload"?}`)."""
        with self._lock:
            return list(self._acks)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """The params of every call to `method`, in order."""
        with self._lock:
            return [c.params for c in self._calls if c.method == method]

    def reset(self) -> None:
        """Forget calls, errors, acks and pending faults (messages, users and sockets stay)."""
        with self._lock:
            self._calls.clear()
            self._errors.clear()
            self._acks.clear()
            self._faults.clear()

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 10,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Wait until at least `count` calls to `method` (matching `where`) arrived; returns their params.

        Raises AssertionError naming what did arrive when `timeout` seconds pass first.
        """

        def check() -> list[dict[str, Any]] | None:
            found = [p for p in self.calls_to(method) if where is None or where(p)]
            return found if len(found) >= count else None

        return await self._wait_until(check, timeout, lambda: f"expected {count} call(s) to {method} within {timeout}s")

    def wait_for_sync(
        self, method: str, count: int = 1, timeout: float = 10, where: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[dict[str, Any]]:
        """`wait_for` for synchronous tests (blocks the calling thread; never call it on a running loop)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [p for p in self.calls_to(method) if where is None or where(p)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(self._describe(f"expected {count} call(s) to {method} within {timeout}s"))
                self._changed.wait(left)

    # scripting

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls to `method` fail before any validation.

        `error="ratelimited"` answers HTTP 429 with a Retry-After header (default 1 s); another
        `error` answers `{"ok": false, "error": error}` (HTTP 200 unless `status`); a bare
        `status` >= 500 answers an HTML error page like Slack's edge does.
        """
        if status is None and error is None:
            raise ValueError("fail_next needs a status or an error")
        if error == "ratelimited":
            status = status or 429
            retry_after = 1 if retry_after is None else retry_after
        fault = _Fault(status=status or 200, error=error, retry_after=retry_after)
        with self._lock:
            self._faults.setdefault(method, []).extend(fault for _ in range(times))

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        email: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        """Describe a user for `users.info` (unknown well-formed ids get a generated user)."""
        user = self._generated_user(user_id)
        user.update(is_bot=is_bot, deleted=deleted, **extra)
        if name is not None:
            user["name"] = name
        if real_name is not None:
            user["real_name"] = user["profile"]["real_name"] = real_name
        if email is not None:
            user["profile"]["email"] = email
        with self._lock:
            self.users[user_id] = user
        return user

    def seed_message(
        self, channel: str, text: str, *, user: str = "U1", ts: str | None = None, thread_ts: str | None = None
    ) -> str:
        """Record a message a human wrote (so it can be linked or threaded); returns its ts."""
        ts = ts or self._new_ts()
        message: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": ts, "team": self.team_id}
        if thread_ts:
            message["thread_ts"] = thread_ts
        with self._lock:
            self.messages[(channel, ts)] = message
        return ts

    def response_url(self, name: str = "") -> str:
        """A `response_url` for interaction payloads; posts to it are recorded as `"response_url"`."""
        return f"{self.url}response/{name or uuid.uuid4().hex}"

    # Socket Mode

    async def wait_for_socket(self, count: int = 1, timeout: float = 10) -> None:
        """Wait until at least `count` Socket Mode clients are connected (and got their hello)."""
        await self._wait_until(
            lambda: True if self._live_sockets >= count else None,
            timeout,
            lambda: f"expected {count} Socket Mode connection(s) within {timeout}s, have {self._live_sockets}",
        )

    async def send_envelope(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 10,
    ) -> str:
        """Deliver `{"envelope_id", "type", "payload", ...}` to one connected client; returns the id.

        `type` is `events_api` (payload: an `event_callback` body) or `interactive` (payload: a
        `block_actions` / `view_submission` payload). Waits for a connection first.
        """
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": payload,
            "accepts_response_payload": (type != "events_api")
            if accepts_response_payload is None
            else accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        await self.wait_for_socket(1, timeout)
        await self._on_server_loop(self._send_to_one(envelope))
        return envelope_id

    async def wait_for_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        """Wait for the client's acknowledgement of `envelope_id`; returns it."""

        def check() -> dict[str, Any] | None:
            return next((a for a in self.acks if a.get("envelope_id") == envelope_id), None)

        return await self._wait_until(check, timeout, lambda: f"expected an ack of envelope {envelope_id}")

    async def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every connected client to reconnect, as Slack does before it closes a socket."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}}
        await self._on_server_loop(self._send_to_all(message))

    # internals: waiting across threads

    def _notify(self) -> None:
        with self._lock:
            self._changed.notify_all()
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop has closed
                pass

    async def _wait_until(self, check: Callable[[], T | None], timeout: float, what: Callable[[], str]) -> T:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        with self._lock:
            self._waiters.append(entry)
        deadline = loop.time() + timeout
        try:
            while True:
                event.clear()
                result = check()
                if result is not None:
                    return result
                left = deadline - loop.time()
                if left <= 0:
                    raise AssertionError(self._describe(what()))
                try:
                    await asyncio.wait_for(event.wait(), left)
                except TimeoutError:
                    pass
        finally:
            with self._lock:
                self._waiters.remove(entry)

    def _describe(self, what: str) -> str:
        methods = [c.method for c in self.calls]
        return f"{what}; calls so far: {methods}; errors: {self.errors}"

    async def _on_server_loop(self, coro: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("FakeSlack is not started")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    # internals: event loop thread

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{name}", self._handle_response_url)
        app.router.add_get("/link/", self._handle_socket)
        return app

    async def _closing(self) -> None:
        for ws in list(self._sockets):
            await ws.close()

    def _record(self, call: Call, rejection: Rejection | None = None) -> None:
        with self._lock:
            self._calls.append(call)
            if rejection is not None:
                self._errors.append(rejection)
        self._notify()

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise _SlackError("invalid_json", f"[ERROR] body is not JSON: {exc}") from None
                if not isinstance(body, dict):
                    raise _SlackError("invalid_json", "[ERROR] body must be a JSON object")
                params.update(body)
            elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
            else:
                raise _SlackError("invalid_form_data", f"[ERROR] unsupported content type {request.content_type}")
        for key in _JSON_PARAMS:  # form-encoded calls send these as JSON strings
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass  # validation reports it
        return params

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else None
        try:
            params = await self._read_params(request)
        except _SlackError as e:
            rejection = Rejection(method, e.error, e.messages)
            self._record(Call(method, {}), rejection)
            return self._error_response(rejection)
        body_token = params.pop("token", None)
        token = token or body_token
        with self._lock:
            faults = self._faults.get(method)
            fault = faults.pop(0) if faults else None
        if fault is not None:
            self._record(Call(method, params))
            return fault.response()
        try:
            if method not in self._handlers:
                raise _SlackError("unknown_method", f"[ERROR] the fake does not serve {method}")
            handler, token_kind = self._handlers[method]
            self._check_token(token, token_kind)
            with self._lock:
                result = handler(params)
        except _SlackError as e:
            rejection = Rejection(method, e.error, e.messages, params)
            self._record(Call(method, params), rejection)
            return self._error_response(rejection)
        self._record(Call(method, params))
        headers = {"X-OAuth-Scopes": ",".join(self.scopes)} if token_kind == "bot" else {}
        return web.json_response({"ok": True, **result}, headers=headers)

    @staticmethod
    def _error_response(rejection: Rejection) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error": rejection.error}
        if rejection.messages:
            body["response_metadata"] = {"messages": list(rejection.messages)}
        return web.json_response(body)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            body = {"_raw": await request.text()}
        params = {**body, "response_url_name": request.match_info["name"]}
        try:
            if "_raw" in body:
                raise _SlackError("invalid_payload", "[ERROR] response_url bodies are JSON objects")
            if not body.get("delete_original"):
                self._check_content(body)
            if body.get("response_type") not in (None, "in_channel", "ephemeral"):
                raise _SlackError("invalid_payload", "[ERROR] response_type must be in_channel or ephemeral")
        except _SlackError as e:
            rejection = Rejection("response_url", e.error, e.messages, params)
            self._record(Call("response_url", params), rejection)
            return web.json_response({"ok": False, "error": e.error}, status=400)
        self._record(Call("response_url", params))
        return web.json_response({"ok": True})

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            known = request.query.get("ticket") in self._tickets
        if not known:
            return web.Response(status=403, text="unknown ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        with self._lock:
            self._live_sockets += 1
        self._notify()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(data, dict) and "envelope_id" in data:
                    with self._lock:
                        self._acks.append(data)
                    self._notify()
        finally:
            self._sockets.remove(ws)
            with self._lock:
                self._live_sockets -= 1
            self._notify()
        return ws

    async def _send_to_one(self, message: dict[str, Any]) -> None:
        live = [ws for ws in self._sockets if not ws.closed]
        if not live:
            raise RuntimeError("no Socket Mode client is connected")
        self._next_socket += 1
        await live[self._next_socket % len(live)].send_json(message)

    async def _send_to_all(self, message: dict[str, Any]) -> None:
        for ws in [ws for ws in self._sockets if not ws.closed]:
            await ws.send_json(message)

    # internals: checks shared by the methods (run on the server loop, under the lock)

    def _check_token(self, token: str | None, kind: str) -> None:
        if not token:
            raise _SlackError("not_authed")
        expected = self.app_token if kind == "app" else self.bot_token
        if token == expected:
            return
        if token in (self.app_token, self.bot_token):
            raise _SlackError("not_allowed_token_type")
        raise _SlackError("invalid_auth")

    @staticmethod
    def _required(params: dict[str, Any], *names: str) -> None:
        missing = [n for n in names if params.get(n) in (None, "")]
        if missing:
            raise _SlackError("invalid_arguments", *(f"[ERROR] missing required field: {n}" for n in missing))

    @staticmethod
    def _check_content(params: dict[str, Any]) -> None:
        text, blocks = params.get("text"), params.get("blocks")
        if text is not None and not isinstance(text, str):
            raise _SlackError("invalid_arguments", "[ERROR] text must be a string")
        if blocks is not None:
            problems = validate_blocks(blocks)
            if problems:
                raise _SlackError("invalid_blocks", *problems)
            if blocks and not text:
                raise _SlackError(
                    "no_text",
                    "[ERROR] blocks were sent without a `text` fallback (used by notifications and screen readers)",
                )
        if not text and not blocks and not params.get("attachments"):
            raise _SlackError("no_text")
        if text and units(text) > MAX_MESSAGE_TEXT:
            raise _SlackError("msg_too_long")

    def _new_ts(self) -> str:
        with self._lock:
            n = next(self._ts)
        return f"{1_700_000_000 + n // 1_000_000}.{n % 1_000_000:06d}"

    def _generated_user(self, user_id: str) -> dict[str, Any]:
        name = user_id.lower()
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": f"User {user_id}",
            "deleted": False,
            "is_bot": user_id == self.bot_user_id,
            "tz": "UTC",
            "profile": {"display_name": name, "real_name": f"User {user_id}", "email": f"{name}@example.test"},
        }

    # internals: the methods

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": "Signoff Test",
            "user": "signoff",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        self._required(params, "channel")
        self._check_content(params)
        thread_ts = params.get("thread_ts")
        if thread_ts is not None and not _TS_RE.match(str(thread_ts)):
            raise _SlackError("invalid_thread_ts", f"[ERROR] thread_ts {thread_ts!r} is not a message ts")
        channel = str(params["channel"])
        if channel[:1] in ("U", "W"):  # posting to a user lands in the bot's DM with them
            channel = "D" + channel[1:]
        ts = self._new_ts()
        message: dict[str, Any] = {
            "type": "message",
            "text": params.get("text", ""),
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": ts,
        }
        if params.get("blocks") is not None:
            message["blocks"] = params["blocks"]
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
        metadata = _metadata(params)
        if metadata:
            message["metadata"] = metadata
        self.messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": message}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        self._required(params, "channel", "ts")
        channel, ts = str(params["channel"]), str(params["ts"])
        message = self.messages.get((channel, ts))
        if message is None:
            raise _SlackError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise _SlackError("cant_update_message")
        self._check_content(params)
        metadata = _metadata(params)  # chat.update keeps the metadata unless given new (or `{}`: none)
        if metadata is not None:
            message.pop("metadata", None)
            if metadata:
                message["metadata"] = metadata
        if "text" in params:
            message["text"] = params["text"]
        if "blocks" in params:
            if params["blocks"]:
                message["blocks"] = params["blocks"]
            else:
                message.pop("blocks", None)
        message["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        return {"channel": channel, "ts": ts, "text": message["text"], "message": message}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        self._required(params, "channel", "user")
        self._check_content(params)
        return {"message_ts": self._new_ts()}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        self._required(params, "channel", "message_ts")
        channel, ts = str(params["channel"]), str(params["message_ts"])
        if not _TS_RE.match(ts):
            raise _SlackError("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        thread_ts = self.messages.get((channel, ts), {}).get("thread_ts")
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        self._required(params, "trigger_id", "view")
        if not _TRIGGER_RE.match(str(params["trigger_id"])):
            raise _SlackError("invalid_trigger_id")
        problems = validate_view(params["view"])
        if problems:
            raise _SlackError("invalid_arguments", *problems)
        view = dict(params["view"])
        view_id = f"V{next(self._ids):08d}"
        view.update(
            id=view_id,
            team_id=self.team_id,
            state={"values": {}},
            hash=uuid.uuid4().hex[:16],
            app_id=self.app_id,
            bot_id=self.bot_id,
            root_view_id=view_id,
            previous_view_id=None,
        )
        view.setdefault("private_metadata", "")
        view.setdefault("callback_id", "")
        return {"view": view}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        """A user's Home tab. Slack answers `invalid_arguments` for a view it would not show."""
        self._required(params, "user_id", "view")
        user_id = str(params["user_id"])
        if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user_id):
            raise _SlackError("user_not_found")
        problems = validate_view(params["view"], kind="home")
        if problems:
            raise _SlackError("invalid_arguments", *problems)
        view = dict(params["view"])
        view.update(id=f"V{next(self._ids):08d}", team_id=self.team_id, app_id=self.app_id, bot_id=self.bot_id)
        self.home_views[user_id] = view
        return {"view": view}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        self._required(params, "user")
        user_id = str(params["user"])
        if user_id in self.users:
            return {"user": self.users[user_id]}
        if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user_id):
            raise _SlackError("user_not_found")
        return {"user": self._generated_user(user_id)}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        self._required(params, "usergroup")
        group = str(params["usergroup"])
        if group not in self.usergroups:
            raise _SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        self._required(params, "channel")
        channel = str(params["channel"])
        if channel in self.conversations:
            return {"channel": self.conversations[channel]}
        kind = channel[:1]
        if kind not in ("C", "G", "D") or not re.fullmatch(r"[A-Z0-9]{2,}", channel):
            raise _SlackError("channel_not_found")
        return {
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_channel": kind == "C",
                "is_group": kind == "G",
                "is_im": kind == "D",
                "is_private": kind != "C",
                "is_member": True,
                "context_team_id": self.team_id,
            }
        }

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            return {"channel": {"id": str(params["channel"])}}
        self._required(params, "users")
        users = [u.strip() for u in str(params["users"]).split(",") if u.strip()]
        if len(users) == 1:
            return {"channel": {"id": "D" + users[0][1:]}}
        return {"channel": {"id": "G" + uuid.uuid5(uuid.NAMESPACE_OID, ",".join(sorted(users))).hex[:10].upper()}}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        """A thread, oldest first: the parent, then its replies."""
        self._required(params, "channel", "ts")
        channel, ts = str(params["channel"]), str(params["ts"])
        thread = [
            m for (c, _), m in self.messages.items() if c == channel and (m["ts"] == ts or m.get("thread_ts") == ts)
        ]
        if not thread:
            raise _SlackError("thread_not_found")
        return self._page(params, sorted(thread, key=lambda m: float(m["ts"])))

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """A channel's top-level messages (thread replies stay in their threads), newest first."""
        self._required(params, "channel")
        channel = str(params["channel"])
        if not re.fullmatch(r"[CGD][A-Z0-9]+", channel):  # a user id is no conversation: open the DM first
            raise _SlackError("channel_not_found")
        top = [m for (c, _), m in self.messages.items() if c == channel and m.get("thread_ts") in (None, m["ts"])]
        return self._page(params, sorted(top, key=lambda m: float(m["ts"]), reverse=True))

    def _page(self, params: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
        """`oldest` / `latest` / `inclusive` / `limit` / `cursor`, and metadata as the caller asked."""
        inclusive = _flag(params.get("inclusive"))
        if params.get("oldest"):
            oldest = float(params["oldest"])
            messages = [m for m in messages if float(m["ts"]) > oldest or (inclusive and float(m["ts"]) == oldest)]
        if params.get("latest"):
            latest = float(params["latest"])
            messages = [m for m in messages if float(m["ts"]) < latest or (inclusive and float(m["ts"]) == latest)]
        try:
            limit = int(params.get("limit") or 100)
            start = int(params.get("cursor") or 0)
        except ValueError:
            raise _SlackError("invalid_cursor") from None
        limit = max(1, min(limit, 999))
        page = messages[start : start + limit]
        full = _flag(params.get("include_all_metadata"))
        shown = [_with_metadata(m, full) for m in page]
        has_more = start + limit < len(messages)
        result: dict[str, Any] = {"messages": shown, "has_more": has_more}
        if has_more:
            result["response_metadata"] = {"next_cursor": str(start + limit)}
        return result

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {"url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"}
