"""Slack hears back within milliseconds: the time for a signed POST to /slack/events to return,
with the delivery recorded, while the agent works afterwards (here the model takes 2 s per answer,
and the acks do not wait for it). Run with -s to see the numbers."""

from __future__ import annotations

import statistics

import pytest

from channels.slack.blocks import APPROVE_ACTION_ID
from tests.support.fake_model import text
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention
from tests.support.slack_signoff import ALICE, BOB, MakeSlackBot, SlackSignoff

MENTIONS = 30


@pytest.fixture
def bot(make_slack_bot: MakeSlackBot) -> SlackSignoff:
    return make_slack_bot(lambda _body: text("noted", delay=2.0))


def test_mentions_and_clicks_are_acknowledged_within_milliseconds(bot: SlackSignoff, fake: FakeSlack) -> None:
    bot.event(app_mention("<@UBOT> warm up", user=BOB, channel="C0WARM"))  # the first request checks auth.test
    warm = bot.latencies.pop()
    wait_until(lambda: [t for t in bot.threads() if t["status"] == "done"], message="the warm-up answered")
    for n in range(MENTIONS):
        assert bot.event(app_mention(f"<@UBOT> ping {n}", user=BOB, channel=f"C{n}LAT")).status_code == 200
    mentions = bot.latencies[:]
    for _ in range(10):
        assert bot.click(APPROVE_ACTION_ID, "no-such-request", user=ALICE, channel="C0LAT").status_code == 200
    clicks = bot.latencies[len(mentions) :]
    # Every mention was recorded before its ack: all the threads exist (their answers come later).
    wait_until(lambda: len(bot.threads()) == MENTIONS + 1, message="every mention recorded")

    def summary(name: str, seconds: list[float]) -> str:
        ms = sorted(s * 1000 for s in seconds)
        return f"{name}: n={len(ms)} p50={statistics.median(ms):.1f}ms max={ms[-1]:.1f}ms"

    print(
        f"\nack latency: first request {warm * 1000:.1f}ms; {summary('mentions', mentions)}; {summary('clicks', clicks)}"
    )
    assert statistics.median(mentions) < 0.25 and max(mentions) < 2.0
    assert statistics.median(clicks) < 0.25 and max(clicks) < 2.0
