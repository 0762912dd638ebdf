"""A Slack mention is acknowledged after one INSERT and its thread is built after the ack
(storage/intake.py, bot/builder.py). `signoff serve` SIGKILLed in that window, and just before the
ack, then restarted on the same SQLite file: the thread is built on restart, once, and Slack's
retries of the delivery (X-Slack-Retry-Num, before and after the rebuild) never make a second event.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from storage.db import Database
from storage.intake import IntakeQueue
from tests.fault.conftest import record
from tests.support.crash import CrashableSignoff
from tests.support.fake_model import FakeModelServer, text
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import BOB, SECRET, SlackSignoff, posted


@pytest.fixture
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer(default=lambda _body: text("payments is up")) as server:
        yield server


def slack_server(fake: FakeSlack, model: FakeModelServer, tmp_path: Path) -> CrashableSignoff:
    return CrashableSignoff(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
            "SIGNOFF_MODEL": "openai/fake",
            "SIGNOFF_MODEL_API_BASE": model.url,
            "SIGNOFF_MODEL_API_KEY": "x",
            "SIGNOFF_POLL_INTERVAL": "0.25",
            "SLACK_BOT_TOKEN": fake.bot_token,
            "SLACK_API_URL": fake.api_url,
            "SLACK_SIGNING_SECRET": SECRET,
            "SIGNOFF_APPROVERS": "U0ALICE",
        },
        tmp_path,
    )


def queued_and_threads(tmp_path: Path) -> tuple[int, int]:
    db = Database(f"sqlite:///{tmp_path / 'signoff.db'}")
    try:
        with db.engine.connect() as connection:
            threads = connection.exec_driver_sql("SELECT count(*) FROM threads").scalar_one()
        return IntakeQueue(db).count(), int(threads)
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("point", "acked"),
    [("before_thread_built", True), ("after_inbound_recorded", False)],
    ids=["after-the-ack", "before-the-ack"],
)
def test_a_mention_recorded_before_a_sigkill_is_one_thread_after_restart(
    point: str, acked: bool, model: FakeModelServer, tmp_path: Path
) -> None:
    with FakeSlack() as fake:
        server = slack_server(fake, model, tmp_path)
        bot = SlackSignoff(server, fake)
        try:
            assert server.start_with(f"{point}=1")
            mention = app_mention("<@UBOT> is payments up?", user=BOB, channel="C1")
            try:
                first = bot.event(mention, "Ev0KILLED").status_code
            except httpx.TransportError:
                first = 0  # the process died before answering: Slack retries
            assert server.proc is not None
            server.proc.wait(30)
            assert server.death() == point
            assert first == (200 if acked else 0)
            # The window was real: the delivery is recorded, its thread does not exist yet.
            assert queued_and_threads(tmp_path) == (1, 0)

            assert server.start_with("")  # startup builds what was acknowledged
            retries = [bot.event(mention, "Ev0KILLED", retry_num=n).status_code for n in (1, 2)]
            [thread] = wait_until(lambda: bot.threads(), message="the thread")
            thread = bot.wait_status(thread["id"], "done")
            replies = wait_until(lambda: posted(fake), message="the reply")
            assert bot.event(mention, "Ev0KILLED", retry_num=3).status_code == 200
            wait_until(lambda: queued_and_threads(tmp_path)[0] == 0, message="the last retry dropped")
            threads = bot.threads()
            replies = posted(fake)
            assert fake.errors == []
        finally:
            bot.close()
            server.stop()

    humans = [e for e in thread["events"] if e["type"] == "human_message"]
    record(
        f"[slack {point}] first delivery -> {first or 'no answer'}, killed, restarted; retries -> {retries} + [200]; "
        f"threads={len(threads)} human_messages={len(humans)} model_calls={len(model.requests)} replies={len(replies)}"
    )
    assert retries == [200, 200]
    assert len(threads) == 1 and [h["text"] for h in humans] == ["is payments up?"]
    assert [e["type"] for e in thread["events"]] == ["human_message", "agent_reply"]
    assert len(model.requests) == 1 and len(replies) == 1
