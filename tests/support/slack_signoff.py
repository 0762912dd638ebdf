"""A real `signoff serve` with Slack enabled, talking to a `FakeSlack`, driven by signed requests.

    with FakeSlack() as fake, slack_signoff(fake, model, tmp_path) as bot:
        bot.event(app_mention("<@UBOT> restart payments"))
        [card] = fake.wait_for_sync("chat.postMessage", where=has_buttons)
        bot.click(APPROVE_ACTION_ID, request_id, user="U0ALICE")

Every POST to /slack/events is timed (`bot.latencies`, seconds): that is the ack latency Slack sees.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeAlias

import httpx
import pytest

from channels.slack.blocks import DENY_CALLBACK_ID, DENY_REASON_ACTION_ID, DENY_REASON_BLOCK_ID
from channels.slack.manifest_requirements import METHOD_SCOPES
from tests.support.fake_model import FakeModelServer
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import SignoffProcess, wait_until
from tests.support.slack_requests import (
    block_actions,
    signed_event,
    signed_interaction,
    signed_slash_command,
    view_submission,
)

SECRET = "test-signing-secret"
ALICE = "U0ALICE"  # the configured approver
BOB = "U0BOB"  # asks for things
MALLORY = "U0MALLORY"  # may not decide

_event_ids = iter(range(1, 1_000_000))


def new_event_id() -> str:
    return f"Ev{time.time_ns()}{next(_event_ids)}"


class SlackSignoff:
    def __init__(self, process: SignoffProcess, fake: FakeSlack, secret: str = SECRET) -> None:
        self.process = process
        self.fake = fake
        self.secret = secret
        self.http = httpx.Client(base_url=process.url, timeout=10)
        self.api = process.client()
        self.latencies: list[float] = []

    def close(self) -> None:
        self.http.close()
        self.api.close()

    # --- requests as Slack sends them ----------------------------------------------------------

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        started = time.perf_counter()
        response = self.http.post("/slack/events", content=body, headers=headers)
        self.latencies.append(time.perf_counter() - started)
        return response

    def event(
        self, event: dict[str, Any], event_id: str | None = None, *, retry_num: int | None = None, **kw: Any
    ) -> httpx.Response:
        body, headers = signed_event(self.secret, event, event_id or new_event_id(), retry_num=retry_num, **kw)
        return self.post(body, headers)

    def interaction(self, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        body, headers = signed_interaction(self.secret, payload, **kw)
        return self.post(body, headers)

    def command(self, fields: dict[str, str], **kw: Any) -> httpx.Response:
        """A slash command (`slack_requests.slash_command`), signed, to /slack/events."""
        body, headers = signed_slash_command(self.secret, fields, **kw)
        return self.post(body, headers)

    def click(
        self, action_id: str, request_id: str, *, user: str, card: tuple[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        """Click a button on the card at `card` = (channel, ts) (as Slack echoes the message)."""
        if card is not None:
            channel, ts = card
            message = self.fake.messages.get(card)
            kw.setdefault("channel", channel)
            kw.setdefault("message_ts", ts)
            if message is not None:
                kw.setdefault("message", dict(message))
                if message.get("thread_ts"):
                    kw.setdefault("thread_ts", message["thread_ts"])
        return self.interaction(block_actions(action_id, request_id, user=user, **kw))

    def submit_deny(self, request_id: str, reason: str, *, user: str, view_id: str = "V00000001") -> httpx.Response:
        payload = view_submission(
            DENY_CALLBACK_ID,
            request_id,
            {DENY_REASON_BLOCK_ID: {DENY_REASON_ACTION_ID: reason}},
            user=user,
            view_id=view_id,
        )
        return self.interaction(payload)

    # --- what the bot did ----------------------------------------------------------------------

    def thread(self, thread_id: str) -> dict[str, Any]:
        return dict(self.api.get(f"/api/threads/{thread_id}").json())

    def threads(self) -> list[dict[str, Any]]:
        return list(self.api.get("/api/threads").json()["threads"])

    def only_thread(self) -> dict[str, Any]:
        [thread] = wait_until(lambda: self.threads(), message="a thread")
        return self.thread(thread["id"])

    def wait_status(self, thread_id: str, status: str, timeout: float = 40) -> dict[str, Any]:
        return dict(
            wait_until(
                lambda: (t := self.thread(thread_id))["status"] == status and t,
                timeout=timeout,
                message=f"thread {thread_id} {status}",
            )
        )

    def wait_delivered(self, timeout: float = 40) -> None:
        """Until every thread's outbox rows are sent: a message's Slack ts is recorded with its row,
        so a reply in its thread sent before that would find no thread (no person is that fast)."""

        def all_sent() -> bool:
            threads = [self.thread(t["id"]) for t in self.threads()]
            return all(d["status"] == "sent" for t in threads for d in t["deliveries"])

        wait_until(all_sent, timeout=timeout, message="every message delivered and recorded")

    def pending(self) -> list[dict[str, Any]]:
        return list(self.api.get("/api/requests", params={"status": "pending"}).json()["requests"])

    def request(self, request_id: str) -> dict[str, Any]:
        return dict(self.api.get(f"/api/requests/{request_id}").json())

    def latency_summary(self) -> str:
        if not self.latencies:
            return "no requests"
        ms = sorted(x * 1000 for x in self.latencies)
        return f"n={len(ms)} p50={statistics.median(ms):.1f}ms max={ms[-1]:.1f}ms"


def has_buttons(params: dict[str, Any]) -> bool:
    return any(b.get("type") == "actions" for b in params.get("blocks") or [])


def button_value(params: dict[str, Any]) -> str:
    actions = next(b for b in params["blocks"] if b.get("type") == "actions")
    return str(actions["elements"][0]["value"])


MakeSlackBot: TypeAlias = Callable[..., SlackSignoff]  # the `make_slack_bot` fixture (tests/conftest.py)


@contextlib.contextmanager
def slack_signoff(
    fake: FakeSlack,
    model: FakeModelServer,
    tmp_path: Path,
    *,
    approvers: str = ALICE,
    http: bool = True,
    socket_mode: bool = False,
    **env: str,
) -> Iterator[SlackSignoff]:
    """`signoff serve` on SQLite with Slack pointed at `fake`; HTTP mode and/or Socket Mode."""
    settings = {
        "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
        **model.settings(),
        "SIGNOFF_APPROVERS": approvers,
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_API_URL": fake.api_url,
        **({"SLACK_SIGNING_SECRET": SECRET} if http else {}),
        **({"SLACK_APP_TOKEN": fake.app_token} if socket_mode else {}),
        **env,
    }
    process = SignoffProcess(settings, tmp_path)
    process.start()
    bot = SlackSignoff(process, fake)
    try:
        yield bot
    finally:
        bot.close()
        process.stop()
    # Every call the bot made is one the manifest grants (the app token's connections.open aside).
    called = {c.method for c in fake.calls} - {"apps.connections.open", "response_url"}
    assert called <= set(METHOD_SCOPES), f"not in manifest_requirements: {called - set(METHOD_SCOPES)}"


def module_slack_bot(
    directory: str, *, prepare: Callable[[FakeSlack], None] | None = None, **options: Any
) -> tuple[Any, Any, Any]:
    """The `fake`, `model` and `bot` fixtures of a test module that shares one Slack app (and its
    fake Slack and scripted model) among its tests: `fake, model, bot = module_slack_bot("home")`.
    `prepare` sets the fake Slack up (user groups, say); `options` go to `slack_signoff`."""

    @pytest.fixture(scope="module")
    def fake() -> Iterator[FakeSlack]:
        with FakeSlack() as server:
            if prepare is not None:
                prepare(server)
            yield server

    @pytest.fixture(scope="module")
    def model() -> Iterator[FakeModelServer]:
        with FakeModelServer() as server:
            yield server

    @pytest.fixture(scope="module")
    def bot(
        fake: FakeSlack, model: FakeModelServer, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[SlackSignoff]:
        with slack_signoff(fake, model, tmp_path_factory.mktemp(directory), **options) as running:
            yield running

    return fake, model, bot


def posted(fake: FakeSlack, where: Any = None) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    """Messages the bot posted (fake's store, so edits show), oldest first, as ((channel, ts), message)."""
    items = [(key, dict(m)) for key, m in list(fake.messages.items()) if m.get("user") == fake.bot_user_id]
    items.sort(key=lambda item: item[0][1])
    return [item for item in items if where is None or where(item[1])]


def wait_for_card(fake: FakeSlack, count: int = 1, timeout: float = 40) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    """The approval cards posted so far (at least `count`), as ((channel, ts), message)."""
    return list(
        wait_until(
            lambda: (cards := posted(fake, has_buttons)) and len(cards) >= count and cards,
            timeout=timeout,
            message=f"{count} approval card(s)",
        )
    )
