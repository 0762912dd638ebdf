"""ask_human: the question is posted in the thread; the next reply there from someone allowed to
answer is the answer, and the thread resumes. Who may answer: the thread's participants when the
question was asked and the agent's approvers (issue 10.5). A reply from someone else is only a
message, and its author is told privately (an ephemeral message) that it answered nothing."""

from __future__ import annotations

import json

import pytest

from tests.support.fake_model import FakeModelServer, text, tool_call
from tests.support.fake_slack import FakeSlack
from tests.support.signoff_process import wait_until
from tests.support.slack_requests import app_mention, message_event
from tests.support.slack_signoff import ALICE, BOB, MALLORY, MakeSlackBot, SlackSignoff, posted


@pytest.fixture
def bot(make_slack_bot: MakeSlackBot) -> SlackSignoff:
    return make_slack_bot()


def is_question(message: dict) -> bool:  # type: ignore[type-arg]
    return "The agent has a question" in json.dumps(message.get("blocks") or [])


def test_a_thread_reply_answers_the_question_and_the_thread_resumes(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer
) -> None:
    model.script(
        tool_call("ask_human", {"question": "Which service do you mean?", "options": ["payments", "search"]}),
        text("payments is running version 1.0.0."),
    )
    mention = app_mention("<@UBOT> what version is the service on?", user=BOB, channel="C4")
    assert bot.event(mention).status_code == 200
    [(question_at, question)] = wait_until(lambda: posted(fake, is_question), message="the question")
    assert question_at[0] == "C4" and question["thread_ts"] == mention["ts"]
    assert "Which service do you mean?" in json.dumps(question["blocks"])
    thread_id = bot.only_thread()["id"]
    assert bot.thread(thread_id)["status"] == "waiting"

    reply = message_event("payments", user=BOB, channel="C4", thread_ts=mention["ts"])
    assert bot.event(reply).status_code == 200

    thread = bot.wait_status(thread_id, "done")
    answered = next(e for e in thread["events"] if e["type"] == "question_answered")
    assert (answered["answer"], answered["by"]) == ("payments", BOB)
    assert [e["type"] for e in thread["events"]].count("human_message") == 1
    wait_until(
        lambda: [m for _, m in posted(fake) if m["text"] == "payments is running version 1.0.0."], message="reply"
    )
    # The question now says it was answered, by whom.
    fake.wait_for_sync("chat.update")
    shown = json.dumps(fake.messages[question_at]["blocks"])
    assert "Answered" in shown and "<@U0BOB>" in shown


def test_only_someone_allowed_to_answer_answers(bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer) -> None:
    # Three bad tool calls in a row: the agent stops and asks the thread's participants (BOB only).
    model.script(
        tool_call("no_such_tool", {}),
        tool_call("no_such_tool", {}),
        tool_call("no_such_tool", {}),
        text("Retried: all good now."),
    )
    mention = app_mention("<@UBOT> check the services", user=BOB, channel="C5")
    assert bot.event(mention).status_code == 200
    wait_until(lambda: posted(fake, is_question), message="the question")
    thread_id = bot.only_thread()["id"]
    [request] = bot.pending()
    assert request["kind"] == "question" and request["allowed"] == [BOB, ALICE]  # the participant, the approver

    assert (
        bot.event(message_event("just do it", user=MALLORY, channel="C5", thread_ts=mention["ts"])).status_code == 200
    )
    wait_until(
        lambda: [e for e in bot.thread(thread_id)["events"] if e["type"] == "human_message" and e["by"] == MALLORY],
        message="Mallory's message recorded",
    )
    assert bot.pending() == [request]  # still waiting for BOB
    [told] = fake.wait_for_sync("chat.postEphemeral", where=lambda p: p["user"] == MALLORY)
    assert told["channel"] == "C5" and told["thread_ts"] == mention["ts"]
    assert "does not answer" in told["text"] and "<@U0BOB>" in told["text"]

    assert bot.event(message_event("try again", user=BOB, channel="C5", thread_ts=mention["ts"])).status_code == 200
    thread = bot.wait_status(thread_id, "done")
    answered = next(e for e in thread["events"] if e["type"] == "question_answered")
    assert (answered["answer"], answered["by"]) == ("try again", BOB)


def test_a_channel_member_who_was_not_in_the_thread_cannot_answer_the_agents_question(
    bot: SlackSignoff, fake: FakeSlack, model: FakeModelServer
) -> None:
    model.script(
        tool_call("ask_human", {"question": "Restart payments or search?", "options": ["payments", "search"]}),
        text("I will look at search."),
    )
    mention = app_mention("<@UBOT> something is slow, fix it", user=BOB, channel="C6")
    assert bot.event(mention).status_code == 200
    wait_until(lambda: posted(fake, is_question), message="the question")
    thread_id = bot.only_thread()["id"]
    [request] = bot.pending()
    assert request["allowed"] == [BOB, ALICE]
    assert "<@U0BOB>" in json.dumps(posted(fake, is_question)[0][1]["blocks"])  # the card says who may answer

    # Anyone in the channel can reply in the thread; Mallory's reply is not the answer.
    stranger = message_event("payments", user=MALLORY, channel="C6", thread_ts=mention["ts"])
    assert bot.event(stranger).status_code == 200
    [told] = fake.wait_for_sync("chat.postEphemeral", where=lambda p: p["user"] == MALLORY)
    assert "does not answer" in told["text"] and "<@U0BOB>" in told["text"] and "<@U0ALICE>" in told["text"]
    assert bot.pending() == [request] and bot.thread(thread_id)["status"] == "waiting"
    # Slack delivers the same message again: recorded once, told once.
    assert bot.event(stranger).status_code == 200

    # The approver, who never wrote in the thread, may answer.
    assert bot.event(message_event("search", user=ALICE, channel="C6", thread_ts=mention["ts"])).status_code == 200
    thread = bot.wait_status(thread_id, "done")
    answered = next(e for e in thread["events"] if e["type"] == "question_answered")
    assert (answered["answer"], answered["by"]) == ("search", ALICE)
    assert [e["by"] for e in thread["events"] if e["type"] == "human_message"] == [BOB, MALLORY]
    assert len([p for p in fake.calls_to("chat.postEphemeral") if p["user"] == MALLORY]) == 1
    assert not [p for p in fake.calls_to("chat.postEphemeral") if p["user"] in (BOB, ALICE)]
