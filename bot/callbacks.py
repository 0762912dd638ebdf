"""The POST of a standalone request's outcome to its `callback_url`: an outbox channel (`callback`).

The row is written in the transaction that decides the request (or expires it), so a crash never
loses it; the dispatcher sends it, and retries it with its backoff (`retry_backoff`) until the URL
answers 2xx (at most `MAX_ATTEMPTS`, then it is given up with a `delivery_failed` note on the
request's thread). A crash between the POST and marking the row sent posts it again on restart: the
`X-Signoff-Delivery` header (the outbox row's id) is the same both times, for receivers to drop
the second.

Signed like Stripe's webhooks: `X-Signoff-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">` with the request's callback secret. Callback URLs come from callers, so each is an
attacker's: only http and https, no user info, a host in SIGNOFF_CALLBACK_HOSTS when that is set,
redirects never followed, at most CALLBACK_TIMEOUT seconds and READ_LIMIT bytes of answer read.

A request made through the HumanLayer face (bot/humanlayer_api.py) posts instead, when
SIGNOFF_WEBHOOK_URL is set, HumanLayer's `function_call.completed` / `human_contact.completed` there,
signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with
SIGNOFF_WEBHOOK_SECRET; that URL is the operator's, not a caller's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from bot.humanlayer_views import completion_json
from bot.views import standalone_json
from channels.base import Outbound
from channels.errors import PermanentDeliveryError, RetryableDeliveryError
from storage.async_store import AsyncStore
from storage.standalone import CALLBACK_CHANNEL

log = logging.getLogger(__name__)

READ_LIMIT = 4096
MAX_URL_CHARS = 2000
SIGNATURE_HEADER = "X-Signoff-Signature"
DELIVERY_HEADER = "X-Signoff-Delivery"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `X-Signoff-Signature` value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, now: float | None = None, tolerance: float = 300) -> bool:
    """Whether `header` signs `body` with `secret`, within `tolerance` seconds of `now`."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).rpartition("v1=")[2]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def callback_url_problem(url: str, allowed_hosts: Sequence[str]) -> str | None:
    """Why this callback URL is refused, or None when it may be used."""
    if len(url) > MAX_URL_CHARS:
        return f"callback_url is longer than {MAX_URL_CHARS} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"callback_url is not a URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "callback_url must be an http or https URL"
    if not parts.hostname:
        return "callback_url has no host"
    if parts.username is not None or parts.password is not None:
        return "callback_url may not carry a user name or password"
    if allowed_hosts:
        host = parts.hostname.lower()
        with_port = f"{host}:{port}" if port is not None else host
        if host not in allowed_hosts and with_port not in allowed_hosts:
            return f"callback_url's host {host!r} is not in SIGNOFF_CALLBACK_HOSTS"
    return None


class CallbackChannel:
    name = CALLBACK_CHANNEL

    def __init__(
        self,
        storage: AsyncStore,
        *,
        allowed_hosts: Sequence[str] = (),
        timeout: float = 10.0,
        webhook_secret: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.webhook = Webhook(webhook_secret) if webhook_secret else None
        self.allowed_hosts = [h.lower() for h in allowed_hosts]
        self.timeout = timeout
        self.clock = clock

    async def deliver(self, message: Outbound) -> dict[str, Any]:
        if message.request is None:
            raise PermanentDeliveryError(f"callback {message.id} has no request")
        found = await self.storage.get_standalone(message.request.id)
        if found is None or not found[0].callback_url:
            raise PermanentDeliveryError(f"request {message.request.id} has no callback URL")
        standalone, request = found
        url = str(standalone.callback_url)
        headers = {"Content-Type": "application/json", "User-Agent": "signoff-callback"}
        if (standalone.external or {}).get("webhook"):
            # HumanLayer's completion webhook, to the operator's SIGNOFF_WEBHOOK_URL, signed per
            # Standard Webhooks; its id is the request's, so a repeat is recognisable as one.
            if self.webhook is None:
                raise PermanentDeliveryError("SIGNOFF_WEBHOOK_SECRET is no longer set: cannot sign the webhook")
            text = json.dumps(completion_json(standalone, request), separators=(",", ":"))
            body = text.encode()
            headers.update(standard_headers(self.webhook, f"msg_{request.id}", text, self.clock))
        else:
            problem = callback_url_problem(url, self.allowed_hosts)
            if problem is not None:  # the allowlist may have changed since it was accepted
                raise PermanentDeliveryError(problem)
            body = json.dumps(standalone_json(standalone, request), separators=(",", ":")).encode()
            headers[DELIVERY_HEADER] = str(message.id)
            headers[SIGNATURE_HEADER] = sign(standalone.callback_secret or "", body, int(self.clock()))
        status = await post(url, body, headers, self.timeout)
        log.info("callback for request %s delivered to %s (HTTP %d)", request.id, _where(url), status)
        return {"status": status}


class AgentWebhookChannel:
    """What people sent an agent that lives elsewhere (bot/agent_webhook.py), posted to
    SIGNOFF_WEBHOOK_URL signed per Standard Webhooks; the row's text is `{"id", "payload"}`."""

    name = "webhook"

    def __init__(self, url: str, secret: str, *, timeout: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.webhook = Webhook(secret)
        self.timeout = timeout
        self.clock = clock

    async def deliver(self, message: Outbound) -> dict[str, Any]:
        try:
            stored = json.loads(message.text)
            event_id, payload = str(stored["id"]), stored["payload"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentDeliveryError(f"webhook {message.id}: its payload cannot be read: {exc}") from exc
        text = json.dumps(payload, separators=(",", ":"))
        headers = {"Content-Type": "application/json", "User-Agent": "signoff-webhook"}
        headers.update(standard_headers(self.webhook, event_id, text, self.clock))
        status = await post(self.url, text.encode(), headers, self.timeout)
        log.info("%s %s delivered to %s (HTTP %d)", payload.get("type"), event_id, _where(self.url), status)
        return {"status": status, "webhook_id": event_id}


def standard_headers(webhook: Webhook, event_id: str, text: str, clock: Callable[[], float]) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature` for `text` (Standard Webhooks)."""
    sent_at = datetime.fromtimestamp(int(clock()), UTC)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": webhook.sign(event_id, sent_at, text),
    }


async def post(url: str, body: bytes, headers: dict[str, str], seconds: float) -> int:
    """POST once, redirects never followed, the answer read at most READ_LIMIT bytes; its status
    when 2xx, else RetryableDeliveryError (the outbox tries again with its backoff)."""
    import aiohttp  # here: only the processes that send callbacks load it (not the ingress)

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as response,
        ):
            await response.content.read(READ_LIMIT)  # bounded: the answer's body is not ours to keep
            status = response.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise RetryableDeliveryError(f"POST to {_where(url)} failed: {exc!r}") from exc
    if not 200 <= status < 300:
        raise RetryableDeliveryError(f"POST to {_where(url)} answered HTTP {status}")
    return status


def _where(url: str) -> str:
    """The URL without its query (which may carry a token of the receiver's) for logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
