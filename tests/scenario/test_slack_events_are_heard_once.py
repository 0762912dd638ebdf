"""What the bot hears, and how often: a delivery retried by Slack is one event; a badly signed or
stale request is refused before anything is stored; the bot's own messages, other bots, edits and
channel chatter are ignored; a DM or a reply in the bot's thread is heard. One `signoff serve`."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.fake_model import FakeModelServer
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention, message_event, new_ts, signed_event, signed_url_verification
from tests.support.slack_signoff import BOB, SECRET, SlackSignoff, module_slack_bot, posted

_channels = (f"C{n}HEAR" for n in itertools.count(1))


fake, model, bot = module_slack_bot("hear")


@pytest.fixture(autouse=True)
def clean(fake: FakeSlack, model: FakeModelServer) -> Iterator[None]:
    fake.reset()
    model.reset()
    yield
    assert fake.errors == []


def threads_in(bot: SlackSignoff, channel: str) -> list[dict[str, Any]]:
    """Threads whose first message ends with `channel` (each test writes its channel there)."""
    threads = [bot.thread(row["id"]) for row in bot.threads()]
    return [t for t in threads if humans(t) and humans(t)[0]["text"].endswith(channel)]


def humans(thread: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in thread["events"] if e["type"] == "human_message"]


def started_thread(bot: SlackSignoff, fake: FakeSlack, channel: str) -> tuple[str, dict[str, Any]]:
    """A thread the bot is part of (it answered), keyed by a mention; returns (thread ts, thread)."""
    mention = app_mention(f"<@UBOT> hello from {channel}", user=BOB, channel=channel)
    assert bot.event(mention).status_code == 200
    [thread] = wait_until(lambda: threads_in(bot, channel), message="a thread")
    wait_until(lambda: [m for (c, _), m in posted(fake) if c == channel], message="the bot's answer")
    return mention["ts"], bot.wait_status(thread["id"], "done")


def test_a_delivery_retried_four_times_is_one_event(bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer) -> None:
    channel = next(_channels)
    mention = app_mention(f"<@UBOT> status please {channel}", user=BOB, channel=channel)
    responses = [bot.event(mention, "Ev0RETRIED", retry_num=n) for n in (None, 1, 2, 3)]
    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    [thread] = wait_until(lambda: threads_in(bot, channel), message="the thread")
    thread = bot.wait_status(thread["id"], "done")
    assert len(humans(thread)) == 1 and humans(thread)[0]["text"] == f"status please {channel}"
    assert len(model.requests) == 1
    replies = wait_until(lambda: [m for (c, _), m in posted(fake) if c == channel], message="one reply")
    assert len(replies) == 1


def test_bad_signatures_and_stale_timestamps_are_refused_and_nothing_is_stored(
    bot: SlackSignoff, fake: FakeSlack
) -> None:
    channel = next(_channels)
    before = bot.threads()
    event = app_mention(f"<@UBOT> restart everything {channel}", user=BOB, channel=channel)
    forged = signed_event("not-the-secret", event, "Ev0FORGED")
    stale = signed_event(SECRET, event, "Ev0STALE", timestamp=int(time.time()) - 6 * 60)
    tampered_body, tampered_headers = signed_event(SECRET, event, "Ev0TAMPERED")
    tampered = (tampered_body.replace(b"restart everything", b"restart nothing!!"), tampered_headers)
    for body, headers in (forged, stale, tampered):
        assert bot.post(body, headers).status_code == 401
    assert bot.post(*signed_url_verification("not-the-secret")).status_code == 401
    assert bot.threads() == before and fake.calls == []
    # The same event, properly signed, is then heard (nothing was recorded under its id).
    assert bot.event(event, "Ev0STALE").status_code == 200
    wait_until(lambda: threads_in(bot, channel), message="the thread")


def test_the_url_verification_challenge_is_answered(bot: SlackSignoff) -> None:
    response = bot.post(*signed_url_verification(SECRET, "the-challenge"))
    assert response.status_code == 200 and response.json() == {"challenge": "the-challenge"}


def test_bots_edits_and_channel_chatter_are_ignored(bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer) -> None:
    channel = next(_channels)
    thread_ts, thread = started_thread(bot, fake, channel)
    ignored = [
        message_event("my own words", user="UBOT", bot_id="B1", channel=channel, thread_ts=thread_ts),
        message_event("beep", user="", bot_id="B9", subtype="bot_message", channel=channel, thread_ts=thread_ts),
        message_event("edited", user=BOB, subtype="message_changed", channel=channel, thread_ts=thread_ts),
        message_event("chatter outside any thread", user=BOB, channel=channel),
        message_event("a thread the bot is not in", user=BOB, channel=channel, thread_ts=new_ts()),
    ]
    for event in ignored:
        assert bot.event(event).status_code == 200
    heard = message_event(f"and one more thing {channel}", user=BOB, channel=channel, thread_ts=thread_ts)
    assert bot.event(heard).status_code == 200
    wait_until(lambda: len(humans(bot.thread(thread["id"]))) == 2, message="the reply in the thread heard")
    assert [h["text"] for h in humans(bot.thread(thread["id"]))][1] == f"and one more thing {channel}"
    assert len(threads_in(bot, channel)) == 1


def test_a_mention_in_the_bots_thread_is_heard_once(bot: SlackSignoff, fake: FakeSlack) -> None:
    # Slack sends app_mention and message.channels (two event ids) for one message: one event.
    channel = next(_channels)
    thread_ts, thread = started_thread(bot, fake, channel)
    ts = new_ts()
    text = f"<@UBOT> also check search {channel}"
    as_message = message_event(text, user=BOB, channel=channel, ts=ts, thread_ts=thread_ts)
    as_mention = app_mention(text, user=BOB, channel=channel, ts=ts, thread_ts=thread_ts)
    assert bot.event(as_message).status_code == 200
    assert bot.event(as_mention).status_code == 200
    wait_until(lambda: len(humans(bot.thread(thread["id"]))) == 2, message="the mention heard")
    bot.wait_status(thread["id"], "done")
    assert [h["text"] for h in humans(bot.thread(thread["id"]))] == [
        f"hello from {channel}",
        f"also check search {channel}",
    ]


def test_a_direct_message_starts_a_thread_answered_in_the_dm(bot: SlackSignoff, fake: FakeSlack) -> None:
    dm = message_event("what runs here? D0BOBDM", user=BOB, channel="D0BOBDM", channel_type="im")
    assert bot.event(dm).status_code == 200
    [thread] = wait_until(lambda: threads_in(bot, "D0BOBDM"), message="the DM's thread")
    bot.wait_status(thread["id"], "done")
    [(_, reply)] = wait_until(lambda: [m for m in posted(fake) if m[0][0] == "D0BOBDM"], message="the answer")
    assert reply["thread_ts"] == dm["ts"]


def test_replies_right_after_the_ack_join_the_thread_being_built(bot: SlackSignoff, fake: FakeSlack) -> None:
    # A mention is acknowledged before its thread is built (a few ms later): replies sent right
    # after the ack, a plain one and a mention, still find that thread and are heard once each.
    channel = next(_channels)
    mention = app_mention(f"<@UBOT> check web {channel}", user=BOB, channel=channel)
    reply = message_event(f"and search {channel}", user=BOB, channel=channel, thread_ts=mention["ts"])
    again = app_mention(f"<@UBOT> and payments {channel}", user=BOB, channel=channel, thread_ts=mention["ts"])
    assert [bot.event(e).status_code for e in (mention, reply, again)] == [200, 200, 200]
    [thread] = wait_until(lambda: threads_in(bot, channel), message="the thread")
    wait_until(lambda: len(humans(bot.thread(thread["id"]))) == 3, message="both replies heard")
    assert [h["text"] for h in humans(bot.thread(thread["id"]))] == [
        f"check web {channel}",
        f"and search {channel}",
        f"and payments {channel}",
    ]
    bot.wait_status(thread["id"], "done")
    assert len(threads_in(bot, channel)) == 1
