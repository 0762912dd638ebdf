"""An agent that lives elsewhere, as the 12-factor workshop writes one: a small HTTP server that
receives Signoff's webhooks (SIGNOFF_WEBHOOK_URL), checks each one's Standard Webhooks signature,
reads it with the `humanlayer` SDK's own models, and answers through the SDK.

    with OutsideAgent(SECRET, on_email=ask_back) as agent:
        ... SIGNOFF_WEBHOOK_URL=agent.url ...
        [received] = agent.wait_for("agent_email.received")

A POST whose signature does not verify is answered 401 and kept in `refused`; a handler that
raises answers 500 (Signoff retries it), its error kept in `errors`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from humanlayer.core.models_agent_webhook import (
    V1Beta2EmailEventReceived,
    V1Beta2FunctionCallCompleted,
    V1Beta2HumanContactCompleted,
    V1Beta2SlackEventReceived,
)
from pydantic import BaseModel
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.signoff_process import wait_until

MODELS: dict[str, type[BaseModel]] = {
    "agent_email.received": V1Beta2EmailEventReceived,
    "agent_slack.received": V1Beta2SlackEventReceived,
    "function_call.completed": V1Beta2FunctionCallCompleted,
    "human_contact.completed": V1Beta2HumanContactCompleted,
}
MAX_BODY = 2_000_000


@dataclass(frozen=True)
class Received:
    webhook_id: str
    event: Any  # the SDK's model of the payload


class OutsideAgent:
    def __init__(self, secret: str, handlers: dict[str, Callable[[Any], None]] | None = None) -> None:
        self.webhook = Webhook(secret)
        self.handlers = dict(handlers or {})
        self.received: list[Received] = []
        self.refused: list[str] = []
        self.errors: list[str] = []
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._answer(413)
                    return
                body = self.rfile.read(length)
                self._answer(agent.handle(body, {k: v for k, v in self.headers.items()}))

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            payload = self.webhook.verify(body, headers)
        except WebhookVerificationError as exc:
            self.refused.append(str(exc))
            return 401
        kind = str(payload.get("type"))
        model = MODELS.get(kind)
        if model is None:
            self.errors.append(f"unknown webhook type {kind!r}")
            return 400
        event = model.model_validate(payload)  # the SDK's own model: raises unless the shape is right
        self.received.append(Received(headers.get("webhook-id", ""), event))
        handler = self.handlers.get(kind)
        if handler is not None:
            try:
                handler(event)
            except Exception as exc:  # the agent failed: Signoff is told, and tries again
                self.errors.append(f"{kind}: {exc!r}")
                return 500
        return 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhook"

    def of(self, kind: str) -> list[Received]:
        return [r for r in list(self.received) if r.event.type == kind]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 60) -> list[Received]:
        return list(
            wait_until(
                lambda: len(found := self.of(kind)) >= count and found, timeout=timeout, message=f"{count} {kind}"
            )
        )

    def __enter__(self) -> OutsideAgent:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
