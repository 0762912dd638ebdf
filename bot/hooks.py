"""Webhook triggers, the pure part: who sent it (an HMAC over the raw body), and the message it makes.

Two signature forms, per hook:
- `github`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, the delivery id in
  `X-GitHub-Delivery`, the event in `X-GitHub-Event`. GitHub sends no timestamp: a replay is
  refused by its delivery id, recorded once.
- `generic`: `X-Signoff-Timestamp: <unix seconds>`, `X-Signoff-Delivery: <id>` and
  `X-Signoff-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`; a timestamp
  outside the hook's window (default 300 s either way) is refused, so is a delivery id seen before.

The message comes from the hook's template: `{event}`, `{delivery}` and `{payload.a.b}` (a path
into the JSON body; list items by index) are replaced by their values; a path the payload lacks
is a 422, never an empty message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.deployment import HookEntry

MAX_HOOK_BODY = 256 * 1024
MAX_MESSAGE = 20_000
MAX_VALUE = 2_000
MAX_ID = 200
_FIELD = re.compile(r"\{([a-zA-Z_][\w.\-]{0,200})\}")


class HookRefused(Exception):
    """A delivery that starts nothing; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event: str
    payload: Any


def _header(headers: Mapping[str, str], name: str) -> str:
    return headers.get(name.lower(), "").strip()


def _digest(secret: bytes, signed: bytes) -> str:
    return "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, *, form: str, timestamp: int | None = None) -> str:
    """The signature header's value a sender computes (for tests and senders' docs)."""
    if form == "github":
        return _digest(secret, body)
    return _digest(secret, f"{timestamp}.".encode() + body)


def verify(hook: HookEntry, headers: Mapping[str, str], body: bytes, now: datetime) -> Delivery:
    """The delivery, once its signature and timestamp hold; HookRefused otherwise. `headers` are lowercased."""
    secret = hook.secret_value()
    if hook.form == "github":
        given, signed = _header(headers, "X-Hub-Signature-256"), body
        delivery_id = _header(headers, "X-GitHub-Delivery")
        event = _header(headers, "X-GitHub-Event")
        stamp = ""
    else:
        given = _header(headers, "X-Signoff-Signature")
        delivery_id = _header(headers, "X-Signoff-Delivery")
        event = _header(headers, "X-Signoff-Event")
        stamp = _header(headers, "X-Signoff-Timestamp")
        if given and (not stamp.isdigit() or len(stamp) > 12):
            raise HookRefused(401, "missing or malformed X-Signoff-Timestamp (unix seconds)")
        signed = f"{stamp}.".encode() + body
    if not given:
        raise HookRefused(
            401, f"missing signature ({'X-Hub-Signature-256' if hook.form == 'github' else 'X-Signoff-Signature'})"
        )
    if not hmac.compare_digest(given.encode(), _digest(secret, signed).encode()):
        raise HookRefused(401, "bad signature")
    if stamp and abs(now.timestamp() - int(stamp)) > hook.tolerance_seconds:
        raise HookRefused(401, f"timestamp outside the {hook.tolerance_seconds}s window: a replay, or a clock off")
    if not delivery_id or len(delivery_id) > MAX_ID or not delivery_id.isprintable():
        raise HookRefused(400, "missing or malformed delivery id (X-GitHub-Delivery or X-Signoff-Delivery)")
    try:
        payload = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError) as exc:
        raise HookRefused(400, f"the body is not JSON: {exc}") from exc
    return Delivery(delivery_id, event[:MAX_ID], payload)


def _lookup(payload: Any, path: str) -> Any:
    value = payload
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise HookRefused(422, f"the payload has no {path} (the hook's template or key needs it)")
    return value


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…"


def value_at(delivery: Delivery, name: str) -> str:
    if name == "event":
        return delivery.event
    if name == "delivery":
        return delivery.delivery_id
    if name == "payload":
        return _text(delivery.payload)
    if name.startswith("payload."):
        return _text(_lookup(delivery.payload, name.removeprefix("payload.")))
    raise HookRefused(422, f"the template names {{{name}}}: only event, delivery and payload.<path> exist")


def render(template: str, delivery: Delivery) -> str:
    """The thread's message: the template with its fields filled in; HookRefused(422) when one cannot be."""
    message = _FIELD.sub(lambda m: value_at(delivery, m.group(1)), template)
    message = message.strip()
    if not message:
        raise HookRefused(422, "the template rendered an empty message")
    return message[:MAX_MESSAGE]


def thread_key(hook: HookEntry, delivery: Delivery) -> str | None:
    """The conversation key a delivery continues (the hook's `key` path), or None for a new thread."""
    if not hook.key:
        return None
    return value_at(delivery, hook.key)[:MAX_ID]
