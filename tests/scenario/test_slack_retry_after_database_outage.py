"""A delivery that could not be recorded is answered 5xx, so Slack retries it; the retry is heard,
once. The outage is real: the bot's PostgreSQL database stops accepting connections."""

from __future__ import annotations

import pytest

from tests.support.databases import set_reachable
from tests.support.fake_model import FakeModelServer, text
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import BOB, MakeSlackBot, SlackSignoff, posted


@pytest.fixture
def bot(make_slack_bot: MakeSlackBot, database_url: str) -> SlackSignoff:
    return make_slack_bot(SIGNOFF_DATABASE_URL=database_url)


def test_a_delivery_refused_while_the_database_is_down_is_heard_on_retry(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer, database_url: str
) -> None:
    model.script(text("All three services are running."))
    mention = app_mention("<@UBOT> are the services up?", user=BOB, channel="C8")
    set_reachable(database_url, False)
    try:
        first = bot.event(mention, "Ev0OUTAGE")
        assert first.status_code >= 500  # Slack retries anything but a 2xx
    finally:
        set_reachable(database_url, True)

    retry = wait_until(
        lambda: (r := bot.event(mention, "Ev0OUTAGE", retry_num=1)).status_code == 200 and r,
        message="the retry accepted once the database is back",
    )
    assert retry.status_code == 200
    thread = bot.wait_status(bot.only_thread()["id"], "done")
    assert [e["type"] for e in thread["events"]] == ["human_message", "agent_reply"]
    assert len(bot.threads()) == 1
    wait_until(lambda: [m for _, m in posted(fake) if m["text"] == "All three services are running."], message="reply")
