"""A burst of 50 requests for one approver makes a handful of `views.publish` calls, not 50: one
per person per SIGNOFF_SLACK_HOME_INTERVAL, and the last one shows all 50 (cut to what the tab
holds, with "N more"). A 429 from Slack is waited out for its Retry-After before the next publish."""

from __future__ import annotations

import json
import time

from tests.support.fake_model import restart_when_asked
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import home_opened
from tests.support.slack_signoff import ALICE, BOB, MALLORY, MakeSlackBot

BURST = 50
INTERVAL = 2.0


def publishes(fake: FakeSlack, user: str) -> list[dict]:  # type: ignore[type-arg]
    return [c for c in fake.calls_to("views.publish") if c["user_id"] == user]


def test_a_burst_of_requests_is_coalesced_into_few_publishes(make_slack_bot: MakeSlackBot, fake: FakeSlack) -> None:
    bot = make_slack_bot(restart_when_asked, SIGNOFF_SLACK_HOME_INTERVAL=str(INTERVAL))
    bot.event(home_opened(ALICE))
    wait_until(lambda: publishes(fake, ALICE), message="the first Home tab")
    before = len(publishes(fake, ALICE))
    started = time.monotonic()
    for n in range(BURST):
        response = bot.api.post("/api/threads", json={"message": f"restart web ({n})", "by": BOB})
        assert response.status_code == 201, response.text
    wait_until(lambda: len(bot.pending()) >= BURST, timeout=120, message=f"{BURST} pending requests")

    def shows_all() -> bool:
        views = publishes(fake, ALICE)
        return bool(views) and f"Waiting on you ({BURST})" in json.dumps(views[-1]["view"])

    wait_until(shows_all, timeout=60, message=f"a Home tab showing all {BURST}")
    elapsed = time.monotonic() - started
    made = len(publishes(fake, ALICE)) - before
    # At most one publish per interval while the burst lasted, plus the one that shows its end.
    assert 1 <= made <= elapsed / INTERVAL + 2, (made, elapsed)
    assert made < BURST / 2
    blocks = json.dumps(publishes(fake, ALICE)[-1]["view"]["blocks"])
    assert "more request(s) waiting on you" in blocks  # the tab holds about 22 of them


def test_a_rate_limited_publish_waits_for_retry_after(make_slack_bot: MakeSlackBot, fake: FakeSlack) -> None:
    bot = make_slack_bot(SIGNOFF_SLACK_HOME_INTERVAL="0.5")
    fake.fail_next("views.publish", error="ratelimited", retry_after=3)
    started = time.monotonic()
    bot.event(home_opened(MALLORY))
    wait_until(lambda: len(publishes(fake, MALLORY)) >= 2, timeout=30, message="a publish after the 429")
    assert time.monotonic() - started >= 3.0
    assert fake.home_views[MALLORY]["type"] == "home"
